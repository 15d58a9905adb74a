"""Evaluation data loaders: BEIR qrels, TREC runs, candidates JSONL, RAG pages, dispatch."""

from __future__ import annotations

import csv
import json
import logging
import sys
import unicodedata
import uuid
from pathlib import Path

import pytest

from rerankit._exceptions import InvalidInputError, MissingDependencyError
from rerankit.datasets import (
    Candidate,
    EvalDataset,
    load_candidates_jsonl,
    load_dataset,
    load_ir_datasets,
    load_rag_pages,
    load_trec,
    read_qrels,
    read_trec_run,
)

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
RAG_SAMPLE = Path(__file__).resolve().parent / "data" / "rag_pages"


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_jsonl(path: Path, rows: list[object]) -> Path:
    return write_lines(path, [json.dumps(row, ensure_ascii=False) for row in rows])


@pytest.fixture()
def beir_files(tmp_path):
    """A tiny BEIR folder: 4 documents (one with a title, one holding U+2028), 3 queries."""
    folder = tmp_path / "tiny"
    (folder / "qrels").mkdir(parents=True)
    write_jsonl(folder / "corpus.jsonl", [
        {"_id": "d1", "title": "Seoul", "text": "Seoul is the capital of Korea."},
        {"_id": "d2", "title": "", "text": "Busan is a port city.\u2028It has beaches."},
        {"_id": "d3", "title": "", "text": "Kimchi is fermented cabbage."},
        {"_id": "d4", "title": "", "text": "The Han river crosses Seoul."},
    ])
    write_jsonl(folder / "queries.jsonl", [
        {"_id": "q1", "text": "capital of korea", "answer": "Seoul"},
        {"_id": "q2", "text": "korean port city"},
        {"_id": "q3", "text": "korean food"},
    ])
    write_lines(folder / "qrels" / "test.tsv",
                ["query-id\tcorpus-id\tscore", "q1\td1\t2", "q1\td4\t1", "q2\td2\t1"])
    return folder


# --------------------------------------------------------------------------- qrels


@pytest.mark.parametrize(("name", "has_header"), [("msmarco-dl19-subset", False),
                                                  ("nfcorpus-test", True)])
def test_real_beir_qrels_with_and_without_header(name, has_header):
    path = DATASETS / name / "qrels" / "test.tsv"
    if not path.is_file():
        pytest.skip(f"{path} is absent (shared data sets not mounted)")
    lines = [line for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]
    assert lines[0].startswith("query-id") is has_header
    body = lines[1:] if has_header else lines
    qrels = read_qrels(path)
    assert sum(len(docs) for docs in qrels.values()) == len(body)
    assert len(qrels) == len({line.split("\t")[0] for line in body})
    query_id, doc_id, grade = body[0].split("\t")
    assert qrels[query_id][doc_id] == int(grade)


def test_trec_qrels_format(tmp_path):
    path = write_lines(tmp_path / "qrels.txt", ["q1 0 d1 2", "q1 0 d2 0", "q2 Q0 d3 1"])
    assert read_qrels(path) == {"q1": {"d1": 2, "d2": 0}, "q2": {"d3": 1}}


# --------------------------------------------------------------------------- TREC run


RANX_SCORES = {"q1": {"d1": 0.5, "d2": 2.25, "d3": -1.0, "d4": 1e-05},
               "q2": {"d3": 7.0, "d9": 3.5}}


def test_trec_run_in_ranx_layout(tmp_path):
    """The lines ranx's Run.save(kind="trec") writes: repr floats, no final newline."""
    lines = []
    for query_id, docs in RANX_SCORES.items():
        ranked = sorted(docs.items(), key=lambda item: -item[1])
        lines += [f"{query_id} Q0 {doc_id} {rank} {score} None"
                  for rank, (doc_id, score) in enumerate(ranked, start=1)]
    path = tmp_path / "run.trec"
    path.write_text("\n".join(lines), encoding="utf-8")
    run = read_trec_run(path)
    assert {q: dict(docs) for q, docs in run.items()} == RANX_SCORES
    assert [d for d, _ in run["q1"]] == ["d2", "d1", "d4", "d3"]


