"""Fusing ranked lists: reciprocal rank fusion and weighted score fusion.

Both take one entry per retriever (a name such as ``"bm25"`` or ``"dense"``) and return
``(id, fused_score)`` pairs, best first. Ties keep the order in which ids first appear
when the inputs are read in order (first retriever's list first), so results are
deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from rerankit._exceptions import InvalidInputError

NORMALIZATIONS = ("minmax", "zscore")


def _check_weights(names: Sequence[str], weights: Mapping[str, float] | None) -> dict[str, float]:
    if weights is None:
        return dict.fromkeys(names, 1.0)
    unknown = sorted(set(weights) - set(names))
    missing = sorted(set(names) - set(weights))
    if unknown or missing:
        raise InvalidInputError(
            f"weights must name exactly the fused retrievers {sorted(names)}; "
            f"unknown: {unknown}, missing: {missing}"
        )
    for name, weight in weights.items():
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) \
                or not math.isfinite(weight) or weight < 0:
            raise InvalidInputError(f"weight for {name!r} must be a finite number >= 0, "
                                    f"got {weight!r}")
    if not any(weights.values()):
        raise InvalidInputError("at least one weight must be > 0")
    return {name: float(w) for name, w in weights.items()}


def _sorted(fused: dict[str, float]) -> list[tuple[str, float]]:
    order = {doc_id: i for i, doc_id in enumerate(fused)}
    return sorted(fused.items(), key=lambda item: (-item[1], order[item[0]]))


def reciprocal_rank_fusion(rankings: Mapping[str, Sequence[str]], *, k: float = 60,
                           weights: Mapping[str, float] | None = None
                           ) -> list[tuple[str, float]]:
    """Reciprocal rank fusion (Cormack et al., 2009), optionally weighted.

    ``score(d) = sum_r w_r / (k + rank_r(d))`` with 1-based ranks; a retriever that did
    not return ``d`` adds nothing. ``weights`` default to 1 for every retriever.
    """
    if isinstance(k, bool) or not isinstance(k, (int, float)) or not k >= 0:
        raise InvalidInputError(f"RRF k must be a number >= 0, got {k!r}")
    weight = _check_weights(list(rankings), weights)
    fused: dict[str, float] = {}
    for name, ranking in rankings.items():
        if len(set(ranking)) != len(ranking):
            raise InvalidInputError(f"the {name!r} ranking lists an id more than once")
        for rank, doc_id in enumerate(ranking, start=1):
            fused[doc_id] = fused.get(doc_id, 0.0) + weight[name] / (k + rank)
    return _sorted(fused)


def normalize(scores: Sequence[float] | np.ndarray, method: str = "minmax") -> np.ndarray:
    """Normalise one retriever's scores.

    ``minmax``: ``(s - min) / (max - min)``, in [0, 1]; all equal -> all 1.
    ``zscore``: ``(s - mean) / std`` (population std); all equal -> all 0.
    """
    if method not in NORMALIZATIONS:
        raise InvalidInputError(
            f"unknown normalization {method!r}; choose one of: {', '.join(NORMALIZATIONS)}"
        )
    values = np.asarray(scores, dtype=np.float64)
    if values.size and not np.all(np.isfinite(values)):
        raise InvalidInputError("cannot normalise scores that contain NaN or infinity")
    if values.size == 0:
        return values
    if method == "minmax":
        spread = values.max() - values.min()
        return (values - values.min()) / spread if spread > 0 else np.ones_like(values)
    std = values.std()
    return (values - values.mean()) / std if std > 0 else np.zeros_like(values)


def weighted_score_fusion(scores: Mapping[str, Mapping[str, float]], *,
                          weights: Mapping[str, float] | None = None,
                          normalization: str = "minmax") -> list[tuple[str, float]]:
    """Weighted sum of normalised scores.

    Each retriever's scores are normalised over the ids it scored (:func:`normalize`);
    ``score(d) = sum_r w_r * norm_r(d)``. An id a retriever did not score gets that
    retriever's lowest normalised value (as if it ranked last), not 0, which would
    favour it under z-scores.
    """
    weight = _check_weights(list(scores), weights)
    fused: dict[str, float] = {}
    for doc_ids in scores.values():
        fused.update(dict.fromkeys(doc_ids, 0.0))
    for name, by_id in scores.items():
        ids = list(by_id)
        values = normalize([by_id[i] for i in ids], normalization)
        floor = float(values.min()) if values.size else 0.0
        seen = dict(zip(ids, values.tolist(), strict=True))
        for doc_id in fused:
            fused[doc_id] += weight[name] * seen.get(doc_id, floor)
    return _sorted(fused)
