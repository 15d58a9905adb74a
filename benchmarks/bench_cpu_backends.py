"""CPU reranking speed: sentence-transformers vs rerankit on torch, ONNX fp32 and ONNX int8.

One process, the same inputs for every system: ``--queries`` judged queries of the
MS MARCO / TREC DL 2019 subset, each with its BM25 top ``--docs`` passages (rerankit's
BM25). Systems, each called once per query like a reranking service:

* ``reference``: sentence-transformers ``CrossEncoder.predict`` (batch size 32);
* ``torch``: ``Reranker(model).rerank`` (torch fp32);
* ``onnx-fp32`` / ``onnx-int8``: ``Reranker(folder).rerank`` on ``rerankit export``
  folders (fp32, and dynamic int8 quantization).

Rounds alternate the systems and rotate who goes first, so drift on a shared machine
hits all alike; each system's median round is reported as pairs/s and as a ratio to the
reference. Also measured: one request of 20 candidates (median latency over queries);
effective GFLOP/s (the model's multiply-adds on the real tokens, no padding counted)
next to an fp32 matrix multiplication timed in the same run; resident memory (growth
when loading, peak while scoring); and the int8 model's ranking fidelity against fp32
on every judged query (top-5 agreement, Spearman per query, NDCG@10).

The model is the reranker trained by ``benchmarks/train_reranker.py`` (fidelity needs a
trained model: an untrained head ranks noise) unless ``--model`` names another.
Run: ``python benchmarks/bench_cpu_backends.py`` (about 15 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_reranker import trained_model_dir

DATA = Path(os.environ.get("RERANKIT_DATA", "/work/shared/datasets")) / "msmarco-dl19-subset"
OUT = Path(__file__).resolve().parent / "results" / "cpu_backends.json"
#: A top-5 boundary is "clear" when fp32's 5th and 6th raw scores differ by this much.
CLEAR_GAP = 0.1
SYSTEMS = ("reference", "torch", "onnx-fp32", "onnx-int8", "onnx-int8-full")
LABELS = {"reference": "sentence-transformers CrossEncoder.predict",
          "torch": "rerankit, torch fp32", "onnx-fp32": "rerankit, ONNX fp32",
          "onnx-int8": "rerankit, ONNX int8 (FFN outputs fp32)",
          "onnx-int8-full": "rerankit, ONNX int8-full"}


# -- inputs ----------------------------------------------------------------------------

def bm25_inputs(depth: int) -> tuple[list[str], list[str], list[list[str]], list[list[str]],
                                      dict[str, dict[str, int]]]:
    """Every judged dl19 query with its BM25 top ``depth``: ids, texts, doc ids, docs, qrels."""
    from rerankit.datasets import load_beir
    from rerankit.retrieval.bm25 import BM25Index

    dataset = load_beir(DATA)
    index = BM25Index.build(dataset.corpus or [])
    queries = dataset.judged_queries
    hits = index.search_many([q.text for q in queries], k=depth)
    qrels = {q.id: dict(dataset.qrels.get(q.id, {})) for q in queries}
    return ([q.id for q in queries], [q.text for q in queries],
            [[h.id for h in row] for row in hits],
            [[h.document.full_text for h in row] for row in hits], qrels)


# -- measurement helpers ---------------------------------------------------------------

def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class PeakRss:
    """Samples this process's RSS every 5 ms while active; ``growth`` is the peak above
    the RSS at entry."""

    def __init__(self) -> None:
        self.start = self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, rss_mb())

    @property
    def growth(self) -> float:
        return self.peak - self.start

    def __enter__(self) -> PeakRss:
        self.start = self.peak = rss_mb()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())


def matmul_gflops(threads: int, seconds: float = 3.0) -> float:
    """fp32 GEMM of BERT-FFN shape (4096 tokens x 384 @ 384 x 1536), best of repeats."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(4096, 384), torch.randn(384, 1536)
    flops = 2 * 4096 * 384 * 1536
    best, deadline = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        for _ in range(10):
            torch.matmul(a, b)
        best = max(best, 10 * flops / (time.perf_counter() - start) / 1e9)
    return best