@pytest.mark.slow  # ranx compiles with numba on first use (~20 s)
def test_trec_run_written_by_ranx_reads_back_equal(tmp_path):
    ranx = pytest.importorskip("ranx")
    path = tmp_path / "run.trec"
    ranx.Run(RANX_SCORES, name="bm25").save(str(path), kind="trec")
    run = read_trec_run(path)
    assert {q: dict(docs) for q, docs in run.items()} == RANX_SCORES
    assert [d for d, _ in run["q1"]] == ["d2", "d1", "d4", "d3"]
    assert ranx.Run.from_file(str(path), kind="trec").to_dict() == RANX_SCORES


def test_trec_run_order_is_score_then_given_rank(tmp_path):
    path = write_lines(tmp_path / "run.txt", [
        "q1 Q0 a 3 1.0 tag",
        "q1 Q0 b 1 0.5 tag",   # ranks disagree with scores: scores win
        "q1 Q0 c 2 1.0 tag",   # same score as 'a' but a better rank
        "q2\tQ0\tx\t1\t-3e-1\ttag",
        "",
        "q1 Q0 d 4 2 tag",
    ])
    run = read_trec_run(path)
    assert list(run) == ["q1", "q2"]
    assert run["q1"] == [("d", 2.0), ("c", 1.0), ("a", 1.0), ("b", 0.5)]
    assert run["q2"] == [("x", -0.3)]


@pytest.mark.parametrize(("lines", "message"), [
    (["q1 Q0 a 1 1.0 t", "q2 Q0 a 1 1.0 t", "q1 Q0 a 2 0.5 t"],
     r"run.txt line 3: document 'a' is listed twice for query 'q1' \(also on line 1\)"),
    (["q1 Q0 a 1 nan t"], r"run.txt line 1: score 'nan' is not a finite number"),
    (["q1 Q0 a 1 inf t"], "not a finite number"),
    (["q1 Q0 a 1 high t"], "line 1: score 'high' is not a number"),
    (["q1 Q0 a one 1.0 t"], "line 1: rank 'one' is not an integer"),
    (["q1 Q0 a 1 1.0 t", "q1 a 2 1.0 t"], "line 2: expected 6 fields"),
    ([""], "has no lines"),
])
def test_trec_run_refuses_bad_lines(tmp_path, lines, message):
    path = write_lines(tmp_path / "run.txt", lines)
    with pytest.raises(InvalidInputError, match=message):
        read_trec_run(path)


def test_load_trec(tmp_path, beir_files):
    run = write_lines(tmp_path / "bm25.run", [
        "q1 Q0 d4 1 9.0 bm25", "q1 Q0 d1 2 8.0 bm25", "q1 Q0 d3 3 1.0 bm25",
        "q2 Q0 d2 1 5.0 bm25", "q2 Q0 d3 2 4.0 bm25",
    ])
    qrels = write_lines(tmp_path / "qrels.trec", ["q1 0 d1 2", "q1 0 d4 1", "q2 0 d2 1"])
    dataset = load_trec(qrels, run, corpus=beir_files, queries=beir_files / "queries.jsonl",
                        depth=2)
    assert isinstance(dataset, EvalDataset)
    assert dataset.name == "bm25" and dataset.corpus is None
    assert [q.id for q in dataset.queries] == ["q1", "q2", "q3"]
    assert dataset.queries[0].metadata == {"answer": "Seoul"}
    assert dataset.candidates == {
        "q1": [Candidate("d4", "The Han river crosses Seoul.", 9.0),
               Candidate("d1", "Seoul\n\nSeoul is the capital of Korea.", 8.0)],
        "q2": [Candidate("d2", "Busan is a port city.\u2028It has beaches.", 5.0),
               Candidate("d3", "Kimchi is fermented cabbage.", 4.0)],
        "q3": [],
    }
    assert dataset.qrels == {"q1": {"d1": 2, "d4": 1}, "q2": {"d2": 1}}
    # BEIR qrels (with header) work the same
    same = load_trec(beir_files / "qrels" / "test.tsv", run, corpus=beir_files / "corpus.jsonl",
                     queries=beir_files / "queries.jsonl", depth=2, name="x")
    assert same.qrels == dataset.qrels and same.candidates == dataset.candidates
    assert same.name == "x"


