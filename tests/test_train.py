"""Fine-tuning a tiny cross-encoder on real MS MARCO (query, positive) pairs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rerankit import InvalidInputError, ModelNotFoundError, Reranker
from rerankit.train import MiningConfig, TrainConfig, load_training_data, train


@pytest.fixture(scope="module")
def small_data(msmarco_positives, tmp_path_factory):
    """48 real English queries with their positives (pool of 48 passages)."""
    rows = json.loads((msmarco_positives / "msmarco_eng.json").read_text(encoding="utf-8"))
    path = tmp_path_factory.mktemp("train-data") / "small.json"
    path.write_text(json.dumps(rows[:48]), encoding="utf-8")
    return load_training_data(path)


@pytest.fixture(scope="module")
def easy_data(msmarco_positives, tmp_path_factory):
    """16 English queries whose given negatives are Korean passages: a signal even a tiny
    random model learns in a few dozen steps."""
    english = json.loads((msmarco_positives / "msmarco_eng.json").read_text(encoding="utf-8"))
    korean = json.loads((msmarco_positives / "msmarco_kor.json").read_text(encoding="utf-8"))
    path = tmp_path_factory.mktemp("easy") / "easy.jsonl"
    rows = [{"query": english[i]["query"], "positive": english[i]["positive"],
             "negatives": [korean[(i + k) % 40 + 20]["positive"][0] for k in range(1, 4)]}
            for i in range(16)]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows),
                    encoding="utf-8")
    return load_training_data(path)


def _config(base: Path, **changes) -> TrainConfig:
    settings = {"base_model": str(base), "batch_size": 4, "max_length": 96, "dev_size": 8,
                "dev_depth": 6, "progress": False, "checkpoint_every": 1000,
                "learning_rate": 1e-3, "warmup_ratio": 0.0}
    settings.update(changes)
    return TrainConfig(**settings)


MINING = MiningConfig(method="bm25", num_negatives=3, depth=10)


def _weights(folder: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(folder / "model.safetensors"))


def test_training_lowers_the_loss_and_changes_scores(easy_data, tiny_bert_dir, tmp_path):
    out = tmp_path / "model"
    result = train(easy_data, out, _config(tiny_bert_dir, epochs=8, dev_size=0, max_length=64),
                   MiningConfig(method="random", num_negatives=3))
    assert result.stopped == "completed"
    assert result.global_step == result.total_steps == 8 * 4
    first, last = np.mean(result.losses[:4]), np.mean(result.losses[-4:])
    assert last < first * 0.7, (first, last)
    example = easy_data.examples[0]
    texts = [easy_data.passages[p] for p in (*example.positives, *example.negatives)]
    before = np.array(Reranker(tiny_bert_dir).score(example.query, texts))
    after = np.array(Reranker(out).score(example.query, texts))
    assert not np.allclose(before, after, atol=1e-3)
    assert after[0] > after[1:].max()  # the positive now comes first
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "step" in r] == list(range(1, 33))


def test_saved_model_scores_equal_in_rerankit_and_sentence_transformers(
        small_data, tiny_bert_dir, tmp_path):
    from sentence_transformers import CrossEncoder

    out = tmp_path / "model"
    result = train(small_data, out, _config(tiny_bert_dir, max_steps=6, eval_every=3), MINING)
    assert result.best_step in (3, 6)
    query = small_data.examples[1].query
    texts = [small_data.passages[p] for p in list(small_data.passages)[:8]]
    ours = [r.score for r in sorted(Reranker(out).rerank(query, texts), key=lambda r: r.index)]
    theirs = CrossEncoder(str(out), device="cpu").predict([(query, t) for t in texts])
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    # the model card and the machine-readable summary describe the run
    summary = json.loads((out / "rerankit_training.json").read_text())
    assert summary["base_model"] == str(tiny_bert_dir)
    assert summary["config"]["loss"] == "listwise"
    assert summary["mining"]["config"]["method"] == "bm25"
    assert [e["step"] for e in summary["evaluations"]] == [3, 6]
    assert summary["best_step"] == result.best_step
    card = (out / "README.md").read_text()
    assert f"base_model: {tiny_bert_dir}" in card
    assert "ndcg@10" in card and "first stage" in card and "(best)" in card


def test_best_checkpoint_is_the_one_saved(small_data, tiny_bert_dir, tmp_path):
    """With an evaluation every step, the folder holds the weights of the best step."""
    out = tmp_path / "model"
    result = train(small_data, out, _config(tiny_bert_dir, max_steps=4, eval_every=1,
                                            checkpoint_every=1, keep_checkpoints=10), MINING)
    values = {e["step"]: e["metrics"]["ndcg@10"] for e in result.evaluations}
    assert result.best_step == max(values, key=lambda s: (values[s], -s))
    best = out / "checkpoints" / f"step-{result.best_step:07d}"
    saved, expected = _weights(out), _weights(best)
    for name in expected:
        np.testing.assert_array_equal(saved[name], expected[name])


def test_resume_continues_from_the_saved_step(small_data, tiny_bert_dir, tmp_path):
    config = _config(tiny_bert_dir, max_steps=4, dev_size=0, checkpoint_every=2,
                     keep_checkpoints=3)
    whole = tmp_path / "whole"
    train(small_data, whole, config, MINING)
    # the same run interrupted after step 2: its later state is removed
    cut = tmp_path / "cut"
    shutil.copytree(whole, cut)
    shutil.rmtree(cut / "checkpoints" / "step-0000004")
    for name in ("model.safetensors", "rerankit_training.json"):
        (cut / name).unlink()
    with pytest.raises(InvalidInputError, match="resume"):
        train(small_data, cut, config, MINING)
    result = train(small_data, cut, config, MINING, resume=True)
    assert result.resumed_from == 2 and result.global_step == 4
    final_whole = _weights(whole / "checkpoints" / "step-0000004")
    final_cut = _weights(cut / "checkpoints" / "step-0000004")
    for name in final_whole:
        np.testing.assert_allclose(final_cut[name], final_whole[name], atol=1e-6)
    assert len(result.losses) == 4  # the losses of steps 1-2 come back with the state
    # resuming with settings that change the optimisation is refused
    with pytest.raises(InvalidInputError, match="learning_rate"):
        train(small_data, cut, _config(tiny_bert_dir, max_steps=4, dev_size=0,
                                       learning_rate=1e-4), MINING, resume=True)


def test_gradient_accumulation_equals_a_bigger_batch(small_data, tiny_bert_nodropout_dir,
                                                     tmp_path):
    def run(name: str, **changes):
        config = _config(tiny_bert_nodropout_dir, max_steps=3, dev_size=0, **changes)
        return train(small_data, tmp_path / name, config, MINING), _weights(tmp_path / name)

    big, big_w = run("big", batch_size=4)
    accumulated, acc_w = run("acc", batch_size=2, grad_accumulation=2)
    half, _ = run("half", batch_size=2)
    assert big.global_step == accumulated.global_step == 3
    # every step sees the same 4 groups and, after the first, the same weights: the step
    # losses agree; stepping after each micro-batch would not
    np.testing.assert_allclose(accumulated.losses, big.losses, rtol=1e-4)
    assert not np.allclose(half.losses, big.losses, rtol=1e-2)
    start = _weights(tiny_bert_nodropout_dir)
    flat = {k: np.concatenate([w[n].ravel() for n in sorted(start)])
            for k, w in (("big", big_w), ("acc", acc_w), ("start", start))}
    changed = np.abs(flat["big"] - flat["start"]) > 1e-7
    assert changed.sum() > 1000
    # Adam's early steps are about lr * sign(gradient): only weights whose gradient is ~0
    # (float noise from different padding) may differ
    assert np.mean(np.abs(flat["big"][changed] - flat["acc"][changed]) < 1e-5) > 0.99


def test_early_stopping_and_time_budget(small_data, tiny_bert_dir, tmp_path):
    # a learning rate too small to change any ranking: no evaluation improves on the first
    result = train(small_data, tmp_path / "flat",
                   _config(tiny_bert_dir, learning_rate=1e-12, epochs=3, eval_every=1,
                           patience=2), MINING)
    assert result.stopped == "early_stopping"
    assert len(result.evaluations) == 3 and result.best_step == 1
    budget = train(small_data, tmp_path / "budget",
                   _config(tiny_bert_dir, epochs=50, time_budget_s=0.5), MINING)
    assert budget.stopped == "time_budget"
    assert budget.global_step < budget.total_steps
    assert (tmp_path / "budget" / "model.safetensors").is_file()
    assert list((tmp_path / "budget" / "checkpoints").iterdir())


def test_bce_loss_trains_too(easy_data, tiny_bert_dir, tmp_path):
    result = train(easy_data, tmp_path / "bce",
                   _config(tiny_bert_dir, loss="bce", epochs=6, dev_size=0, max_length=64),
                   MiningConfig(method="random", num_negatives=3))
    assert np.mean(result.losses[-4:]) < 0.9 * np.mean(result.losses[:4])


def test_bad_settings_and_models_are_clear_errors(small_data, tiny_bert_dir, tmp_path):
    with pytest.raises(InvalidInputError, match="loss"):
        TrainConfig(loss="hinge")
    with pytest.raises(InvalidInputError, match="batch_size"):
        TrainConfig(batch_size=0)
    with pytest.raises(InvalidInputError, match="metric"):
        TrainConfig(metric="ndcg@ten")
    with pytest.raises(ModelNotFoundError):
        train(small_data, tmp_path / "a", _config(tmp_path / "no-such-model"), MINING)
    with pytest.raises(InvalidInputError, match="exceeds"):
        train(small_data, tmp_path / "b", _config(tiny_bert_dir, max_length=4096), MINING)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(InvalidInputError, match="not empty"):
        train(small_data, foreign, _config(tiny_bert_dir), MINING)
    assert (foreign / "notes.txt").read_text() == "mine"


def test_cli_train(small_data, tiny_bert_dir, msmarco_positives, tmp_path):
    from rerankit.cli import main

    rows = json.loads((msmarco_positives / "msmarco_kor.json").read_text(encoding="utf-8"))
    data = tmp_path / "ko.jsonl"
    data.write_text("\n".join(json.dumps({"query": r["query"], "positive": r["positive"]},
                                         ensure_ascii=False) for r in rows[:24]),
                    encoding="utf-8")
    out = tmp_path / "cli-model"
    import io

    buffer = io.StringIO()
    code = main(["train", "--data", str(data), "--out", str(out), "--base", str(tiny_bert_dir),
                 "--max-steps", "2", "--batch-size", "4", "--dev-size", "4", "--dev-depth", "4",
                 "--max-length", "64", "--negatives", "2", "--no-progress"], out=buffer)
    assert code == 0
    summary = json.loads(buffer.getvalue().split("\nload it with")[0])
    assert summary["steps"] == "2/2"
    mined = json.loads((out / "mined.json").read_text())
    assert mined["report"]["mined"] > 0  # Korean BM25 (auto -> Kiwi) found candidates
    assert Reranker(out).score(rows[0]["query"], rows[0]["positive"])
    assert main(["train", "--data", str(tmp_path / "missing.jsonl"), "--out",
                 str(tmp_path / "x"), "--base", str(tiny_bert_dir)]) == 2


def test_import_rerankit_train_is_light():
    code = ("import sys, rerankit.train as t; t.TrainConfig; t.MiningConfig; "
            "print(sorted(m for m in ('torch', 'transformers', 'bm25s') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_frozen_embeddings_stay_fixed_while_the_rest_trains(easy_data, tiny_bert_dir, tmp_path):
    out = tmp_path / "frozen"
    result = train(easy_data, out, _config(tiny_bert_dir, epochs=2, dev_size=0, max_length=64,
                                           freeze_embeddings=True),
                   MiningConfig(method="random", num_negatives=3))
    assert result.global_step == 8
    before, after = _weights(tiny_bert_dir), _weights(out)
    word = "bert.embeddings.word_embeddings.weight"
    assert np.array_equal(before[word], after[word])
    layer = "bert.encoder.layer.0.attention.self.query.weight"
    assert not np.allclose(before[layer], after[layer])
    saved = json.loads((out / "rerankit_training.json").read_text())
    assert saved["config"]["freeze_embeddings"] is True
