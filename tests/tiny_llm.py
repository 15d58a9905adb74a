"""Builders of tiny causal-LM reranker checkpoints (no hub): random 2-layer models from
configs, with tokenizers trained here on real MS MARCO text.

* ``build_qwen_tokenizer``: byte-level BPE with Qwen2's pre-tokenizer regex and chat
  special tokens, like the Qwen2/Qwen3 tokenizers (no special tokens added on encode).
* ``build_gemma_tokenizer``: BPE over ``▁``-marked words with ``<bos>`` prepended on
  encode, like Gemma's.
"""

from __future__ import annotations

import json
from pathlib import Path

DL19 = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "msmarco-dl19-subset"

# The pre-tokenizer pattern of the Qwen2/Qwen2.5/Qwen3 tokenizers.
QWEN_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# Answer words the recipes read: frequent in the training text so each is one token.
ANSWER_WORDS = ["yes", "no", "Yes", "No", "0", "1"]


def read_jsonl(path: Path, limit: int) -> list[dict]:
    rows = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            rows.append(json.loads(line))
            if len(rows) >= limit:
                break
    return rows


def training_lines(passages: list[str], queries: list[str], prompts: list[str]) -> list[str]:
    """Passages, queries, questions followed by passages (so merges such as ``?\\n`` exist,
    as in real vocabularies), prompt texts (short prompts keep the tests fast) and the
    answer words."""
    asked = [f"{q}?\n{p}\n" for q, p in zip(queries, passages, strict=False)]
    return passages + queries + asked + prompts * 5 + ANSWER_WORDS * 200


def build_qwen_tokenizer(lines: list[str], vocab_size: int = 3000):
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
    from tokenizers import pre_tokenizers as pre
    from tokenizers.trainers import BpeTrainer
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    backend = Tokenizer(models.BPE())
    backend.normalizer = normalizers.NFC()
    backend.pre_tokenizer = pre.Sequence([
        pre.Split(Regex(QWEN_PATTERN), behavior="isolated"),
        pre.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    backend.decoder = decoders.ByteLevel()
    backend.train_from_iterator(lines, BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials, show_progress=False,
        initial_alphabet=pre.ByteLevel.alphabet(),
    ))
    # Qwen3's <think> tags are added tokens, but not special ones.
    backend.add_tokens([AddedToken("<think>", normalized=False, special=False),
                        AddedToken("</think>", normalized=False, special=False)])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        model_max_length=4096,
    )
    tokenizer.padding_side = "left"
    _check_single_tokens(tokenizer, ["yes", "no", "Yes", "0", "1"])
    return tokenizer


def build_gemma_tokenizer(lines: list[str], vocab_size: int = 3000):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from tokenizers.trainers import BpeTrainer
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<eos>", "<bos>", "<unk>"]
    backend = Tokenizer(models.BPE(unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="never")
    backend.decoder = decoders.Metaspace(prepend_scheme="never")
    backend.train_from_iterator(lines, BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials, show_progress=False,
    ))
    bos = backend.token_to_id("<bos>")
    backend.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A $B", special_tokens=[("<bos>", bos)]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>",
        unk_token="<unk>", model_max_length=4096,
    )
    tokenizer.padding_side = "left"
    _check_single_tokens(tokenizer, ["Yes"])
    return tokenizer


def _check_single_tokens(tokenizer, words: list[str]) -> None:
    for word in words:
        ids = tokenizer(word, add_special_tokens=False)["input_ids"]
        if len(ids) != 1:
            raise AssertionError(f"{word!r} is not a single token of the test tokenizer: {ids}")


def _common_config(vocab_size: int) -> dict:
    return {
        "vocab_size": vocab_size, "hidden_size": 32, "intermediate_size": 64,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "head_dim": 8, "max_position_embeddings": 4096, "initializer_range": 0.2,
    }


def save_causal_lm(kind: str, tokenizer, out: Path, seed: int = 0) -> Path:
    """Save a random 2-layer causal LM of ``kind`` (qwen3, qwen2, gemma2) with ``tokenizer``."""
    import torch
    from transformers import (
        Gemma2Config,
        Gemma2ForCausalLM,
        Qwen2Config,
        Qwen2ForCausalLM,
        Qwen3Config,
        Qwen3ForCausalLM,
    )

    common = _common_config(len(tokenizer))
    ids = {"pad_token_id": tokenizer.pad_token_id, "eos_token_id": tokenizer.eos_token_id,
           "bos_token_id": tokenizer.bos_token_id}
    torch.manual_seed(seed)
    if kind == "qwen3":
        model = Qwen3ForCausalLM(Qwen3Config(**common, **ids, tie_word_embeddings=True))
    elif kind == "qwen2":
        model = Qwen2ForCausalLM(Qwen2Config(**common, **ids, tie_word_embeddings=False))
    elif kind == "gemma2":
        # A short sliding window so that window masking meets left padding in the tests.
        model = Gemma2ForCausalLM(Gemma2Config(**common, **ids, sliding_window=48,
                                               query_pre_attn_scalar=8))
    else:
        raise ValueError(kind)
    model.eval().save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