def test_load_trec_names_missing_corpus_ids(tmp_path, beir_files):
    lines = [f"q1 Q0 gone{i:02d} {i + 1} {100 - i} t" for i in range(12)]
    run = write_lines(tmp_path / "run.txt", ["q1 Q0 d1 1 1000 t", *lines])
    qrels = beir_files / "qrels" / "test.tsv"
    with pytest.raises(InvalidInputError) as info:
        load_trec(qrels, run, corpus=beir_files, queries=beir_files / "queries.jsonl")
    message = str(info.value)
    assert "12 document ids of run.txt are not in the corpus" in message
    assert "'gone00'" in message and "'gone09'" in message and "'gone10'" not in message
    assert "and 2 more" in message
    # depth limits which ids must exist
    ok = load_trec(qrels, run, corpus=beir_files, queries=beir_files / "queries.jsonl", depth=1)
    assert [c.id for c in ok.candidates["q1"]] == ["d1"]


def test_load_trec_refuses_run_queries_without_text(tmp_path, beir_files):
    run = write_lines(tmp_path / "run.txt", ["q9 Q0 d1 1 1.0 t"])
    with pytest.raises(InvalidInputError, match=r"run queries are not in queries\.jsonl: 'q9'"):
        load_trec(beir_files / "qrels" / "test.tsv", run, corpus=beir_files,
                  queries=beir_files / "queries.jsonl")


def test_load_trec_with_tsv_queries(tmp_path, beir_files):
    queries = write_lines(tmp_path / "queries.tsv", ["q1\tcapital of korea", "q2\tport city"])
    run = write_lines(tmp_path / "run.txt", ["q2 Q0 d2 1 1.0 t"])
    dataset = load_trec(beir_files / "qrels" / "test.tsv", run, corpus=beir_files,
                        queries=queries)
    assert [(q.id, q.text) for q in dataset.queries] == [("q1", "capital of korea"),
                                                         ("q2", "port city")]
    assert dataset.candidates["q1"] == [] and [c.id for c in dataset.candidates["q2"]] == ["d2"]
    bad = write_lines(tmp_path / "bad.tsv", ["q1 no tab here"])
    with pytest.raises(InvalidInputError, match=r"bad\.tsv line 1: expected 'id<TAB>text'"):
        load_trec(beir_files / "qrels" / "test.tsv", run, corpus=beir_files, queries=bad)
    with pytest.raises(InvalidInputError, match="cannot read"):
        load_trec(tmp_path / "absent.qrels", run, corpus=beir_files, queries=queries)


def test_load_trec_on_real_dl19(tmp_path):
    folder = DATASETS / "msmarco-dl19-subset"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent (shared data sets not mounted)")
    qrels = read_qrels(folder / "qrels" / "test.tsv")
    lines = []
    for query_id, docs in qrels.items():
        for rank, (doc_id, grade) in enumerate(sorted(docs.items()), start=1):
            lines.append(f"{query_id} Q0 {doc_id} {rank} {grade + 1 / rank:.6f} t")
    run = write_lines(tmp_path / "dl19.run", lines)
    dataset = load_trec(folder / "qrels" / "test.tsv", run, corpus=folder,
                        queries=folder / "queries.jsonl", depth=20)
    texts = {}
    with (folder / "corpus.jsonl").open(encoding="utf-8", newline="\n") as handle:
        for line in handle:
            row = json.loads(line)
            texts[row["_id"]] = row["text"]
    assert len(dataset.queries) == 50 and len(dataset.judged_queries) == 43
    for query_id, candidates in dataset.candidates.items():
        assert len(candidates) == min(20, len(qrels.get(query_id, {})))
        grades = [qrels[query_id][c.id] for c in candidates]
        assert grades == sorted(grades, reverse=True)
        assert all(c.text == texts[c.id] for c in candidates)


# --------------------------------------------------------------------------- candidates JSONL


