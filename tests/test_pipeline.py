"""The cascade: retrieve -> rerank -> top K, skip rules, latency budget, timings."""

from __future__ import annotations

import pytest

from rerankit import InvalidInputError, Reranker
from rerankit.pipeline import LatencyModel, Pipeline
from rerankit.retrieval import BM25Index, ComponentScore, CorpusDocument, Hit
from rerankit.selective import AgreementRule, AnyOf, MarginRule, parse_skip_rule


@pytest.fixture(scope="module")
def dl19_index(dl19):
    ids = list(dl19["corpus"])[:400]
    return BM25Index.build([(i, dl19["corpus"][i]) for i in ids], tokenizer="english")


@pytest.fixture(scope="module")
def reranker():
    return Reranker("default")


def _hits(*scores, components=None):
    return [Hit(id=f"d{i}", score=s, rank=i + 1, document=CorpusDocument(f"d{i}", "t"),
                components=(components or {}) if i == 0 else {})
            for i, s in enumerate(scores)]


def test_cascade_reranks_the_first_stage_candidates(dl19_index, reranker):
    query = "what is the most popular food in switzerland"
    pipeline = Pipeline(dl19_index, reranker, depth=12, top_k=5)
    result = pipeline.run(query)
    candidates = dl19_index.search(query, 12)
    expected = reranker.rerank(query, [h.text for h in candidates])[:5]
    assert [h.id for h in result.hits] == [candidates[r.index].id for r in expected]
    assert [h.score for h in result.hits] == pytest.approx([r.score for r in expected])
    assert [h.rank for h in result.hits] == [1, 2, 3, 4, 5]
    assert all(h.reranked for h in result.hits)
    assert [h.first_stage_rank for h in result.hits] == [candidates[r.index].rank
                                                          for r in expected]
    assert result.retrieved == len(candidates) and result.rerank_depth == len(candidates)
    assert not result.skipped and result.skip_reason is None
    assert set(result.timings_ms) >= {"retrieve", "rerank", "total"}
    assert result.timings_ms["total"] >= result.timings_ms["retrieve"] + result.timings_ms[
        "rerank"] > 0


def test_candidates_past_the_depth_keep_first_stage_order(dl19_index, reranker):
    query = "cost of interior concrete flooring"
    result = Pipeline(dl19_index, reranker, depth=3, top_k=8).run(query)
    candidates = dl19_index.search(query, 8)
    assert [h.reranked for h in result.hits] == [True] * 3 + [False] * 5
    assert {h.id for h in result.hits[:3]} == {h.id for h in candidates[:3]}
    assert [h.id for h in result.hits[3:]] == [h.id for h in candidates[3:8]]
    assert [h.score for h in result.hits[3:]] == [h.score for h in candidates[3:8]]


def test_without_a_reranker_the_first_stage_order_is_returned(dl19_index):
    query = "cost of interior concrete flooring"
    result = Pipeline(dl19_index, None, top_k=4).run(query)
    assert [h.id for h in result.hits] == [h.id for h in dl19_index.search(query, 4)]
    assert result.skipped and result.skip_reason == "no reranker"


def test_margin_rule():
    assert MarginRule(0.3)(_hits(10.0, 6.0)) is not None  # relative gap 0.4
    assert MarginRule(0.5)(_hits(10.0, 6.0)) is None
    assert MarginRule(0.1, relative=False)(_hits(0.9, 0.7)) is not None
    assert MarginRule(0.3, relative=False)(_hits(0.9, 0.7)) is None
    assert MarginRule(0.1)(_hits(5.0)) is None
    with pytest.raises(InvalidInputError):
        MarginRule(-1)


def test_agreement_rule():
    agree = {"bm25": ComponentScore(1, 9.0), "dense": ComponentScore(1, 0.8)}
    differ = {"bm25": ComponentScore(1, 9.0), "dense": ComponentScore(3, 0.5)}
    assert "agree" in AgreementRule()(_hits(1.0, 0.5, components=agree))
    assert AgreementRule()(_hits(1.0, 0.5, components=differ)) is None
    assert AgreementRule()(_hits(1.0, 0.5)) is None  # not a hybrid: never skips


def test_parse_skip_rule():
    assert parse_skip_rule("margin:0.25") == MarginRule(0.25)
    assert parse_skip_rule("abs-margin:0.1") == MarginRule(0.1, relative=False)
    assert parse_skip_rule("margin:0.2,agree") == AnyOf((MarginRule(0.2), AgreementRule()))
    for bad in ("margin", "margin:x", "vibes"):
        with pytest.raises(InvalidInputError):
            parse_skip_rule(bad)


def test_a_confident_first_stage_skips_the_reranker(dl19_index, reranker, monkeypatch):
    query = "cost of interior concrete flooring"
    forwards = []
    forward = reranker.backend.forward
    monkeypatch.setattr(reranker.backend, "forward",
                        lambda batch: forwards.append(len(batch)) or forward(batch))
    result = Pipeline(dl19_index, reranker, top_k=5, skip="margin:0").run(query)
    assert forwards == []  # the model never ran
    assert result.skipped and "margin" in result.skip_reason
    assert result.rerank_depth == 0 and result.timings_ms["rerank"] == 0
    assert [h.id for h in result.hits] == [h.id for h in dl19_index.search(query, 5)]
    assert not any(h.reranked for h in result.hits)
    never = Pipeline(dl19_index, reranker, top_k=5, skip="margin:100").run(query)
    assert not never.skipped and sum(forwards) == never.rerank_depth > 0


def test_latency_model_arithmetic():
    model = LatencyModel(overhead_ms=5.0, per_pair_ms=2.0, smoothing=0.5)
    assert model.depth_for(25.0) == 10
    assert model.depth_for(4.0) == 0
    model.observe(10, 45.0)  # 4 ms per pair observed -> halfway to it
    assert model.per_pair_ms == pytest.approx(3.0)


def test_latency_budget_picks_the_depth_from_measured_cost(dl19_index, reranker):
    query = "what is the most popular food in switzerland"
    generous = Pipeline(dl19_index, reranker, depth=10, latency_budget_ms=600_000)
    result = generous.run(query)
    assert result.rerank_depth == min(10, result.retrieved)
    assert "calibrate" in result.timings_ms and generous.latency.per_pair_ms > 0
    # with a known cost of 1 s per pair, a 5.5 s budget affords exactly 5 pairs
    tight = Pipeline(dl19_index, reranker, depth=30, latency_budget_ms=5_500)
    tight.latency = LatencyModel(overhead_ms=0.0, per_pair_ms=1000.0)
    assert tight.run(query).rerank_depth == 5
    hopeless = Pipeline(dl19_index, reranker, depth=30, latency_budget_ms=0.001)
    skipped = hopeless.run(query)
    assert skipped.skipped and "budget" in skipped.skip_reason


def test_bad_pipeline_arguments(dl19_index):
    with pytest.raises(InvalidInputError, match="retriever"):
        Pipeline(["not", "an", "index"])
    with pytest.raises(InvalidInputError):
        Pipeline(dl19_index, depth=0)
    with pytest.raises(InvalidInputError, match="latency_budget_ms"):
        Pipeline(dl19_index, latency_budget_ms=-5)
    with pytest.raises(InvalidInputError, match="reranker"):
        Pipeline(dl19_index, reranker=42)
    with pytest.raises(InvalidInputError):
        Pipeline(dl19_index).run("")
