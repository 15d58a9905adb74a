"""Scoring for ``rerankit bench``: the score cache in front, an engine behind it.

An engine turns jobs (query, texts) into (score, raw_score, truncated) per text and the
rerank time of each job. ``local`` runs the model in this process; ``ray`` runs it in Ray
actors (a local cluster by default, an existing one by address), for sweeps too big for
one machine. Both return the same numbers: the same model scores the same pairs.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterable, Sequence
from typing import Any

from rerankit._exceptions import InvalidInputError
from rerankit._memory import rss_mb
from rerankit._optional import require
from rerankit.score_cache import ScoreCache, model_key

#: (score, raw_score, truncated) of one pair.
PairScore = tuple[float, float, bool]
ENGINES = ("local", "ray")


def score_job(model: Any, query: str, texts: list[str]) -> tuple[list[PairScore], float]:
    """Rerank one job with a loaded Reranker; scores in input order and the time in ms."""
    start = time.perf_counter()
    results = model.rerank(query, texts)
    elapsed = (time.perf_counter() - start) * 1000
    values: list[PairScore] = [(0.0, 0.0, False)] * len(texts)
    for r in results:
        values[r.index] = (r.score, r.raw_score, r.truncated)
    return values, elapsed


def with_progress(items: Iterable[Any], total: int, description: str | None) -> Iterable[Any]:
    """``items`` behind a tqdm bar with ETA, or as they are (no description, no tqdm)."""
    if description is None:
        return items
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return items
    return tqdm(items, total=total, desc=description, unit="q", leave=False,
                dynamic_ncols=True)


class LocalEngine:
    """Runs the model in this process, one job after another."""

    name = "local"

    def run(self, reranker: CachedReranker, jobs: list[tuple[str, list[str]]],
            progress: str | None = None) -> list[tuple[list[PairScore], float]]:
        model = reranker.load()
        return [score_job(model, query, texts)
                for query, texts in with_progress(jobs, len(jobs), progress)]


class _RerankActor:
    """A Ray actor holding one loaded Reranker."""

    def __init__(self, name: str, options: dict[str, Any]) -> None:
        from rerankit.reranker import Reranker

        start = time.perf_counter()
        before = rss_mb()
        self.model = Reranker(name, **options)
        self.load_s = time.perf_counter() - start
        self.base_mb = before

    def info(self) -> dict[str, float]:
        return {"load_s": self.load_s, "peak_memory_mb": rss_mb() - self.base_mb}

    def score(self, query: str, texts: list[str]) -> tuple[list[PairScore], float]:
        return score_job(self.model, query, texts)


class RayEngine:
    """Runs the model in ``actors`` Ray actors; jobs are spread over them in order.

    Args:
        address: an existing cluster (``"auto"`` or ``"ray://host:10001"``); None starts
            a local one.
        actors: model replicas (each loads the model once).
        num_cpus, num_gpus: resources per actor.
    """

    name = "ray"

    def __init__(self, address: str | None = None, actors: int = 1, num_cpus: float = 1,
                 num_gpus: float = 0) -> None:
        if isinstance(actors, bool) or not isinstance(actors, int) or actors < 1:
            raise InvalidInputError(f"ray actors must be a positive int, got {actors!r}")
        self.address, self.actors = address, actors
        self.num_cpus, self.num_gpus = num_cpus, num_gpus

    def _ray(self) -> Any:
        ray = require("ray", feature="The ray bench engine")
        if not ray.is_initialized():
            options: dict[str, Any] = {"ignore_reinit_error": True, "log_to_driver": False,
                                       "include_dashboard": False}
            if self.address:
                options = {"address": self.address, "ignore_reinit_error": True,
                           "log_to_driver": False}
            ray.init(**options)
        return ray

    def run(self, reranker: CachedReranker, jobs: list[tuple[str, list[str]]],
            progress: str | None = None) -> list[tuple[list[PairScore], float]]:
        ray = self._ray()
        from ray.util import ActorPool

        actor_class = ray.remote(num_cpus=self.num_cpus, num_gpus=self.num_gpus)(_RerankActor)
        actors = [actor_class.remote(reranker.name, reranker.options)
                  for _ in range(min(self.actors, max(len(jobs), 1)))]
        try:
            info = ray.get(actors[0].info.remote())
            reranker.load_s = info["load_s"]
            results = ActorPool(actors).map(lambda a, job: a.score.remote(*job), jobs)
            out = list(with_progress(results, len(jobs), progress))
            info = ray.get(actors[0].info.remote())
            reranker.peak_mb = max(reranker.peak_mb, info["peak_memory_mb"])
            return out
        finally:
            for actor in actors:
                ray.kill(actor)


def make_engine(name: str = "local", **options: Any) -> LocalEngine | RayEngine:
    """The engine called ``name`` (``local`` or ``ray``)."""
    if name == "local":
        if options:
            raise InvalidInputError(f"the local engine takes no options, got {sorted(options)}")
        return LocalEngine()
    if name == "ray":
        return RayEngine(**options)
    raise InvalidInputError(f"unknown engine {name!r}; choose one of: {', '.join(ENGINES)}")


class CachedReranker:
    """A reranker loaded on first need, with scores served from the cache first."""

    def __init__(self, name: str, options: dict[str, Any], cache: ScoreCache | None) -> None:
        self.name, self.options, self.cache = name, options, cache
        self.key = model_key(name, **options)
        self.model: Any = None
        self.load_s: float | None = None
        self.rss_before_load: float | None = None
        self.rss_after_load: float | None = None
        self.peak_mb = 0.0
        self.calls = self.hits = 0

    def load(self) -> Any:
        """The Reranker, loaded in this process on first use."""
        if self.model is None:
            from rerankit.reranker import Reranker

            self.rss_before_load = rss_mb()
            start = time.perf_counter()
            self.model = Reranker(self.name, **self.options)
            self.load_s = time.perf_counter() - start
            self.rss_after_load = rss_mb()
        return self.model

    def score_many(self, jobs: Sequence[tuple[str, str, list[str]]], engine: Any,
                   progress: str | None = None) -> dict[str, tuple[list[float], float]]:
        """Calibrated scores and rerank ms per job id (``jobs``: id, query, texts).

        Cached pairs are not scored again; a job's time is the one measured when its
        whole list was scored (kept in the cache), else scaled from its uncached part,
        else the model's mean cost per pair times the list's length.
        """
        cached: dict[str, list[Any]] = {}
        todo: list[tuple[str, str, list[int]]] = []
        for job_id, query, texts in jobs:
            values = (self.cache.get_scores(self.key, query, texts)
                      if self.cache is not None else [None] * len(texts))
            missing = [i for i, value in enumerate(values) if value is None]
            self.hits += len(texts) - len(missing)
            cached[job_id] = values
            if missing:
                todo.append((job_id, query, missing))
        texts_of = {job_id: texts for job_id, _, texts in jobs}
        results = engine.run(self, [(query, [texts_of[j][i] for i in missing])
                                    for j, query, missing in todo], progress) if todo else []
        elapsed: dict[str, float] = {}
        for (job_id, query, missing), (values, ms) in zip(todo, results, strict=True):
            self.calls += len(missing)
            elapsed[job_id] = ms
            for i, value in zip(missing, values, strict=True):
                cached[job_id][i] = value
            if self.cache is not None:
                texts = texts_of[job_id]
                self.cache.put_scores(self.key, query, [texts[i] for i in missing], values)
                if len(missing) == len(texts):
                    self.cache.put_timing(self.key, query, texts, ms)
        out = {}
        missing_count = {job_id: len(missing) for job_id, _, missing in todo}
        for job_id, query, texts in jobs:
            timing = (self.cache.get_timing(self.key, query, texts)
                      if self.cache is not None else None)
            if timing is not None:
                ms = timing[0]
            elif job_id in elapsed:  # estimated from the uncached part
                ms = elapsed[job_id] * len(texts) / missing_count[job_id]
            else:  # every pair cached, in another order or list: the model's mean cost
                per_pair = self.cache.ms_per_pair(self.key) if self.cache is not None else None
                ms = (per_pair or 0.0) * len(texts)
            out[job_id] = ([value[0] for value in cached[job_id]], ms)
        return out

    def release(self) -> None:
        """Drop the loaded model."""
        self.model = None
        gc.collect()
