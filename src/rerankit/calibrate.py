"""Fit a reranker's calibration on labelled data and measure it on held-out queries.

For each judged query of a dataset, its first-stage candidates (the dataset's own lists,
else BM25 over its corpus) are scored; a candidate's label is 1 when its qrels grade is
above 0. Queries are split at random (seeded) into a fitting part and a held-out part,
so the reported expected calibration error is measured on queries the fit never saw.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import numpy as np

from rerankit._exceptions import InvalidInputError
from rerankit.calibration import Calibration, expected_calibration_error, fit_calibration


@dataclass
class LabelledScores:
    """Raw scores and 0/1 labels of one query's candidates."""

    query_id: str
    raw: np.ndarray
    labels: np.ndarray


def labelled_scores(reranker: Any, dataset: Any, *, depth: int = 20,
                    max_queries: int | None = None) -> list[LabelledScores]:
    """Score each judged query's top ``depth`` candidates with ``reranker``."""
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise InvalidInputError(f"depth must be a positive int, got {depth!r}")
    queries = dataset.judged_queries[:max_queries] if max_queries else dataset.judged_queries
    candidates = _candidates(dataset, queries, depth)
    out = []
    for query in queries:
        found = candidates[query.id]
        if not found:
            continue
        raw = np.asarray(reranker.score(query.text, [text for _, text in found]))
        grades = dataset.qrels.get(query.id, {})
        labels = np.array([1 if grades.get(doc_id, 0) > 0 else 0 for doc_id, _ in found])
        out.append(LabelledScores(query.id, raw, labels))
    return out


def _candidates(dataset: Any, queries: list[Any], depth: int) -> dict[str, list[tuple[str, str]]]:
    if dataset.candidates is not None:
        return {q.id: [(c.id, c.text) for c in dataset.candidates.get(q.id, [])[:depth]]
                for q in queries}
    if dataset.corpus is None:
        raise InvalidInputError(f"dataset {dataset.name!r} has neither candidates nor a corpus")
    from rerankit.retrieval.bm25 import BM25Index

    index = BM25Index.build(dataset.corpus)
    out = {}
    for query in queries:
        try:
            hits = index.search(query.text, k=min(depth, len(index)))
        except InvalidInputError:
            hits = []
        out[query.id] = [(h.id, h.document.full_text) for h in hits]
    return out


def calibrate(reranker: Any, dataset: Any, *, method: str = "platt", depth: int = 20,
              holdout: float = 0.3, seed: int = 0, max_queries: int | None = None
              ) -> tuple[Calibration, dict[str, Any]]:
    """Fit ``method`` on part of ``dataset``; ECE and Brier score before/after on the rest."""
    if not 0 < holdout < 1:
        raise InvalidInputError(f"holdout must be between 0 and 1, got {holdout!r}")
    scored = labelled_scores(reranker, dataset, depth=depth, max_queries=max_queries)
    if len(scored) < 2:
        raise InvalidInputError("calibration needs at least two judged queries with candidates")
    order = list(range(len(scored)))
    random.Random(seed).shuffle(order)
    cut = max(1, min(len(order) - 1, round(len(order) * holdout)))
    held = [scored[i] for i in sorted(order[:cut])]
    fit = [scored[i] for i in sorted(order[cut:])]
    fit_raw = np.concatenate([s.raw for s in fit])
    fit_labels = np.concatenate([s.labels for s in fit])
    calibration = fit_calibration(fit_raw, fit_labels, method)
    held_raw = np.concatenate([s.raw for s in held])
    held_labels = np.concatenate([s.labels for s in held])
    before = reranker.backend.probability(held_raw)
    after = calibration(held_raw)
    report = {
        "model": reranker.model_name, "dataset": dataset.name, "method": method,
        "depth": depth, "fit_queries": len(fit), "heldout_queries": len(held),
        "fit_pairs": int(fit_raw.size), "heldout_pairs": int(held_raw.size),
        "heldout_positive_rate": round(float(held_labels.mean()), 4),
        "ece_before": round(expected_calibration_error(before, held_labels), 4),
        "ece_after": round(expected_calibration_error(after, held_labels), 4),
        "brier_before": round(float(np.mean((before - held_labels) ** 2)), 4),
        "brier_after": round(float(np.mean((after - held_labels) ** 2)), 4),
    }
    calibration.info.update({k: report[k] for k in
                             ("dataset", "depth", "fit_pairs", "ece_before", "ece_after")})
    return calibration, report
