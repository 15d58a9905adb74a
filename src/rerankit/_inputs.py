"""Validation of queries and documents, and extraction of the text to score."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from rerankit._exceptions import InvalidInputError

logger = logging.getLogger("rerankit")


def clean_text(text: str) -> str:
    """Return ``text`` safe for a tokenizer: surrogate pairs joined, lone surrogates -> U+FFFD.

    Python strings can hold surrogate code points (from JSON ``\\ud800`` escapes or
    ``surrogateescape`` decoding) that no UTF-8 tokenizer accepts.
    """
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        fixed = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        logger.warning("replaced invalid surrogate code points in a text with U+FFFD")
        return fixed


def validate_query(query: Any) -> str:
    """Check a query and return its text ready for scoring."""
    if not isinstance(query, str):
        raise InvalidInputError(f"query must be a str, got {type(query).__name__}")
    if not query.strip():
        raise InvalidInputError("query is empty or only whitespace")
    return clean_text(query)


def document_text(document: Any, index: int) -> str:
    """Return the text of one caller document (a str or a mapping with a ``text`` str)."""
    if isinstance(document, str):
        return clean_text(document)
    if isinstance(document, Mapping):
        if "text" not in document:
            keys = ", ".join(map(repr, list(document)[:8]))
            raise InvalidInputError(
                f"documents[{index}] is a mapping without a 'text' field (keys: {keys})"
            )
        text = document["text"]
        if not isinstance(text, str):
            raise InvalidInputError(
                f"documents[{index}]['text'] must be a str, got {type(text).__name__}"
            )
        return clean_text(text)
    raise InvalidInputError(
        f"documents[{index}] must be a str or a mapping with a 'text' field, "
        f"got {type(document).__name__}"
    )


def validate_documents(documents: Any) -> list[str]:
    """Check a document list and return the text of each, in order. Nothing is dropped."""
    if isinstance(documents, (str, bytes, Mapping)) or not isinstance(documents, Sequence):
        raise InvalidInputError(
            f"documents must be a list of str or of mappings with 'text', "
            f"got {type(documents).__name__}"
        )
    return [document_text(doc, i) for i, doc in enumerate(documents)]


def validate_top_n(top_n: Any) -> int | None:
    """Check ``top_n``: None or a positive int."""
    if top_n is None:
        return None
    if isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1:
        raise InvalidInputError(f"top_n must be a positive int or None, got {top_n!r}")
    return top_n


def validate_min_score(min_score: Any) -> float | None:
    """Check ``min_score``: None or a number in [0, 1] (calibrated scores)."""
    if min_score is None:
        return None
    if isinstance(min_score, bool) or not isinstance(min_score, (int, float)):
        raise InvalidInputError(f"min_score must be a number in [0, 1], got {min_score!r}")
    if not 0.0 <= float(min_score) <= 1.0:
        raise InvalidInputError(
            f"min_score must be in [0, 1] (a calibrated score), got {min_score}"
        )
    return float(min_score)
