"""Cross-encoder backend: equal to sentence-transformers, invariant to batching and order."""

from __future__ import annotations

import random

import numpy as np
import pytest

from rerankit import Reranker

torch = pytest.importorskip("torch")
st = pytest.importorskip("sentence_transformers")


def reference_scores(folder, pairs, num_labels=1):
    """Raw logits from sentence-transformers CrossEncoder.predict (no activation)."""
    model = st.CrossEncoder(
        str(folder), device="cpu", activation_fn=torch.nn.Identity(), local_files_only=True
    )
    logits = np.asarray(model.predict(pairs, batch_size=7), dtype=np.float64)
    return logits if num_labels == 1 else logits[:, 1] - logits[:, 0]


def sample(passages, n, seed=0):
    rng = random.Random(seed)
    return rng.sample(passages, n)


@pytest.mark.parametrize("fixture", ["tiny_bert_dir", "tiny_bert2_dir", "tiny_xlmr_dir"])
def test_scores_equal_sentence_transformers(request, fixture, passages):
    folder = request.getfixturevalue(fixture)
    query = "what causes the northern lights in the sky"
    docs = sample(passages, 24)
    reranker = Reranker(folder, device="cpu")
    ours = np.array(reranker.score(query, docs))
    theirs = reference_scores(folder, [(query, d) for d in docs],
                              num_labels=reranker.backend.num_labels)
    np.testing.assert_allclose(ours, theirs, atol=1e-5, rtol=0)
    assert len(set(np.round(ours, 6))) > 20, "scores should differ across documents"


def test_two_label_probability_is_softmax_of_positive_class(tiny_bert2_dir, passages):
    query = "how long do cats live"
    docs = sample(passages, 6, seed=3)
    model = st.CrossEncoder(str(tiny_bert2_dir), device="cpu", activation_fn=torch.nn.Identity())
    logits = torch.tensor(model.predict([(query, d) for d in docs]), dtype=torch.float64)
    expected = torch.softmax(logits, dim=1)[:, 1].numpy()
    results = Reranker(tiny_bert2_dir).rerank(query, docs)
    by_index = {r.index: r.score for r in results}
    np.testing.assert_allclose([by_index[i] for i in range(len(docs))], expected, atol=1e-6)


def test_scores_do_not_depend_on_batching_or_order(tiny_xlmr_dir, passages):
    query = "symptoms of vitamin d deficiency"
    docs = sample(passages, 40, seed=1) + ["short", "a " * 300]
    one_by_one = Reranker(tiny_xlmr_dir, token_budget=1, max_batch_size=1).score(query, docs)
    big = Reranker(tiny_xlmr_dir, token_budget=1 << 20, max_batch_size=512).score(query, docs)
    np.testing.assert_allclose(one_by_one, big, atol=1e-5)
    order = list(range(len(docs)))
    random.Random(7).shuffle(order)
    shuffled = Reranker(tiny_xlmr_dir, token_budget=600).score(query, [docs[i] for i in order])
    np.testing.assert_allclose([shuffled[order.index(i)] for i in range(len(docs))], big,
                               atol=1e-5)


def test_batches_respect_the_token_budget(tiny_bert_dir, passages, monkeypatch):
    reranker = Reranker(tiny_bert_dir, token_budget=1024, max_batch_size=64)
    widths = []
    forward = reranker.backend.forward

    def spy(batch):
        widths.append(len(batch) * max(len(p) for p in batch))
        return forward(batch)

    monkeypatch.setattr(reranker.backend, "forward", spy)
    reranker.score("query about rivers", sample(passages, 60, seed=2))
    assert len(widths) > 1
    assert max(widths) <= 1024


def test_rerank_sorts_and_keeps_caller_documents(tiny_bert_dir, passages):
    docs = [{"text": t, "id": f"doc-{i}", "meta": [i]} for i, t in enumerate(sample(passages, 12))]
    reranker = Reranker(tiny_bert_dir)
    raw = reranker.score("define photosynthesis", docs)
    results = reranker.rerank("define photosynthesis", docs)
    assert [r.index for r in results] == sorted(range(12), key=lambda i: -raw[i])
    assert [r.rank for r in results] == list(range(12))
    for r in results:
        assert r.document is docs[r.index]
        assert r.raw_score == pytest.approx(raw[r.index])
        assert r.score == pytest.approx(1 / (1 + np.exp(-r.raw_score)))
        assert 0.0 <= r.score <= 1.0


def test_top_n_and_min_score(tiny_bert_dir, passages):
    docs = sample(passages, 15)
    reranker = Reranker(tiny_bert_dir)
    full = reranker.rerank("ocean tides", docs)
    assert reranker.rerank("ocean tides", docs, top_n=4) == full[:4]
    threshold = full[5].score
    kept = reranker.rerank("ocean tides", docs, min_score=threshold)
    assert kept == [r for r in full if r.score >= threshold]
    assert reranker.rerank("ocean tides", docs, top_n=100) == full


def test_rerank_many_equals_separate_calls(tiny_bert_dir, passages):
    reranker = Reranker(tiny_bert_dir, token_budget=2048)
    queries = ["what is a lobe", "price of gold", "who wrote hamlet"]
    lists = [sample(passages, n, seed=n) for n in (5, 9, 1)]
    together = reranker.rerank_many(queries, lists, top_n=3)
    for query, docs, results in zip(queries, lists, together, strict=True):
        alone = reranker.rerank(query, docs, top_n=3)
        assert [r.index for r in results] == [r.index for r in alone]
        np.testing.assert_allclose([r.raw_score for r in results],
                                   [r.raw_score for r in alone], atol=1e-5)


def test_duplicate_texts_scored_once_with_equal_scores(tiny_bert_dir, passages, monkeypatch):
    reranker = Reranker(tiny_bert_dir)
    docs = [passages[0], passages[1], passages[0], {"text": passages[1]}, passages[0]]
    seen = []
    forward = reranker.backend.forward
    monkeypatch.setattr(reranker.backend, "forward",
                        lambda batch: seen.extend(batch) or forward(batch))
    scores = reranker.score("q", docs)
    assert len(seen) == 2
    assert scores[0] == scores[2] == scores[4] and scores[1] == scores[3]


def test_truncation_query_first_then_document(tiny_bert_dir, passages):
    reranker = Reranker(tiny_bert_dir, max_length=64)
    assert reranker.backend.query_max_tokens == 16
    long_query = " ".join(["river"] * 100)
    pair = reranker.backend.encode(long_query, ["a short passage"])[0]
    assert pair.truncated
    assert len(pair) == 1 + 16 + 1 + 3 + 1  # [CLS] 16 query tokens [SEP] a short passage [SEP]
    long_doc = " ".join(passages[:5])
    (result,) = Reranker(tiny_bert_dir, max_length=64, long_documents="truncate").rerank(
        "short query", [long_doc])
    assert result.truncated and result.windows == 1
    (windowed,) = reranker.rerank("short query", [long_doc])
    assert not windowed.truncated and windowed.windows > 1  # windows cover all of it
    (pair,) = reranker.backend.encode("short query", [long_doc])
    assert len(pair) == 64
    (short,) = reranker.rerank("short query", ["tiny doc"])
    assert not short.truncated


def test_max_length_beyond_the_model_is_refused(tiny_xlmr_dir):
    from rerankit import InvalidInputError

    assert Reranker(tiny_xlmr_dir).max_length == 512
    with pytest.raises(InvalidInputError, match="max_length"):
        Reranker(tiny_xlmr_dir, max_length=4096)
