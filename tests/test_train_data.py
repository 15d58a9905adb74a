"""Training data readers, hard-negative mining and the losses (no model training here)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from rerankit import InvalidInputError
from rerankit.train import (
    MiningConfig,
    TrainingData,
    load_jsonl_training,
    load_positives_json,
    load_training_data,
    mine_negatives,
)
from rerankit.train.data import passage_id


@pytest.fixture(scope="module")
def english(msmarco_positives) -> TrainingData:
    return load_training_data(msmarco_positives, language="en")


@pytest.fixture(scope="module")
def english_slice(msmarco_positives, tmp_path_factory) -> Path:
    """The first 400 English rows, as a positives JSON file."""
    rows = json.loads((msmarco_positives / "msmarco_eng.json").read_text(encoding="utf-8"))
    path = tmp_path_factory.mktemp("positives") / "slice.json"
    path.write_text(json.dumps(rows[:400]), encoding="utf-8")
    return path


# -- readers -------------------------------------------------------------------------


def test_positives_folder_reads_every_query_and_language(msmarco_positives, english):
    raw = json.loads((msmarco_positives / "msmarco_eng.json").read_text(encoding="utf-8"))
    assert len(english.examples) == len(raw)
    first = english.examples[0]
    assert first.query == raw[0]["query"]
    assert english.passages[first.positives[0]] == raw[0]["positive"][0]
    # every positive text is in the pool, and the pool holds nothing else
    texts = {t for row in raw for t in row["positive"]}
    assert set(english.passages.values()) == texts
    korean = load_training_data(msmarco_positives, language="ko")
    assert korean.examples[0].query != first.query
    assert any("\uac00" <= ch <= "\ud7a3" for ch in korean.examples[0].query)


def test_same_text_is_one_passage_id():
    assert passage_id("a b") == passage_id("a b") != passage_id("a b ")


def test_jsonl_rows_with_given_negatives_and_skipped_rows(tmp_path):
    path = tmp_path / "train.jsonl"
    rows = [
        {"query": "q1", "positive": "p one", "negatives": ["n one", "p one"]},
        {"query_id": "x", "query": "q2", "positive": ["p two", "p two b"]},
        {"query": "   ", "positive": "p three"},
        {"query": "q4", "positive": ""},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    with pytest.warns(UserWarning, match="left out 2 row"):
        data = load_jsonl_training(path)
    assert [e.query_id for e in data.examples] == ["1", "x"]
    first = data.examples[0]
    # a negative equal to the positive text is dropped, not kept under another id
    assert [data.passages[n] for n in first.negatives] == ["n one"]
    assert len(data.examples[1].positives) == 2
    assert len(data.skipped) == 2


@pytest.mark.parametrize("row, message", [
    ({"query": 3, "positive": "p"}, "'query' must be a string"),
    ({"query": "q", "positive": 5}, "'positive' must be a string or a list"),
    ({"query": "q", "positive": "p", "negatives": "n"}, None),
    ([1, 2], "expected (a JSON|an) object"),
])
def test_jsonl_wrong_types_are_clear_errors(tmp_path, row, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    if message is None:  # a single negative string is accepted like a single positive
        assert len(load_jsonl_training(path).examples) == 1
        return
    with pytest.raises(InvalidInputError, match=message):
        load_jsonl_training(path)


def test_bad_sources_are_clear_errors(tmp_path):
    with pytest.raises(InvalidInputError, match="does not exist"):
        load_training_data(tmp_path / "missing.jsonl")
    (tmp_path / "data.csv").write_text("a,b\n")
    with pytest.raises(InvalidInputError, match="cannot tell the format"):
        load_training_data(tmp_path / "data.csv")
    (tmp_path / "broken.json").write_bytes(b"\xff\xfe not json")
    with pytest.raises(InvalidInputError):
        load_positives_json(tmp_path / "broken.json")
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(InvalidInputError, match="no usable training examples"):
        load_training_data(tmp_path / "empty.jsonl")
    with pytest.raises(InvalidInputError, match="language"):
        load_training_data(tmp_path, language="fr")


def test_beir_train_split(dl19, tmp_path):
    """A BEIR folder: positives from qrels/train.tsv graded above 0, corpus as the pool."""
    folder = tmp_path / "beir"
    (folder / "qrels").mkdir(parents=True)
    qids = sorted(dl19["qrels"])[:5]
    docs = sorted({d for q in qids for d in dl19["qrels"][q]})[:300]
    with (folder / "corpus.jsonl").open("w", encoding="utf-8") as handle:
        for did in docs:
            handle.write(json.dumps({"_id": did, "title": "", "text": dl19["corpus"][did]}) + "\n")
    with (folder / "queries.jsonl").open("w", encoding="utf-8") as handle:
        for qid in qids:
            handle.write(json.dumps({"_id": qid, "text": dl19["queries"][qid]}) + "\n")
    lines = ["query-id\tcorpus-id\tscore"]
    expected = {}
    for qid in qids:
        for did, grade in dl19["qrels"][qid].items():
            if did in docs:
                lines.append(f"{qid}\t{did}\t{grade}")
                if grade > 0:
                    expected.setdefault(qid, set()).add(did)
    (folder / "qrels" / "train.tsv").write_text("\n".join(lines) + "\n")
    data = load_training_data(folder)
    assert {e.query_id: set(e.positives) for e in data.examples} == expected
    assert set(data.passages) == set(docs)


# -- mining --------------------------------------------------------------------------


def test_mined_negatives_never_include_a_positive(english_slice, tmp_path):
    rows = json.loads(english_slice.read_text(encoding="utf-8"))
    # a second query sharing the first one's positive text (a near-duplicate question):
    # that text is a positive of both and must be a negative of neither
    rows.append({"id": "dup", "query": rows[0]["query"] + " exactly",
                 "positive": list(rows[0]["positive"])})
    path = tmp_path / "with-dup.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    data = load_training_data(path)
    assert data.examples[-1].positives == data.examples[0].positives
    mined, report = mine_negatives(data, MiningConfig(method="bm25", num_negatives=4, depth=20))
    assert len(mined) == len(data.examples)
    # BM25 finds the positive for most MS MARCO queries, so exclusion really happened
    assert report.positives_excluded > len(data.examples) // 2
    positive_texts = {data.passages[p] for e in data.examples for p in e.positives}
    for example in mined:
        assert len(example.negatives) == 4
        assert len(set(example.negatives)) == 4
        assert not set(example.negatives) & set(example.positives)
        own = {data.passages[p] for p in example.positives}
        assert not {data.passages[n] for n in example.negatives} & own
    assert positive_texts  # the pool is the positives of other queries


def test_top_negatives_follow_the_first_stage_after_skip_top(english_slice):
    from rerankit.retrieval._types import CorpusDocument
    from rerankit.retrieval.bm25 import BM25Index

    data = load_training_data(english_slice)
    config = MiningConfig(method="bm25", num_negatives=3, depth=15, skip_top=2, sample=False)
    mined, report = mine_negatives(data, config, examples=data.examples[:40])
    index = BM25Index.build([CorpusDocument(i, t) for i, t in data.passages.items()])
    for example in mined:
        ranked = [h.id for h in index.search(example.query, k=15)
                  if h.id not in example.positives]
        expected = ranked[2:5]
        assert list(example.negatives[: len(expected)]) == expected
    assert report.skipped_by_rank > 0


def test_random_fill_when_the_first_stage_finds_too_few(english_slice):
    data = load_training_data(english_slice)
    mined, report = mine_negatives(data, MiningConfig(method="random", num_negatives=3),
                                   examples=data.examples[:30])
    assert report.mined == 0 and report.random_filled == 90
    for example in mined:
        assert len(set(example.negatives)) == 3
        assert not set(example.negatives) & set(example.positives)
    # a query whose words match nothing in the pool is topped up at random too
    odd = type(data.examples[0])("odd", "zzzqqq xxyyzz", data.examples[0].positives)
    mined, report = mine_negatives(data, MiningConfig(method="bm25", num_negatives=2),
                                   examples=[odd])
    assert report.random_filled == 2 and len(mined[0].negatives) == 2


def test_given_negatives_come_first_and_mining_tops_up(tmp_path):
    rows = [{"query": f"question about topic {i}", "positive": f"answer about topic {i}",
             "negatives": [f"unrelated note {i}"]} for i in range(12)]
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    data = load_jsonl_training(path)
    mined, _ = mine_negatives(data, MiningConfig(method="bm25", num_negatives=3, depth=10))
    for example, original in zip(mined, data.examples, strict=True):
        assert example.negatives[0] == original.negatives[0]
        assert len(example.negatives) == 3


def test_teacher_guard_drops_candidates_scored_near_the_positive(english_slice, tiny_bert_dir):
    from rerankit import Reranker
    from rerankit.retrieval._types import CorpusDocument
    from rerankit.retrieval.bm25 import BM25Index

    data = load_training_data(english_slice)
    examples = data.examples[:8]
    margin = 0.999
    config = MiningConfig(method="bm25", num_negatives=2, depth=10, sample=False,
                          teacher=str(tiny_bert_dir), teacher_margin=margin)
    mined, report = mine_negatives(data, config, examples=examples)
    # the same guard computed independently: BM25 top 10, teacher probabilities
    index = BM25Index.build([CorpusDocument(i, t) for i, t in data.passages.items()])
    teacher = Reranker(tiny_bert_dir)
    dropped = 0
    for example in mined:
        ranked = [h.id for h in index.search(example.query, k=10)
                  if h.id not in example.positives]
        texts = [data.passages[example.positives[0]]] + [data.passages[p] for p in ranked]
        scores = {r.index: r.score for r in teacher.rerank(example.query, texts)}
        kept = [p for i, p in enumerate(ranked) if scores[i + 1] < margin * scores[0]]
        dropped += len(ranked) - len(kept)
        assert list(example.negatives[: len(kept[:2])]) == kept[:2]
    assert report.skipped_by_teacher == dropped > 0


def test_mining_config_rejects_bad_values():
    with pytest.raises(InvalidInputError, match="mining method"):
        MiningConfig(method="sparse")
    with pytest.raises(InvalidInputError, match="num_negatives"):
        MiningConfig(num_negatives=0)
    with pytest.raises(InvalidInputError, match="teacher_margin"):
        MiningConfig(teacher_margin=1.5)
    with pytest.raises(InvalidInputError, match="skip_top"):
        MiningConfig(skip_top=-1)


# -- losses --------------------------------------------------------------------------


def test_losses_match_their_formulas():
    import torch

    from rerankit.train.losses import compute_loss

    logits = np.array([[2.0, 0.5, -1.0], [0.1, 0.3, 0.0]])
    mask = np.array([[1, 1, 1], [1, 1, 0]], dtype=float)
    t_logits, t_mask = torch.tensor(logits), torch.tensor(mask)

    def log_sigmoid(x: float) -> float:
        return -math.log1p(math.exp(-x))

    terms = []
    for row in range(2):
        for col in range(3):
            if mask[row, col]:
                x = logits[row, col]
                terms.append(-(log_sigmoid(x) if col == 0 else log_sigmoid(-x)))
    assert float(compute_loss("bce", torch, t_logits, t_mask)) == pytest.approx(np.mean(terms))
    listwise = []
    for row in range(2):
        kept = [logits[row, c] for c in range(3) if mask[row, c]]
        listwise.append(-(kept[0] - math.log(sum(math.exp(v) for v in kept))))
    assert float(compute_loss("listwise", torch, t_logits, t_mask)) == pytest.approx(
        np.mean(listwise))
    with pytest.raises(ValueError, match="unknown loss"):
        compute_loss("hinge", torch, t_logits, t_mask)


@pytest.mark.parametrize("method", ["dense", "hybrid"])
def test_dense_and_hybrid_mining(english_slice, tmp_path, method):
    rows = json.loads(english_slice.read_text(encoding="utf-8"))[:40]
    path = tmp_path / "slice.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    data = load_training_data(path)
    mined, report = mine_negatives(data, MiningConfig(method=method, num_negatives=2, depth=8))
    assert report.mined == 2 * len(data.examples) and report.random_filled == 0
    # MiniLM (alone or fused with BM25) ranks most positives inside the top 8
    assert report.positives_excluded > len(data.examples) // 2
    for example in mined:
        assert len(set(example.negatives)) == 2
        assert not set(example.negatives) & set(example.positives)
