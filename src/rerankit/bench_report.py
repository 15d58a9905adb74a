"""Render a ``rerankit bench`` report: Markdown, one self-contained HTML page, TREC run files.

The input is the JSON-serialisable report dict written by the bench runner. Nothing here
recomputes statistics: the numbers shown are the runner's, and the only arithmetic is for
display (total latency = first-stage p50 + rerank p50, per-query deltas for the gain/loss
charts, colour scales). The HTML page has inline CSS and hand-written inline SVG only: no
scripts, fonts, images or URLs, so it can be mailed or archived as one file.
"""

from __future__ import annotations

import html
import itertools
import json
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["system_slug", "to_html", "to_markdown", "write_reports", "write_trec_runs"]

Report = Mapping[str, Any]
System = Mapping[str, Any]

DASH = "—"
_TIE = 1e-12  # per-query deltas smaller than this count as ties


# ----------------------------------------------------------------------------- report access


def _systems(report: Report) -> list[System]:
    return [s for s in report.get("systems") or [] if isinstance(s, Mapping)]


def _is_ok(system: System) -> bool:
    return system.get("status", "ok") == "ok"


def _ok(report: Report) -> list[System]:
    return [s for s in _systems(report) if _is_ok(s)]


def _failed(report: Report) -> list[System]:
    return [s for s in _systems(report) if not _is_ok(s)]


def _name(system: System) -> str:
    return str(system.get("name") or f"{system.get('first_stage')} + {system.get('reranker')}")


def _number(value: Any) -> float | None:
    """``value`` as a finite float, else None (missing, None, bool, NaN, text)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _dig(mapping: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(mapping, Mapping):
            return None
        mapping = mapping.get(key)
    return mapping


def _metric(system: System, metric: str) -> float | None:
    return _number(_dig(system, "metrics", metric))


def _interval(value: Any) -> tuple[float, float] | None:
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
        lo, hi = _number(value[0]), _number(value[1])
        if lo is not None and hi is not None:
            return lo, hi
    return None


def _settings(report: Report) -> Mapping[str, Any]:
    return report.get("settings") or {}


def _recommendation(report: Report) -> Mapping[str, Any]:
    return report.get("recommendation") or {}


def _metric_names(report: Report) -> list[str]:
    names = [str(m) for m in _settings(report).get("metrics") or []]
    for system in _ok(report):
        for metric in system.get("metrics") or {}:
            if metric not in names:
                names.append(str(metric))
    return names


def _primary(report: Report) -> str:
    primary = _recommendation(report).get("primary_metric") or _settings(report).get(
        "primary_metric"
    )
    if primary:
        return str(primary)
    names = _metric_names(report)
    return names[0] if names else "score"


def _total_latency(system: System, stat: str = "p50") -> float | None:
    """First-stage + rerank ms per query at ``stat``: p50 is what the quality/latency plot
    uses, p95 what the runner checks the budget against."""
    first = _number(_dig(system, "first_stage_ms", stat))
    rerank = _number(_dig(system, "latency_ms", stat))
    if first is None and rerank is None:
        return None
    return (first or 0.0) + (rerank or 0.0)


def _is_baseline(system: System) -> bool:
    return system.get("reranker") == "none"


def _pareto(report: Report, primary: str) -> list[str]:
    """The runner's Pareto set; computed from the OK systems only if the runner gave none."""
    given = _recommendation(report).get("pareto")
    if isinstance(given, Sequence) and not isinstance(given, str):
        return [str(n) for n in given]
    points = [(lat, -q, _name(s)) for s in _ok(report)
              if (lat := _total_latency(s)) is not None and (q := _metric(s, primary)) is not None]
    frontier, best = [], -math.inf
    for _lat, neg_q, name in sorted(points):
        if -neg_q > best:
            frontier.append(name)
            best = -neg_q
    return frontier


def _slice_fields(report: Report) -> list[str]:
    fields = [str(f) for f in _settings(report).get("slices") or []]
    for system in _ok(report):
        for name in system.get("slices") or {}:
            if name not in fields:
                fields.append(str(name))
    return fields


def _slice_values(report: Report, slice_field: str) -> list[tuple[str, int | None]]:
    """Slice values in first-seen order with their query counts."""
    values: dict[str, int | None] = {}
    for system in _ok(report):
        for value, entry in (_dig(system, "slices", slice_field) or {}).items():
            count = _dig(entry, "count")
            if values.get(str(value)) is None:
                values[str(value)] = int(count) if _number(count) is not None else None
    return list(values.items())


def _slice_metric(system: System, slice_field: str, value: str, metric: str) -> float | None:
    return _number(_dig(system, "slices", slice_field, value, "metrics", metric))


def _baseline_for(system: System, ok: Sequence[System], primary: str) -> System | None:
    wanted = _dig(system, "vs_baseline", primary, "baseline")
    for other in ok:
        if wanted is not None and _name(other) == wanted:
            return other
    for other in ok:
        if (other is not system and _is_baseline(other)
                and other.get("first_stage") == system.get("first_stage")):
            return other
    return None


def _per_query_deltas(system: System, baseline: System, primary: str) -> dict[str, float]:
    mine = _dig(system, "per_query", primary) or {}
    base = _dig(baseline, "per_query", primary) or {}
    deltas = {}
    for qid, value in mine.items():
        a, b = _number(value), _number(base.get(qid))
        if a is not None and b is not None:
            deltas[str(qid)] = a - b
    return deltas


# ----------------------------------------------------------------------------- formatting


def _fmt(value: Any, digits: int = 3) -> str:
    number = _number(value)
    return DASH if number is None else f"{number:.{digits}f}"


def _signed(value: Any, digits: int = 3) -> str:
    number = _number(value)
    if number is None:
        return DASH
    if round(number, digits) == 0:
        return f"{0:.{digits}f}"
    return f"{number:+.{digits}f}"