def model_flops(config: Any, lengths: list[int]) -> float:
    """Multiply-adds x 2 of a BERT-style encoder over pairs of the given token lengths."""
    h, f, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    return float(sum(layers * (8 * n * h * h + 4 * n * h * f + 4 * n * n * h)
                     for n in lengths))


# -- the systems -----------------------------------------------------------------------

def memory_child(system: str, source: str, inputs: Path, max_length: int) -> None:
    """In a fresh process: import, load one system, score the inputs once; print RSS."""
    payload = json.loads(inputs.read_text(encoding="utf-8"))
    if system == "reference":
        from sentence_transformers import CrossEncoder
    else:
        from rerankit import Reranker
    baseline = rss_mb()
    if system == "reference":
        cross = CrossEncoder(source, max_length=max_length, device="cpu")
        score = lambda q, d: cross.predict([(q, x) for x in d], batch_size=32,  # noqa: E731
                                           show_progress_bar=False)
    else:
        score = Reranker(source, max_length=max_length).score
    for q, d in zip(payload["queries"], payload["docs"], strict=True):
        score(q, d)
    status = Path("/proc/self/status").read_text()
    hwm = next(int(line.split()[1]) / 1024 for line in status.splitlines()
               if line.startswith("VmHWM:"))
    print(json.dumps({"after_imports_mb": baseline, "peak_mb": hwm,
                      "torch_imported": "torch" in sys.modules}))


def measure_memory(sources: dict[str, Path], queries: list[str], docs: list[list[str]],
                   max_length: int, workdir: Path) -> dict[str, dict[str, Any]]:
    """Peak RSS per system, each in its own process (one process's heap would mix them)."""
    import subprocess

    inputs = workdir / "inputs.json"
    inputs.write_text(json.dumps({"queries": queries, "docs": docs}), encoding="utf-8")
    out = {}
    for name, source in sources.items():
        done = subprocess.run(
            [sys.executable, __file__, "--memory-child", name, "--memory-source", str(source),
             "--memory-inputs", str(inputs), "--max-length", str(max_length)],
            capture_output=True, text=True, check=True)
        out[name] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def load_systems(model: Path, onnx_dirs: dict[str, Path], max_length: int
                 ) -> tuple[dict[str, Callable[[str, list[str]], list[float]]], dict]:
    """Callables (query, docs) -> scores in document order, and memory growth per load."""
    from sentence_transformers import CrossEncoder

    from rerankit import Reranker

    memory: dict[str, float] = {}
    systems: dict[str, Callable[[str, list[str]], list[float]]] = {}
    before = rss_mb()
    cross = CrossEncoder(str(model), max_length=max_length, device="cpu")
    memory["reference"] = rss_mb() - before
    systems["reference"] = lambda q, docs: cross.predict(
        [(q, d) for d in docs], batch_size=32, show_progress_bar=False).tolist()
    for name, source in (("torch", model), *onnx_dirs.items()):
        before = rss_mb()
        reranker = Reranker(str(source), max_length=max_length)
        memory[name] = rss_mb() - before
        systems[name] = lambda q, docs, r=reranker: r.score(q, docs)
    return systems, memory


def timed_rounds(systems: dict[str, Callable], queries: list[str], docs: list[list[str]],
                 rounds: int) -> tuple[dict[str, float], dict[str, float]]:
    """Median seconds per round (every query once) per system, and the peak RSS growth
    while scoring."""
    times: dict[str, list[float]] = {name: [] for name in systems}
    peaks: dict[str, float] = {name: 0.0 for name in systems}
    names = list(systems)
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            with PeakRss() as peak:
                start = time.perf_counter()
                for q, d in zip(queries, docs, strict=True):
                    systems[name](q, d)
                times[name].append(time.perf_counter() - start)
            peaks[name] = max(peaks[name], peak.growth)
    return {n: statistics.median(t) for n, t in times.items()}, peaks


