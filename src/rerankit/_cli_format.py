"""Plain-text formatting shared by the CLI commands."""

from __future__ import annotations

import unicodedata


def display_width(text: str) -> int:
    """Terminal columns ``text`` takes: East Asian wide and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def preview(text: str, width: int) -> str:
    """``text`` on one line, cut to ``width`` columns with an ellipsis."""
    flat = " ".join(text.split())
    if display_width(flat) <= width:
        return flat
    out, used = [], 0
    for ch in flat:
        used += display_width(ch)
        if used > width - 1:
            break
        out.append(ch)
    return "".join(out) + "…"


def _pad(text: str, width: int) -> str:
    return text + " " * (width - display_width(text))


def table(rows: list[list[str]], headers: list[str]) -> str:
    """Left-aligned columns under a header and a rule (wide characters counted as two)."""
    widths = [max(display_width(h), *(display_width(r[i]) for r in rows)) if rows
              else display_width(h) for i, h in enumerate(headers)]
    lines = ["  ".join(_pad(h, w) for h, w in zip(headers, widths, strict=True)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(_pad(c, w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(line.rstrip() for line in lines)
