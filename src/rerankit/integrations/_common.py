"""What the framework adapters share: turning a model argument into a Reranker and checking
the thresholds once, at construction."""

from __future__ import annotations

from typing import Any

from rerankit._exceptions import InvalidInputError
from rerankit._inputs import validate_min_score, validate_top_n


def as_reranker(reranker: Any, model: str | None) -> Any:
    """A Reranker from ``reranker`` (used as is) or ``model`` (loaded), never both."""
    from rerankit.reranker import Reranker

    if reranker is not None and model is not None:
        raise InvalidInputError("pass either reranker= or model=, not both")
    if reranker is None:
        return Reranker(model or "default")
    if not callable(getattr(reranker, "rerank", None)):
        raise InvalidInputError(
            f"reranker must be a rerankit Reranker (or have its rerank method), got {reranker!r}"
        )
    return reranker


def check_thresholds(top_n: Any, min_score: Any) -> tuple[int | None, float | None]:
    """``top_n`` (positive int or None) and ``min_score`` (finite number or None)."""
    return validate_top_n(top_n), validate_min_score(min_score)