def test_candidates_jsonl(tmp_path):
    path = write_jsonl(tmp_path / "cands.jsonl", [
        {"id": "a", "query": "은행 인가 요건", "domain": "finance", "language": "ko",
         "candidates": ["자본금 1천억원", {"id": "doc-7", "text": "예비인가 2개월",
                                         "score": 3.5},
                        {"text": "body", "title": "Title"}],
         "labels": [2, 0, 1]},
        {"query": "parking fee", "candidates": ["1,000 won for 30 minutes"], "labels": [1],
         "domain": "public"},
    ])
    dataset = load_candidates_jsonl(path)
    assert dataset.name == "cands" and dataset.corpus is None
    assert [q.id for q in dataset.queries] == ["a", "2"]  # id field, else the line number
    assert dataset.queries[0].metadata == {"domain": "finance", "language": "ko"}
    assert dataset.queries[1].metadata == {"domain": "public"}
    assert dataset.candidates["a"] == [Candidate("a-0", "자본금 1천억원"),
                                       Candidate("doc-7", "예비인가 2개월", 3.5),
                                       Candidate("a-2", "Title\n\nbody")]
    assert dataset.qrels == {"a": {"a-0": 2, "doc-7": 0, "a-2": 1}, "2": {"2-0": 1}}
    assert [q.id for q in dataset.judged_queries] == ["a", "2"]
    cut = load_candidates_jsonl(path, depth=1, name="cut")
    assert cut.name == "cut" and [c.id for c in cut.candidates["a"]] == ["a-0"]
    assert cut.qrels == dataset.qrels  # labels beyond depth still count for recall


def test_candidates_jsonl_positives_negatives(tmp_path):
    row = {"id": "q", "query": "예금자보호 한도", "positives": ["5천만원", "원금과 이자"],
           "negatives": ["CD", "RP", "펀드"]}
    path = write_jsonl(tmp_path / "pn.jsonl", [row])
    first = load_candidates_jsonl(path)
    texts = {c.text: first.qrels["q"][c.id] for c in first.candidates["q"]}
    assert texts == {"5천만원": 1, "원금과 이자": 1, "CD": 0, "RP": 0, "펀드": 0}
    assert first.candidates == load_candidates_jsonl(path).candidates  # reproducible order


@pytest.mark.parametrize(("content", "message"), [
    ('{"query": "a", "candidates": ["x"], "labels": [1]}\n'
     '\n'
     '{"query": "b", "candidates": ["x", "y"], "labels": [1]}\n',
     r"c.jsonl line 3: 2 candidates but 1 labels"),
    ('{"query": "a", "candidates": ["x"], "labels": [1]}\n[1, 2]\n',
     r"c.jsonl line 2: expected a JSON object, got list"),
    ('{"query": "a", "candidates": ["x"], "labels": [1]}\n{"query": "b", \n',
     r"c.jsonl line 2 is not JSON"),
    ('{"query": "a", "candidates": ["x"], "labels": [true]}\n', "not an integer grade"),
    ('{"query": "a", "candidates": ["x"], "labels": [0.5]}\n', "not an integer grade"),
    ('{"query": "a", "candidates": ["x"]}\n', "needs a 'labels' list"),
    ('{"query": "a", "candidates": [3], "labels": [1]}\n', "a candidate must be a string"),
    ('{"query": "a", "candidates": [{"id": "z"}], "labels": [1]}\n', "'z' needs a string"),
    ('{"query": "a", "candidates": ["x", {"id": "1-0", "text": "y"}], "labels": [1, 0]}\n',
     "candidate ids appear twice: '1-0'"),
    ('{"id": 1, "query": "a", "candidates": [], "labels": []}\n'
     '{"id": "1", "query": "b", "candidates": [], "labels": []}\n',
     "line 2: query id '1' is also on line 1"),
    ('{"_id": "d1", "text": "a corpus line"}\n', "looks like a corpus line"),
    ('{"query": "a"}\n', "needs 'candidates' and 'labels'"),
    ('{"query": "a", "candidates": ["x"], "labels": [1], "positives": ["y"]}\n', "not both"),
    ("\n\n", "holds no queries"),
])
def test_candidates_jsonl_refuses_bad_lines(tmp_path, content, message):
    path = tmp_path / "c.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InvalidInputError, match=message):
        load_candidates_jsonl(path)


def test_candidates_jsonl_refuses_invalid_utf8(tmp_path):
    path = tmp_path / "c.jsonl"
    good = json.dumps({"query": "a", "candidates": ["x"], "labels": [1]}).encode()
    path.write_bytes(good + b"\n" + good.replace(b'"x"', b'"\xff\xfe"') + b"\n")
    with pytest.raises(InvalidInputError, match=r"c.jsonl line 2 is not valid UTF-8"):
        load_candidates_jsonl(path)


