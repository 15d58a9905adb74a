"""The allganize RAG-Evaluation-Dataset-KO harness folder (ground_truth.json,
prepared_chunks.json, pdf_mapping.json) read unchanged by load_dataset and `rerankit bench`.

Expected relevance is recomputed here from the raw JSON files, never from the loader.
"""

from __future__ import annotations

import json
import logging
import shutil
import statistics
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from rerankit import InvalidInputError
from rerankit.datasets import NO_TARGET_PAGE, load_dataset, load_rag_pages
from rerankit.metrics import evaluate_per_query

SEED = Path(__file__).resolve().parent / "data" / "seed_layout"
METRICS = ("ndcg@10", "mrr@10", "hit@1", "recall@10")


def _raw() -> tuple[list[dict], list[dict], dict[str, str]]:
    def read(name: str):
        return json.loads((SEED / name).read_text(encoding="utf-8"))
    return read("ground_truth.json"), read("prepared_chunks.json"), read("pdf_mapping.json")


def _chunk_ids(chunks: list[dict]) -> list[str]:
    """The documented default id of each chunk: "<file> p<page> #<k>", k from 1 per page."""
    seen: Counter[tuple[str, int]] = Counter()
    ids = []
    for chunk in chunks:
        seen[(chunk["file"], chunk["page"])] += 1
        ids.append(f"{chunk['file']} p{chunk['page']} #{seen[(chunk['file'], chunk['page'])]}")
    return ids


def _expected_qrels(questions: list[dict], chunks: list[dict],
                    rename: dict[str, str] | None = None) -> dict[str, set[str]]:
    """Question id (row number from 1) -> ids of the chunks of its file and page; questions
    with a blank page are left out. ``rename`` maps the questions' file names first."""
    rename = rename or {}
    ids = _chunk_ids(chunks)
    out = {}
    for number, row in enumerate(questions, start=1):
        if not str(row["target_page_no"] or "").strip():
            continue
        target = rename.get(row["target_file_name"], row["target_file_name"])
        out[str(number)] = {doc_id for doc_id, chunk in zip(ids, chunks, strict=True)
                            if chunk["file"] == target
                            and chunk["page"] == int(row["target_page_no"])}
    return out


def _blank_ids(questions: list[dict]) -> list[str]:
    return [str(n) for n, row in enumerate(questions, start=1)
            if not str(row["target_page_no"] or "").strip()]


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING and r.name == "rerankit"]


def _write_list(path: Path, rows: list) -> Path:
    """A JSON list with one item per line: item k starts on line k + 1."""
    path.write_text("[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in rows)
                    + "\n]\n", encoding="utf-8")
    return path


def _copy_seed(folder: Path) -> Path:
    shutil.copytree(SEED, folder)
    return folder


# --------------------------------------------------------------------------- loading


def test_seed_sample_is_what_the_readme_says():
    questions, chunks, mapping = _raw()
    assert len(chunks) == 10 and len(questions) == 6
    assert len({c["file"] for c in chunks}) == 3
    assert Counter(q["domain"] for q in questions) == {"finance": 3, "law": 3}
    assert set(q["context_type"] for q in questions) == {"paragraph", "table"}
    assert all(isinstance(q["target_page_no"], str) for q in questions)
    assert len(_blank_ids(questions)) == 1
    assert set(mapping) == {c["file"] for c in chunks}


def test_seed_folder_qrels_match_the_raw_files(caplog):
    questions, chunks, _ = _raw()
    with caplog.at_level(logging.WARNING, logger="rerankit"):
        dataset = load_dataset(SEED)
    assert dataset.name == "seed_layout" and dataset.candidates is None
    ids = _chunk_ids(chunks)
    assert [d.id for d in dataset.corpus] == ids
    assert [d.text for d in dataset.corpus] == [c["text"] for c in chunks]
    for doc, chunk in zip(dataset.corpus, chunks, strict=True):
        assert doc.metadata["file_name"] == chunk["file"]
        assert doc.metadata["page"] == chunk["page"]
        assert doc.metadata["chunk_index"] == chunk["chunk_index"]
    expected = _expected_qrels(questions, chunks)
    assert all(expected.values())  # every non-blank target page has a chunk
    assert max(len(v) for v in expected.values()) == 2  # a page of two chunks: both count
    assert [q.id for q in dataset.queries] == [str(n) for n in range(1, len(questions) + 1)]
    for query, row in zip(dataset.queries, questions, strict=True):
        assert query.text == row["question"]
        assert query.metadata["domain"] == row["domain"]
        assert query.metadata["context_type"] == row["context_type"]
        assert query.metadata["target_answer"] == row["target_answer"]
        if query.id in expected:
            assert dataset.qrels[query.id] == dict.fromkeys(expected[query.id], 1)


