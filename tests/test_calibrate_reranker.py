"""Calibration applied by the Reranker, and `rerankit calibrate` on real judged data."""

from __future__ import annotations

import io
import itertools
import json
import shutil

import numpy as np
import pytest

from rerankit import InvalidInputError, Reranker
from rerankit.calibration import CALIBRATION_FILE, Calibration
from rerankit.models import find_known_model
from rerankit.rerankers.base import sigmoid


@pytest.fixture()
def model_copy(tiny_bert_dir, tmp_path):
    """A private copy of the tiny cross-encoder (calibrate writes into the model folder)."""
    return shutil.copytree(tiny_bert_dir, tmp_path / "model")


@pytest.fixture(scope="module")
def dl19_slice(dl19, tmp_path_factory):
    """A BEIR folder: 8 judged dl19 queries, their judged passages plus 300 others."""
    folder = tmp_path_factory.mktemp("dl19-slice")
    (folder / "qrels").mkdir()
    qids = sorted(dl19["qrels"])[:8]
    docs = {d for q in qids for d in dl19["qrels"][q]} | set(list(dl19["corpus"])[:300])
    with (folder / "corpus.jsonl").open("w", encoding="utf-8") as handle:
        for did in sorted(docs):
            handle.write(json.dumps({"_id": did, "title": "", "text": dl19["corpus"][did]}) + "\n")
    with (folder / "queries.jsonl").open("w", encoding="utf-8") as handle:
        for qid in qids:
            handle.write(json.dumps({"_id": qid, "text": dl19["queries"][qid]}) + "\n")
    lines = ["query-id\tcorpus-id\tscore"] + [
        f"{q}\t{d}\t{g}" for q in qids for d, g in dl19["qrels"][q].items()]
    (folder / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n")
    return folder


def test_a_given_calibration_maps_the_scores(tiny_bert_dir, passages):
    plain = Reranker(tiny_bert_dir)
    fitted = Reranker(tiny_bert_dir, calibration=Calibration("platt", a=2.0, b=1.0))
    query, docs = "water temperature", passages[:6]
    raw = np.array(plain.score(query, docs))
    by_index = {r.index: r for r in fitted.rerank(query, docs)}
    np.testing.assert_allclose([by_index[i].score for i in range(6)], sigmoid(2 * raw + 1))
    assert [r.index for r in fitted.rerank(query, docs)] == list(np.argsort(-raw, kind="stable"))
    # min_score filters on the calibrated score
    threshold = float(np.median(sigmoid(2 * raw + 1)))
    kept = fitted.rerank(query, docs, min_score=threshold)
    assert kept and all(r.score >= threshold for r in kept)
    assert len(kept) == int(np.sum(sigmoid(2 * raw + 1) >= threshold))


def test_bad_calibration_choices(tiny_bert_dir, tmp_path):
    with pytest.raises(InvalidInputError, match="calibration must be"):
        Reranker(tiny_bert_dir, calibration=3)
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(InvalidInputError, match="calibration"):
        Reranker(tiny_bert_dir, calibration=tmp_path / "bad.json")


def test_published_offset_for_mxbai_v2():
    assert find_known_model("mixedbread-ai/mxbai-rerank-base-v2").score_offset == 4.5
    assert find_known_model("mixedbread-ai/mxbai-rerank-large-v2").score_offset == 6.0


def test_cli_calibrate_saves_beside_the_model_and_auto_applies_it(model_copy, dl19_slice,
                                                                   passages):
    from rerankit.cli import main

    buffer = io.StringIO()
    code = main(["calibrate", "--model", str(model_copy), "--data", str(dl19_slice), "--no-cache",
                 "--method", "isotonic", "--depth", "10", "--holdout", "0.25"], out=buffer)
    assert code == 0
    report = json.loads(buffer.getvalue().split("\nReranker(")[0])
    assert report["fit_queries"] == 6 and report["heldout_queries"] == 2
    assert report["fit_pairs"] == 60 and 0 <= report["ece_after"] <= 1
    saved = Calibration.load(model_copy / CALIBRATION_FILE)
    assert report["saved"] == str(model_copy / CALIBRATION_FILE)
    reranker = Reranker(model_copy)  # calibration="auto" finds it
    assert reranker.calibration == saved
    results = reranker.rerank("water temperature", passages[:12])
    # calibrated scores are monotonic in the raw scores, and equal the fitted map
    ordered = sorted(results, key=lambda r: r.raw_score)
    assert all(a.score <= b.score for a, b in itertools.pairwise(ordered))
    np.testing.assert_allclose([r.score for r in results],
                               saved(np.array([r.raw_score for r in results])))
    uncalibrated = Reranker(model_copy, calibration=None)
    assert uncalibrated.calibration is None
