"""``rerankit index`` and ``rerankit search``, run as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rerankit.retrieval import BM25Index, load_index


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "rerankit.cli", *args], capture_output=True,
                          check=False)


@pytest.fixture()
def corpus_file(tmp_path, dl19):
    path = tmp_path / "corpus.jsonl"
    rows = [json.dumps({"_id": doc_id, "title": "", "text": text})
            for doc_id, text in list(dl19["corpus"].items())[:300]]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_index_then_search_matches_the_library(tmp_path, corpus_file):
    out = tmp_path / "idx"
    proc = run_cli("index", "--corpus", str(corpus_file), "--out", str(out),
                   "--tokenizer", "english")
    assert proc.returncode == 0, proc.stderr.decode()
    assert b"300 documents" in proc.stdout
    proc = run_cli("search", "--index", str(out), "--query", "concrete flooring cost",
                   "--top-k", "5", "--json")
    assert proc.returncode == 0, proc.stderr.decode()
    payload = json.loads(proc.stdout)
    expected = load_index(out).search("concrete flooring cost", 5)
    assert [r["id"] for r in payload["results"]] == [h.id for h in expected]
    assert payload["timings_ms"]["retrieve"] > 0


def test_search_with_a_reranker_prints_a_table(tmp_path, corpus_file):
    out = tmp_path / "idx"
    assert run_cli("index", "-c", str(corpus_file), "-o", str(out)).returncode == 0
    proc = run_cli("search", "-i", str(out), "-q", "concrete flooring cost", "--rerank",
                   "default", "--depth", "5", "-k", "3")
    assert proc.returncode == 0, proc.stderr.decode()
    text = proc.stdout.decode()
    assert "reranked top" in text and "timings:" in text
    assert len([ln for ln in text.splitlines() if ln[:1].isdigit()]) == 3


def test_index_add_and_overwrite(tmp_path, corpus_file):
    out = tmp_path / "idx"
    assert run_cli("index", "-c", str(corpus_file), "-o", str(out)).returncode == 0
    again = run_cli("index", "-c", str(corpus_file), "-o", str(out))
    assert again.returncode == 2 and b"--add" in again.stderr
    extra = tmp_path / "extra.jsonl"
    extra.write_text(json.dumps({"_id": "new-1", "text": "zanzibar spice islands"}) + "\n")
    assert run_cli("index", "-c", str(extra), "-o", str(out), "--add").returncode == 0
    index = load_index(out)
    assert len(index) == 301 and index.search("zanzibar")[0].id == "new-1"
    dup = run_cli("index", "-c", str(extra), "-o", str(out), "--add")
    assert dup.returncode == 2 and b"new-1" in dup.stderr
    assert run_cli("index", "-c", str(extra), "-o", str(out), "--overwrite").returncode == 0
    assert len(BM25Index.load(out)) == 1


@pytest.mark.parametrize(("content", "message"), [
    (b"", b"empty"),
    (b'{"_id": "a", "text": "x"}\n{"_id": "a", "text": "y"}\n', b"duplicate document ids: 'a'"),
    (b'{"text": "no id"}\n', b"no id field"),
    (b"\xff\xfe", b"not valid UTF-8"),
])
def test_bad_corpora_exit_2_with_a_message(tmp_path, content, message):
    path = tmp_path / "corpus.jsonl"
    path.write_bytes(content)
    proc = run_cli("index", "-c", str(path), "-o", str(tmp_path / "idx"))
    assert proc.returncode == 2, proc.stderr.decode()
    assert message in proc.stderr and b"Traceback" not in proc.stderr


def test_search_errors(tmp_path, corpus_file):
    proc = run_cli("search", "-i", str(tmp_path), "-q", "x")
    assert proc.returncode == 1 and b"not a rerankit index" in proc.stderr
    out = tmp_path / "idx"
    assert run_cli("index", "-c", str(corpus_file), "-o", str(out)).returncode == 0
    proc = run_cli("search", "-i", str(out), "-q", "?!")
    assert proc.returncode == 2 and b"no searchable tokens" in proc.stderr


def test_corpus_lines_may_hold_unicode_line_separators(tmp_path):
    path = tmp_path / "corpus.jsonl"
    path.write_text(json.dumps({"_id": "a", "text": "one\u2028two\x85three"},
                               ensure_ascii=False) + "\n", encoding="utf-8")
    out = tmp_path / "idx"
    proc = run_cli("index", "-c", str(path), "-o", str(out), "--tokenizer", "regex")
    assert proc.returncode == 0, proc.stderr.decode()
    assert load_index(out).search("three")[0].id == "a"
