"""Expected calibration error of the trained reranker before and after fitting.

For msmarco-dl19-subset and nfcorpus-test, each judged query's BM25 top-``depth``
candidates are scored once (through the score cache) with the reranker trained by
``benchmarks/train_reranker.py``; each calibration method is fitted on 70% of the queries
and measured on the held-out 30%: ECE (10 bins) and Brier score, before (the sigmoid of
the logit) and after.

    python benchmarks/bench_calibration.py [--depth 20] [--model DIR]

Results go to ``benchmarks/results/calibration.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "datasets"
sys.path.insert(0, str(HERE))

from train_reranker import trained_model_dir  # noqa: E402


def main() -> int:
    from rerankit import Reranker
    from rerankit.calibrate import calibrate
    from rerankit.datasets import load_beir
    from rerankit.score_cache import DEFAULT_CACHE_DIR

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=trained_model_dir())
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--max-length", type=int, default=256)
    args = parser.parse_args()
    if not (args.model / "config.json").is_file():
        print(f"no trained reranker at {args.model}: run benchmarks/train_reranker.py",
              file=sys.stderr)
        return 1
    reranker = Reranker(args.model, max_length=args.max_length, calibration=None,
                        cache=DEFAULT_CACHE_DIR)
    rows = []
    for name in ("msmarco-dl19-subset", "nfcorpus-test"):
        dataset = load_beir(DATA / name)
        for method in ("temperature", "platt", "isotonic"):
            _, report = calibrate(reranker, dataset, method=method, depth=args.depth,
                                  holdout=0.3, seed=0)
            rows.append(report)
            print(json.dumps(report))
    lines = ["# Calibration of the trained reranker (benchmarks/bench_calibration.py)", "",
             f"BM25 top-{args.depth} per judged query; fitted on 70% of the queries, "
             "measured on the held-out 30%.", "",
             "| data set | method | held-out pairs | positive rate | ECE before | ECE after "
             "| Brier before | Brier after |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['dataset']} | {r['method']} | {r['heldout_pairs']} | "
              f"{r['heldout_positive_rate']} | {r['ece_before']} | {r['ece_after']} | "
              f"{r['brier_before']} | {r['brier_after']} |" for r in rows]
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "calibration.json").write_text(json.dumps(rows, indent=1))
    (out / "calibration.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
