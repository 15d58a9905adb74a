"""First-stage quality: BM25 (whitespace, regex, Kiwi), dense and hybrid fusion.

On ko-allganize-pages (114 Korean questions, 720 pages; a hit is the gold page):
MRR@5, Hit@1, Hit@5 and Recall@20 for whitespace BM25, regex BM25, Kiwi BM25, dense,
and hybrid (RRF and weighted sum of min-max scores, each at 0.7 BM25 / 0.3 dense, the
published Korean recipe, and 0.5 / 0.5). On msmarco-dl19-subset and
nfcorpus-test: NDCG@10 and Recall@100 for BM25, dense and hybrid. Also index build time
and per-query search latency (median, ms).

The dense encoder is the offline default, all-MiniLM-L6-v2 (English-only): nothing
multilingual can be downloaded here, so dense figures on Korean are a floor, not what a
multilingual encoder (e.g. multilingual-e5 or bge-m3) would reach. Dense indexes are
cached under ``--cache`` (delete it, or pass ``--rebuild``, to re-encode).

    python benchmarks/bench_first_stage.py [--datasets ko-allganize-pages ...] [--quick]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from rerankit.datasets import BeirDataset, load_beir
from rerankit.metrics import evaluate
from rerankit.retrieval import BM25Index, DenseIndex, HybridIndex, load_index

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "datasets"
DEFAULT_CACHE = Path.home() / ".cache" / "rerankit" / "bench" / "first-stage"
DEFAULT_OUT = REPO / "benchmarks" / "results" / "first_stage.json"
KOREAN_METRICS = ["mrr@5", "hit@1", "hit@5", "recall@20"]
ENGLISH_METRICS = ["ndcg@10", "recall@100"]


def run_of(index: Any, dataset: BeirDataset, depth: int, queries: list) -> tuple[dict, list]:
    """Search every query; returns the run (scores that keep our order) and latencies."""
    run, latencies = {}, []
    for query in queries:
        start = time.perf_counter()
        hits = index.search(query.text, depth)
        latencies.append((time.perf_counter() - start) * 1000)
        run[query.id] = {hit.id: 1.0 / hit.rank for hit in hits}
    return run, latencies


def dense_index(dataset: BeirDataset, cache: Path, rebuild: bool) -> tuple[DenseIndex, float]:
    folder = cache / dataset.name / "dense-minilm"
    if folder.is_dir() and not rebuild:
        return load_index(folder), 0.0
    start = time.perf_counter()
    index = DenseIndex.build(dataset.corpus, model="default", show_progress=True)
    seconds = time.perf_counter() - start
    if folder.exists():
        shutil.rmtree(folder)
    index.save(folder)
    return index, seconds


def systems_for(dataset: BeirDataset, korean: bool, cache: Path, rebuild: bool
                ) -> dict[str, tuple[Any, float]]:
    """Every system to evaluate on ``dataset``, with its build time in seconds."""
    built: dict[str, tuple[Any, float]] = {}

    def timed(name: str, make: Any) -> Any:
        start = time.perf_counter()
        index = make()
        built[name] = (index, time.perf_counter() - start)
        print(f"  built {name} in {built[name][1]:.1f} s", file=sys.stderr)
        return index

    if korean:
        timed("bm25 whitespace", lambda: BM25Index.build(dataset.corpus, tokenizer="whitespace"))
        timed("bm25 regex", lambda: BM25Index.build(dataset.corpus, tokenizer="regex"))
        bm25 = timed("bm25 kiwi", lambda: BM25Index.build(dataset.corpus, tokenizer="kiwi"))
    else:
        bm25 = timed("bm25", lambda: BM25Index.build(dataset.corpus, tokenizer="auto"))
    dense, seconds = dense_index(dataset, cache, rebuild)
    built["dense minilm"] = (dense, seconds)
    print(f"  dense ready ({seconds:.1f} s encoding; 0 = cached)", file=sys.stderr)
    for fusion in ("rrf", "weighted"):
        for bm25_weight in (0.7, 0.5):
            weights = {"bm25": bm25_weight, "dense": round(1 - bm25_weight, 2)}
            hybrid = HybridIndex(bm25, dense, fusion=fusion, weights=weights)
            name = f"hybrid {fusion} {weights['bm25']}/{weights['dense']}"
            built[name] = (hybrid, 0.0)  # reuses both indexes
    return built


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+",
                        default=["ko-allganize-pages", "msmarco-dl19-subset", "nfcorpus-test"])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--rebuild", action="store_true", help="re-encode dense indexes")
    parser.add_argument("--quick", action="store_true", help="first 20 queries only")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)

    report: dict[str, Any] = {"python": platform.python_version(), "cpus": os.cpu_count(),
                              "datasets": {}}
    for name in args.datasets:
        dataset = load_beir(args.data / name)
        korean = name.startswith("ko-")
        metrics = KOREAN_METRICS if korean else ENGLISH_METRICS
        queries = dataset.judged_queries[: 20 if args.quick else None]
        print(f"{name}: {len(dataset.corpus)} documents, {len(queries)} judged queries",
              file=sys.stderr)
        rows = {}
        for system, (index, build_s) in systems_for(dataset, korean, args.cache,
                                                    args.rebuild).items():
            run, latencies = run_of(index, dataset, 100, queries)
            scores = evaluate({q.id: dataset.qrels[q.id] for q in queries}, run, metrics)
            rows[system] = {**scores, "build_s": round(build_s, 2),
                            "search_ms_p50": round(statistics.median(latencies), 2)}
        report["datasets"][name] = {"documents": len(dataset.corpus), "queries": len(queries),
                                    "systems": rows}
        print(f"\n### {name} ({len(queries)} queries, {len(dataset.corpus)} documents)\n")
        print("| system | " + " | ".join(metrics) + " | build s | search ms (p50) |")
        print("|---" * (len(metrics) + 3) + "|")
        for system, row in rows.items():
            cells = [f"{row[m]:.3f}" for m in metrics]
            print(f"| {system} | " + " | ".join(cells)
                  + f" | {row['build_s']:.1f} | {row['search_ms_p50']:.1f} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"\nwrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
