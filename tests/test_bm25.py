"""BM25 on bm25s: scores against the Lucene formula, Korean tokens, lifecycle, bad input."""

from __future__ import annotations

import logging
import math

import pytest

from rerankit import InvalidInputError
from rerankit._exceptions import IndexMismatchError
from rerankit.retrieval import BM25Index, load_index

DOCS = [
    ("d1", "The cat sat on the mat. The cat purred."),
    ("d2", "Dogs chase cats in the park."),
    ("d3", "A ranking function scores documents for a query."),
    ("d4", "Cats and dogs are common pets; the cat is independent."),
]


def lucene_bm25(query: list[str], docs: list[list[str]], k1: float, b: float) -> list[float]:
    """Lucene BM25, written from the formula: idf * tf / (tf + k1 * (1 - b + b * dl / avgdl))."""
    n, avgdl = len(docs), sum(map(len, docs)) / len(docs)
    scores = []
    for doc in docs:
        total = 0.0
        for term in set(query):
            tf, df = doc.count(term), sum(term in d for d in docs)
            if tf:
                idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
                total += idf * tf / (tf + k1 * (1 - b + b * len(doc) / avgdl))
        scores.append(total)
    return scores


@pytest.mark.parametrize(("k1", "b"), [(1.5, 0.75), (0.9, 0.4), (2.0, 1.0)])
def test_scores_follow_the_lucene_formula(k1, b):
    index = BM25Index.build(DOCS, tokenizer="regex", k1=k1, b=b)
    tokens = [index.tokenizer(text) for _, text in DOCS]
    query = "the cat on a mat"
    expected = lucene_bm25(index.tokenizer(query), tokens, k1, b)
    assert index.scores(query).tolist() == pytest.approx(expected, rel=1e-5)
    hits = index.search(query, k=10)
    ranked = sorted((i for i, s in enumerate(expected) if s > 0), key=lambda i: -expected[i])
    assert [h.id for h in hits] == [DOCS[i][0] for i in ranked]
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    assert [h.score for h in hits] == pytest.approx([expected[i] for i in ranked], rel=1e-5)


def test_only_matching_documents_are_returned_and_k_caps_them():
    index = BM25Index.build(DOCS, tokenizer="regex")
    assert [h.id for h in index.search("ranking function")] == ["d3"]
    assert len(index.search("cat", k=1)) == 1
    assert index.search("zebra") == []


def test_bm25_variant_is_settable():
    lucene = BM25Index.build(DOCS, tokenizer="regex", method="lucene")
    plus = BM25Index.build(DOCS, tokenizer="regex", method="bm25+", delta=1.0)
    assert lucene.scores("cat").tolist() != plus.scores("cat").tolist()
    with pytest.raises(InvalidInputError, match="method"):
        BM25Index(tokenizer="regex", method="tf-idf")


def test_kiwi_bm25_finds_inflected_korean_forms_that_whitespace_misses():
    docs = [("eat", "나는 어제 김치를 먹었습니다."), ("go", "그는 학교에 갔다."),
            ("buy", "시장에서 사과를 샀어요.")]
    query = "김치 먹다"
    kiwi = BM25Index.build(docs, tokenizer="kiwi")
    whitespace = BM25Index.build(docs, tokenizer="whitespace")
    assert kiwi.search(query)[0].id == "eat"
    assert whitespace.search(query) == []  # "김치를", "먹었습니다." share no token with it


def test_auto_picks_kiwi_for_korean_and_regex_for_english():
    korean = BM25Index.build([("a", "서울은 대한민국의 수도입니다."),
                              ("b", "부산은 항구 도시입니다.")])
    english = BM25Index.build(DOCS)
    assert korean.tokenizer.name == "kiwi"
    assert english.tokenizer.name != "kiwi"
    assert korean.search("대한민국 수도")[0].id == "a"


def test_mixed_korean_english_text():
    index = BM25Index.build([("s", "삼성전자 Galaxy S24 출시 일정"), ("a", "Apple iPhone 발표")],
                            tokenizer="kiwi")
    assert index.search("galaxy 출시")[0].id == "s"
    assert index.search("APPLE")[0].id == "a"


def test_save_load_round_trip_and_add(tmp_path):
    index = BM25Index.build(DOCS, tokenizer="regex", k1=1.2, b=0.5)
    index.save(tmp_path / "idx")
    loaded = load_index(tmp_path / "idx")
    assert isinstance(loaded, BM25Index)
    for query in ("cat", "dogs in the park", "ranking query"):
        before, after = index.search(query), loaded.search(query)
        assert [(h.id, h.score) for h in before] == [(h.id, h.score) for h in after]
    loaded.add([{"_id": "d5", "title": "Zebras", "text": "Zebra stripes", "metadata": {"x": 1}}])
    index.add([{"_id": "d5", "title": "Zebras", "text": "Zebra stripes", "metadata": {"x": 1}}])
    hit = loaded.search("zebra")[0]
    assert (hit.id, hit.document.title, dict(hit.document.metadata)) == ("d5", "Zebras", {"x": 1})
    # statistics were rebuilt over all five documents, exactly as a fresh build
    assert loaded.scores("cat").tolist() == index.scores("cat").tolist()
    loaded.save(tmp_path / "idx")
    assert len(load_index(tmp_path / "idx")) == 5


