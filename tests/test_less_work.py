"""Compute is never spent twice: one tokenisation per query and text, one model call per
distinct (query, text) pair, repeats served from the score cache."""

from __future__ import annotations

import pytest

from rerankit import Reranker


class CountingTokenizer:
    """Wraps a tokenizers.Tokenizer and records every string it tokenises."""

    def __init__(self, inner) -> None:
        self.inner, self.seen = inner, []

    def encode_batch(self, texts, **kwargs):
        self.seen.extend(texts)
        return self.inner.encode_batch(texts, **kwargs)

    def encode(self, text, **kwargs):
        self.seen.append(text)
        return self.inner.encode(text, **kwargs)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def assert_same_ranking(got, expected, field="raw_score"):
    assert [r.index for r in got] == [r.index for r in expected]
    assert [getattr(r, field) for r in got] == pytest.approx(
        [getattr(r, field) for r in expected])


@pytest.fixture()
def reranker(tiny_bert_dir):
    return Reranker(str(tiny_bert_dir), max_length=64)


@pytest.fixture()
def counted(reranker, monkeypatch):
    counter = CountingTokenizer(reranker.backend.tokenizer._tokenizer)
    monkeypatch.setattr(reranker.backend.tokenizer, "_tokenizer", counter)
    forwards: list[int] = []
    forward = reranker.backend.forward
    monkeypatch.setattr(reranker.backend, "forward",
                        lambda batch: forwards.append(len(batch)) or forward(batch))
    return counter, forwards


def test_query_and_short_texts_are_tokenised_once(reranker, counted, passages):
    counter, _ = counted
    query, docs = "what is the capital of france", passages[:12]
    expected = Reranker(reranker.spec.source, max_length=64).rerank(query, docs)
    got = reranker.rerank(query, docs)
    assert counter.seen.count(query) == 1
    assert all(counter.seen.count(d) == 1 for d in docs)
    assert_same_ranking(got, expected)


def test_a_long_text_is_tokenised_whole_once_then_per_window(reranker, counted, passages):
    counter, _ = counted
    long_doc = " ".join(passages[:8])
    (result,) = reranker.rerank("tides", [long_doc])
    assert result.windows > 1
    assert counter.seen.count(long_doc) == 1  # offsets; each window is tokenised on its own
    assert len(counter.seen) == 1 + 1 + result.windows  # query, whole text, windows


def test_pairs_repeated_across_queries_of_one_call_are_scored_once(reranker, counted,
                                                                  passages):
    _, forwards = counted
    short = [" ".join(p.split()[:15]) for p in passages[:9]]  # one window each
    docs_a, docs_b = short[:6], short[3:9]  # 3 shared texts
    results = reranker.rerank_many(["tides", "tides", "volcano"],
                                   [docs_a, docs_b, docs_a])
    assert sum(forwards) == 9 + 6  # 9 distinct texts for "tides", 6 for "volcano"
    separate = [Reranker(reranker.spec.source, max_length=64).rerank(q, d)
                for q, d in (("tides", docs_a), ("tides", docs_b), ("volcano", docs_a))]
    for got, expected in zip(results, separate, strict=True):
        assert_same_ranking(got, expected)
    # tokens are charged to the first request that paid for them
    by_index = {r.index: r.tokens for r in results[1]}
    assert [by_index[i] for i in range(3)] == [0, 0, 0]
    assert all(by_index[i] > 0 for i in range(3, 6))


def test_repeats_are_served_from_the_score_cache(tiny_bert_dir, tmp_path, passages,
                                                 monkeypatch):
    first = Reranker(str(tiny_bert_dir), cache=tmp_path)
    expected = first.rerank("tides", passages[:5])
    again = Reranker(str(tiny_bert_dir), cache=tmp_path)
    monkeypatch.setattr(again.backend, "forward",
                        lambda batch: pytest.fail("the model ran for cached pairs"))
    got = again.rerank("tides", passages[:5])
    assert_same_ranking(got, expected, "score")
    assert all(r.tokens == 0 and r.window is None for r in got)