def single_requests(systems: dict[str, Callable], queries: list[str],
                    docs: list[list[str]], size: int) -> dict[str, float]:
    """Median latency (ms) of one request of ``size`` candidates, interleaved per query."""
    latencies: dict[str, list[float]] = {name: [] for name in systems}
    names = list(systems)
    for i, (q, d) in enumerate(zip(queries, docs, strict=True)):
        for name in names[i % len(names):] + names[:i % len(names)]:
            start = time.perf_counter()
            systems[name](q, d[:size])
            latencies[name].append((time.perf_counter() - start) * 1000)
    return {n: statistics.median(v) for n, v in latencies.items()}


def fidelity(fp32: Callable, int8: Callable, qids: list[str], queries: list[str],
             doc_ids: list[list[str]], docs: list[list[str]],
             qrels: dict[str, dict[str, int]]) -> dict[str, Any]:
    """A quantized model against fp32 on every judged query: top-5 agreement, Spearman,
    NDCG@10."""
    from scipy.stats import spearmanr

    from rerankit.metrics import ndcg_at_k

    agree, rho, gaps, ndcg = [], [], [], {"bm25": [], "fp32": [], "int8": []}
    for qid, q, ids, d in zip(qids, queries, doc_ids, docs, strict=True):
        a, b = np.asarray(fp32(q, d)), np.asarray(int8(q, d))
        top_a, top_b = set(np.argsort(-a)[:5]), set(np.argsort(-b)[:5])
        agree.append(len(top_a & top_b) / 5)
        ordered = np.sort(a)[::-1]
        gaps.append(float(ordered[4] - ordered[5]))  # fp32's margin at the top-5 boundary
        rho.append(float(spearmanr(a, b).statistic))
        ndcg["bm25"].append(ndcg_at_k(ids, qrels[qid], 10))
        for name, scores in (("fp32", a), ("int8", b)):
            ndcg[name].append(ndcg_at_k([ids[i] for i in np.argsort(-scores, kind="stable")],
                                        qrels[qid], 10))
    means = {k: float(np.mean(v)) for k, v in ndcg.items()}
    clear = [x for x, gap in zip(agree, gaps, strict=True) if gap >= CLEAR_GAP]
    return {"queries": len(qids), "top5_agreement": float(np.mean(agree)),
            "median_top5_gap": float(np.median(gaps)), "clear_queries": len(clear),
            "top5_agreement_clear": float(np.mean(clear)) if clear else None,
            "spearman_mean": float(np.mean(rho)), "spearman_min": float(np.min(rho)),
            "ndcg10": means, "ndcg10_change": means["int8"] - means["fp32"]}


# -- report ----------------------------------------------------------------------------

