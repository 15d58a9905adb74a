"""Validation of queries and documents, and extraction of the text to score."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from rerankit._exceptions import InvalidInputError
from rerankit.text.structured import markdown_tables_as_rows, serialize_record

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


def document_text(document: Any, index: int, *, rank_fields: Sequence[str] | str | None = None,
                  tables: str = "keep") -> str:
    """Return the text of one caller document.

    A str is its own text. A mapping is read through its ``text`` field, or, with
    ``rank_fields`` (a list of keys, or ``"*"`` for all), serialised as ``key: value``
    lines (:mod:`rerankit.text.structured`). ``tables="rows"`` rewrites Markdown tables
    one line per row.
    """
    where = f"documents[{index}]"
    if isinstance(document, str):
        text = document
    elif isinstance(document, Mapping):
        if rank_fields is not None:
            fields = None if rank_fields == "*" else rank_fields
            text = serialize_record(document, rank_fields=fields, where=where)
        elif "text" not in document:
            keys = ", ".join(map(repr, list(document)[:8]))
            raise InvalidInputError(
                f"{where} is a mapping without a 'text' field (keys: {keys}); pass "
                "rank_fields=[...] (or '*') to read other fields as 'key: value' lines"
            )
        else:
            text = document["text"]
            if not isinstance(text, str):
                raise InvalidInputError(
                    f"{where}['text'] must be a str, got {type(text).__name__}"
                )
    else:
        raise InvalidInputError(
            f"{where} must be a str or a mapping with a 'text' field, "
            f"got {type(document).__name__}"
        )
    if tables == "rows":
        text = markdown_tables_as_rows(text)
    return clean_text(text)


def validate_documents(documents: Any, *, rank_fields: Sequence[str] | str | None = None,
                       tables: str = "keep") -> list[str]:
    """Check a document list and return the text of each, in order. Nothing is dropped."""
    if isinstance(documents, (str, bytes, Mapping)) or not isinstance(documents, Sequence):
        raise InvalidInputError(
            f"documents must be a list of str or of mappings with 'text', "
            f"got {type(documents).__name__}"
        )
    rank_fields = validate_rank_fields(rank_fields)
    if tables not in ("keep", "rows"):
        raise InvalidInputError(f"tables must be 'keep' or 'rows', got {tables!r}")
    return [document_text(doc, i, rank_fields=rank_fields, tables=tables)
            for i, doc in enumerate(documents)]


def validate_rank_fields(rank_fields: Any) -> Sequence[str] | str | None:
    """None, ``"*"`` or a non-empty list of field names."""
    if rank_fields is None or rank_fields == "*":
        return rank_fields
    if (isinstance(rank_fields, (str, bytes)) or not isinstance(rank_fields, Sequence)
            or not rank_fields or not all(isinstance(f, str) and f for f in rank_fields)):
        raise InvalidInputError(
            f"rank_fields must be a non-empty list of field names or '*', got {rank_fields!r}"
        )
    return list(rank_fields)


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
