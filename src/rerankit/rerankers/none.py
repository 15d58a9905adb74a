"""The no-rerank baseline: keeps the first-stage order, as a first-class reranker."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rerankit._types import EncodedPair


class NoRerankBackend:
    """raw score = -position; probability = 1 / (1 + position). No model, no tokens."""

    name = "none"
    scores_by_content = False
    max_length = 0
    model_name = "none"
    device = "cpu"

    def __init__(self, model: str = "none", **unused: Any) -> None:
        pass

    def encode(self, query: str, texts: Sequence[str]) -> list[EncodedPair]:
        return [EncodedPair((), context=position) for position in range(len(texts))]

    def forward(self, batch: Sequence[EncodedPair]) -> np.ndarray:
        return 0.0 - np.array([p.context for p in batch], dtype=np.float64)

    def probability(self, raw: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 - np.asarray(raw, dtype=np.float64))
