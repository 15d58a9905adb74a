"""Load test of `rerankit serve` on loopback, against the in-process rate.

1. Reference: ``Reranker.rerank`` on the same requests, one after another, in this
   process (pairs/s).
2. Starts ``rerankit serve`` (a subprocess) with the same model and runs ``--clients``
   concurrent clients for ``--seconds``: throughput (pairs/s), latency p50/p95/p99, and the
   ratio of throughput to the reference (target >= 0.9 at 8 clients).
3. Overload: ``--overload`` times as many clients with a small queue: the answers must be
   200 or 429 only (no 5xx), the server's memory bounded, and a normal run afterwards
   must reach its earlier throughput again.

    python benchmarks/bench_server_load.py [--model DIR] [--clients 8] [--seconds 30]

The model defaults to the trained reranker (benchmarks/train_reranker.py), else the
MiniLM cross-encoder with an untrained head. Results: benchmarks/results/server_load.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "datasets" / "msmarco-dl19-subset"
sys.path.insert(0, str(HERE))

from train_reranker import save_untrained, trained_model_dir, untrained_model_dir  # noqa: E402


def requests_from_dl19(count: int, docs: int, seed: int = 0) -> list[tuple[str, list[str]]]:
    from rerankit.datasets import load_beir

    dataset = load_beir(DATA)
    corpus = [doc.full_text for doc in dataset.corpus or []]
    queries = [query.text for query in dataset.queries]
    rng = random.Random(seed)
    return [(rng.choice(queries), rng.sample(corpus, docs)) for _ in range(count)]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def load(url: str, requests: list[tuple[str, list[str]]], clients: int, seconds: float
               ) -> dict:
    import httpx

    latencies: list[float] = []
    codes: dict[int, int] = {}
    pairs = 0
    stop = time.perf_counter() + seconds

    async def client(number: int) -> None:
        nonlocal pairs
        i = number
        async with httpx.AsyncClient(base_url=url, timeout=120) as session:
            while time.perf_counter() < stop:
                query, docs = requests[i % len(requests)]
                i += clients
                started = time.perf_counter()
                response = await session.post("/v2/rerank", json={"query": query,
                                                                  "documents": docs})
                codes[response.status_code] = codes.get(response.status_code, 0) + 1
                if response.status_code == 200:
                    latencies.append(time.perf_counter() - started)
                    pairs += len(docs)
                elif response.status_code == 429:
                    await asyncio.sleep(float(response.headers.get("retry-after", "1")) / 4)

    started = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(clients)))
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies) or [float("nan")]

    def pct(p: float) -> float:
        return round(1000 * ordered[min(len(ordered) - 1, int(p * len(ordered)))], 1)

    return {"clients": clients, "seconds": round(elapsed, 1),
            "pairs_per_s": round(pairs / elapsed, 2), "requests_ok": codes.get(200, 0),
            "codes": codes, "p50_ms": pct(0.5), "p95_ms": pct(0.95), "p99_ms": pct(0.99)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--docs", type=int, default=20, help="documents per request")
    parser.add_argument("--overload", type=int, default=4, help="x clients in the overload")
    parser.add_argument("--max-length", type=int, default=256)
    args = parser.parse_args()
    model = args.model or trained_model_dir()
    if not (model / "config.json").is_file():
        model = untrained_model_dir()
        save_untrained(model)
    from rerankit import Reranker

    requests = requests_from_dl19(64, args.docs)
    reranker = Reranker(model, max_length=args.max_length)
    reranker.rerank(*requests[0])  # warm-up
    started, pairs = time.perf_counter(), 0
    while time.perf_counter() - started < args.seconds / 2:
        query, docs = requests[pairs // args.docs % len(requests)]
        reranker.rerank(query, docs)
        pairs += len(docs)
    reference = pairs / (time.perf_counter() - started)
    del reranker
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "rerankit.cli", "serve", "--model", f"m={model}",
               "--port", str(port), "--max-length", str(args.max_length), "--max-queue",
               str(args.clients * 2), "--log-level", "warning"]
    server = subprocess.Popen(command, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    try:
        import httpx

        for _ in range(600):
            try:
                if httpx.get(url + "/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        asyncio.run(load(url, requests, 2, 3))  # warm-up
        normal = asyncio.run(load(url, requests, args.clients, args.seconds))
        memory_before = rss_mb(server.pid)
        overload = asyncio.run(load(url, requests, args.clients * args.overload, args.seconds))
        memory_after = rss_mb(server.pid)
        recovery = asyncio.run(load(url, requests, args.clients, args.seconds))
    finally:
        server.terminate()
        server.wait(30)
    result = {
        "model": str(model), "docs_per_request": args.docs,
        "reference_in_process_pairs_per_s": round(reference, 2),
        "normal": normal, "ratio_to_reference": round(normal["pairs_per_s"] / reference, 3),
        "overload": overload,
        "overload_5xx": sum(n for c, n in overload["codes"].items() if c >= 500),
        "server_rss_mb": {"before_overload": round(memory_before, 1),
                          "after_overload": round(memory_after, 1)},
        "recovery": recovery,
        "recovery_ratio": round(recovery["pairs_per_s"] / normal["pairs_per_s"], 3),
        "cpus": os.cpu_count(),
    }
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "server_load.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