def test_seed_blank_target_page_is_kept_unfindable_and_counted(caplog):
    questions = _raw()[0]
    with caplog.at_level(logging.WARNING, logger="rerankit"):
        dataset = load_dataset(SEED)
    blank = _blank_ids(questions)
    assert blank == ["6"]
    assert [q.id for q in dataset.judged_queries] == [q.id for q in dataset.queries]
    corpus_ids = {d.id for d in dataset.corpus}
    assert dataset.qrels["6"] == {NO_TARGET_PAGE: 1}
    assert not corpus_ids & set(dataset.qrels["6"])
    messages = _warnings(caplog)
    assert len(messages) == 1
    assert "ground_truth.json: 1 of 6 questions have no target_page_no; kept as unfindable" \
        in messages[0]
    assert "'6'" in messages[0]
    # even a run that returns the whole corpus scores 0 on it, and it is still scored
    everything = {q.id: [d.id for d in dataset.corpus] for q in dataset.queries}
    per_query = evaluate_per_query(dataset.qrels, everything, METRICS)
    for metric in METRICS:
        assert set(per_query[metric]) == {q.id for q in dataset.queries}
        assert per_query[metric]["6"] == 0.0
    assert per_query["recall@10"] == {q.id: 0.0 if q.id == "6" else 1.0 for q in dataset.queries}


@pytest.mark.parametrize("blank", ["", "   ", None])
def test_blank_target_page_forms_are_all_kept(tmp_path, caplog, blank):
    questions, chunks, _ = _raw()
    questions = [dict(q, target_page_no=blank if n in (2, 5) else q["target_page_no"])
                 for n, q in enumerate(questions, start=1)]
    _write_list(tmp_path / "ground_truth.json", questions)
    _write_list(tmp_path / "prepared_chunks.json", chunks)
    with caplog.at_level(logging.WARNING, logger="rerankit"):
        dataset = load_dataset(tmp_path)
    assert len(dataset.queries) == 6 and len(dataset.judged_queries) == 6
    assert {q for q, grades in dataset.qrels.items() if NO_TARGET_PAGE in grades} == \
        {"2", "5", "6"}
    assert dataset.qrels["1"] == dict.fromkeys(_expected_qrels(questions, chunks)["1"], 1)
    messages = _warnings(caplog)
    assert len(messages) == 1 and "3 of 6 questions have no target_page_no" in messages[0]


def test_seed_pdf_mapping_is_not_applied():
    questions, chunks, mapping = _raw()
    dataset = load_dataset(SEED)
    plain = _expected_qrels(questions, chunks)
    mapped = _expected_qrels(questions, chunks, rename=mapping)
    # the sample's mapping is adversarial: applying it changes every question's gold chunks
    assert all(plain[q] != mapped[q] for q in plain)
    for query_id, relevant in plain.items():
        assert set(dataset.qrels[query_id]) == relevant != mapped[query_id]
    files = {doc.metadata["file_name"] for doc in dataset.corpus}
    assert files == {c["file"] for c in chunks}
    by_id = {doc.id: doc for doc in dataset.corpus}
    for query, row in zip(dataset.queries, questions, strict=True):
        for doc_id in plain.get(query.id, ()):
            assert by_id[doc_id].metadata["file_name"] == row["target_file_name"]


