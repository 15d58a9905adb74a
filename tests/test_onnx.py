"""ONNX export and the onnxruntime backends: same results contract as torch, no torch at
run time, int8 close to fp32, clear errors."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from rerankit import InvalidInputError, Reranker
from rerankit._exceptions import (
    MissingDependencyError,
    ModelLoadError,
    UnsupportedModelError,
)
from rerankit.cli import main
from rerankit.export import export_onnx


@pytest.fixture(scope="module")
def onnx_tiny(tmp_path_factory, tiny_bert_dir):
    return export_onnx(str(tiny_bert_dir), tmp_path_factory.mktemp("onnx") / "tiny").folder


@pytest.fixture(scope="module")
def long_docs(passages):
    """Real passages, two of them long enough to be read in windows at max_length 64."""
    return passages[:10] + [" ".join(passages[10:16]), " ".join(passages[16:30])]


def _same_results(torch_model, onnx_model, query, docs, **options):
    expected = Reranker(str(torch_model), **options).rerank(query, docs)
    got = Reranker(str(onnx_model), **options).rerank(query, docs)
    assert [r.index for r in got] == [r.index for r in expected]
    assert [r.raw_score for r in got] == pytest.approx([r.raw_score for r in expected],
                                                       abs=1e-4)
    assert [r.score for r in got] == pytest.approx([r.score for r in expected], abs=1e-5)
    for field in ("truncated", "window", "windows", "tokens"):
        assert [getattr(r, field) for r in got] == [getattr(r, field) for r in expected]
    return got


def test_export_writes_a_self_describing_folder(onnx_tiny, tiny_bert_dir):
    meta = json.loads((onnx_tiny / "rerankit_onnx.json").read_text())
    assert meta["kind"] == "cross-encoder" and meta["precision"] == "fp32"
    assert (onnx_tiny / "model.onnx").is_file() and (onnx_tiny / "tokenizer.json").is_file()
    assert meta["export"]["max_abs_diff"] < 1e-4
    reranker = Reranker(str(onnx_tiny))
    assert reranker.spec.backend == "onnx-cross-encoder"
    assert reranker.max_length == Reranker(str(tiny_bert_dir)).max_length


def test_onnx_scores_equal_torch_with_windows(onnx_tiny, tiny_bert_dir, dl19, long_docs):
    query = next(iter(dl19["queries"].values()))
    got = _same_results(tiny_bert_dir, onnx_tiny, query, long_docs, max_length=64)
    assert max(r.windows for r in got) > 1  # the long documents really were windowed


@pytest.mark.parametrize("fixture", ["tiny_bert2_dir", "tiny_xlmr_dir"])
def test_two_label_heads_and_roberta_positions(request, tmp_path, fixture, long_docs):
    source = request.getfixturevalue(fixture)
    folder = export_onnx(str(source), tmp_path / "out").folder
    _same_results(source, folder, "what causes the tides", long_docs, max_length=96)


def test_bi_encoder_export_matches_torch_and_sentence_transformers(tmp_path, minilm_dir,
                                                                   passages):
    from sentence_transformers import SentenceTransformer

    folder = export_onnx(str(minilm_dir), tmp_path / "bi").folder
    query, docs = "how do vaccines train the immune system", passages[:20]
    got = _same_results(minilm_dir, folder, query, docs)
    encoder = SentenceTransformer(str(minilm_dir), device="cpu")
    q, d = encoder.encode([query]), encoder.encode(docs)
    cosines = (d @ q.T).ravel() / np.linalg.norm(d, axis=1) / np.linalg.norm(q)
    assert [r.raw_score for r in sorted(got, key=lambda r: r.index)] == pytest.approx(
        cosines.tolist(), abs=1e-4)


def test_int8_stays_close_to_fp32_on_real_weights(tmp_path, minilm_dir, dl19, caplog):
    """Dynamic int8 on all-MiniLM-L6-v2: cosines within 0.05, rankings nearly the same."""
    from scipy.stats import spearmanr

    fp32 = Reranker(str(export_onnx(str(minilm_dir), tmp_path / "fp32").folder))
    with caplog.at_level(logging.WARNING):
        int8_folder = export_onnx(str(minilm_dir), tmp_path / "int8", quantize="int8").folder
    # onnxruntime's advice to pre-process does not apply to an optimised graph: not shown
    assert not [r for r in caplog.records if "pre-processing" in r.getMessage()]
    assert not logging.getLogger().filters  # and the filter is gone afterwards
    int8 = Reranker(str(int8_folder))
    assert json.loads((int8_folder / "rerankit_onnx.json").read_text())["precision"] == "int8"
    assert (int8_folder / "model.onnx").stat().st_size < 0.5 * (
        tmp_path / "fp32" / "model.onnx").stat().st_size
    corpus = list(dl19["corpus"].values())
    queries = list(dl19["queries"].values())[:5]
    for i, query in enumerate(queries):
        docs = corpus[i * 30:(i + 1) * 30]
        a, b = np.array(fp32.score(query, docs)), np.array(int8.score(query, docs))
        assert np.abs(a - b).max() < 0.05
        assert spearmanr(a, b).statistic > 0.9


def test_no_torch_is_imported_to_run_an_export(onnx_tiny, tiny_bert_dir, passages):
    """A child process where importing torch or transformers fails loads and scores."""
    docs = passages[:8]
    script = f"""