# --------------------------------------------------------------------------- RAG pages


def _page_key(name: str) -> str:
    return unicodedata.normalize("NFC", name.replace("\\", "/").split("/")[-1].strip())


def test_rag_pages_sample_relevance_is_same_file_and_page():
    dataset = load_rag_pages(RAG_SAMPLE / "questions.csv", RAG_SAMPLE / "chunks.jsonl")
    assert dataset.name == "rag_pages"
    assert len(dataset.queries) == 10 and len(dataset.corpus) == 29
    # independent recomputation from the raw files
    with (RAG_SAMPLE / "questions.csv").open(encoding="utf-8", newline="") as handle:
        questions = list(csv.DictReader(handle))
    chunks = [json.loads(line) for line in
              (RAG_SAMPLE / "chunks.jsonl").read_text(encoding="utf-8").split("\n") if line]
    for row, query in zip(questions, dataset.queries, strict=True):
        expected = {c["id"] for c in chunks if _page_key(c["file_name"]) == row["target_file_name"]
                    and c["page"] == int(row["target_page_no"])}
        assert expected and set(dataset.qrels[query.id]) == expected
        assert set(dataset.qrels[query.id].values()) == {1}
        assert query.metadata["domain"] == row["domain"]
        assert query.metadata["context_type"] in ("paragraph", "table")
    assert {q.metadata["domain"] for q in dataset.queries} == {"finance", "public"}
    assert len(dataset.judged_queries) == 10
    # question 1 targets page 3 of the bank licensing guide: both of its chunks are relevant,
    # page 3 of the other files is not
    first = dataset.qrels["1"]
    assert len(first) == 2
    other_page_3 = [d.id for d in dataset.corpus
                    if d.metadata["page"] == 3 and d.id not in first]
    assert len(other_page_3) >= 2
    doc = next(d for d in dataset.corpus if d.id in first)
    assert doc.metadata["file_name"] == "은행업_인가_심사_안내.pdf"  # directory dropped
    assert doc.metadata["page"] == 3 and doc.metadata["domain"] == "finance"


def test_rag_pages_csv_and_jsonl_questions_agree(tmp_path):
    with (RAG_SAMPLE / "questions.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row["target_page_no"] = int(row["target_page_no"])
    jsonl = write_jsonl(tmp_path / "questions.jsonl", rows)
    from_csv = load_rag_pages(RAG_SAMPLE / "questions.csv", RAG_SAMPLE / "chunks.jsonl")
    from_jsonl = load_rag_pages(jsonl, RAG_SAMPLE / "chunks.jsonl", name="j")
    assert from_jsonl.qrels == from_csv.qrels
    assert [q.text for q in from_jsonl.queries] == [q.text for q in from_csv.queries]


def test_rag_pages_chunk_aliases_and_file_name_matching(tmp_path):
    nfd = unicodedata.normalize("NFD", "공고문.pdf")
    chunks = tmp_path / "chunks.csv"
    with chunks.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["contents", "source", "page_no", "section"])
        writer.writerow(["첫째 조각, 3쪽", "C:\\docs\\공고문.pdf", "3", "신청"])
        writer.writerow(["둘째 조각\n여러 줄", f" scans/{nfd} ", "3.0", "신청"])
        writer.writerow(["다른 쪽", "공고문.pdf", "4", "서류"])
        writer.writerow(["다른 파일의 3쪽", "안내문.pdf", "3", ""])
    questions = write_lines(tmp_path / "q.csv", [
        "id,question,target_file_name,target_page_no",
        "n1,신청 방법은?,공고문.pdf,3",
        "n2,어느 쪽?,공고문.pdf,\"3, 4\"",
    ])
    dataset = load_rag_pages(questions, chunks)
    assert dataset.name == "q"
    ids = [d.id for d in dataset.corpus]
    assert ids == ["공고문.pdf p3 #1", "공고문.pdf p3 #2", "공고문.pdf p4 #1", "안내문.pdf p3 #1"]
    assert dataset.qrels == {"n1": {ids[0]: 1, ids[1]: 1},
                             "n2": {ids[0]: 1, ids[1]: 1, ids[2]: 1}}
    assert dataset.corpus[1].text == "둘째 조각\n여러 줄"
    assert dataset.corpus[0].metadata == {"file_name": "공고문.pdf", "page": 3, "section": "신청"}
    assert dataset.queries[0].metadata == {"target_file_name": "공고문.pdf",
                                           "target_page_no": "3"}


