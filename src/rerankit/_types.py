"""Value types returned by rerankit. All frozen: nothing a caller passed is mutated."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Union

#: What a caller may pass as one document: plain text, or a mapping with a ``text`` field
#: (any other fields ride along and come back untouched).
Document = Union[str, Mapping[str, Any]]  # noqa: UP007 (runtime alias on 3.10)


@dataclass(frozen=True)
class RankedResult:
    """One document of a reranked list.

    Attributes:
        index: position of the document in the caller's list.
        score: calibrated relevance in [0, 1] (higher is more relevant).
        raw_score: the model's own score (a logit, a logit difference or a cosine).
        document: exactly the object the caller passed (same identity, never copied).
        text: the text that was scored (after invalid surrogates were replaced).
        truncated: True when the model saw only part of the text (query or document).
        rank: 0-based position in the sorted results.
        window: ``(start, end)`` character offsets in ``text`` of the passage behind the
            score: the best window of a long document, the part read when truncated, or
            the whole text; None when the score came from the score cache.
        windows: how many windows of the document were scored (0: from the cache).
        boost: what a keyword boost added to ``score`` for ranking (0 without one).
        tokens: model input tokens spent on this document (all its windows, query and
            template included; 0 when served from the cache or a duplicate of another).
    """

    index: int
    score: float
    raw_score: float
    document: Document
    text: str
    truncated: bool = False
    rank: int = 0
    window: tuple[int, int] | None = None
    windows: int = 1
    boost: float = 0.0
    tokens: int = 0


@dataclass(frozen=True)
class EncodedPair:
    """Model input for one (query, document) pair, produced by a backend.

    ``input_ids`` is the full sequence the model will read (special tokens and prompt
    included); ``token_type_ids`` is set only for models that use segment ids;
    ``context`` carries per-pair data a backend needs at scoring time (for example a
    query embedding or a first-stage position).
    """

    input_ids: tuple[int, ...]
    token_type_ids: tuple[int, ...] | None = None
    truncated: bool = False
    context: Any = None

    def __len__(self) -> int:
        return len(self.input_ids)