import importlib.abc, json, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "transformers", "sentence_transformers"):
            raise ImportError("blocked: " + name)
sys.meta_path.insert(0, Block())
from rerankit import Reranker
scores = Reranker({str(onnx_tiny)!r}).score("what causes the tides", {docs!r})
print(json.dumps({{"scores": scores, "torch": "torch" in sys.modules,
                  "transformers": "transformers" in sys.modules}}))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert not out["torch"] and not out["transformers"]
    expected = Reranker(str(tiny_bert_dir)).score("what causes the tides", docs)
    assert out["scores"] == pytest.approx(expected, abs=1e-4)


def test_runtime_options(onnx_tiny, passages):
    base = Reranker(str(onnx_tiny)).score("tides", passages[:6])
    plain = Reranker(str(onnx_tiny), graph_optimization="disable", threads=1)
    assert plain.backend.session.get_session_options().intra_op_num_threads == 1
    assert plain.score("tides", passages[:6]) == pytest.approx(base, abs=1e-4)


def test_cli_export_then_rerank(tmp_path, tiny_bert_dir, passages, capsys):
    out = tmp_path / "cli-int8"
    assert main(["export", str(tiny_bert_dir), "--format", "onnx", "--quantize", "int8",
                 "--out", str(out)]) == 0
    assert "int8" in capsys.readouterr().out
    docs = tmp_path / "docs.jsonl"
    docs.write_text("\n".join(json.dumps(p) for p in passages[:5]) + "\n")
    assert main(["rerank", "--model", str(out), "--query", "tides", "--docs", str(docs),
                 "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["backend"] == "onnx-cross-encoder"
    assert sorted(r["index"] for r in payload["results"]) == list(range(5))


def test_export_errors(tmp_path, onnx_tiny, tiny_bert_dir):
    with pytest.raises(UnsupportedModelError, match="LLM rerankers stay on torch"):
        export_onnx(str(tiny_bert_dir), tmp_path / "x", backend="qwen3-reranker")
    with pytest.raises(InvalidInputError, match="not empty"):
        export_onnx(str(tiny_bert_dir), onnx_tiny)
    with pytest.raises(InvalidInputError, match="quantize"):
        export_onnx(str(tiny_bert_dir), tmp_path / "y", quantize="int4")
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_load_errors(tmp_path, onnx_tiny, tiny_bert_dir, monkeypatch):
    import shutil

    with pytest.raises(InvalidInputError, match="precision is fixed"):
        Reranker(str(onnx_tiny), dtype="float16")
    with pytest.raises(InvalidInputError, match="graph_optimization must be one of"):
        Reranker(str(onnx_tiny), graph_optimization="max")
    with pytest.raises(InvalidInputError, match="applies to ONNX exports"):
        Reranker(str(tiny_bert_dir), graph_optimization="all")
    with pytest.raises(InvalidInputError, match="ONNX export"):
        Reranker(str(onnx_tiny), backend="cross-encoder")
    with pytest.raises(InvalidInputError, match="exceeds"):
        Reranker(str(onnx_tiny), max_length=100_000)
    if "CUDAExecutionProvider" not in __import__("onnxruntime").get_available_providers():
        with pytest.raises(InvalidInputError, match="onnxruntime-gpu"):
            Reranker(str(onnx_tiny), device="cuda")

    broken = tmp_path / "broken"
    shutil.copytree(onnx_tiny, broken)
    (broken / "model.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelLoadError, match="onnxruntime cannot load"):
        Reranker(str(broken))
    (broken / "model.onnx").unlink()
    with pytest.raises(ModelLoadError, match=r"lacks model\.onnx"):
        Reranker(str(broken))
    meta = json.loads((onnx_tiny / "rerankit_onnx.json").read_text())
    shutil.copy(onnx_tiny / "model.onnx", broken / "model.onnx")
    (broken / "rerankit_onnx.json").write_text(json.dumps({**meta, "format": 99}))
    with pytest.raises(ModelLoadError, match="export the model again"):
        Reranker(str(broken))

    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(MissingDependencyError, match=r"rerankit\[onnx\]"):
        Reranker(str(onnx_tiny))


def test_a_calibration_travels_with_the_export(tmp_path, copy_model, tiny_bert_dir):
    from rerankit.calibration import CALIBRATION_FILE, Calibration

    source = copy_model(tiny_bert_dir)
    Calibration("platt", a=0.5, b=0.25).save(Path(source) / CALIBRATION_FILE)
    folder = export_onnx(str(source), tmp_path / "calibrated").folder
    assert (folder / CALIBRATION_FILE).is_file()
    raw = np.array([-1.0, 0.0, 2.0])
    assert Reranker(str(folder)).probability(raw) == pytest.approx(
        Reranker(str(source)).probability(raw))
