"""Bad input gets a clear error or a correct result: never a crash, never a silent drop."""

from __future__ import annotations

import copy
import time

import pytest

from rerankit import InvalidInputError, Reranker, ScoringError

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def reranker(tiny_bert_dir):
    return Reranker(tiny_bert_dir)


@pytest.mark.parametrize("query", ["", "   \n\t", None, 42, b"bytes", ["list"]])
def test_bad_queries_are_refused(reranker, query):
    with pytest.raises(InvalidInputError, match="query"):
        reranker.rerank(query, ["a document"])


@pytest.mark.parametrize(
    ("documents", "message"),
    [
        ("a single string", "documents must be a list"),
        ({"text": "a mapping"}, "documents must be a list"),
        (None, "documents must be a list"),
        (["ok", None], r"documents\[1\] must be a str"),
        (["ok", "fine", 3.5], r"documents\[2\] must be a str"),
        ([{"title": "no text"}], r"documents\[0\] is a mapping without a 'text'"),
        ([{"text": 5}], r"documents\[0\]\['text'\] must be a str"),
    ],
)
def test_bad_document_lists_are_refused(reranker, documents, message):
    with pytest.raises(InvalidInputError, match=message):
        reranker.rerank("query", documents)


def test_empty_list_gives_empty_results(reranker):
    assert reranker.rerank("query", []) == []
    assert reranker.score("query", []) == []
    assert reranker.rerank_many(["a", "b"], [[], ["doc"]])[0] == []


def test_empty_and_whitespace_documents_are_scored_not_dropped(reranker):
    docs = ["", "   ", "a real passage about rivers"]
    results = reranker.rerank("rivers", docs)
    assert sorted(r.index for r in results) == [0, 1, 2]


@pytest.mark.parametrize(("arg", "value"), [("top_n", 0), ("top_n", -1), ("top_n", 1.5),
                                            ("min_score", 1.5), ("min_score", -0.1),
                                            ("min_score", "high")])
def test_bad_options_are_refused(reranker, arg, value):
    with pytest.raises(InvalidInputError, match=arg):
        reranker.rerank("query", ["doc"], **{arg: value})


def test_rerank_many_needs_one_list_per_query(reranker):
    with pytest.raises(InvalidInputError, match="one document list per query"):
        reranker.rerank_many(["a", "b"], [["doc"]])
    with pytest.raises(InvalidInputError, match="queries"):
        reranker.rerank_many("a", [["doc"]])


def test_caller_documents_are_not_mutated(reranker, passages):
    docs = [{"text": passages[0], "id": 1, "tags": ["x"]}, passages[1], {"text": ""}]
    before = copy.deepcopy(docs)
    reranker.rerank("query", docs, top_n=1)
    assert docs == before


def test_ten_thousand_documents(reranker, passages):
    docs = [f"{passages[i % len(passages)]} #{i}" for i in range(10_000)]
    results = reranker.rerank("what is the boiling point of water", docs, top_n=10)
    assert len(results) == 10
    assert len(reranker.score("q", docs[:3000])) == 3000


def test_one_megabyte_document_is_truncated_and_says_so(reranker, passages):
    huge = (" ".join(passages) * 20)[: 1 << 20]
    start = time.perf_counter()
    results = reranker.rerank("query", [huge, "short"])
    assert time.perf_counter() - start < 10
    by_index = {r.index: r for r in results}
    assert by_index[0].truncated and not by_index[1].truncated


def test_invalid_surrogates_are_replaced_and_scored(reranker):
    docs = ["broken \ud800 text", "emoji as a pair \ud83d\ude00 here", "clean"]
    results = reranker.rerank("query \udfff", docs)
    by_index = {r.index: r for r in results}
    assert by_index[0].text == "broken \ufffd text"
    assert by_index[1].text == "emoji as a pair \U0001F600 here"
    assert by_index[0].document == docs[0]  # the caller's object comes back unchanged


def test_nan_scores_raise_a_typed_error(tiny_bert_dir):
    import torch

    reranker = Reranker(tiny_bert_dir)
    with torch.no_grad():
        reranker.backend.model.classifier.weight.fill_(float("nan"))
    with pytest.raises(ScoringError, match="non-finite"):
        reranker.rerank("query", ["a", "b"])
