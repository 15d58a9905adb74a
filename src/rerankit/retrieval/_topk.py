"""Deterministic top-k selection over a dense score array."""

from __future__ import annotations

import numpy as np


def top_k(scores: np.ndarray, k: int, *,
          positive_only: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Positions and scores of the ``k`` best entries, best first.

    Ties are broken by position (earlier first), so results do not depend on the
    selection algorithm. With ``positive_only``, entries scoring <= 0 are left out.
    """
    scores = np.asarray(scores)
    candidates = np.flatnonzero(scores > 0) if positive_only else np.arange(scores.size)
    if candidates.size > k:
        values = scores[candidates]
        # the k-th best value; keep everything at least that good so ties survive
        threshold = np.partition(values, values.size - k)[values.size - k]
        candidates = candidates[values >= threshold]
    order = np.lexsort((candidates, -scores[candidates]))[:k]
    chosen = candidates[order]
    return chosen, scores[chosen]
