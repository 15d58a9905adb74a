"""``rerankit bench``: run first stages and rerankers on labelled data and compare them.

For every first stage, candidates are retrieved once at ``depth``; every reranker in the
sweep (``none`` always included, as the baseline) reorders them and the top ``top_k``
are scored with the metrics. Reranker scores go through a disk cache, so a re-run costs
no model calls. A reranker that fails to load or crashes is reported as failed and the
sweep goes on. The result is a JSON-ready report dict (see :mod:`rerankit.bench_report`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rerankit._bench_scoring import ENGINES, CachedReranker, make_engine, with_progress
from rerankit._exceptions import InvalidInputError
from rerankit._memory import PeakMemory
from rerankit.datasets import EvalDataset, Query
from rerankit.metrics import evaluate_per_query, parse_metric
from rerankit.recommend import recommend
from rerankit.score_cache import DEFAULT_CACHE_DIR, ScoreCache
from rerankit.stats import bootstrap_ci, compare_to_baseline

logger = logging.getLogger("rerankit")

#: First stages by name: how each index is built.
FIRST_STAGES: dict[str, dict[str, Any]] = {
    "bm25": {"kind": "bm25", "tokenizer": "auto"},
    "bm25-whitespace": {"kind": "bm25", "tokenizer": "whitespace"},
    "bm25-regex": {"kind": "bm25", "tokenizer": "regex"},
    "bm25-english": {"kind": "bm25", "tokenizer": "english"},
    "bm25-kiwi": {"kind": "bm25", "tokenizer": "kiwi"},
    "dense": {"kind": "dense", "model": "auto"},
    "hybrid": {"kind": "hybrid", "fusion": "rrf"},
    "hybrid-weighted": {"kind": "hybrid", "fusion": "weighted"},
    "given": {"kind": "given"},
}


@dataclass
class BenchConfig:
    """Settings of one bench run (the CLI flags and config-file keys have these names)."""

    first_stages: list[str] = field(default_factory=lambda: ["bm25"])
    rerankers: list[str] = field(default_factory=lambda: ["none"])
    depth: int = 20
    top_k: int = 10
    metrics: list[str] = field(default_factory=lambda: ["ndcg@10", "mrr@10", "hit@1"])
    primary_metric: str | None = None
    alpha: float = 0.05
    resamples: int = 10_000
    latency_budget_ms: float | None = None
    slices: list[str] = field(default_factory=list)
    price_per_1000: dict[str, float] = field(default_factory=dict)
    max_queries: int | None = None
    cache_dir: Path | None = DEFAULT_CACHE_DIR
    hybrid_weights: dict[str, float] = field(default_factory=lambda: {"bm25": 0.7, "dense": 0.3})
    reranker_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    progress: bool = True
    engine: str = "local"
    engine_options: dict[str, Any] = field(default_factory=dict)
    #: Lines added to the report's recommendation notes (e.g. what was not run and why).
    notes: list[str] = field(default_factory=list)

    def check(self) -> None:
        """Refuse bad settings before any work starts."""
        for name in self.first_stages:
            if name not in FIRST_STAGES and not name.startswith("dense:"):
                raise InvalidInputError(
                    f"unknown first stage {name!r}; choose from {', '.join(FIRST_STAGES)} "
                    "or dense:MODEL")
        if not self.first_stages:
            raise InvalidInputError("give at least one first stage")
        for label, value in (("depth", self.depth), ("top_k", self.top_k),
                             ("resamples", self.resamples)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInputError(f"{label} must be a positive int, got {value!r}")
        if self.max_queries is not None and self.max_queries < 1:
            raise InvalidInputError(f"max_queries must be >= 1, got {self.max_queries}")
        if not self.metrics:
            raise InvalidInputError("give at least one metric")
        for metric in self.metrics:
            parse_metric(metric)
        if self.primary_metric is not None and self.primary_metric.lower() not in [
                m.lower() for m in self.metrics]:
            raise InvalidInputError(
                f"primary metric {self.primary_metric!r} is not among the metrics "
                f"{self.metrics}")
        if not 0 < self.alpha < 1:
            raise InvalidInputError(f"alpha must be in (0, 1), got {self.alpha}")
        for spec in self.slices:
            parse_slice(spec)
        if self.engine not in ENGINES:
            raise InvalidInputError(f"unknown engine {self.engine!r}; choose one of: "
                                    f"{', '.join(ENGINES)}")


def parse_slice(spec: str) -> tuple[str, Callable[[Query], str | None]]:
    """A slice: ``field`` (a query metadata field) or ``name=id:REGEX`` (the first group of
    REGEX searched in the query id, e.g. ``domain=id:_(\\w+)$``)."""
    name, sep, rule = spec.partition("=")
    if not sep:
        field_name = spec.strip()
        return field_name, lambda q: _as_label(q.metadata.get(field_name))
    if not rule.startswith("id:"):
        raise InvalidInputError(f"slice {spec!r}: use FIELD or NAME=id:REGEX")
    try:
        pattern = re.compile(rule[3:])
    except re.error as exc:
        raise InvalidInputError(f"slice {spec!r}: bad regular expression: {exc}") from None

    def from_id(query: Query) -> str | None:
        match = pattern.search(query.id)
        return (match.group(1) if match.groups() else match.group(0)) if match else None

    return name.strip(), from_id


def _as_label(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _percentiles(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"p50": 0.0, "p95": 0.0, "mean": 0.0}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]
    return {"p50": round(statistics.median(ordered), 3), "p95": round(p95, 3),
            "mean": round(statistics.fmean(ordered), 3)}


@dataclass
class _Candidates:
    """One first stage's candidates per query, with retrieval timings."""

    name: str
    lists: dict[str, list[tuple[str, str, float]]]  # qid -> [(doc id, text, score)]
    ms: dict[str, float]
    build_s: float


