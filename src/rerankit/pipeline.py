"""The cascade: retrieve depth N -> rerank -> top K, with timings, skipping and a budget."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from rerankit._exceptions import InvalidInputError
from rerankit._inputs import validate_query
from rerankit.retrieval._store import validate_k, validate_queries
from rerankit.retrieval._types import CorpusDocument, Hit
from rerankit.retrieval.base import Retriever
from rerankit.selective import SkipRule, parse_skip_rule


@dataclass(frozen=True)
class PipelineHit:
    """One result of the cascade.

    ``score`` is the reranker's calibrated score when ``reranked`` is True, else the
    first-stage score (hits past the reranked depth, or every hit when the reranker
    was skipped); ``first_stage_rank``/``first_stage_score`` are always set.
    """

    id: str
    score: float
    rank: int
    document: CorpusDocument
    reranked: bool
    first_stage_rank: int
    first_stage_score: float
    raw_score: float | None = None

    @property
    def text(self) -> str:
        """The document's full text."""
        return self.document.full_text


@dataclass(frozen=True)
class PipelineResult:
    """The cascade's answer for one query.

    ``timings_ms`` has ``retrieve``, ``rerank`` and ``total`` (and ``calibrate`` on the
    query that measured the reranker's cost under a latency budget). ``skip_reason``
    says why the reranker did not run (None when it ran); ``rerank_depth`` is how many
    candidates it read.
    """

    query: str
    hits: list[PipelineHit]
    retrieved: int
    rerank_depth: int
    skipped: bool
    skip_reason: str | None
    timings_ms: dict[str, float] = field(default_factory=dict)


class LatencyModel:
    """Rerank time as ``overhead + per_pair * n`` (ms), measured, then tracked per query."""

    def __init__(self, overhead_ms: float, per_pair_ms: float, smoothing: float = 0.2) -> None:
        self.overhead_ms, self.per_pair_ms, self.smoothing = overhead_ms, per_pair_ms, smoothing

    def depth_for(self, budget_ms: float) -> int:
        """Most pairs that fit in ``budget_ms``."""
        if budget_ms <= self.overhead_ms:
            return 0
        return int((budget_ms - self.overhead_ms) / max(self.per_pair_ms, 1e-6))

    def observe(self, pairs: int, elapsed_ms: float) -> None:
        """Update the per-pair cost from one measured rerank."""
        if pairs > 0:
            cost = max(elapsed_ms - self.overhead_ms, 0.0) / pairs
            self.per_pair_ms += self.smoothing * (cost - self.per_pair_ms)


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0


