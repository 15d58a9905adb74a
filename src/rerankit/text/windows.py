"""Token windows over long documents, and aggregation of their scores.

A document longer than the model's document budget (``max_length`` minus the query and
the template) is cut into windows of ``budget`` tokens whose starts are ``stride`` tokens
apart (overlapping when ``stride < budget``). Windows are character spans of the caller's
text, taken from the tokenizer's offsets, so a result can point at the passage that won.

``max_tokens_per_doc`` cuts a document before windowing (Cohere v2's limit) and
``max_chunks_per_doc`` keeps only the first N windows (Cohere v1's); either makes the
result ``truncated``. ``truncate`` mode is one window: the first ``budget`` tokens.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rerankit._exceptions import InvalidInputError

#: How window scores become a document score.
AGGREGATES = ("max", "first", "mean", "topk-mean")
_TOPK = re.compile(r"^top(\d+)-mean$")


@dataclass(frozen=True)
class WindowSettings:
    """How long documents are read (see the module docstring)."""

    mode: str = "windows"
    stride: int | None = None
    aggregate: str = "max"
    max_tokens_per_doc: int | None = 4096
    max_chunks_per_doc: int | None = None

    def __post_init__(self) -> None:
        if self.mode not in ("windows", "truncate"):
            raise InvalidInputError(
                f"long_documents must be 'windows' or 'truncate', got {self.mode!r}"
            )
        for name in ("stride", "max_tokens_per_doc", "max_chunks_per_doc"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 1):
                raise InvalidInputError(f"{name} must be a positive int or None, got {value!r}")
        aggregate_k(self.aggregate)

    def stride_for(self, budget: int) -> int:
        """Tokens between window starts: the setting, else 3/4 of the window."""
        return min(self.stride or max(1, budget * 3 // 4), budget)


def aggregate_k(name: str) -> int:
    """k of a ``topk-mean`` / ``top3-mean`` aggregate (2 for ``topk-mean``); 0 for others."""
    if name in ("max", "first", "mean"):
        return 0
    if name == "topk-mean":
        return 2
    match = _TOPK.match(name) if isinstance(name, str) else None
    if match and int(match.group(1)) >= 1:
        return int(match.group(1))
    raise InvalidInputError(
        f"aggregate must be one of max, first, mean, topk-mean or topN-mean, got {name!r}"
    )


@dataclass(frozen=True)
class Windows:
    """Character spans of a document's windows and whether they cover all of it."""

    spans: tuple[tuple[int, int], ...]
    complete: bool


def plan_windows(offsets: Sequence[tuple[int, int]], text_length: int, budget: int,
                 settings: WindowSettings, *, more: bool = False) -> Windows:
    """Windows of ``budget`` tokens over a text whose tokens have ``offsets`` (char spans);
    ``more`` says the text goes on past the last offset given."""
    total = len(offsets)
    if budget < 1:
        raise InvalidInputError("the model leaves no room for document text")
    usable = total if settings.max_tokens_per_doc is None else min(
        total, settings.max_tokens_per_doc)
    if settings.mode == "truncate":
        usable = min(usable, budget)
    whole = usable == total and not more

    def end_of(last_token: int) -> int:
        return text_length if whole and last_token == total - 1 else offsets[last_token][1]

    if usable <= budget:
        return Windows(((0, end_of(usable - 1) if usable else 0),), whole)
    stride = settings.stride_for(budget)
    starts = list(range(0, usable - budget + 1, stride))
    if starts[-1] + budget < usable:
        starts.append(usable - budget)  # the last window ends at the last usable token
    if settings.max_chunks_per_doc is not None:
        starts = starts[: settings.max_chunks_per_doc]
    spans = tuple((0 if start == 0 else offsets[start][0],
                   end_of(min(start + budget, usable) - 1)) for start in starts)
    return Windows(spans, whole and starts[-1] + budget >= usable)


def aggregate(scores: np.ndarray, how: str) -> tuple[float, int]:
    """(document score, index of the best window) from window scores."""
    if len(scores) == 1:
        return float(scores[0]), 0
    best = int(np.argmax(scores))
    if how == "max":
        return float(scores[best]), best
    if how == "first":
        return float(scores[0]), 0
    if how == "mean":
        return float(np.mean(scores)), best
    k = aggregate_k(how)
    top = np.sort(scores)[::-1][:k]
    return float(np.mean(top)), best