class _FirstStages:
    """Builds (and caches on disk) the first-stage indexes of a dataset."""

    def __init__(self, dataset: EvalDataset, config: BenchConfig) -> None:
        self.dataset, self.config = dataset, config
        self._built: dict[str, Any] = {}
        self._bm25_by_tokenizer: dict[str, Any] = {}

    def _cache_folder(self) -> Path | None:
        """Where this corpus's dense indexes are cached (by a fingerprint of its text)."""
        if self.config.cache_dir is None or self.dataset.corpus is None:
            return None
        fingerprint = hashlib.sha256()
        for doc in self.dataset.corpus:
            fingerprint.update(f"{doc.id}\x00{doc.full_text}\x01".encode("utf-8",
                                                                         "surrogatepass"))
        return (Path(self.config.cache_dir).expanduser() / "indexes"
                / f"{_safe(self.dataset.name)}-{fingerprint.hexdigest()[:16]}")

    def _bm25(self, tokenizer: str) -> Any:
        """A BM25 index per resolved tokenizer: ``bm25`` (auto) on Korean text reuses the
        ``bm25-kiwi`` index instead of tokenising the corpus again."""
        from rerankit.retrieval import BM25Index, make_tokenizer

        texts = [d.full_text for d in self.dataset.corpus[:1000]]
        resolved = make_tokenizer(tokenizer, sample=texts)
        key = json.dumps(resolved.settings(), sort_keys=True)
        if key not in self._bm25_by_tokenizer:
            self._bm25_by_tokenizer[key] = BM25Index.build(self.dataset.corpus,
                                                           tokenizer=resolved)
        return self._bm25_by_tokenizer[key]

    def index(self, name: str) -> Any:
        """The retriever for a first-stage name, built once per run."""
        if name in self._built:
            return self._built[name]
        from rerankit.retrieval import HybridIndex

        if self.dataset.corpus is None:
            raise InvalidInputError(
                f"first stage {name!r} needs a corpus; this dataset only has fixed "
                "candidates: use first stage 'given'")
        spec = FIRST_STAGES.get(name) or {"kind": "dense", "model": name.split(":", 1)[1]}
        if spec["kind"] == "bm25":
            index = self._bm25(spec["tokenizer"])
        elif spec["kind"] == "dense":
            index = self._dense(name, spec["model"])
        else:
            bm25 = self.index("bm25")
            dense = self.index("dense")
            index = HybridIndex(bm25, dense, fusion=spec["fusion"],
                                weights=self.config.hybrid_weights,
                                candidates=max(100, self.config.depth))
        self._built[name] = index
        return index

    def _dense(self, name: str, model: str) -> Any:
        from rerankit.retrieval import DenseIndex, choose_dense_model, load_index

        if model == "auto":
            model = choose_dense_model([doc.full_text for doc in self.dataset.corpus[:1000]])
            logger.info("%s: encoder %s (chosen for this corpus)", name, model)
        cache = self._cache_folder()
        folder = cache / _safe(f"dense-{model}") if cache else None
        if folder is not None and (folder / "manifest.json").is_file():
            return load_index(folder)
        index = DenseIndex.build(self.dataset.corpus, model=model,
                                 show_progress=self.config.progress)
        if folder is not None:
            index.save(folder)
        return index

    def candidates(self, name: str, queries: Sequence[Query]) -> _Candidates:
        """Retrieve ``depth`` candidates for every query."""
        if name == "given":
            return self._given(queries)
        start = time.perf_counter()
        index = self.index(name)
        build_s = time.perf_counter() - start
        lists, ms = {}, {}
        label = f"{name}: retrieve" if self.config.progress else None
        for query in with_progress(queries, len(queries), label):
            start = time.perf_counter()
            try:
                hits = index.search(query.text, self.config.depth)
            except InvalidInputError as exc:  # e.g. a query with no BM25 tokens
                logger.warning("%s: query %s: %s", name, query.id, exc)
                hits = []
            ms[query.id] = (time.perf_counter() - start) * 1000
            lists[query.id] = [(h.id, h.text, h.score) for h in hits]
        return _Candidates(name, lists, ms, build_s)

    def _given(self, queries: Sequence[Query]) -> _Candidates:
        if self.dataset.candidates is None:
            raise InvalidInputError("first stage 'given' needs a dataset with candidate "
                                    "lists (a run file or a candidates JSONL)")
        lists = {q.id: [(c.id, c.text, c.score)
                        for c in self.dataset.candidates.get(q.id, [])[: self.config.depth]]
                 for q in queries}
        return _Candidates("given", lists, dict.fromkeys(lists, 0.0), 0.0)


