"""The backend protocol and the pipeline every backend shares.

A backend only knows its model: how to encode a (query, text) pair into token ids
(prompt, truncation) and how to score a padded batch of them. Batching, ordering,
de-duplication and calibration are shared and live outside the backend.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from rerankit._batching import plan_batches
from rerankit._exceptions import ScoringError
from rerankit._types import EncodedPair


@runtime_checkable
class Backend(Protocol):
    """What a model family must supply to the shared pipeline."""

    #: Name of the backend, e.g. ``"cross-encoder"``.
    name: str
    #: Longest sequence (in tokens) the backend feeds to its model.
    max_length: int

    def encode(self, query: str, texts: Sequence[str]) -> list[EncodedPair]:
        """Encode one query with each text; one EncodedPair per text, in order."""
        ...

    def forward(self, batch: Sequence[EncodedPair]) -> np.ndarray:
        """Raw scores (float64, one per pair) for a batch of encoded pairs."""
        ...

    def probability(self, raw: np.ndarray) -> np.ndarray:
        """Map raw scores to calibrated relevance probabilities in [0, 1]."""
        ...


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function in float64 (no saturation into ties)."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    positive = x >= 0
    out[positive] = 1.0 / (1.0 + np.exp(-x[positive]))
    exp_x = np.exp(x[~positive])
    out[~positive] = exp_x / (1.0 + exp_x)
    return out


def score_encoded(
    backend: Backend,
    pairs: Sequence[EncodedPair],
    *,
    token_budget: int,
    max_batch_size: int,
) -> np.ndarray:
    """Score encoded pairs in token-budget batches; results in the order of ``pairs``."""
    scores = np.empty(len(pairs), dtype=np.float64)
    batches = plan_batches(
        [len(p) for p in pairs], token_budget=token_budget, max_batch_size=max_batch_size
    )
    for batch in batches:
        raw = np.asarray(backend.forward([pairs[i] for i in batch]), dtype=np.float64)
        if raw.shape != (len(batch),):
            raise ScoringError(
                f"backend {backend.name!r} returned {raw.shape} scores for {len(batch)} pairs"
            )
        scores[batch] = raw
    bad = [i for i, s in enumerate(scores) if not math.isfinite(s)]
    if bad:
        raise ScoringError(
            f"backend {backend.name!r} produced non-finite scores for {len(bad)} pair(s) "
            f"(first positions: {bad[:5]}); with fp16 this is usually overflow: "
            "try dtype='bfloat16' or 'float32'"
        )
    return scores