def test_rag_pages_missing_target_page_warns(tmp_path, caplog):
    chunks = write_jsonl(tmp_path / "chunks.jsonl", [
        {"text": "1쪽 내용", "file_name": "a.pdf", "page": 1},
        {"text": "2쪽 내용", "metadata": {"source": "a.pdf", "page": 2, "kind": "ocr"}},
    ])
    questions = write_jsonl(tmp_path / "questions.jsonl", [
        {"question": "있는 쪽", "target_file_name": "a.pdf", "target_page_no": 2},
        {"question": "없는 쪽", "target_file_name": "a.pdf", "target_page_no": 9},
        {"question": "없는 파일", "target_file_name": "b.pdf", "target_page_no": 1},
    ])
    with caplog.at_level(logging.WARNING, logger="rerankit"):
        dataset = load_rag_pages(questions, chunks)
    assert [q.id for q in dataset.queries] == ["1", "2", "3"]  # kept
    assert dataset.qrels == {"1": {"a.pdf p2 #1": 1}, "2": {}, "3": {}}
    assert dataset.corpus[1].metadata == {"file_name": "a.pdf", "page": 2, "kind": "ocr"}
    assert [q.id for q in dataset.judged_queries] == ["1"]
    assert dataset.name == tmp_path.name  # "questions" file: named after its folder
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(messages) == 1
    assert "2 of 3 questions have no chunk of their target page" in messages[0]
    assert "1 name a file with no chunks at all" in messages[0]


@pytest.mark.parametrize(("questions", "message"), [
    ("question,target_file_name\n물음,a.pdf\n", r"q.csv line 2: needs a field 'target_page_no'"),
    ("question,target_file_name,target_page_no\n물음,a.pdf,셋째\n", "line 2: page '셋째' is not"),
    ("question,target_file_name,target_page_no\n물음,a.pdf,1,extra\n",
     "line 2: 4 fields but the header has 3"),
    ("question,target_file_name,target_page_no\n\"물음,a.pdf,1\n", r"q.csv line \d"),
])
def test_rag_pages_refuses_bad_questions(tmp_path, questions, message):
    chunks = write_jsonl(tmp_path / "chunks.jsonl", [{"text": "x", "file_name": "a.pdf",
                                                      "page": 1}])
    path = tmp_path / "q.csv"
    path.write_text(questions, encoding="utf-8")
    with pytest.raises(InvalidInputError, match=message):
        load_rag_pages(path, chunks)


def test_rag_pages_refuses_cp949_csv(tmp_path):
    path = tmp_path / "q.csv"
    path.write_bytes("question,target_file_name,target_page_no\n물음,a.pdf,1\n".encode("cp949"))
    chunks = write_jsonl(tmp_path / "chunks.jsonl", [{"text": "x", "file_name": "a.pdf",
                                                      "page": 1}])
    with pytest.raises(InvalidInputError, match=r"q.csv line 2 is not valid UTF-8.*CP949"):
        load_rag_pages(path, chunks)


# --------------------------------------------------------------------------- ir_datasets


def test_ir_datasets_missing_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ir_datasets", None)  # import fails as if not installed
    with pytest.raises(MissingDependencyError, match=r"rerankit\[irds\]"):
        load_ir_datasets("beir/scifact/test")
    with pytest.raises(MissingDependencyError, match=r"rerankit\[irds\]"):
        load_dataset("irds:beir/scifact/test")