def _safe(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name).strip("_") or "x"


def _rank(candidates: list[tuple[str, str, float]], scores: list[float] | None,
          top_k: int) -> list[tuple[str, float]]:
    """Top ``top_k`` by reranker score (ties keep first-stage order), or first-stage order."""
    if scores is None:
        return [(doc_id, score) for doc_id, _, score in candidates[:top_k]]
    order = sorted(range(len(candidates)), key=lambda i: -scores[i])
    return [(candidates[i][0], scores[i]) for i in order[:top_k]]


def run_bench(dataset: EvalDataset, config: BenchConfig) -> dict[str, Any]:
    """Run the sweep and return the report dict."""
    from rerankit import __version__
    config.check()
    rerankers = ["none"] + [r for r in dict.fromkeys(config.rerankers) if r != "none"]
    metrics = [m.lower() for m in config.metrics]
    primary = (config.primary_metric or metrics[0]).lower()
    queries = _spread(dataset.judged_queries, config.max_queries)
    if not queries:
        raise InvalidInputError(f"dataset {dataset.name!r} has no query with a relevant "
                                "document")
    qrels = {q.id: dataset.qrels[q.id] for q in queries}
    slicers = [parse_slice(spec) for spec in config.slices]
    cache = ScoreCache(config.cache_dir) if config.cache_dir is not None else None
    stages = _FirstStages(dataset, config)
    models = {name: CachedReranker(name, dict(config.reranker_options.get(name, {})), cache)
              for name in rerankers if name != "none"}
    engine = make_engine(config.engine, **config.engine_options)
    systems: list[dict[str, Any]] = []
    try:
        for stage in dict.fromkeys(config.first_stages):
            try:
                found = stages.candidates(stage, queries)
            except Exception as exc:  # a broken first stage must not end the sweep
                logger.error("first stage %s failed: %s", stage, exc)
                systems += [_failed(stage, r, f"first stage failed: {exc}") for r in rerankers]
                continue
            group = []
            for name in rerankers:
                system = _run_system(found, name, models.get(name), engine, queries, qrels,
                                     metrics, config)
                system["slices"] = _slices(system, queries, slicers, metrics)
                if name in config.price_per_1000:
                    system["cost_per_1000"] = config.price_per_1000[name]
                group.append(system)
            _compare(group, metrics, config)
            systems += group
    finally:
        for model in models.values():
            model.release()
        if cache is not None:
            cache.close()
    report = {
        "rerankit_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "dataset": {"name": dataset.name, "queries": len(queries),
                    "documents": len(dataset.corpus) if dataset.corpus is not None else None},
        "settings": {"depth": config.depth, "top_k": config.top_k, "metrics": metrics,
                     "primary_metric": primary, "alpha": config.alpha,
                     "latency_budget_ms": config.latency_budget_ms,
                     "slices": [name for name, _ in slicers],
                     "price_per_1000": dict(config.price_per_1000),
                     "first_stages": list(config.first_stages), "rerankers": rerankers,
                     "resamples": config.resamples},
        "systems": systems,
    }
    report["environment"] = _environment(config)
    report["recommendation"] = recommend(report)
    report["recommendation"]["notes"] += [str(note) for note in config.notes]
    return report


