"""Hard negatives mined with rerankit's own first stage.

For each query the first stage (BM25, dense or hybrid over the passage pool) retrieves
``depth`` candidates. Known positives are always removed. Two optional guards against
false negatives (unjudged passages that are in fact relevant):

* ``skip_top``: ignore the first N candidates, where unlabelled positives concentrate;
* ``teacher``: a reranker scores the positive and each candidate; a candidate scored at or
  above ``teacher_margin`` x the positive's probability is dropped.

``num_negatives`` are then taken from what is left (sampled or the top ones), and a query
short of negatives is topped up with random in-pool passages.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from rerankit._exceptions import InvalidInputError
from rerankit.train.data import TrainingData, TrainingExample

MINING_METHODS = ("bm25", "dense", "hybrid", "random")


@dataclass(frozen=True)
class MiningConfig:
    """How negatives are mined (see the module docstring)."""

    method: str = "bm25"
    num_negatives: int = 3
    depth: int = 30
    skip_top: int = 0
    sample: bool = True
    teacher: str | None = None
    teacher_margin: float = 0.95
    tokenizer: str = "auto"
    dense_model: str = "auto"  # multilingual-e5-small for Korean (when installed), else MiniLM
    seed: int = 42

    def __post_init__(self) -> None:
        if self.method not in MINING_METHODS:
            raise InvalidInputError(
                f"unknown mining method {self.method!r}; choose one of: "
                f"{', '.join(MINING_METHODS)}"
            )
        for name in ("num_negatives", "depth", "skip_top"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidInputError(f"{name} must be a non-negative integer, got {value!r}")
        if self.num_negatives < 1:
            raise InvalidInputError("num_negatives must be at least 1")
        if not 0 < self.teacher_margin <= 1:
            raise InvalidInputError(
                f"teacher_margin must be in (0, 1], got {self.teacher_margin!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class MiningReport:
    """What mining did, for the log and the model card."""

    queries: int = 0
    mined: int = 0
    random_filled: int = 0
    positives_excluded: int = 0
    skipped_by_rank: int = 0
    skipped_by_teacher: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_first_stage(passages: dict[str, str], config: MiningConfig) -> Any:
    """An index over the pool with the configured retriever (``None`` for random)."""
    from rerankit.retrieval._types import CorpusDocument

    documents = [CorpusDocument(pid, text) for pid, text in passages.items()]
    if config.method == "bm25":
        from rerankit.retrieval.bm25 import BM25Index

        return BM25Index.build(documents, tokenizer=config.tokenizer)
    if config.method == "dense":
        from rerankit.retrieval.dense import DenseIndex

        return DenseIndex.build(documents, model=config.dense_model)
    if config.method == "hybrid":
        from rerankit.retrieval.hybrid import HybridIndex

        return HybridIndex.build(documents, tokenizer=config.tokenizer,
                                 model=config.dense_model, fusion="weighted")
    return None


def retrieve(index: Any, queries: Sequence[str], depth: int) -> list[list[str]]:
    """Candidate ids per query, best first (empty lists for the random method)."""
    if index is None or depth == 0:
        return [[] for _ in queries]
    found = []
    for query in queries:
        try:
            found.append([hit.id for hit in index.search(query, k=min(depth, len(index)))])
        except InvalidInputError:  # e.g. a query with no indexable token
            found.append([])
    return found


def mine_negatives(data: TrainingData, config: MiningConfig, *,
                   examples: Sequence[TrainingExample] | None = None,
                   index: Any = None) -> tuple[list[TrainingExample], MiningReport]:
    """Examples with ``config.num_negatives`` negatives each; given negatives come first.

    ``examples`` defaults to all of ``data.examples``; ``index`` reuses a first stage
    built by :func:`build_first_stage`.
    """
    started = time.perf_counter()
    chosen = list(data.examples if examples is None else examples)
    report = MiningReport(queries=len(chosen))
    if len(data.passages) <= 1:
        raise InvalidInputError("the passage pool needs more than one passage to mine from")
    index = index if index is not None else build_first_stage(data.passages, config)
    candidates = retrieve(index, [e.query for e in chosen], config.depth)
    teacher = _load_teacher(config.teacher) if config.teacher else None
    rng = random.Random(config.seed)
    pool_ids = list(data.passages)
    out = []
    for example, ranked in zip(chosen, candidates, strict=True):
        positives = set(example.positives)
        report.positives_excluded += sum(1 for pid in ranked if pid in positives)
        ranked = [pid for pid in ranked if pid not in positives]
        report.skipped_by_rank += min(config.skip_top, len(ranked))
        ranked = ranked[config.skip_top:]
        if teacher is not None and ranked:
            kept = _teacher_filter(teacher, data, example, ranked, config.teacher_margin)
            report.skipped_by_teacher += len(ranked) - len(kept)
            ranked = kept
        given = [n for n in example.negatives if n not in positives]
        wanted = max(0, config.num_negatives - len(given))
        ranked = [pid for pid in ranked if pid not in given]
        picked = (rng.sample(ranked, min(wanted, len(ranked))) if config.sample
                  else ranked[:wanted])
        report.mined += len(picked)
        taken = set(given) | set(picked) | positives
        filler = random_fill(rng, pool_ids, taken, wanted - len(picked))
        report.random_filled += len(filler)
        negatives = tuple(given[: config.num_negatives] + picked + filler)
        out.append(TrainingExample(example.query_id, example.query, example.positives,
                                   negatives))
    if report.random_filled:
        report.notes.append(f"{report.random_filled} negatives were random in-pool passages "
                            "(the first stage returned too few candidates)")
    report.seconds = round(time.perf_counter() - started, 2)
    return out, report


def random_fill(rng: random.Random, pool: list[str], taken: set[str], count: int) -> list[str]:
    """Up to ``count`` random pool ids not in ``taken`` (added to it)."""
    picked: list[str] = []
    if count <= 0:
        return picked
    available = len(pool) - len(taken)
    count = min(count, available)
    while len(picked) < count:
        pid = pool[rng.randrange(len(pool))]
        if pid not in taken:
            taken.add(pid)
            picked.append(pid)
    return picked


def _load_teacher(spec: str) -> Any:
    from rerankit.reranker import Reranker

    return Reranker(spec)


def _teacher_filter(teacher: Any, data: TrainingData, example: TrainingExample,
                    ranked: list[str], margin: float) -> list[str]:
    """Drop candidates the teacher scores at or above ``margin`` x the best positive."""
    texts = [data.passages[p] for p in example.positives] + [data.passages[p] for p in ranked]
    results = teacher.rerank(example.query, texts)
    probability = {r.index: r.score for r in results}
    best_positive = max(probability[i] for i in range(len(example.positives)))
    offset = len(example.positives)
    return [pid for i, pid in enumerate(ranked)
            if probability[offset + i] < margin * best_positive]
