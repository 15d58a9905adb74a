"""Train "the trained reranker" and measure it after BM25 top-100.

Fine-tunes the pip-installed all-MiniLM-L6-v2 as a cross-encoder on the English side of
msmarco-devsmall-positives (listwise loss, BM25-mined negatives), caching the model outside
git, then evaluates with ``rerankit bench`` on msmarco-dl19-subset and nfcorpus-test:
BM25 alone, the untrained head (same start, no training) and the trained reranker.

    python benchmarks/train_reranker.py              # reuse the cached model if present
    python benchmarks/train_reranker.py --retrain    # train again (about an hour, 2 cores)
    python benchmarks/train_reranker.py --resume     # continue an interrupted run
    python benchmarks/train_reranker.py --train-only # print the model folder, no evaluation

Other benchmarks and tests find the model with :func:`trained_model_dir` (the
``RERANKIT_TRAINED_MODEL`` environment variable, else ``~/.cache/rerankit/trained/
minilm-msmarco``). Results go to ``benchmarks/results/train_reranker.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "datasets"
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE))
CACHE = Path(os.environ.get("RERANKIT_CACHE", Path.home() / ".cache" / "rerankit"))

#: The recipe of "the trained reranker" (see the closing note of the fine-tuning issue).
RECIPE = {
    "loss": "listwise", "epochs": 1, "batch_size": 8, "learning_rate": 3e-5,
    "warmup_ratio": 0.1, "max_length": 160, "max_train_queries": 6000, "dev_size": 100,
    "dev_depth": 20, "eval_every": 250, "patience": None, "checkpoint_every": 100, "seed": 42,
}
MINING = {"method": "bm25", "num_negatives": 3, "depth": 30, "skip_top": 0, "sample": True,
          "seed": 42}
EVAL_MAX_LENGTH = 256


def trained_model_dir() -> Path:
    """Where the trained reranker lives (``RERANKIT_TRAINED_MODEL`` overrides)."""
    override = os.environ.get("RERANKIT_TRAINED_MODEL")
    return Path(override) if override else CACHE / "trained" / "minilm-msmarco"


def untrained_model_dir() -> Path:
    return CACHE / "trained" / "minilm-untrained-head"


def is_complete(folder: Path) -> bool:
    """True when ``folder`` holds a finished training run's model."""
    summary = folder / "rerankit_training.json"
    if not (summary.is_file() and (folder / "model.safetensors").is_file()):
        return False
    return json.loads(summary.read_text())["stopped"] != "running"


def train_model(folder: Path, *, resume: bool, time_budget_s: float) -> dict:
    from rerankit.train import MiningConfig, TrainConfig, load_training_data, train

    data = load_training_data(DATA / "msmarco-devsmall-positives", language="en")
    config = TrainConfig(base_model="minilm", time_budget_s=time_budget_s, **RECIPE)
    started = time.perf_counter()
    result = train(data, folder, config, MiningConfig(**MINING), resume=resume)
    return {"stopped": result.stopped, "steps": result.global_step,
            "total_steps": result.total_steps, "train_minutes": round(result.elapsed_s / 60, 1),
            "wall_minutes": round((time.perf_counter() - started) / 60, 1),
            "best_step": result.best_step, "evaluations": result.evaluations,
            "dev_baseline": result.dev_baseline}


def save_untrained(folder: Path) -> None:
    """The same starting point as training (base weights + a head initialised with the
    recipe's seed), saved without any training step; built as the throughput benchmark
    builds its cross-encoder."""
    from bench_cross_encoder_throughput import build_cross_encoder

    build_cross_encoder(folder, RECIPE["seed"])


def evaluate(trained: Path, untrained: Path, nfcorpus_queries: int | None) -> dict:
    from rerankit.bench import BenchConfig, run_bench
    from rerankit.datasets import load_beir

    options = {"max_length": EVAL_MAX_LENGTH}
    names = {"none": "BM25 alone", str(untrained): "untrained head",
             str(trained): "trained reranker"}
    out = {}
    for dataset, max_queries in (("msmarco-dl19-subset", None),
                                 ("nfcorpus-test", nfcorpus_queries)):
        config = BenchConfig(
            first_stages=["bm25"], rerankers=[str(untrained), str(trained)], depth=100,
            top_k=10, metrics=["ndcg@10", "mrr@10", "recall@10"], max_queries=max_queries,
            reranker_options={str(untrained): options, str(trained): options},
        )
        started = time.perf_counter()
        report = run_bench(load_beir(DATA / dataset), config)
        rows = []
        for system in report["systems"]:
            rows.append({
                "system": names.get(system["reranker"], system["reranker"]),
                **{m: round(v, 4) for m, v in system["metrics"].items()},
                "status": system["status"], "error": system["error"],
                "p_vs_bm25": {m: v.get("p_value") for m, v in system["vs_baseline"].items()},
                "pairs_per_s": system.get("pairs_per_s"),
            })
        out[dataset] = {"queries": report["dataset"]["queries"], "rows": rows,
                        "minutes": round((time.perf_counter() - started) / 60, 1)}
    return out


def markdown(results: dict) -> str:
    lines = ["# Trained reranker (benchmarks/train_reranker.py)", ""]
    training = results.get("training")
    if training:
        shown = {k: v for k, v in training.items() if k != "evaluations"}
        lines += [f"Training: {json.dumps(shown)}", ""]
    for dataset, block in results["evaluation"].items():
        lines += [f"## {dataset} ({block['queries']} queries, BM25 top-100 reranked)", "",
                  "| system | NDCG@10 | MRR@10 | Recall@10 |", "|---|---|---|---|"]
        lines += [f"| {r['system']} | {r['ndcg@10']:.4f} | {r['mrr@10']:.4f} | "
                  f"{r['recall@10']:.4f} |" for r in block["rows"]]
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--retrain", action="store_true", help="discard the cached model")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run")
    parser.add_argument("--train-only", action="store_true")
    parser.add_argument("--time-budget", type=float, default=3600.0,
                        help="training stops (saving its best model) after N seconds")
    parser.add_argument("--nfcorpus-queries", type=int, default=None,
                        help="evaluate nfcorpus on N evenly spread queries (default: all)")
    args = parser.parse_args()
    if not (DATA / "msmarco-devsmall-positives").is_dir():
        print(f"data sets not found under {DATA}", file=sys.stderr)
        return 1
    folder = trained_model_dir()
    results: dict = {"model": str(folder), "recipe": RECIPE, "mining": MINING}
    if args.retrain and folder.exists():
        shutil.rmtree(folder)
    if not is_complete(folder) or args.resume:
        resume = folder.exists() and any(folder.iterdir())
        results["training"] = train_model(folder, resume=resume, time_budget_s=args.time_budget)
    else:
        print(f"reusing the trained reranker in {folder}")
    if args.train_only:
        print(folder)
        return 0
    untrained = untrained_model_dir()
    save_untrained(untrained)
    results["evaluation"] = evaluate(folder, untrained, args.nfcorpus_queries)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "train_reranker.json").write_text(json.dumps(results, indent=1))
    text = markdown(results)
    (RESULTS / "train_reranker.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