def test_json_list_files_in_a_questions_chunks_folder_and_a_mapping(tmp_path):
    questions, chunks, _ = _raw()
    _write_list(tmp_path / "questions.json", questions)
    _write_list(tmp_path / "chunks.json", chunks)
    seed = load_dataset(SEED)
    for spec in (tmp_path, {"questions": tmp_path / "questions.json",
                            "chunks": SEED / "prepared_chunks.json"}):
        dataset = load_dataset(spec)
        assert dataset.qrels == seed.qrels
        assert [q.metadata for q in dataset.queries] == [q.metadata for q in seed.queries]
    assert load_dataset(tmp_path).name == tmp_path.name


# --------------------------------------------------------------------------- bench CLI


def test_bench_cli_reads_the_seed_folder_with_slices(tmp_path):
    questions, _, _ = _raw()
    out = tmp_path / "report"
    proc = subprocess.run(
        [sys.executable, "-m", "rerankit.cli", "bench", "--data", str(SEED), "-f", "bm25",
         "-r", "none", "--slice", "domain", "--slice", "context_type",
         "--metrics", ",".join(METRICS), "--resamples", "200", "--out", str(out),
         "--no-cache", "--no-progress"], capture_output=True, check=False)
    stderr = proc.stderr.decode()
    assert proc.returncode == 0, stderr
    assert stderr.count("questions have no target_page_no") == 1
    assert "1 of 6 questions have no target_page_no; kept as unfindable" in stderr
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["dataset"] == {"name": "seed_layout", "queries": 6, "documents": 10}
    assert report["settings"]["slices"] == ["domain", "context_type"]
    [system] = report["systems"]
    assert system["status"] == "ok" and system["name"] == "bm25 + none"
    per_query = system["per_query"]
    for metric in METRICS:
        assert set(per_query[metric]) == {str(n) for n in range(1, 7)}
        assert per_query[metric]["6"] == 0.0  # the blank-page question: a miss, not dropped
    assert system["metrics"]["recall@10"] == pytest.approx(5 / 6)  # bm25 finds all others
    for field in ("domain", "context_type"):
        groups: dict[str, list[str]] = {}
        for number, row in enumerate(questions, start=1):
            groups.setdefault(row[field], []).append(str(number))
        sliced = system["slices"][field]
        assert set(sliced) == set(groups) and len(groups) == 2
        for value, ids in groups.items():
            assert sliced[value]["count"] == len(ids)
            for metric in METRICS:
                assert sliced[value]["metrics"][metric] == pytest.approx(
                    statistics.fmean(per_query[metric][q] for q in ids))
    assert (out / "report.html").is_file()


def test_bench_cli_names_the_bad_file_and_item(tmp_path):
    folder = _copy_seed(tmp_path / "seed")
    questions, _, _ = _raw()
    questions[3]["target_page_no"] = "넷째"
    _write_list(folder / "ground_truth.json", questions)
    proc = subprocess.run(
        [sys.executable, "-m", "rerankit.cli", "bench", "--data", str(folder), "-f", "bm25",
         "-r", "none", "--out", str(tmp_path / "report"), "--no-cache", "--no-progress"],
        capture_output=True, check=False)
    assert proc.returncode == 2
    assert "ground_truth.json item 4 (line 5): page '넷째' is not a page number" in \
        proc.stderr.decode()


# --------------------------------------------------------------------------- bad input


def _without(row: dict, key: str) -> dict:
    return {k: v for k, v in row.items() if k != key}


