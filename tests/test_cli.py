"""The ``rerankit`` command, run as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rerankit import KNOWN_MODELS
from rerankit.cli import main

pytest.importorskip("torch")


def run_cli(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "rerankit.cli", *args], input=stdin,
                          capture_output=True, check=False)


@pytest.fixture()
def docs_file(tmp_path, passages):
    path = tmp_path / "docs.jsonl"
    rows = [json.dumps(passages[0]), json.dumps({"text": passages[1], "id": "b"}), "",
            json.dumps(passages[2])]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_rerank_json_matches_the_library(tiny_bert_dir, docs_file, passages):
    from rerankit import Reranker

    proc = run_cli("rerank", "--model", str(tiny_bert_dir), "--query", "thermometer",
                   "--docs", str(docs_file), "--json")
    assert proc.returncode == 0, proc.stderr.decode()
    payload = json.loads(proc.stdout)
    docs = [passages[0], {"text": passages[1], "id": "b"}, passages[2]]
    expected = Reranker(tiny_bert_dir).rerank("thermometer", docs)
    assert [r["index"] for r in payload["results"]] == [r.index for r in expected]
    assert payload["results"][[r["index"] for r in payload["results"]].index(1)]["document"] \
        == {"text": passages[1], "id": "b"}
    for got, want in zip(payload["results"], expected, strict=True):
        assert got["score"] == pytest.approx(want.score, abs=1e-6)


def test_rerank_table_from_stdin(tiny_bert_dir, docs_file):
    proc = run_cli("rerank", "-m", str(tiny_bert_dir), "-q", "thermometer", "--docs", "-",
                   "--top-n", "2", stdin=docs_file.read_bytes())
    assert proc.returncode == 0, proc.stderr.decode()
    lines = proc.stdout.decode().splitlines()
    assert lines[2].split()[:2] == ["rank", "index"]
    assert len([ln for ln in lines[4:] if ln.strip()]) == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"\xff\xfe broken", b"not valid UTF-8"), (b"{not json\n", b"line 1 is not JSON"),
     (b'"ok"\n42\n', b"line 2"), (b'{"title": "x"}\n', b"without a 'text'")],
)
def test_bad_docs_files_give_clear_errors(tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    proc = run_cli("rerank", "-m", "none", "-q", "q", "--docs", str(path))
    assert proc.returncode == 2
    assert message in proc.stderr
    assert b"Traceback" not in proc.stderr


def test_missing_model_is_an_error_not_a_traceback(tmp_path, docs_file):
    proc = run_cli("rerank", "-m", str(tmp_path / "missing"), "-q", "q", "--docs", str(docs_file))
    assert proc.returncode == 1
    assert b"does not exist" in proc.stderr and b"Traceback" not in proc.stderr


def test_models_lists_every_known_model(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for model in KNOWN_MODELS:
        assert model.id in out
    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["id"] for r in rows} == {m.id for m in KNOWN_MODELS}