def test_ir_datasets_local_dataset(tmp_path):
    """A real ir_datasets data set built from local files (no download)."""
    irds = pytest.importorskip("ir_datasets")
    from ir_datasets import formats, util
    from ir_datasets.datasets.base import Dataset

    docs = write_lines(tmp_path / "docs.tsv", ["d1\tfirst doc", "d2\tsecond doc", "d3\tthird"])
    queries = write_lines(tmp_path / "queries.tsv", ["q1\thello", "q2\tworld"])
    qrels = write_lines(tmp_path / "qrels", ["q1 0 d1 1", "q2 0 d3 2", "q2 0 d2 0"])
    run = write_lines(tmp_path / "run", ["q1 Q0 d2 1 5.0 r", "q1 Q0 d1 2 4.0 r",
                                         "q1 Q0 d3 3 1.0 r", "q2 Q0 d3 1 3 r"])
    name = f"rerankit-test/{uuid.uuid4().hex}"
    irds.registry.register(name, Dataset(
        formats.TsvDocs(util.LocalDownload(str(docs))),
        formats.TsvQueries(util.LocalDownload(str(queries))),
        formats.TrecQrels(util.LocalDownload(str(qrels)), {}),
        formats.TrecScoredDocs(util.LocalDownload(str(run)))))
    try:
        full = load_dataset(f"irds:{name}")
        assert [d.id for d in full.corpus] == ["d1", "d2", "d3"] and full.candidates is None
        assert [(q.id, q.text) for q in full.queries] == [("q1", "hello"), ("q2", "world")]
        assert full.qrels == {"q1": {"d1": 1}, "q2": {"d3": 2, "d2": 0}}
        top = load_ir_datasets(name, depth=2)
        assert top.corpus is None
        assert top.candidates == {"q1": [Candidate("d2", "second doc", 5.0),
                                         Candidate("d1", "first doc", 4.0)],
                                  "q2": [Candidate("d3", "third", 3.0)]}
    finally:
        irds.registry._registered.pop(name, None)


# --------------------------------------------------------------------------- load_dataset


def test_load_dataset_dispatch(tmp_path, beir_files):
    beir = load_dataset(beir_files)
    assert beir.name == "tiny" and len(beir.corpus) == 4 and beir.candidates is None
    assert load_dataset(str(beir_files), name="renamed", depth=None).name == "renamed"

    rag = load_dataset(RAG_SAMPLE)
    assert rag.name == "rag_pages" and len(rag.corpus) == 29

    cands = write_jsonl(tmp_path / "c.jsonl", [{"query": "a", "candidates": ["x", "y"],
                                                "labels": [0, 1]}])
    assert load_dataset(cands, depth=1).candidates == {"1": [Candidate("1-0", "x")]}

    run = write_lines(tmp_path / "run.txt", ["q1 Q0 d1 1 2.0 t", "q1 Q0 d3 2 1.0 t"])
    trec = load_dataset({"run": run, "qrels": beir_files / "qrels" / "test.tsv",
                         "corpus": beir_files, "queries": beir_files / "queries.jsonl"},
                        depth=1)
    assert [c.id for c in trec.candidates["q1"]] == ["d1"]

    pages = load_dataset({"questions": RAG_SAMPLE / "questions.csv",
                          "chunks": RAG_SAMPLE / "chunks.jsonl"}, name="p")
    assert pages.name == "p" and pages.qrels == rag.qrels


@pytest.mark.parametrize(("spec", "options", "message"), [
    ("no/such/place", {}, "does not exist; give a BEIR folder"),
    ("irds:", {}, "needs an ir_datasets name"),
    ({"run": "r.txt"}, {}, "a TREC run also needs corpus, qrels, queries"),
    ({"something": 1}, {}, "cannot load a dataset from keys"),
])
def test_load_dataset_errors(spec, options, message):
    with pytest.raises(InvalidInputError, match=message):
        load_dataset(spec, **options)


def test_load_dataset_refuses_unknown_forms_and_options(tmp_path, beir_files):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInputError, match=r"holds neither corpus\.jsonl nor questions"):
        load_dataset(tmp_path / "empty")
    run = write_lines(tmp_path / "run.txt", ["q1 Q0 d1 1 2.0 t"])
    with pytest.raises(InvalidInputError, match=r"is not a form rerankit can load; .*'irds:"):
        load_dataset(run)
    with pytest.raises(InvalidInputError, match="depth do not apply to a BEIR folder"):
        load_dataset(beir_files, depth=10)
    cands = write_jsonl(tmp_path / "c.jsonl", [{"query": "a", "candidates": [], "labels": []}])
    with pytest.raises(InvalidInputError, match="depth must be a positive integer"):
        load_dataset(cands, depth=0)