@pytest.mark.parametrize(("edit", "message"), [
    (lambda q, c: (q[:1] + [_without(q[1], "question")] + q[2:], c),
     r"ground_truth.json item 2 \(line 3\): needs a field 'question'"),
    (lambda q, c: (q[:2] + [_without(q[2], "target_page_no")] + q[3:], c),
     r"ground_truth.json item 3 \(line 4\): needs a field 'target_page_no'"),
    (lambda q, c: (q[:2] + [_without(q[2], "target_file_name")] + q[3:], c),
     r"ground_truth.json item 3 \(line 4\): needs a field 'target_file_name'"),
    (lambda q, c: (q[:1] + [dict(q[1], target_page_no="12쪽")] + q[2:], c),
     r"ground_truth.json item 2 \(line 3\): page '12쪽' is not a page number"),
    (lambda q, c: (q[:1] + [dict(q[1], target_page_no="2.5")] + q[2:], c),
     r"ground_truth.json item 2 \(line 3\): page '2.5' is not a page number"),
    (lambda q, c: (q[:4] + [["not", "an", "object"]] + q[5:], c),
     r"ground_truth.json item 5 \(line 6\): expected a JSON object, got list"),
    (lambda q, c: ({"questions": q}, c),
     r"ground_truth.json: expected a JSON list of objects, got dict"),
    (lambda q, c: ([], c), r"ground_truth.json holds no questions"),
    (lambda q, c: (q, c[:6] + [_without(c[6], "file")] + c[7:]),
     r"prepared_chunks.json item 7 \(line 8\): needs a field 'file_name' or "
     r"'target_file_name' or 'source' or 'file'"),
    (lambda q, c: (q, c[:2] + [dict(c[2], page="둘째")] + c[3:]),
     r"prepared_chunks.json item 3 \(line 4\): page '둘째' is not a page number"),
    (lambda q, c: (q, c[:2] + [_without(c[2], "text")] + c[3:]),
     r"prepared_chunks.json item 3 \(line 4\): needs a field 'text' or 'contents'"),
    (lambda q, c: (q, c[:1] + [dict(c[1], text=7)] + c[2:]),
     r"prepared_chunks.json item 2 \(line 3\): 'text' must be a str, got int"),
    (lambda q, c: (q, "a string"),
     r"prepared_chunks.json: expected a JSON list of objects, got str"),
    (lambda q, c: (q, c[:9] + [dict(c[9], chunk_index=1, id=NO_TARGET_PAGE)]),
     r"prepared_chunks.json: the chunk id 'rerankit:no-target-page' is reserved"),
])
def test_bad_input_names_the_file_and_item(tmp_path, edit, message):
    questions, chunks = edit(*_raw()[:2])
    for name, value in (("ground_truth.json", questions), ("prepared_chunks.json", chunks)):
        if isinstance(value, list):
            _write_list(tmp_path / name, value)
        else:
            (tmp_path / name).write_text(json.dumps(value), encoding="utf-8")
    with pytest.raises(InvalidInputError, match=message):
        load_dataset(tmp_path)


@pytest.mark.parametrize(("name", "content", "message"), [
    ("ground_truth.json", '[\n{"question": "물음", "target_file_name": "a.pdf",\n'
     '"target_page_no": "1"}\n{"question": "둘째"}\n]', r"ground_truth.json line 4 is not JSON"),
    ("ground_truth.json", "", r"ground_truth.json line 1 is not JSON"),
    ("prepared_chunks.json", '[{"text": "x", "file": "a.pdf", "page": 1},]',
     r"prepared_chunks.json line 1 is not JSON"),
    ("ground_truth.json", b'[{"question": "\xb9\xb0\xc0\xbd"}]',
     r"ground_truth.json line 1 is not valid UTF-8"),
])
def test_invalid_json_names_the_file_and_line(tmp_path, name, content, message):
    _copy_seed(tmp_path / "seed")
    path = tmp_path / "seed" / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(InvalidInputError, match=message):
        load_dataset(tmp_path / "seed")


def test_half_a_harness_folder_is_not_a_dataset(tmp_path):
    folder = _copy_seed(tmp_path / "seed")
    (folder / "prepared_chunks.json").unlink()
    with pytest.raises(InvalidInputError, match=r"holds neither corpus\.jsonl nor questions"):
        load_dataset(folder)


def test_json_item_lines_follow_pretty_printing(tmp_path):
    """Pretty-printed files (as the harness writes them): the line is where the item starts."""
    questions = _raw()[0]
    questions[4] = _without(questions[4], "question")
    path = tmp_path / "q.json"
    path.write_text(json.dumps(questions, ensure_ascii=False, indent=2), encoding="utf-8")
    starts = [n for n, text in enumerate(path.read_text(encoding="utf-8").split("\n"),
                                         start=1) if text == "  {"]
    line = starts[4]
    assert line == 2 + 8 * 4  # "[" then 8 lines per item of 6 fields
    with pytest.raises(InvalidInputError,
                       match=rf"q.json item 5 \(line {line}\): needs a field 'question'"):
        load_rag_pages(path, SEED / "prepared_chunks.json")
