"""``rerankit calibrate``: fit score calibration for a model on labelled data."""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO


def _cmd_calibrate(args: argparse.Namespace, out: TextIO) -> int:
    from rerankit.calibrate import calibrate
    from rerankit.calibration import save_calibration
    from rerankit.datasets import load_dataset
    from rerankit.reranker import Reranker
    from rerankit.score_cache import DEFAULT_CACHE_DIR

    reranker = Reranker(args.model, max_length=args.max_length, calibration=None,
                        cache=None if args.no_cache else DEFAULT_CACHE_DIR)
    dataset = load_dataset(args.data)
    calibration, report = calibrate(
        reranker, dataset, method=args.method, depth=args.depth, holdout=args.holdout,
        seed=args.seed, max_queries=args.max_queries,
    )
    if not args.no_save:
        path = save_calibration(calibration, reranker.model_name, reranker.spec.source)
        report["saved"] = str(path)
    out.write(json.dumps(report, indent=2) + "\n")
    if not args.no_save:
        out.write(f"Reranker({args.model!r}) now applies it (calibration='auto').\n")
    return 0


def add_calibrate_command(commands: Any) -> None:
    """Register ``rerankit calibrate``."""
    command = commands.add_parser(
        "calibrate", help="fit score calibration (temperature, Platt, isotonic) on labelled data",
        description="Score each judged query's first-stage candidates, fit the calibration on "
        "part of the queries, report expected calibration error before and after on the "
        "held-out rest, and save it beside the model (applied on load).",
    )
    command.add_argument("--model", "-m", required=True)
    command.add_argument("--data", required=True,
                         help="BEIR folder, candidates JSONL, or any `rerankit bench` data")
    command.add_argument("--method", default="platt",
                         choices=("temperature", "platt", "isotonic"))
    command.add_argument("--depth", type=int, default=20, help="candidates per query")
    command.add_argument("--holdout", type=float, default=0.3,
                         help="share of queries held out to measure the result")
    command.add_argument("--max-queries", type=int)
    command.add_argument("--max-length", type=int)
    command.add_argument("--seed", type=int, default=0)
    command.add_argument("--no-save", action="store_true", help="report only")
    command.add_argument("--no-cache", action="store_true",
                         help="do not read or fill the score cache (~/.cache/rerankit)")
    command.set_defaults(run=_cmd_calibrate)
