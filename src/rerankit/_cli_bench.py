"""``rerankit bench``: flags for quick runs, a TOML (or YAML) file for sweeps."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from rerankit._exceptions import InvalidInputError
from rerankit._optional import require

_LIST_KEYS = {"first_stages", "rerankers", "metrics", "slices", "notes"}


def read_config(path: str | Path) -> dict[str, Any]:
    """A bench config file: TOML, or YAML when PyYAML is installed."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"cannot read config {str(path)!r}: {exc.strerror}") from exc
    if path.suffix in (".yaml", ".yml"):
        yaml = require("yaml", feature="YAML bench configs")
        try:
            config = yaml.safe_load(data)
        except yaml.YAMLError as exc:
            raise InvalidInputError(f"{path.name} is not valid YAML: {exc}") from exc
    else:
        try:
            import tomllib
        except ImportError:  # Python 3.10
            tomllib = require("tomli", feature="TOML bench configs on Python 3.10")
        try:
            config = tomllib.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise InvalidInputError(f"{path.name} is not valid TOML: {exc}") from exc
    if not isinstance(config, dict):
        raise InvalidInputError(f"{path.name} must hold a table of settings")
    base = path.resolve().parent
    for key in ("data", "out", "cache_dir"):  # relative paths are relative to the file
        if isinstance(config.get(key), str) and not Path(config[key]).is_absolute():
            config[key] = os.path.normpath(base / config[key])
    return config


def _config_from(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    from rerankit.bench import BenchConfig

    settings: dict[str, Any] = read_config(args.config) if args.config else {}
    flags = {
        "first_stages": args.first_stage, "rerankers": args.reranker, "depth": args.depth,
        "top_k": args.top_k, "primary_metric": args.primary, "alpha": args.alpha,
        "resamples": args.resamples, "latency_budget_ms": args.budget_ms,
        "slices": args.slice, "max_queries": args.max_queries,
        "metrics": args.metrics.split(",") if args.metrics else None,
        "data": args.data, "out": args.out,
        "cache_dir": args.cache, "engine": args.engine, "notes": args.note,
    }
    ray_options = {"address": args.ray_address, "actors": args.ray_actors}
    if any(v is not None for v in ray_options.values()):
        flags["engine_options"] = {k: v for k, v in ray_options.items() if v is not None}
    if args.price:
        prices = {}
        for item in args.price:
            name, _, value = item.rpartition("=")
            try:
                prices[name] = float(value)
            except ValueError:
                raise InvalidInputError(f"--price {item!r}: expected MODEL=USD") from None
        flags["price_per_1000"] = prices
    settings.update({k: v for k, v in flags.items() if v is not None})
    if args.quick:
        settings.setdefault("max_queries", 20)
        settings["resamples"] = min(int(settings.get("resamples", 2000)), 2000)
    if args.no_cache:
        settings["cache_dir"] = None
    known = {f.name for f in dataclasses.fields(BenchConfig)}
    extra = {"data", "out"}
    unknown = sorted(set(settings) - known - extra)
    if unknown:
        raise InvalidInputError(f"unknown bench setting(s): {', '.join(unknown)}; known: "
                                f"{', '.join(sorted(known | extra))}")
    for key in _LIST_KEYS:
        if isinstance(settings.get(key), str):
            settings[key] = [settings[key]]
    if settings.get("cache_dir") is not None:
        settings["cache_dir"] = Path(settings["cache_dir"]).expanduser()
    config = BenchConfig(**{k: v for k, v in settings.items() if k in known})
    config.progress = not args.no_progress and sys.stderr.isatty()
    return config, settings


def cmd_bench(args: argparse.Namespace, out: TextIO) -> int:
    from rerankit.bench import run_bench
    from rerankit.bench_report import to_markdown, write_reports
    from rerankit.datasets import load_dataset

    config, settings = _config_from(args)
    if not settings.get("data"):
        raise InvalidInputError("give the data to evaluate on: --data PATH (a BEIR folder, a "
                                "candidates JSONL) or 'data' in the config file")
    logging.basicConfig(level=logging.WARNING, format="rerankit: %(message)s")
    started = time.perf_counter()
    dataset = load_dataset(settings["data"])
    report = run_bench(dataset, config)
    report["elapsed_s"] = round(time.perf_counter() - started, 2)
    folder = Path(settings.get("out") or "bench-report")
    paths = write_reports(report, folder)
    out.write(to_markdown(report) + "\n")
    out.write(f"\nreport: {paths['html']} (also {paths['markdown'].name}, "
              f"{paths['json'].name}, runs/) in {report['elapsed_s']:.1f} s\n")
    return 0


def add_bench_command(commands: Any) -> None:
    """Register ``bench`` on the CLI's subcommand parser."""
    bench = commands.add_parser(
        "bench", help="evaluate first stages and rerankers on labelled data",
        description="Run each first stage, rerank its candidates with each reranker "
        "('none' always included as the baseline), and report quality with significance, "
        "per-slice results, latency and cost.")
    bench.add_argument("--data", "-d", help="BEIR folder, candidates JSONL, or irds:NAME")
    bench.add_argument("--config", "-c", help="TOML or YAML file with any of these settings")
    bench.add_argument("--first-stage", "-f", action="append",
                       help="bm25, bm25-kiwi, bm25-whitespace, bm25-regex, dense, dense:MODEL, "
                       "hybrid, hybrid-weighted, given (repeatable)")
    bench.add_argument("--reranker", "-r", action="append",
                       help="reranker model or alias (repeatable); 'none' is always included")
    bench.add_argument("--depth", "-n", type=int, help="candidates per query (default 20)")
    bench.add_argument("--top-k", "-k", type=int, help="results scored (default 10)")
    bench.add_argument("--metrics", help="comma-separated, e.g. mrr@5,hit@1,ndcg@10")
    bench.add_argument("--primary", help="metric for tests and picks (default: the first)")
    bench.add_argument("--slice", action="append",
                       help="query metadata field, or NAME=id:REGEX (repeatable)")
    bench.add_argument("--budget-ms", type=float, help="latency budget per query (p95)")
    bench.add_argument("--note", action="append",
                       help="a line for the report's recommendation notes (repeatable)")
    bench.add_argument("--price", action="append", metavar="MODEL=USD",
                       help="price per 1,000 searches of a hosted reranker (repeatable)")
    bench.add_argument("--alpha", type=float, help="significance level (default 0.05)")
    bench.add_argument("--resamples", type=int, help="randomization/bootstrap resamples")
    bench.add_argument("--max-queries", type=int, help="evaluate the first N judged queries")
    bench.add_argument("--quick", action="store_true", help="20 queries, 2,000 resamples")
    bench.add_argument("--out", "-o", help="report folder (default ./bench-report)")
    bench.add_argument("--cache", help="score and index cache folder (default ~/.cache/rerankit)")
    bench.add_argument("--no-cache", action="store_true", help="score everything afresh")
    bench.add_argument("--no-progress", action="store_true", help="no progress bars")
    bench.add_argument("--engine", choices=("local", "ray"),
                       help="where models score: this process (default) or Ray actors")
    bench.add_argument("--ray-address", help="existing Ray cluster (default: start a local one)")
    bench.add_argument("--ray-actors", type=int, help="model replicas on Ray (default 1)")
    bench.set_defaults(run=cmd_bench)