def _ci(value: Any, signed: bool = False) -> str:
    interval = _interval(value)
    if interval is None:
        return ""
    fmt = _signed if signed else _fmt
    return f"[{fmt(interval[0])}, {fmt(interval[1])}]"


def _with_ci(value: Any, ci: Any, signed: bool = False) -> str:
    text = (_signed if signed else _fmt)(value)
    interval = _ci(ci, signed)
    return f"{text} {interval}" if interval and text != DASH else text


def _pvalue(value: Any) -> str:
    number = _number(value)
    if number is None:
        return DASH
    return "<0.001" if number < 0.001 else f"{number:.3f}"


def _ms(value: Any) -> str:
    number = _number(value)
    if number is None:
        return DASH
    return f"{number:,.0f}" if number >= 1000 else f"{number:.1f}"


def _rate(value: Any) -> str:
    number = _number(value)
    return DASH if number is None else f"{number:,.0f}"


def _cost(value: Any) -> str:
    number = _number(value)
    if number is None:
        return DASH
    return f"${number:,.2f}" if number >= 0.1 or number == 0 else f"${number:.2g}"


def _count(value: int | None) -> str:
    return DASH if value is None else str(value)


# ----------------------------------------------------------------------------- table model


@dataclass
class _Cell:
    text: str
    style: str | None = None  # "best", "better", "worse", "failed", "muted"


@dataclass
class _Table:
    headers: list[str]
    numeric: list[bool]
    rows: list[list[_Cell]] = field(default_factory=list)
    row_classes: list[str] = field(default_factory=list)
    css_class: str = ""


_VERDICT_STYLE = {"better": "better", "worse": "worse", "baseline": "muted"}


def _results_table(report: Report) -> _Table:
    primary, metrics = _primary(report), _metric_names(report)
    if primary not in metrics:
        metrics.insert(0, primary)
    systems, ok = _systems(report), _ok(report)
    with_cost = any(_number(s.get("cost_per_1000")) is not None for s in ok)
    best = max((q for s in ok if (q := _metric(s, primary)) is not None), default=None)
    headers = ["system", "first stage", "reranker"]
    headers += [f"{m} [95% CI]" if m == primary else m for m in metrics]
    headers += [f"Δ {primary} [95% CI]", "p (adj.)", "verdict", "first stage p50 ms",
                "rerank p50 ms", "rerank p95 ms", "total p95 ms", "pairs/s", "load s", "peak MB"]
    if with_cost:
        headers.append("$ / 1000 searches")
    numeric = [False] * 3 + [True] * (len(metrics) + 2) + [False] + [True] * 7 + [True] * with_cost
    table = _Table(headers, numeric, css_class="results")
    rec = _recommendation(report)
    for system in systems:
        cells = [_Cell(_name(system)), _Cell(str(system.get("first_stage") or DASH)),
                 _Cell(str(system.get("reranker") or DASH))]
        if not _is_ok(system):
            cells.append(_Cell("failed", "failed"))
            cells += [_Cell(DASH) for _ in headers[len(cells):]]
            table.rows.append(cells)
            table.row_classes.append("failed")
            continue
        for metric in metrics:
            value = _metric(system, metric)
            if metric == primary:
                text = _with_ci(value, _dig(system, "ci", metric))
                style = "best" if value is not None and best is not None and value == best else None
                cells.append(_Cell(text, style))
            else:
                cells.append(_Cell(_fmt(value)))
        versus = _dig(system, "vs_baseline", primary) or {}
        label = str(versus.get("label") or ("baseline" if _is_baseline(system) else DASH))
        if label == "baseline":
            cells += [_Cell(DASH), _Cell(DASH)]
        else:
            style = _VERDICT_STYLE.get(label)
            cells += [_Cell(_with_ci(versus.get("delta"), versus.get("ci"), signed=True), style),
                      _Cell(_pvalue(versus.get("p_adjusted")))]
        cells.append(_Cell(label, _VERDICT_STYLE.get(label)))
        cells += [_Cell(_ms(_dig(system, "first_stage_ms", "p50"))),
                  _Cell(_ms(_dig(system, "latency_ms", "p50"))),
                  _Cell(_ms(_dig(system, "latency_ms", "p95"))),
                  _Cell(_ms(_total_latency(system, "p95"))),
                  _Cell(_rate(system.get("pairs_per_s"))),
                  _Cell(_fmt(system.get("load_s"), 1)),
                  _Cell(_fmt(system.get("peak_memory_mb"), 0))]
        if with_cost:
            cells.append(_Cell(_cost(system.get("cost_per_1000"))))
        table.rows.append(cells)
        picks = [k for k in ("accuracy_first", "within_budget") if rec.get(k) == _name(system)]
        table.row_classes.append(" ".join(f"pick-{k.replace('_', '-')}" for k in picks))
    return table


def _deltas_table(report: Report) -> _Table | None:
    metrics = _metric_names(report)
    rows = [s for s in _ok(report) if s.get("vs_baseline") and not _is_baseline(s)]
    if not rows or not metrics:
        return None
    table = _Table(["system", "baseline"] + [f"Δ {m} (p adj.)" for m in metrics],
                   [False, False] + [True] * len(metrics), css_class="deltas")
    for system in rows:
        baseline = next((v.get("baseline") for v in system["vs_baseline"].values()
                         if isinstance(v, Mapping) and v.get("baseline")), DASH)
        cells = [_Cell(_name(system)), _Cell(str(baseline))]
        for metric in metrics:
            versus = _dig(system, "vs_baseline", metric)
            if not isinstance(versus, Mapping):
                cells.append(_Cell(DASH))
                continue
            text = f"{_signed(versus.get('delta'))} ({_pvalue(versus.get('p_adjusted'))})"
            cells.append(_Cell(text, _VERDICT_STYLE.get(str(versus.get("label")))))
        table.rows.append(cells)
        table.row_classes.append("")
    return table


