"""Long documents: token windows, aggregation, limits, and what the result points at."""

from __future__ import annotations

import numpy as np
import pytest

from rerankit import InvalidInputError, Reranker
from rerankit.text.windows import WindowSettings, aggregate, plan_windows


def _offsets(n: int) -> list[tuple[int, int]]:
    """Tokens of one character each, separated by spaces: token i spans [2i, 2i + 1)."""
    return [(2 * i, 2 * i + 1) for i in range(n)]


def test_plan_windows_strides_and_covers_the_end():
    plan = plan_windows(_offsets(25), 49, 10, WindowSettings(stride=6))
    # starts 0, 6, 12 and a last window ending at the last token (15..24)
    assert plan.spans == ((0, 19), (12, 31), (24, 43), (30, 49))
    assert plan.complete


def test_plan_windows_default_stride_is_three_quarters():
    plan = plan_windows(_offsets(20), 39, 8, WindowSettings())
    assert [a // 2 for a, _ in plan.spans] == [0, 6, 12]


def test_short_text_is_one_whole_window():
    assert plan_windows(_offsets(5), 9, 10, WindowSettings()).spans == ((0, 9),)


def test_limits_make_the_plan_incomplete():
    chunks = plan_windows(_offsets(30), 59, 10, WindowSettings(stride=10, max_chunks_per_doc=2))
    assert chunks.spans == ((0, 19), (20, 39)) and not chunks.complete
    tokens = plan_windows(_offsets(30), 59, 10, WindowSettings(max_tokens_per_doc=12))
    assert tokens.spans[-1][1] == 23 and not tokens.complete
    cut = plan_windows(_offsets(30), 59, 10, WindowSettings(mode="truncate"))
    assert cut.spans == ((0, 19),) and not cut.complete
    more = plan_windows(_offsets(8), 15, 10, WindowSettings(), more=True)
    assert more.spans == ((0, 15),) and not more.complete


def test_aggregates():
    scores = np.array([0.1, 2.0, 1.0, -1.0])
    assert aggregate(scores, "max") == (2.0, 1)
    assert aggregate(scores, "first") == (0.1, 0)
    assert aggregate(scores, "mean") == (pytest.approx(0.525), 1)
    assert aggregate(scores, "topk-mean") == (1.5, 1)
    assert aggregate(scores, "top3-mean") == (pytest.approx(1.0333333), 1)


@pytest.mark.parametrize("kwargs", [{"long_documents": "chunks"}, {"aggregate": "median"},
                                    {"window_stride": 0}, {"max_chunks_per_doc": -1}])
def test_bad_window_settings(kwargs):
    with pytest.raises(InvalidInputError):
        WindowSettings(**{{"long_documents": "mode", "window_stride": "stride"}.get(k, k): v
                          for k, v in kwargs.items()})


@pytest.fixture(scope="module")
def long_reranker(tiny_bert_dir):
    return Reranker(tiny_bert_dir, max_length=64)


def test_the_window_reported_is_the_text_that_scored(long_reranker, passages):
    document = " ".join(passages[:6])
    query = passages[3][:60]
    (result,) = long_reranker.rerank(query, [document])
    assert result.windows > 3 and not result.truncated
    start, end = result.window
    assert 0 <= start < end <= len(document)
    # scoring that span alone gives the document's score: the offsets point at it
    alone = long_reranker.score(query, [document[start:end]])[0]
    assert result.raw_score == pytest.approx(alone, abs=1e-5)
    budget = long_reranker.backend.document_budget(query)
    tokenizer = long_reranker.backend.tokenizer
    assert len(tokenizer.encode(document[start:end], 10_000)[0].ids) <= budget


def test_aggregation_choices_order_as_expected(tiny_bert_dir, passages):
    document = " ".join(passages[:6])
    query = "temperature scale"
    by = {how: Reranker(tiny_bert_dir, max_length=64, aggregate=how).rerank(query, [document])[0]
          for how in ("max", "first", "mean", "top2-mean")}
    assert by["first"].window[0] == 0
    assert by["max"].raw_score >= by["top2-mean"].raw_score >= by["mean"].raw_score
    assert by["max"].raw_score >= by["first"].raw_score


def test_windows_share_batches_and_duplicates_cost_once(long_reranker, passages, monkeypatch):
    long_doc = " ".join(passages[:6])
    short = [passages[7][:80], passages[8][:80]]
    docs = [long_doc, short[0], long_doc, short[1]]
    seen = []
    forward = long_reranker.backend.forward
    monkeypatch.setattr(long_reranker.backend, "forward",
                        lambda batch: seen.append(len(batch)) or forward(batch))
    results = {r.index: r for r in long_reranker.rerank("a query", docs)}
    windows = results[0].windows
    assert sum(seen) == windows + 2  # the duplicate long document is read once
    assert len(seen) < windows + 2  # windows go through shared batches
    assert results[0].raw_score == results[2].raw_score
    assert results[1].windows == results[3].windows == 1
    assert results[1].window == (0, len(short[0]))


def test_limits_per_call_and_truncation(tiny_bert_dir, passages):
    document = " ".join(passages[:6])
    capped = Reranker(tiny_bert_dir, max_length=64, max_chunks_per_doc=2)
    (result,) = capped.rerank("q", [document])
    assert result.windows == 2 and result.truncated
    short = Reranker(tiny_bert_dir, max_length=64, max_tokens_per_doc=30)
    (result,) = short.rerank("q", [document])
    assert result.windows == 1 and result.truncated and result.window[1] < len(document)
    cut = Reranker(tiny_bert_dir, max_length=64, long_documents="truncate")
    (result,) = cut.rerank("q", [document])
    assert result.window[0] == 0 and result.truncated


def test_huge_document_is_bounded(long_reranker, passages):
    huge = " ".join(passages) * 20  # about a megabyte
    (result,) = long_reranker.rerank("q", [huge])
    assert result.truncated  # max_tokens_per_doc=4096 by default
    assert result.windows <= 4096 // 30 + 2


def test_relevant_passage_past_the_first_512_tokens(trained_reranker_dir, dl19):
    """Long documents whose relevant passage sits after 512 tokens of unrelated text:
    found with windows, never with truncation (the trained reranker).

    The queries are those whose grade-3 passage, read alone, the model puts clearly above
    three grade-1 passages of the same query (a choice that does not involve windows).
    A short relevant passage inside a window of mostly unrelated text scores lower than
    alone (the text dilutes it), so windows must find it in most cases, not all.
    """
    qrels, corpus, queries = dl19["qrels"], dl19["corpus"], dl19["queries"]
    windows = Reranker(trained_reranker_dir, max_length=128)
    cutting = Reranker(trained_reranker_dir, max_length=128, long_documents="truncate")
    unrelated = [d for d in corpus if not any(d in qrels[q] for q in qrels)][:12]
    filler = " ".join(corpus[d] for d in unrelated)
    assert len(windows.backend.tokenizer.token_offsets([filler], None)[0][0]) > 512
    found = missed = cases = 0
    for qid in sorted(qrels):
        best = [d for d, g in qrels[qid].items() if g == 3][:1]
        somewhat = [d for d, g in qrels[qid].items() if g == 1][:3]
        if not best or len(somewhat) < 3:
            continue
        alone = sorted(windows.rerank(queries[qid], [corpus[d] for d in best + somewhat]),
                       key=lambda r: r.index)
        if alone[0].raw_score - max(r.raw_score for r in alone[1:]) < 0.5:
            continue
        cases += 1
        long_doc = filler + " " + corpus[best[0]]
        docs = [long_doc] + [corpus[d] for d in somewhat]
        top = windows.rerank(queries[qid], docs)[0]
        if top.index == 0:
            found += 1
            start, end = top.window
            assert end > long_doc.index(corpus[best[0]]) and start >= len(filler) // 2
        missed += cutting.rerank(queries[qid], docs)[0].index != 0
    assert cases >= 3
    assert missed == cases
    assert found >= cases / 2, (found, cases)


def test_tokens_spent_per_document(long_reranker, passages):
    long_doc = " ".join(passages[:6])
    results = {r.index: r for r in long_reranker.rerank("q", [long_doc, "tiny", long_doc])}
    encoded = long_reranker.backend.encode("q", ["tiny"])
    assert results[1].tokens == len(encoded[0])
    assert results[0].tokens > 64 * (results[0].windows - 1)  # every window counted
    assert results[2].tokens == 0  # the duplicate was not read again