def markdown(report: dict[str, Any]) -> str:
    ref = report["pairs_per_s"]["reference"]
    lines = [f"{report['queries']} queries x {report['docs']} BM25 candidates "
             f"({report['pairs']} pairs, mean {report['mean_tokens']:.0f} tokens), "
             f"{report['rounds']} rounds, {report['threads']} threads; fp32 matmul "
             f"{report['matmul_gflops']:.1f} GFLOP/s",
             "",
             "| system | pairs/s | ratio to reference | effective GFLOP/s | 20-candidate request "
             "(median ms) | peak RSS, own process (MB) | of which model + scoring (MB) | "
             "torch imported |",
             "|---|---|---|---|---|---|---|---|"]
    for name in SYSTEMS:
        pps = report["pairs_per_s"][name]
        memory = report["memory"][name]
        lines.append(
            f"| {LABELS[name]} | {pps:.1f} | {pps / ref:.2f}x | "
            f"{report['gflops'][name]:.1f} | {report['single_request_ms'][name]:.0f} | "
            f"{memory['peak_mb']:.0f} | {memory['peak_mb'] - memory['after_imports_mb']:.0f} | "
            f"{'yes' if memory['torch_imported'] else 'no'} |")
    for name, fid in report["fidelity"].items():
        lines += ["", f"{LABELS[name]} vs fp32 on {fid['queries']} judged queries (BM25 top "
                  f"{report['fidelity_depth']}): top-5 agreement {fid['top5_agreement']:.3f} "
                  f"(fp32's median 5th-6th gap {fid['median_top5_gap']:.4f}; "
                  f"{fid['top5_agreement_clear'] or float('nan'):.3f} on the "
                  f"{fid['clear_queries']} queries with a gap >= {CLEAR_GAP}), "
                  f"Spearman mean {fid['spearman_mean']:.3f} (min {fid['spearman_min']:.3f}), "
                  f"NDCG@10 BM25 {fid['ndcg10']['bm25']:.4f} / fp32 {fid['ndcg10']['fp32']:.4f}"
                  f" / quantized {fid['ndcg10']['int8']:.4f} "
                  f"(change {fid['ndcg10_change']:+.4f})"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=None,
                        help="cross-encoder folder (default: the trained reranker)")
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--docs", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--fidelity-depth", type=int, default=50)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--memory-child", choices=SYSTEMS, help=argparse.SUPPRESS)
    parser.add_argument("--memory-source", help=argparse.SUPPRESS)
    parser.add_argument("--memory-inputs", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        memory_child(args.memory_child, args.memory_source, args.memory_inputs,
                     args.max_length)
        return 0

    import transformers

    from rerankit._threads import default_threads
    from rerankit.export import export_onnx

    transformers.utils.logging.set_verbosity_error()
    model = args.model or trained_model_dir()
    if not (model / "config.json").is_file():
        raise SystemExit(f"no model at {model}: run benchmarks/train_reranker.py or --model")
    threads = default_threads()
    qids, queries, doc_ids, docs, qrels = bm25_inputs(max(args.docs, args.fidelity_depth))
    timed_q = queries[:args.queries]
    timed_docs = [d[:args.docs] for d in docs[:args.queries]]
    with tempfile.TemporaryDirectory(prefix="rerankit-onnx-bench-") as tmp:
        onnx_dirs = {}
        for name, quantize in (("onnx-fp32", None), ("onnx-int8", "int8"),
                               ("onnx-int8-full", "int8-full")):
            result = export_onnx(str(model), Path(tmp) / name, quantize=quantize)
            print(result.summary(), flush=True)
            onnx_dirs[name] = result.folder
        systems, load_mb = load_systems(model, onnx_dirs, args.max_length)
        for system in systems.values():  # warm-up: first calls allocate
            system(timed_q[0], timed_docs[0])
        gflops_ref = matmul_gflops(threads)
        seconds, peaks = timed_rounds(systems, timed_q, timed_docs, args.rounds)
        single = single_requests(systems, timed_q, timed_docs, 20)
        lengths = [len(p) for q, d in zip(timed_q, timed_docs, strict=True)
                   for p in systems_encoder(onnx_dirs["onnx-fp32"], args.max_length)(q, d)]
        config = transformers.AutoConfig.from_pretrained(str(model))
        flops = model_flops(config, lengths)
        fid = {name: fidelity(systems["onnx-fp32"], systems[name], qids, queries,
                              [ids[:args.fidelity_depth] for ids in doc_ids],
                              [d[:args.fidelity_depth] for d in docs], qrels)
               for name in ("onnx-int8", "onnx-int8-full")}
        memory = measure_memory({"reference": model, "torch": model, **onnx_dirs}, timed_q,
                                timed_docs, args.max_length, Path(tmp))
    pairs = sum(len(d) for d in timed_docs)
    report = {
        "model": str(model), "queries": len(timed_q), "docs": args.docs, "pairs": pairs,
        "mean_tokens": float(np.mean(lengths)), "rounds": args.rounds, "threads": threads,
        "matmul_gflops": gflops_ref,
        "seconds": seconds,
        "pairs_per_s": {n: pairs / s for n, s in seconds.items()},
        "ratio_to_reference": {n: seconds["reference"] / s for n, s in seconds.items()},
        "gflops": {n: flops / s / 1e9 for n, s in seconds.items()},
        "single_request_ms": single, "load_rss_mb": load_mb, "scoring_rss_growth_mb": peaks,
        "memory": memory,
        "fidelity_depth": args.fidelity_depth, "fidelity": fid,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(markdown(report))
    return 0


def systems_encoder(folder: Path, max_length: int) -> Callable[[str, list[str]], list[Any]]:
    """The exact model inputs rerankit builds (to count real tokens per pair)."""
    from rerankit import Reranker

    backend = Reranker(str(folder), max_length=max_length).backend
    return backend.encode


if __name__ == "__main__":
    sys.exit(main())
