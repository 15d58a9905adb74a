"""Structured documents: stable serialisation, rank_fields, Markdown tables."""

from __future__ import annotations

import copy
import json

import pytest

from rerankit import InvalidInputError, Reranker
from rerankit.text.structured import markdown_tables_as_rows, serialize_record

RECORD = {
    "name": "Kim Min-jun", "age": 34, "active": True, "score": 2.5, "missing": None,
    "tags": ["loan", "mortgage"], "address": {"city": "Seoul", "zip": None},
    "orders": [{"sku": "A1", "qty": 2}, {"sku": "B2", "qty": 1}],
}


def test_record_lines_follow_the_documented_rules():
    assert serialize_record(RECORD).split("\n") == [
        "name: Kim Min-jun", "age: 34", "active: true", "score: 2.5",
        "tags: loan, mortgage", "address.city: Seoul",
        "orders[0].sku: A1", "orders[0].qty: 2", "orders[1].sku: B2", "orders[1].qty: 1",
    ]


def test_rank_fields_select_and_order_fields():
    text = serialize_record(RECORD, rank_fields=["tags", "name", "nope"])
    assert text == "tags: loan, mortgage\nname: Kim Min-jun"
    with pytest.raises(InvalidInputError, match="none of the rank_fields"):
        serialize_record(RECORD, rank_fields=["nope"])


def test_same_record_same_text_whatever_the_source():
    """A dict and the same object parsed back from JSON read identically."""
    assert serialize_record(json.loads(json.dumps(RECORD))) == serialize_record(RECORD)


def test_non_finite_numbers_are_refused():
    with pytest.raises(InvalidInputError, match="non-finite"):
        serialize_record({"x": float("nan")})


def test_markdown_tables_per_row_and_kept():
    text = ("Rates for 2024:\n\n| product | rate | note |\n|:---|---:|---|\n"
            "| deposit | 3.5% | fixed |\n| loan | 5.1% |  |\n\nEnd of table.")
    assert markdown_tables_as_rows(text).split("\n") == [
        "Rates for 2024:", "", "product: deposit; rate: 3.5%; note: fixed",
        "product: loan; rate: 5.1%", "", "End of table.",
    ]
    plain = "a | b is not a table\n---\nnor this"
    assert markdown_tables_as_rows(plain) == plain


def test_reranker_reads_fields_and_returns_the_original_objects(tiny_bert_dir):
    reranker = Reranker(tiny_bert_dir)
    docs = [dict(RECORD), {"name": "Lee", "tags": ["deposit"]}]
    before = copy.deepcopy(docs)
    results = reranker.rerank("mortgage loan for Kim", docs, rank_fields=["name", "tags"])
    assert docs == before
    by_index = {r.index: r for r in results}
    assert by_index[0].document is docs[0] and by_index[1].document is docs[1]
    assert by_index[0].text == "name: Kim Min-jun\ntags: loan, mortgage"
    # the scores are those of the serialised texts
    direct = reranker.score("mortgage loan for Kim", [r.text for r in
                                                     sorted(results, key=lambda r: r.index)])
    assert [by_index[i].raw_score for i in range(2)] == pytest.approx(direct)
    everything = reranker.rerank("q", docs, rank_fields="*")
    assert {r.index: r.text for r in everything}[0] == serialize_record(RECORD)


def test_reranker_tables_option(tiny_bert_dir):
    reranker = Reranker(tiny_bert_dir)
    doc = "| a | b |\n|---|---|\n| 1 | 2 |"
    (kept,) = reranker.rerank("q", [doc])
    (rows,) = reranker.rerank("q", [doc], tables="rows")
    assert kept.text == doc and rows.text == "a: 1; b: 2"
    assert rows.document is not None and rows.document == doc


@pytest.mark.parametrize("kwargs, message", [
    ({"rank_fields": "name"}, "rank_fields"),
    ({"rank_fields": []}, "rank_fields"),
    ({"rank_fields": [1]}, "rank_fields"),
    ({"tables": "flat"}, "tables"),
])
def test_bad_options_are_clear_errors(tiny_bert_dir, kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        Reranker(tiny_bert_dir).rerank("q", [{"name": "x"}], **kwargs)


def test_mapping_without_text_names_rank_fields(tiny_bert_dir):
    with pytest.raises(InvalidInputError, match="rank_fields"):
        Reranker(tiny_bert_dir).rerank("q", [{"name": "x"}])


def test_cli_rank_fields(tiny_bert_dir, tmp_path):
    import io

    from rerankit.cli import main

    docs = tmp_path / "d.jsonl"
    docs.write_text(json.dumps(RECORD) + "\n" + json.dumps({"name": "Lee"}) + "\n")
    buffer = io.StringIO()
    assert main(["rerank", "-m", str(tiny_bert_dir), "-q", "mortgage", "--docs", str(docs),
                 "--rank-fields", "name,tags", "--json"], out=buffer) == 0
    results = json.loads(buffer.getvalue())["results"]
    assert {r["index"]: r["document"] for r in results}[0] == RECORD
    assert {r["index"]: r["window"] for r in results}[1] == [0, len("name: Lee")]


CASES = [
    ("what is the boiling point of water in fahrenheit",
     {"substance": "water", "boiling point": "212 °F (100 °C)", "pressure": "sea level, 1 atm"},
     "Water boils at 212 °F (100 °C) at sea level, at a pressure of 1 atm."),
    ("how tall is mount everest",
     {"mountain": "Mount Everest", "height": "8,849 metres (29,032 ft)",
      "location": {"range": "Himalayas", "border": ["Nepal", "China"]}},
     "Mount Everest, in the Himalayas on the border of Nepal and China, is 8,849 metres "
     "(29,032 ft) tall."),
    ("who wrote pride and prejudice",
     {"title": "Pride and Prejudice", "author": "Jane Austen", "published": 1813},
     "Pride and Prejudice is a novel by Jane Austen, published in 1813."),
]


def test_same_content_as_json_and_as_prose_scores_close(trained_reranker_dir):
    """With the trained reranker: a record read as key: value lines scores close to the
    same facts written as prose, both far above the other cases' texts."""
    reranker = Reranker(trained_reranker_dir)
    for number, (query, record, prose) in enumerate(CASES):
        others = [text for i, (_, rec, text) in enumerate(CASES) if i != number]
        others += [rec for i, (_, rec, _) in enumerate(CASES) if i != number]
        docs = [record, prose, *others]
        results = {r.index: r.raw_score for r in reranker.rerank(query, docs, rank_fields="*")}
        as_json, as_prose = results[0], results[1]
        floor = max(results[i] for i in range(2, len(docs)))
        assert min(as_json, as_prose) > floor, (query, results)
        assert abs(as_json - as_prose) < 0.5 * (min(as_json, as_prose) - floor), (query, results)
