"""Structured documents (dicts, JSON objects, table rows) as one stable, readable text.

Rules, so the same record always reads the same way:

* a mapping becomes ``key: value`` lines, in ``rank_fields`` order when given, else in the
  mapping's own order;
* nested mappings are flattened with dotted keys (``author.name: Kim``); lists of scalars
  are joined with ``", "``; lists of mappings get an index (``items[0].sku: A1``);
* ``True``/``False`` read ``true``/``false``; ``None`` and empty values are left out (they
  carry no text to match); other scalars use ``str``;
* a mapping with a ``text`` field and no ``rank_fields`` is read as that text, as before.

Markdown tables inside a text can be kept intact (``tables="keep"``) or rewritten one line
per row as ``header: value; header: value`` (``tables="rows"``), which cross-encoders
read better than pipes and dashes.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from rerankit._exceptions import InvalidInputError

TABLE_MODES = ("keep", "rows")

_SEPARATOR = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")


def serialize_record(record: Mapping[str, Any], *, rank_fields: Sequence[str] | None = None,
                     where: str = "document") -> str:
    """``key: value`` lines of ``record`` (see the module docstring)."""
    if rank_fields is not None:
        present = [f for f in rank_fields if f in record]
        if not present:
            raise InvalidInputError(
                f"{where} has none of the rank_fields {list(rank_fields)} "
                f"(its keys: {', '.join(map(str, list(record)[:8]))})"
            )
        items: Iterator[tuple[str, Any]] = ((f, record[f]) for f in present)
    else:
        items = ((str(k), v) for k, v in record.items())
    lines = [f"{key}: {text}" for name, value in items for key, text in _flatten(name, value)]
    return "\n".join(lines)


def _flatten(key: str, value: Any) -> Iterator[tuple[str, str]]:
    if value is None:
        return
    if isinstance(value, Mapping):
        for sub_key, sub_value in value.items():
            yield from _flatten(f"{key}.{sub_key}", sub_value)
        return
    if isinstance(value, (list, tuple)):
        if all(not isinstance(v, (Mapping, list, tuple)) for v in value):
            parts = [_scalar(v) for v in value if v is not None]
            if any(parts):
                yield key, ", ".join(p for p in parts if p)
            return
        for i, item in enumerate(value):
            yield from _flatten(f"{key}[{i}]", item)
        return
    text = _scalar(value)
    if text:
        yield key, text


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInputError(f"a structured document holds a non-finite number {value}")
        return repr(value) if not value.is_integer() else str(int(value))
    if isinstance(value, (str, int)):
        return str(value).strip()
    return json.dumps(value, ensure_ascii=False, default=str)


def markdown_tables_as_rows(text: str) -> str:
    """Rewrite each Markdown table in ``text`` as one ``header: value; ...`` line per row;
    everything else is kept as is."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        if (i + 1 < len(lines) and _is_row(lines[i]) and _SEPARATOR.match(lines[i + 1])):
            headers = _cells(lines[i])
            i += 2
            while i < len(lines) and _is_row(lines[i]):
                cells = _cells(lines[i])
                names = (headers + [""] * len(cells))[: len(cells)]
                pairs = [f"{h}: {c}" if h else c
                         for h, c in zip(names, cells, strict=True) if c]
                out.append("; ".join(pairs))
                i += 1
            continue
        out.append(lines[i])
        i += 1
    return "\n".join(out)


def _is_row(line: str) -> bool:
    stripped = line.strip()
    return stripped.startswith("|") and stripped.count("|") >= 2


def _cells(line: str) -> list[str]:
    stripped = line.strip().strip("|")
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", stripped)]