class Pipeline:
    """Retrieve ``depth`` candidates, rerank them, return the ``top_k`` best.

    Args:
        retriever: a BM25, dense or hybrid index.
        reranker: a :class:`~rerankit.Reranker`, a model name for one, or None for the
            first stage alone.
        depth: candidates the reranker reads (the first stage retrieves at least
            ``top_k``; candidates past the reranked depth keep first-stage order).
        top_k: results returned.
        skip: a skip rule (see :mod:`rerankit.selective`) or its text form, e.g.
            ``"margin:0.3"`` or ``"agree"``; None reranks every query.
        latency_budget_ms: per-query budget; the rerank depth is chosen from the
            reranker's measured per-pair cost so retrieval + reranking fit in it
            (``depth`` is the upper bound). The cost is measured on the first query.
    """

    def __init__(self, retriever: Retriever, reranker: Any = None, *, depth: int = 100,
                 top_k: int = 10, skip: SkipRule | str | None = None,
                 latency_budget_ms: float | None = None) -> None:
        if not isinstance(retriever, Retriever):
            raise InvalidInputError(
                f"retriever must be a rerankit index (BM25Index, DenseIndex, HybridIndex), "
                f"got {type(retriever).__name__}"
            )
        if isinstance(reranker, str):
            from rerankit.reranker import Reranker

            reranker = Reranker(reranker)
        if reranker is not None and not callable(getattr(reranker, "rerank", None)):
            raise InvalidInputError("reranker must be a Reranker (or a model name), "
                                    f"got {type(reranker).__name__}")
        if latency_budget_ms is not None and (
                isinstance(latency_budget_ms, bool)
                or not isinstance(latency_budget_ms, (int, float))
                or not math.isfinite(latency_budget_ms) or latency_budget_ms <= 0):
            raise InvalidInputError(
                f"latency_budget_ms must be a positive number, got {latency_budget_ms!r}")
        self.retriever, self.reranker = retriever, reranker
        self.depth, self.top_k = validate_k(depth), validate_k(top_k)
        self.skip = parse_skip_rule(skip) if isinstance(skip, str) else skip
        self.latency_budget_ms = latency_budget_ms
        self.latency: LatencyModel | None = None

    def run(self, query: str) -> PipelineResult:
        """Run the cascade for one query."""
        query = validate_query(query)
        timings: dict[str, float] = {}
        start = time.perf_counter()
        candidates = self.retriever.search(query, max(self.depth, self.top_k))
        timings["retrieve"] = _ms(start)
        depth, reason = self._plan(query, candidates, timings)
        reranked: list[PipelineHit] = []
        if reason is None:
            rerank_start = time.perf_counter()
            reranked = self._rerank(query, candidates[:depth])
            timings["rerank"] = _ms(rerank_start)
            if self.latency is not None:
                self.latency.observe(depth, timings["rerank"])
        else:
            depth = 0
            timings["rerank"] = 0.0
        tail = [_first_stage_hit(hit) for hit in candidates[depth:]]
        hits = [_with_rank(hit, rank)
                for rank, hit in enumerate((reranked + tail)[: self.top_k], start=1)]
        timings["total"] = _ms(start)
        return PipelineResult(query=query, hits=hits, retrieved=len(candidates),
                              rerank_depth=depth, skipped=reason is not None,
                              skip_reason=reason, timings_ms=timings)

    def run_many(self, queries: Sequence[str]) -> list[PipelineResult]:
        """``run`` for each query, in order."""
        return [self.run(q) for q in validate_queries(queries)]

    def _plan(self, query: str, candidates: list[Hit],
              timings: dict[str, float]) -> tuple[int, str | None]:
        """How many candidates to rerank, or why not to rerank at all."""
        if self.reranker is None:
            return 0, "no reranker"
        if not candidates:
            return 0, "no candidates"
        if len(candidates) == 1:
            return 0, "one candidate"
        if self.skip is not None:
            reason = self.skip(candidates)
            if reason:
                return 0, reason
        depth = min(self.depth, len(candidates))
        if self.latency_budget_ms is None:
            return depth, None
        if self.latency is None:
            start = time.perf_counter()
            self.latency = self._calibrate(query, candidates)
            timings["calibrate"] = _ms(start)
        affordable = self.latency.depth_for(self.latency_budget_ms - timings["retrieve"])
        if affordable < 2:
            return 0, (f"latency budget {self.latency_budget_ms:g} ms leaves no room to "
                       "rerank")
        return min(depth, affordable), None

    def _calibrate(self, query: str, candidates: list[Hit]) -> LatencyModel:
        """Measure rerank cost on this query's candidates: a warm-up, then 2 and 8 pairs."""
        texts = [hit.text for hit in candidates]
        self.reranker.rerank(query, texts[:1])  # warm-up (first call allocates)
        sizes = (2, min(len(texts), 8))
        elapsed = []
        for size in sizes:
            start = time.perf_counter()
            self.reranker.rerank(query, texts[:size])
            elapsed.append(_ms(start))
        per_pair = (elapsed[1] - elapsed[0]) / max(sizes[1] - sizes[0], 1)
        per_pair = max(per_pair, elapsed[1] / sizes[1] / 4, 1e-3)
        overhead = max(elapsed[0] - sizes[0] * per_pair, 0.0)
        return LatencyModel(overhead, per_pair)

    def _rerank(self, query: str, hits: list[Hit]) -> list[PipelineHit]:
        results = self.reranker.rerank(query, [hit.text for hit in hits])
        return [PipelineHit(id=hits[r.index].id, score=r.score, rank=0,
                            document=hits[r.index].document, reranked=True,
                            first_stage_rank=hits[r.index].rank,
                            first_stage_score=hits[r.index].score, raw_score=r.raw_score)
                for r in results]


def _first_stage_hit(hit: Hit) -> PipelineHit:
    return PipelineHit(id=hit.id, score=hit.score, rank=0, document=hit.document,
                       reranked=False, first_stage_rank=hit.rank, first_stage_score=hit.score)


def _with_rank(hit: PipelineHit, rank: int) -> PipelineHit:
    return replace(hit, rank=rank)