def _environment(config: BenchConfig) -> dict[str, Any]:
    """Where the figures were measured, and how the statistics were computed."""
    import os
    import platform
    import sys

    env: dict[str, Any] = {
        "python": platform.python_version(), "platform": platform.platform(),
        "cpus": os.cpu_count(), "engine": config.engine,
        "statistics": (f"paired randomization test (sign flips, {config.resamples} "
                       f"resamples, seed 0), Holm-corrected per first stage; percentile "
                       f"bootstrap intervals ({config.resamples} resamples)"),
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        env["torch"] = torch.__version__
        env["torch_threads"] = torch.get_num_threads()
        env["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return env


def _spread(queries: list[Query], limit: int | None) -> list[Query]:
    """At most ``limit`` queries taken evenly across the list (not just the first ones,
    which are often one domain)."""
    if limit is None or limit >= len(queries):
        return queries
    step = len(queries) / limit
    return [queries[int(i * step)] for i in range(limit)]


def _failed(stage: str, reranker: str, error: str) -> dict[str, Any]:
    return {"name": f"{stage} + {reranker}", "first_stage": stage, "reranker": reranker,
            "status": "failed", "error": error, "metrics": {}, "ci": {}, "per_query": {},
            "vs_baseline": {}, "latency_ms": {}, "first_stage_ms": {}, "pairs_per_s": None,
            "load_s": None, "peak_memory_mb": None, "model_calls": 0, "cache_hits": 0,
            "cost_per_1000": None, "slices": {}, "run": {}}


def _run_system(found: _Candidates, name: str, model: CachedReranker | None,
                engine: Any, queries: Sequence[Query], qrels: dict[str, dict[str, int]],
                metrics: list[str], config: BenchConfig) -> dict[str, Any]:
    system = _failed(found.name, name, "")
    system.update(status="ok", error=None)
    run: dict[str, list[tuple[str, float]]] = {}
    rerank_ms: list[float] = []
    pairs = 0
    # the model is shared across first stages: count this system's calls only
    calls_before, hits_before = (model.calls, model.hits) if model is not None else (0, 0)
    try:
        with PeakMemory() as memory:
            scored: dict[str, tuple[list[float], float]] = {}
            if model is not None:
                jobs = [(q.id, q.text, [text for _, text, _ in found.lists[q.id]])
                        for q in queries if found.lists[q.id]]
                scored = model.score_many(jobs, engine,
                                          progress=f"{found.name} + {name}"
                                          if config.progress else None)
            for query in queries:
                candidates = found.lists[query.id]
                scores, ms = scored.get(query.id, (None, 0.0))
                if model is not None:
                    rerank_ms.append(ms)
                    pairs += len(candidates)
                run[query.id] = _rank(candidates, scores, config.top_k)
    except Exception as exc:  # a failing reranker must not end the sweep
        logger.error("%s + %s failed: %s", found.name, name, exc)
        failed = _failed(found.name, name, f"{type(exc).__name__}: {exc}")
        if model is not None:
            failed["model_calls"] = model.calls - calls_before
            failed["cache_hits"] = model.hits - hits_before
        return failed
    per_query = evaluate_per_query(qrels, {qid: [d for d, _ in ranked]
                                           for qid, ranked in run.items()}, metrics)
    system["per_query"] = per_query
    system["metrics"] = {m: statistics.fmean(per_query[m].values()) for m in metrics}
    system["ci"] = {m: list(bootstrap_ci(list(per_query[m].values()),
                                         resamples=config.resamples)) for m in metrics}
    system["run"] = {qid: [[d, float(s)] for d, s in ranked] for qid, ranked in run.items()}
    system["first_stage_ms"] = _percentiles([found.ms[q.id] for q in queries])
    system["first_stage_build_s"] = round(found.build_s, 3)
    system["latency_ms"] = _percentiles(rerank_ms if model is not None else [])
    if model is not None:
        info = _model_info(model, memory)
        total_s = sum(rerank_ms) / 1000
        system.update(
            pairs_per_s=round(pairs / total_s, 2) if total_s > 0 else None,
            load_s=info.get("load_s"), peak_memory_mb=info.get("peak_memory_mb"),
            model_calls=model.calls - calls_before, cache_hits=model.hits - hits_before)
    else:
        system.update(load_s=0.0, peak_memory_mb=0.0)
    return system


def _model_info(model: CachedReranker, memory: PeakMemory) -> dict[str, Any]:
    """Load time and peak memory added by the model (weights and activations): measured
    if the model ran in this process, else as measured when its scores were cached."""
    if model.load_s is None:
        return (model.cache.get_model_info(model.key) if model.cache is not None else None) or {}
    if model.rss_before_load is not None and model.rss_after_load is not None:
        # weights (growth while loading) + the most scoring added on top, so memory other
        # parts of the sweep take in between (indexes, tokenizers) is not counted
        weights = model.rss_after_load - model.rss_before_load
        scoring = memory.peak - max(memory.start, model.rss_after_load)
        model.peak_mb = max(model.peak_mb, weights + max(scoring, 0.0))
    info = {"load_s": round(model.load_s or 0.0, 3), "peak_memory_mb": round(model.peak_mb, 1)}
    if model.cache is not None:
        model.cache.put_model_info(model.key, info)
    return info


def _compare(group: list[dict[str, Any]], metrics: list[str], config: BenchConfig) -> None:
    """Each reranker of one first stage against that stage's ``none``."""
    baseline = group[0]
    if baseline["status"] != "ok":
        return
    ok = [s for s in group if s["status"] == "ok"]
    for metric in metrics:
        per_query = {s["name"]: s["per_query"][metric] for s in ok}
        comparisons = compare_to_baseline(per_query, baseline["name"], metric=metric,
                                          alpha=config.alpha, resamples=config.resamples)
        baseline["vs_baseline"][metric] = {
            "baseline": baseline["name"], "delta": 0.0, "ci": [0.0, 0.0], "p_value": 1.0,
            "p_adjusted": 1.0, "label": "baseline", "wins": 0, "losses": 0,
            "ties": len(per_query[baseline["name"]])}
        for system in ok[1:]:
            c = comparisons[system["name"]]
            system["vs_baseline"][metric] = {
                "baseline": baseline["name"], "delta": c.delta, "ci": [c.ci_low, c.ci_high],
                "p_value": c.p_value, "p_adjusted": c.p_adjusted, "label": c.label,
                "wins": c.wins, "losses": c.losses, "ties": c.ties}


def _slices(system: dict[str, Any], queries: Sequence[Query],
            slicers: list[tuple[str, Callable[[Query], str | None]]],
            metrics: list[str]) -> dict[str, Any]:
    """Per slice value: query count and metric means."""
    if system["status"] != "ok":
        return {}
    out: dict[str, Any] = {}
    for name, label_of in slicers:
        groups: dict[str, list[str]] = {}
        for query in queries:
            groups.setdefault(label_of(query) or "(none)", []).append(query.id)
        out[name] = {
            value: {"count": len(ids),
                    "metrics": {m: statistics.fmean(system["per_query"][m][q] for q in ids)
                                for m in metrics}}
            for value, ids in sorted(groups.items())}
    return out
