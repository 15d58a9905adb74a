"""Hybrid retrieval: fusion of real BM25 and dense results, lifecycle, selective reranking."""

from __future__ import annotations

import numpy as np
import pytest

from rerankit import InvalidInputError
from rerankit._exceptions import IndexMismatchError
from rerankit.retrieval import BM25Index, DenseIndex, HybridIndex, load_index
from rerankit.selective import AgreementRule

pytest.importorskip("sentence_transformers")


@pytest.fixture(scope="module")
def documents(dl19):
    return [(doc_id, dl19["corpus"][doc_id]) for doc_id in list(dl19["corpus"])[:300]]


@pytest.fixture(scope="module")
def parts(documents):
    return (BM25Index.build(documents, tokenizer="english"),
            DenseIndex.build(documents, model="default"))


@pytest.fixture(scope="module")
def queries(dl19):
    return list(dl19["queries"].values())[:12]


def test_rrf_scores_follow_the_formula_from_each_retrievers_ranks(parts, queries):
    bm25, dense = parts
    hybrid = HybridIndex(bm25, dense, fusion="rrf", weights={"bm25": 0.7, "dense": 0.3},
                         rrf_k=60, candidates=50)
    for query in queries:
        bm25_rank = {h.id: h.rank for h in bm25.search(query, 50)}
        dense_rank = {h.id: h.rank for h in dense.search(query, 50)}
        hits = hybrid.search(query, 10)
        for hit in hits:
            expected = sum(w / (60 + ranks[hit.id])
                           for w, ranks in ((0.7, bm25_rank), (0.3, dense_rank))
                           if hit.id in ranks)
            assert hit.score == pytest.approx(expected)
            assert {n: c.rank for n, c in hit.components.items()} == {
                n: r[hit.id] for n, r in (("bm25", bm25_rank), ("dense", dense_rank))
                if hit.id in r}
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_weighted_fusion_equals_an_independent_minmax_sum(parts, queries):
    bm25, dense = parts
    hybrid = HybridIndex(bm25, dense, fusion="weighted", normalization="minmax",
                         weights={"bm25": 0.7, "dense": 0.3}, candidates=30)
    for query in queries:
        union = list(dict.fromkeys([h.id for h in bm25.search(query, 30)]
                                   + [h.id for h in dense.search(query, 30)]))
        positions = [bm25.store.position(i) for i in union]
        fused = np.zeros(len(union))
        for weight, scores in ((0.7, bm25.scores(query)), (0.3, dense.scores(query))):
            values = scores[positions].astype(np.float64)
            fused += weight * (values - values.min()) / (values.max() - values.min())
        expected = sorted(zip(union, fused, strict=True), key=lambda x: -x[1])[:10]
        got = hybrid.search(query, 10)
        assert [h.id for h in got] == [i for i, _ in expected]
        assert [h.score for h in got] == pytest.approx([s for _, s in expected], abs=1e-6)


def test_a_zero_weight_leaves_the_other_retrievers_order(parts, queries):
    bm25, dense = parts
    only_bm25 = HybridIndex(bm25, dense, weights={"bm25": 1.0, "dense": 0.0})
    for query in queries[:4]:
        assert [h.id for h in only_bm25.search(query, 5)] == [h.id for h in
                                                             bm25.search(query, 5)]


def test_a_query_without_bm25_tokens_is_answered_by_dense(parts):
    hybrid = HybridIndex(*parts)
    hits = hybrid.search("?!", 5)
    assert len(hits) == 5 and all(set(h.components) == {"dense"} for h in hits)


def test_agreement_rule_on_real_hybrid_hits(parts, queries):
    bm25, dense = parts
    hybrid = HybridIndex(bm25, dense)
    for query in queries:
        agree = bm25.search(query, 1)[0].id == dense.search(query, 1)[0].id
        assert (AgreementRule()(hybrid.search(query, 5)) is not None) == agree


def test_save_load_round_trip_and_mismatch(tmp_path, parts, documents, queries):
    hybrid = HybridIndex(*parts, fusion="weighted", normalization="zscore")
    hybrid.save(tmp_path / "h")
    loaded = load_index(tmp_path / "h")
    assert isinstance(loaded, HybridIndex) and loaded.settings() == hybrid.settings()
    for query in queries[:4]:
        before, after = hybrid.search(query, 10), loaded.search(query, 10)
        assert [h.id for h in before] == [h.id for h in after]
        assert [h.score for h in before] == pytest.approx([h.score for h in after], abs=1e-6)
    with pytest.raises(IndexMismatchError, match="fusion"):
        HybridIndex.load(tmp_path / "h", fusion="rrf")
    loaded.add([("new", "the zanzibar archipelago exports cloves and nutmeg")])
    assert loaded.search("zanzibar cloves", 1)[0].id == "new"
    assert len(loaded.bm25) == len(loaded.dense) == len(documents) + 1


def test_bad_hybrid_settings(parts):
    for kwargs in ({"fusion": "max"}, {"normalization": "rank"}, {"rrf_k": -1},
                   {"weights": {"bm25": 1.0}}, {"weights": {"bm25": 0.0, "dense": 0.0}}):
        with pytest.raises(InvalidInputError):
            HybridIndex(*parts, **kwargs)
    bm25, _ = parts
    other = BM25Index.build([("x", "other documents")], tokenizer="regex")
    with pytest.raises(InvalidInputError, match="same documents"):
        HybridIndex(other, parts[1])
    assert bm25 is parts[0]