def test_mismatched_load_is_refused(tmp_path):
    BM25Index.build(DOCS, tokenizer="regex").save(tmp_path / "idx")
    with pytest.raises(IndexMismatchError, match="tokenizer"):
        BM25Index.load(tmp_path / "idx", tokenizer="whitespace")
    with pytest.raises(IndexMismatchError, match="k1"):
        BM25Index.load(tmp_path / "idx", k1=0.9)
    assert len(BM25Index.load(tmp_path / "idx", tokenizer="regex", k1=1.5)) == 4
    (tmp_path / "other").mkdir()
    with pytest.raises(IndexMismatchError, match="not a rerankit index"):
        load_index(tmp_path / "other")


def test_saving_into_a_foreign_folder_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(InvalidInputError, match="not empty"):
        BM25Index.build(DOCS, tokenizer="regex").save(tmp_path)


def test_bad_corpora_are_refused():
    with pytest.raises(InvalidInputError, match="empty"):
        BM25Index.build([], tokenizer="regex")
    with pytest.raises(InvalidInputError, match=r"'d1'.*'d2'|duplicate"):
        BM25Index.build(DOCS + [("d1", "x"), ("d2", "y")], tokenizer="regex")
    index = BM25Index.build(DOCS, tokenizer="regex")
    with pytest.raises(InvalidInputError, match="'d3'"):
        index.add([("d3", "again")])
    assert len(index) == 4  # the refused batch left nothing behind
    with pytest.raises(InvalidInputError):
        BM25Index.build([("x", 42)], tokenizer="regex")
    with pytest.raises(InvalidInputError):
        BM25Index.build("not a list of documents", tokenizer="regex")


def test_bad_queries_get_clear_errors():
    index = BM25Index.build(DOCS, tokenizer="regex")
    for query in ("", "   "):
        with pytest.raises(InvalidInputError, match="empty"):
            index.search(query)
    with pytest.raises(InvalidInputError, match="no searchable tokens"):
        index.search("?!…")
    with pytest.raises(InvalidInputError):
        index.search(None)
    with pytest.raises(InvalidInputError, match="k must be"):
        index.search("cat", k=0)


def test_documents_without_tokens_are_reported(caplog):
    with caplog.at_level(logging.WARNING, logger="rerankit"):
        index = BM25Index.build(DOCS + [("punct", "!!! ???")], tokenizer="regex")
    assert "'punct'" in caplog.text
    assert len(index) == 5 and index.search("cat")[0].id == "d1"


def test_a_one_megabyte_document_is_indexed_and_found():
    filler = "lorem ipsum dolor sit amet " * 40_000  # ~1.1 MB
    index = BM25Index.build([("big", filler + " needle"), ("small", "a needle here")],
                            tokenizer="regex")
    assert {h.id for h in index.search("needle")} == {"big", "small"}


def test_kiwi_bm25_on_real_korean_pages(ko_pages):
    """Kiwi tokens beat whitespace on the real Korean pages, near the reference figures."""
    from rerankit.metrics import evaluate

    queries = ko_pages.judged_queries
    results = {}
    for name in ("whitespace", "kiwi"):
        index = BM25Index.build(ko_pages.corpus, tokenizer=name)
        run = {q.id: {h.id: 1 / h.rank for h in index.search(q.text, 5)} for q in queries}
        results[name] = evaluate(ko_pages.qrels, run, ["mrr@5"])["mrr@5"]
    # data README: whitespace 0.761, Kiwi 0.899 on these files
    assert results["kiwi"] > results["whitespace"] + 0.05
    assert results["kiwi"] >= 0.85


def test_saving_over_an_index_of_another_kind_is_refused(tmp_path):
    from rerankit.retrieval._store import write_manifest

    (tmp_path / "idx").mkdir()
    write_manifest(tmp_path / "idx", "dense", {}, 1)
    with pytest.raises(InvalidInputError, match="over the dense index"):
        BM25Index.build(DOCS, tokenizer="regex").save(tmp_path / "idx")


def test_building_an_index_does_not_log_debug_lines_from_bm25s():
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.WARNING)
    try:
        BM25Index.build(DOCS, tokenizer="regex")
        assert not logging.getLogger("bm25s").isEnabledFor(logging.DEBUG)
    finally:
        root.setLevel(level)