def _slice_table(report: Report, slice_field: str) -> _Table:
    primary, ok = _primary(report), _ok(report)
    table = _Table([slice_field, "queries"] + [_name(s) for s in ok],
                   [False, True] + [True] * len(ok), css_class="slice")
    for value, count in _slice_values(report, slice_field):
        scores = [_slice_metric(s, slice_field, value, primary) for s in ok]
        best = max((v for v in scores if v is not None), default=None)
        cells = [_Cell(value), _Cell(_count(count))]
        cells += [_Cell(_fmt(v), "best" if v is not None and v == best and len(ok) > 1 else None)
                  for v in scores]
        table.rows.append(cells)
        table.row_classes.append("")
    return table


# ----------------------------------------------------------------------------- Markdown

_MD_SPECIAL = re.compile(r"([\\`*|]|<(?=[A-Za-z/!?]))")


def _md(text: Any) -> str:
    """Plain text for a Markdown line or table cell: one line, punctuation escaped."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def _md_cell(cell: _Cell) -> str:
    text = _md(cell.text) if cell.text else " "
    if cell.style in ("best", "better", "failed"):
        return f"**{text}**"
    if cell.style == "worse":
        return f"*{text}*"
    return text


def _md_table(table: _Table) -> str:
    lines = ["| " + " | ".join(_md(h) for h in table.headers) + " |",
             "|" + "|".join("---:" if n else "---" for n in table.numeric) + "|"]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in table.rows]
    return "\n".join(lines)


def _dataset_line(report: Report) -> str:
    dataset = report.get("dataset") or {}
    parts = []
    for key, unit in (("queries", "queries"), ("documents", "documents")):
        if dataset.get(key) is not None:
            parts.append(f"{dataset[key]} {unit}")
    return ", ".join(parts)


def _settings_parts(report: Report) -> list[str]:
    settings, parts = _settings(report), []
    if settings.get("depth") is not None:
        parts.append(f"depth {settings['depth']}")
    if settings.get("top_k") is not None:
        parts.append(f"top_k {settings['top_k']}")
    parts.append(f"primary metric {_primary(report)}")
    if settings.get("alpha") is not None:
        parts.append(f"α = {settings['alpha']}")
    budget = _number(settings.get("latency_budget_ms"))
    if budget is not None:
        parts.append(f"latency budget {budget:g} ms")
    return parts


def _budget(report: Report) -> float | None:
    rec = _recommendation(report)
    budget = _number(rec.get("budget_ms"))
    return budget if budget is not None else _number(_settings(report).get("latency_budget_ms"))


def _recommendation_items(report: Report) -> list[tuple[str, str]]:
    """(label, value) pairs shared by both renderers; values are plain text."""
    rec = _recommendation(report)
    budget = _budget(report)
    items = [("Most accurate", rec.get("accuracy_first") or "no pick (see notes)")]
    budget_label = f"Best within the {budget:g} ms budget" if budget else "Best within budget"
    items.append((budget_label, rec.get("within_budget") or "no system meets the budget"))
    pareto = _pareto(report, _primary(report))
    items.append(("Quality/latency frontier", " → ".join(pareto) if pareto else DASH))
    return [(label, str(value)) for label, value in items]


def _n_failed(failed: Sequence[System]) -> str:
    return f"{len(failed)} system{'s' if len(failed) != 1 else ''} failed"


def _fence(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def to_markdown(report: Report) -> str:
    """The report as GitHub-flavoured Markdown: recommendation, results, deltas, slices."""
    dataset = report.get("dataset") or {}
    primary = _primary(report)
    out = [f"# rerankit bench: {_md(dataset.get('name') or 'dataset')}", ""]
    line = " · ".join(p for p in [_dataset_line(report), *_settings_parts(report)] if p)
    out += [_md(line), ""]
    stamp = [f"rerankit {report['rerankit_version']}"] if report.get("rerankit_version") else []
    if report.get("created"):
        stamp.append(f"created {report['created']}")
    if stamp:
        out += [_md(" · ".join(stamp)), ""]

    out += ["## Recommendation", ""]
    out += [f"- **{label}:** {_md(value)}" for label, value in _recommendation_items(report)]
    failed = _failed(report)
    if failed:
        out.append(f"- **{_n_failed(failed)}**, see below.")
    notes = _recommendation(report).get("notes") or []
    if notes:
        out += ["", "Notes:", ""] + [f"- {_md(note)}" for note in notes]
    out.append("")

    out += ["## Results", "", _md_table(_results_table(report)), ""]
    out += [_md(f"Metrics are means over queries; brackets are 95% bootstrap intervals. Δ is "
                f"{primary} minus the same first stage without a reranker (paired), with the "
                "adjusted p-value; bold = best / better, italic = worse. Latencies are per "
                "query; rerank time excludes the first stage."), ""]

    deltas = _deltas_table(report)
    if deltas is not None:
        out += ["## Δ vs baseline, all metrics", "", _md_table(deltas), ""]

    if failed:
        out += ["## Failed systems", ""]
        for system in failed:
            error = str(system.get("error") or "no error message")
            fence = _fence(error)
            out += [f"- **{_md(_name(system))}** (first stage {_md(system.get('first_stage'))}, "
                    f"reranker {_md(system.get('reranker'))})", "",
                    f"  {fence}text"]
            out += [f"  {err_line}".rstrip() for err_line in error.splitlines() or [""]]
            out += [f"  {fence}", ""]

    fields = [f for f in _slice_fields(report) if _slice_values(report, f)]
    if fields:
        out += [f"## {_md(primary)} by slice", ""]
        for slice_field in fields:
            out += [f"### {_md(slice_field)}", "", _md_table(_slice_table(report, slice_field)),
                    ""]
    return "\n".join(out).rstrip() + "\n"


# ----------------------------------------------------------------------------- HTML helpers


def _esc(text: Any) -> str:
    """HTML-escaped text (attributes too). ``://`` and ``=`` become character references so
    that user text can never read as a URL or an attribute in the page source."""
    return html.escape(str(text), quote=True).replace(":", "&#58;").replace("=", "&#61;")


def _text_width(text: str, size: float = 11.0) -> float:
    """Rough rendered width in px (wide East Asian characters count as one em)."""
    return sum(1.0 if unicodedata.east_asian_width(ch) in "WF" else 0.6 for ch in text) * size


def _ellipsize(text: str, max_px: float, size: float = 11.0) -> str:
    text = " ".join(text.split())
    if _text_width(text, size) <= max_px:
        return text
    out = ""
    for ch in text:
        if _text_width(out + ch + "…", size) > max_px:
            break
        out += ch
    return out + "…"


def _r(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".") if value == value else "0"


def _html_table(table: _Table) -> str:
    head = "".join(f'<th class="{"num" if n else "text"}" scope="col">{_esc(h)}</th>'
                   for h, n in zip(table.headers, table.numeric, strict=True))
    body = []
    for row, row_class in zip(table.rows, table.row_classes, strict=True):
        cells = []
        for index, (cell, numeric) in enumerate(zip(row, table.numeric, strict=True)):
            classes = " ".join(c for c in ("num" if numeric else "text", cell.style) if c)
            tag = "th" if index == 0 else "td"
            scope = ' scope="row"' if index == 0 else ""
            cells.append(f'<{tag} class="{classes}"{scope}>{_esc(cell.text)}</{tag}>')
        attr = f' class="{row_class}"' if row_class else ""
        body.append(f"<tr{attr}>{''.join(cells)}</tr>")
    return (f'<div class="table-wrap"><table class="{table.css_class}">'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>")


def _nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    span = hi - lo
    if span <= 0:
        return [lo]
    raw = span / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if span / (m * magnitude) <= count)
    first = math.ceil(lo / step - 1e-9) * step
    ticks, value = [], first
    while value <= hi + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks


def _tick_label(value: float, ticks: Sequence[float]) -> str:
    step = min((b - a for a, b in itertools.pairwise(ticks)), default=1.0) or 1.0
    digits = 0
    while digits < 6 and abs(step * 10**digits - round(step * 10**digits)) > 1e-9:
        digits += 1
    return f"{value:.{digits}f}"


def _ms_tick(value: float) -> str:
    return f"{value:,.0f}" if value >= 1 else f"{value:g}"


# ----------------------------------------------------------------------------- plot 1: scatter


def _scatter_svg(report: Report) -> str:
    primary = _primary(report)
    pareto = _pareto(report, primary)
    points = []
    for system in _ok(report):
        quality, latency = _metric(system, primary), _total_latency(system)
        if quality is not None and latency is not None:
            points.append((system, max(latency, 0.0), quality, _interval(_dig(system, "ci",
                                                                               primary))))
    if not points:
        return f'<p class="empty">No system has both {_esc(primary)} and latency numbers.</p>'

    width, height = 760, 440
    left, right, top, bottom = 64, 24, 24, 52
    plot_w, plot_h = width - left - right, height - top - bottom
    latencies = [p[1] for p in points]
    budget = _budget(report)
    show_budget = budget is not None and budget > 0 and budget <= 3 * max(latencies + [1e-9])
    span = latencies + ([budget] if show_budget and budget else [])
    positive = [v for v in span if v > 0]
    log_x = bool(positive) and max(positive) / min(positive) > 10
    notes = []
    if log_x:
        floor = min(positive) / 3
        if any(v <= 0 for v in latencies):
            notes.append(f"systems at 0 ms are drawn at {_ms_tick(floor)} ms (log scale)")
        low = floor if any(v <= 0 for v in latencies) else min(positive)
        x_lo, x_hi = low / 1.4, max(positive) * 1.4

        def x_of(v: float) -> float:
            v = max(v, floor)
            return left + (math.log10(v) - math.log10(x_lo)) / (
                math.log10(x_hi) - math.log10(x_lo)) * plot_w

        decades = range(math.floor(math.log10(x_lo)), math.ceil(math.log10(x_hi)) + 1)
        mantissas = (1, 2, 5) if len(decades) <= 5 else (1,)
        x_ticks = [m * 10.0**d for d in decades for m in mantissas if x_lo <= m * 10.0**d <= x_hi]
        x_labels = [_ms_tick(t) for t in x_ticks]
    else:
        x_lo, x_hi = 0.0, (max(span) * 1.08 if max(span) > 0 else 1.0)

        def x_of(v: float) -> float:
            return left + (v - x_lo) / (x_hi - x_lo) * plot_w

        x_ticks = _nice_ticks(x_lo, x_hi)
        x_labels = [_tick_label(t, x_ticks) for t in x_ticks]

    ys = [p[2] for p in points] + [b for p in points if p[3] for b in p[3]]
    y_lo, y_hi = min(ys), max(ys)
    pad = (y_hi - y_lo) * 0.08 or 0.02
    y_lo, y_hi = (max(0.0, y_lo - pad) if y_lo >= 0 else y_lo - pad), y_hi + pad

    def y_of(v: float) -> float:
        return top + (y_hi - v) / (y_hi - y_lo) * plot_h

    y_ticks = _nice_ticks(y_lo, y_hi)
    parts = [f'<svg class="plot plot-scatter" id="plot-quality-latency" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{_esc(primary)} versus latency per system">']
    for tick in y_ticks:
        y = y_of(tick)
        parts.append(f'<line class="grid" x1="{left}" x2="{left + plot_w}" y1="{_r(y)}" '
                     f'y2="{_r(y)}"></line><text class="tick" x="{left - 6}" y="{_r(y + 4)}" '
                     f'text-anchor="end">{_tick_label(tick, y_ticks)}</text>')
    for tick, label in zip(x_ticks, x_labels, strict=True):
        x = x_of(tick)
        parts.append(f'<line class="grid" x1="{_r(x)}" x2="{_r(x)}" y1="{top}" '
                     f'y2="{top + plot_h}"></line><text class="tick" x="{_r(x)}" '
                     f'y="{top + plot_h + 16}" text-anchor="middle">{_esc(label)}</text>')
    parts.append(f'<line class="axis" x1="{left}" x2="{left + plot_w}" y1="{top + plot_h}" '
                 f'y2="{top + plot_h}"></line><line class="axis" x1="{left}" x2="{left}" '
                 f'y1="{top}" y2="{top + plot_h}"></line>')
    x_title = "first-stage p50 + rerank p50, ms per query" + (" (log scale)" if log_x else "")
    parts.append(f'<text class="axis-title" x="{left + plot_w / 2}" y="{height - 10}" '
                 f'text-anchor="middle">{_esc(x_title)}</text>')
    parts.append(f'<text class="axis-title" transform="translate(14 {top + plot_h / 2}) '
                 f'rotate(-90)" text-anchor="middle">{_esc(primary)}</text>')
    if show_budget and budget:
        x = x_of(budget)
        parts.append(f'<line class="budget" x1="{_r(x)}" x2="{_r(x)}" y1="{top}" '
                     f'y2="{top + plot_h}"></line><text class="budget-label" x="{_r(x - 4)}" '
                     f'y="{top + 12}" text-anchor="end">'
                     f'budget {_esc(f"{budget:g}")} ms (p95)</text>')
    elif budget:
        notes.append(f"the {budget:g} ms budget lies far right of every point")

    by_name = {_name(p[0]): p for p in points}
    frontier = sorted((by_name[n] for n in dict.fromkeys(pareto) if n in by_name),
                      key=lambda p: (p[1], p[2]))
    if frontier:
        coords = [(x_of(frontier[0][1]), y_of(frontier[0][2]))]
        for point in frontier[1:]:
            coords += [(x_of(point[1]), coords[-1][1]), (x_of(point[1]), y_of(point[2]))]
        coords.append((left + plot_w, coords[-1][1]))
        names = _esc("\n".join(_name(p[0]) for p in frontier))
        parts.append(f'<polyline class="frontier" data-systems="{names}" points="'
                     + " ".join(f"{_r(x)},{_r(y)}" for x, y in coords) + '"></polyline>')

    placed: list[tuple[float, float, float, float]] = []
    labels = []
    for system, latency, quality, ci in sorted(points, key=lambda p: -p[2]):
        name = _name(system)
        x, y = x_of(latency), y_of(quality)
        if ci:
            parts.append(f'<line class="ci" x1="{_r(x)}" x2="{_r(x)}" y1="{_r(y_of(ci[0]))}" '
                         f'y2="{_r(y_of(ci[1]))}"></line>')
        classes = ["point"]
        if any(p[0] is system for p in frontier):
            classes.append("pareto")
        if _is_baseline(system):
            classes.append("baseline")
        p95 = _total_latency(system, "p95")
        if budget is not None and p95 is not None and p95 > budget:
            classes.append("over-budget")
            notes.append(f"{name} is over the budget at p95 ({_ms(p95)} ms)")
        tip = (f"{name}\n{primary} {_with_ci(quality, ci)}\n{_ms(latency)} ms = first stage "
               f"{_ms(_dig(system, 'first_stage_ms', 'p50'))} + rerank "
               f"{_ms(_dig(system, 'latency_ms', 'p50'))}")
        parts.append(f'<circle class="{" ".join(classes)}" data-system="{_esc(name)}" '
                     f'cx="{_r(x)}" cy="{_r(y)}" r="5"><title>{_esc(tip)}</title></circle>')
        text = _ellipsize(name, 240)
        w = _text_width(text)
        anchor_end = x + 8 + w > width - 4
        x0 = x - 8 - w if anchor_end else x + 8
        for dy in (0, -14, 14, -28, 28, -42, 42, 0):
            ty = y - 7 + dy
            box = (x0, ty - 10, x0 + w, ty + 2)
            if top <= box[1] and box[3] <= top + plot_h + 4 and not any(
                    box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3]
                    for b in placed):
                break
        placed.append(box)
        labels.append(f'<text class="label" x="{_r(x - 8 if anchor_end else x + 8)}" '
                      f'y="{_r(ty)}" text-anchor="{"end" if anchor_end else "start"}">'
                      f"{_esc(text)}</text>")
    parts += labels
    parts.append("</svg>")
    caption = ("Each point is one system (hollow = no reranker); vertical bars are 95% intervals; "
               "the step line is the quality/latency frontier.")
    if budget is not None:
        caption += (" The budget is checked on first-stage p95 + rerank p95; systems over it "
                    "are outlined in red.")
    if notes:
        caption += " Note: " + "; ".join(notes) + "."
    return "".join(parts) + f'<p class="caption">{_esc(caption)}</p>'


# ----------------------------------------------------------------------------- plot 2: heatmap

_BLUES = ((247, 251, 255), (107, 174, 214), (8, 48, 107))


def _blue(t: float) -> str:
    t = min(1.0, max(0.0, t))
    low, high, u = (_BLUES[0], _BLUES[1], t * 2) if t <= 0.5 else (_BLUES[1], _BLUES[2], t * 2 - 1)
    return "#" + "".join(f"{round(a + (b - a) * u):02x}" for a, b in zip(low, high, strict=True))


def _heatmap_svg(report: Report, slice_field: str) -> str:
    primary, ok = _primary(report), _ok(report)
    values = _slice_values(report, slice_field)
    if not ok or not values:
        return ""
    scores = {(_name(s), v): _slice_metric(s, slice_field, v, primary) for s in ok for v, _ in
              values}
    present = [v for v in scores.values() if v is not None]
    lo, hi = (min(present), max(present)) if present else (0.0, 0.0)
    names = [_ellipsize(_name(s), 260) for s in ok]
    label_w = min(280.0, max(_text_width(n) for n in names) + 14)
    headers = [_ellipsize(v, 150) for v, _ in values]
    cell_w = max(60.0, min(164.0, max(_text_width(h) for h in headers) + 14))
    cell_h, head_h = 26, 40
    width = label_w + cell_w * len(values) + 4
    height = head_h + cell_h * len(ok) + 4
    parts = [f'<svg class="plot plot-heatmap" data-slice="{_esc(slice_field)}" '
             f'width="{_r(width)}" height="{height}" viewBox="0 0 {_r(width)} {height}" '
             f'role="img" aria-label="{_esc(primary)} by {_esc(slice_field)}">']
    for j, ((value, count), header) in enumerate(zip(values, headers, strict=True)):
        x = label_w + cell_w * j + cell_w / 2
        parts.append(f'<text class="col-label" x="{_r(x)}" y="16" text-anchor="middle">'
                     f"<title>{_esc(value)}</title>{_esc(header)}</text>"
                     f'<text class="tick" x="{_r(x)}" y="32" text-anchor="middle">'
                     f"n={_esc(_count(count))}</text>")
    for i, (system, label) in enumerate(zip(ok, names, strict=True)):
        y = head_h + cell_h * i
        parts.append(f'<text class="row-label" x="{_r(label_w - 8)}" y="{_r(y + cell_h / 2 + 4)}" '
                     f'text-anchor="end"><title>{_esc(_name(system))}</title>{_esc(label)}</text>')
        for j, (value, _) in enumerate(values):
            x = label_w + cell_w * j
            score = scores[(_name(system), value)]
            if score is None:
                fill, ink, text, extra = "#eeeeee", "dim", DASH, " missing"
            else:
                t = (score - lo) / (hi - lo) if hi > lo else 0.5
                fill, ink, text, extra = _blue(t), ("light" if t > 0.6 else "dark"), _fmt(
                    score), ""
            tip = f"{_name(system)} · {slice_field} = {value}: {primary} {text}"
            parts.append(f'<g class="cell{extra}"><title>{_esc(tip)}</title>'
                         f'<rect x="{_r(x + 1)}" y="{y + 1}" width="{_r(cell_w - 2)}" '
                         f'height="{cell_h - 2}" fill="{fill}"></rect>'
                         f'<text x="{_r(x + cell_w / 2)}" y="{_r(y + cell_h / 2 + 4)}" '
                         f'text-anchor="middle" class="{ink}">{_esc(text)}</text></g>')
    parts.append("</svg>")
    scale = f"darker = higher {primary}; colour spans {_fmt(lo)} to {_fmt(hi)} in this chart"
    return "".join(parts) + f'<p class="caption">{_esc(scale)}.</p>'


# ----------------------------------------------------------------------------- plot 3: gain/loss


def _gainloss_html(report: Report) -> str:
    primary, ok = _primary(report), _ok(report)
    charts = []
    for system in ok:
        if _is_baseline(system) or _dig(system, "vs_baseline", primary, "label") == "baseline":
            continue
        baseline = _baseline_for(system, ok, primary)
        deltas = _per_query_deltas(system, baseline, primary) if baseline is not None else {}
        charts.append((system, baseline, deltas))
    if not charts:
        return '<p class="empty">No reranked system to compare with a baseline.</p>'
    bound = max((abs(d) for _, _, ds in charts for d in ds.values()), default=0.0) or 1.0
    width, height, left, top, plot_h = 380, 150, 44, 8, 118
    plot_w, mid = width - left - 6, top + plot_h / 2
    figures = []
    for system, baseline, deltas in charts:
        name = _name(system)
        head = f'<figcaption><span class="sys">{_esc(name)}</span>'
        if baseline is None or not deltas:
            why = "no baseline" if baseline is None else "no per-query values"
            figures.append(f'<figure class="gainloss">{head}</figcaption>'
                           f'<p class="empty">{_esc(why)} to compare with.</p></figure>')
            continue
        ordered = sorted(deltas.items(), key=lambda kv: (-kv[1], kv[0]))
        wins = sum(d > _TIE for _, d in ordered)
        losses = sum(d < -_TIE for _, d in ordered)
        mean = sum(deltas.values()) / len(deltas)
        head += (f'<span class="stats">vs {_esc(_name(baseline))}: mean Δ {_esc(_signed(mean))}'
                 f" · {wins} up / {losses} down / {len(deltas) - wins - losses} tied</span>")
        parts = [f'<svg class="plot plot-gainloss" data-system="{_esc(name)}" width="{width}" '
                 f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
                 f'aria-label="per-query change in {_esc(primary)} for {_esc(name)}">']
        for value, y in ((bound, top), (0.0, mid), (-bound, top + plot_h)):
            parts.append(f'<text class="tick" x="{left - 5}" y="{_r(y + 4)}" text-anchor="end">'
                         f"{_esc(_signed(value, 2))}</text>")
        bar_w = plot_w / len(ordered)
        gap = 1.0 if bar_w > 4 else 0.0
        many = len(ordered) > 1000
        paths: dict[str, list[str]] = {"gain": [], "loss": []}
        for index, (qid, delta) in enumerate(ordered):
            if abs(delta) <= _TIE:
                continue
            kind = "gain" if delta > 0 else "loss"
            h = abs(delta) / bound * plot_h / 2
            x, y = left + index * bar_w, (mid - h if delta > 0 else mid)
            if many:
                paths[kind].append(f"M{_r(x)} {_r(y)}h{bar_w:.3f}v{_r(h)}h{-bar_w:.3f}z")
            else:
                parts.append(f'<rect class="bar {kind}" x="{x:.2f}" y="{_r(y)}" '
                             f'width="{max(bar_w - gap, 0.5):.2f}" height="{_r(max(h, 0.5))}">'
                             f"<title>{_esc(qid)}: {_esc(_signed(delta))}</title></rect>")
        for kind, segments in paths.items():
            if segments:
                parts.append(f'<path class="bar {kind}" d="{"".join(segments)}"></path>')
        parts.append(f'<line class="axis" x1="{left}" x2="{left + plot_w}" y1="{_r(mid)}" '
                     f'y2="{_r(mid)}"></line></svg>')
        worst = [(q, d) for q, d in reversed(ordered) if d < -_TIE][:5]
        foot = ""
        if worst:
            foot = ('<p class="caption">largest losses: '
                    + ", ".join(f"{_esc(q)} ({_esc(_signed(d))})" for q, d in worst) + "</p>")
        figures.append(f'<figure class="gainloss">{head}</figcaption>{"".join(parts)}{foot}'
                       "</figure>")
    return '<div class="small-multiples">' + "".join(figures) + "</div>"


# ----------------------------------------------------------------------------- HTML page

_CSS = """
:root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--head:#f6f8fa;--better:#1a7f37;
--worse:#cf222e;--accent:#0969da;color-scheme:light}
*{box-sizing:border-box}
body{margin:0;color:var(--fg);background:#fff;font:14px/1.5 system-ui,-apple-system,"Segoe UI",
Roboto,"Noto Sans KR","Apple SD Gothic Neo","Malgun Gothic",sans-serif}
main{max-width:1200px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:32px 0 8px;
border-bottom:1px solid var(--line);padding-bottom:4px}h3{font-size:15px;margin:20px 0 6px}
.meta,.caption,.stats{color:var(--muted)}.caption{font-size:12px;margin:4px 0 12px}
.recommendation{border:1px solid var(--line);border-radius:6px;padding:12px 16px;
background:var(--head)}.recommendation dl{display:grid;grid-template-columns:max-content 1fr;
gap:4px 16px;margin:0}.recommendation dt{font-weight:600}.recommendation dd{margin:0}
.warn{color:var(--worse);font-weight:600}
.table-wrap{overflow-x:auto;margin:8px 0}
table{border-collapse:collapse;font-size:13px}
th,td{padding:4px 10px;border-bottom:1px solid var(--line);vertical-align:top}
thead th{background:var(--head);border-bottom:2px solid var(--line);white-space:nowrap}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}.text{text-align:left}
tbody th{font-weight:600}
.best{font-weight:700}.better{color:var(--better);font-weight:700}
.worse{color:var(--worse);font-style:italic}.muted{color:var(--muted)}
.failed{color:var(--worse);font-weight:700}tr.failed{background:#fff5f5}
tr.pick-accuracy-first,tr.pick-within-budget{background:#f0f7ff}
pre{background:var(--head);padding:8px;overflow-x:auto;white-space:pre-wrap;font-size:12px}
.plot-wrap{overflow-x:auto}
svg.plot{display:block;font-size:11px}svg text{fill:var(--fg)}
svg .tick{fill:var(--muted);font-size:10px}svg .axis-title{font-size:12px}
svg .grid{stroke:#eaeef2}svg .axis{stroke:#8c959f}
svg .point{fill:#8c959f;stroke:#57606a;stroke-width:1.5}
svg .point.pareto{fill:var(--accent);stroke:#0550ae}svg .point.baseline{fill:#fff}
svg .point.over-budget{stroke:var(--worse);stroke-width:2.5}
svg .ci{stroke:#8c959f;stroke-width:1.5}
svg .frontier{fill:none;stroke:var(--accent);stroke-width:2;stroke-dasharray:6 3}
svg .budget{stroke:var(--worse);stroke-dasharray:3 3}svg .budget-label{fill:var(--worse)}
svg .label{font-size:11px;paint-order:stroke;stroke:#fff;stroke-width:3px;
stroke-linejoin:round}svg .gain{fill:#2da44e}svg .loss{fill:#cf222e}
svg .cell text{font-size:11px;font-variant-numeric:tabular-nums}
svg .cell text.light{fill:#fff}svg .cell text.dim{fill:var(--muted)}
.small-multiples{display:flex;flex-wrap:wrap;gap:16px}
figure.gainloss{margin:0;border:1px solid var(--line);border-radius:6px;padding:8px}
figure.gainloss figcaption{font-size:12px}figure.gainloss .sys{font-weight:600;
display:block}.empty{color:var(--muted);font-style:italic}
footer{margin-top:40px;color:var(--muted);font-size:12px}
"""


def to_html(report: Report) -> str:
    """The report as one self-contained HTML page with tables and three inline SVG plots."""
    dataset = report.get("dataset") or {}
    title = f"rerankit bench: {dataset.get('name') or 'dataset'}"
    primary = _primary(report)
    failed = _failed(report)
    body = [f"<h1>{_esc(title)}</h1>",
            '<p class="meta">' + _esc(" · ".join(
                p for p in [_dataset_line(report), *_settings_parts(report)] if p)) + "</p>"]

    items = "".join(f"<dt>{_esc(label)}</dt><dd>{_esc(value)}</dd>"
                    for label, value in _recommendation_items(report))
    rec = [f'<section id="recommendation" class="recommendation"><h2>Recommendation</h2>'
           f"<dl>{items}</dl>"]
    if failed:
        rec.append(f'<p class="warn">{_n_failed(failed)}; see '
                   f'<a href="#failed">failed systems</a>.</p>')
    notes = _recommendation(report).get("notes") or []
    if notes:
        rec.append("<ul>" + "".join(f"<li>{_esc(n)}</li>" for n in notes) + "</ul>")
    body.append("".join(rec) + "</section>")

    body.append('<section id="results"><h2>Results</h2>' + _html_table(_results_table(report))
                + '<p class="caption">' + _esc(
                    f"Metrics are means over queries; brackets are 95% bootstrap intervals. Δ is "
                    f"{primary} minus the same first stage without a reranker (paired), with the "
                    "adjusted p-value. Latencies are per query; rerank time excludes the first "
                    "stage.") + "</p></section>")
    body.append(f'<section id="quality-latency"><h2>{_esc(primary)} vs latency</h2>'
                f'<div class="plot-wrap">{_scatter_svg(report)}</div></section>')
    body.append(f'<section id="per-query"><h2>Per-query change in {_esc(primary)} vs baseline'
                f"</h2>{_gainloss_html(report)}</section>")

    fields = [f for f in _slice_fields(report) if _slice_values(report, f)]
    if fields:
        slices = [f'<section id="slices"><h2>{_esc(primary)} by slice</h2>']
        for slice_field in fields:
            slices.append(f"<h3>{_esc(slice_field)}</h3>"
                          f'<div class="plot-wrap">{_heatmap_svg(report, slice_field)}</div>'
                          + _html_table(_slice_table(report, slice_field)))
        body.append("".join(slices) + "</section>")

    deltas = _deltas_table(report)
    if deltas is not None:
        body.append('<section id="deltas"><h2>Δ vs baseline, all metrics</h2>'
                    + _html_table(deltas) + '<p class="caption">Adjusted p-values in '
                    "parentheses; green = better, red = worse.</p></section>")

    if failed:
        items = "".join(
            f"<li><strong>{_esc(_name(s))}</strong> (first stage {_esc(s.get('first_stage'))}, "
            f"reranker {_esc(s.get('reranker'))})<pre>{_esc(s.get('error') or 'no error message')}"
            "</pre></li>" for s in failed)
        body.append(f'<section id="failed"><h2>Failed systems</h2><ul>{items}</ul></section>')

    stamp = " · ".join(p for p in (
        f"rerankit {report['rerankit_version']}" if report.get("rerankit_version") else "",
        f"created {report['created']}" if report.get("created") else "") if p)
    body.append(f"<footer>{_esc(stamp)}</footer>")
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_esc(title)}</title><style>{_CSS}</style></head>"
            f"<body><main>{''.join(body)}</main></body></html>\n")


# ----------------------------------------------------------------------------- files


def system_slug(system: System) -> str:
    """A filesystem- and TREC-safe name: ``first_stage__reranker`` in ``[A-Za-z0-9._-]``."""
    if system.get("first_stage") and system.get("reranker"):
        raw = f"{system['first_stage']}__{system['reranker']}"
    else:
        raw = _name(system)
    parts = [re.sub(r"[^A-Za-z0-9._-]+", "-", p).strip("-.") for p in raw.split("__")]
    slug = "__".join(p for p in parts if p)[:100].strip("-.")
    return slug or "system"


def _trec_id(value: Any) -> str:
    """Ids cannot hold whitespace in a TREC file: runs of it become ``_``."""
    return "_".join(str(value).split()) or "_"


def _trec_scores(ranking: Sequence[Any]) -> list[tuple[str, float]]:
    """(doc id, score) in the given order with scores made strictly decreasing.

    TREC readers re-sort by score (trec_eval breaks ties by doc id), so a tie or an
    out-of-order score is lowered by the smallest float step below its predecessor.
    """
    out: list[tuple[str, float]] = []
    previous = math.inf
    for entry in ranking:
        doc_id, score = entry[0], _number(entry[1]) if len(entry) > 1 else None
        if score is None or score >= previous:
            score = math.nextafter(previous, -math.inf) if previous != math.inf else 0.0
        out.append((_trec_id(doc_id), score))
        previous = score
    return out


def write_trec_runs(report: Report, folder: str | Path) -> list[Path]:
    """One ``qid Q0 docid rank score tag`` file per OK system with a run; returns the paths.

    File name and tag are :func:`system_slug` (made unique with ``-2``, ``-3`` ... suffixes).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths, used = [], set()
    for system in _ok(report):
        run = system.get("run")
        if not isinstance(run, Mapping):
            continue
        slug, n = system_slug(system), 1
        tag = slug
        while tag.lower() in used:
            n += 1
            tag = f"{slug}-{n}"
        used.add(tag.lower())
        lines = []
        for qid, ranking in run.items():
            for rank, (doc_id, score) in enumerate(_trec_scores(ranking or []), start=1):
                lines.append(f"{_trec_id(qid)} Q0 {doc_id} {rank} {score!r} {tag}\n")
        path = folder / f"{tag}.trec"
        path.write_text("".join(lines), encoding="utf-8", newline="\n")
        paths.append(path)
    return paths


def write_reports(report: Report, out_dir: str | Path) -> dict[str, Path]:
    """Write report.md, report.html, report.json and runs/*.trec under ``out_dir``.

    Returns ``{"markdown": ..., "html": ..., "json": ..., "runs": <runs folder>}``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": out_dir / "report.md", "html": out_dir / "report.html",
             "json": out_dir / "report.json", "runs": out_dir / "runs"}
    paths["markdown"].write_text(to_markdown(report), encoding="utf-8", newline="\n")
    paths["html"].write_text(to_html(report), encoding="utf-8", newline="\n")
    paths["json"].write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n",
                             encoding="utf-8", newline="\n")
    if paths["runs"].is_dir():  # runs of systems an earlier report in this folder had
        for stale in paths["runs"].glob("*.trec"):
            stale.unlink()
    write_trec_runs(report, paths["runs"])
    return paths
