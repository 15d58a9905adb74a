"""bench_report: Markdown, HTML (parsed back), TREC runs (read back by ranx), write_reports."""

from __future__ import annotations

import copy
import itertools
import json
import random
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from rerankit.bench_report import to_html, to_markdown, write_reports, write_trec_runs

PRIMARY = "mrr@5"
DOMAINS = ["금융", "법률", "의료"]  # finance, law, medicine
N_QUERIES = 120
RR_VALUES = [1.0, 0.5, 1 / 3, 0.25, 0.2, 0.0]


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


def _system(name, first_stage, reranker, per_query, rng, *, latency, first_ms, pairs, load,
            memory, cost=None, ties=False) -> dict:
    qids = list(per_query[PRIMARY])
    metrics = {m: round(_mean(v.values()), 6) for m, v in per_query.items()}
    slices = {"domain": {}}
    for index, domain in enumerate(DOMAINS):
        members = qids[index::3]
        slices["domain"][domain] = {
            "count": len(members),
            "metrics": {m: round(_mean(v[q] for q in members), 6) for m, v in per_query.items()},
        }
    run = {}
    for q in qids:
        docs = rng.sample(range(300), 5)
        scores = [1.0, 1.0, 0.5, 0.5, 0.5] if ties else sorted(
            (round(rng.uniform(-3, 9), 4) for _ in docs), reverse=True)
        run[q] = [[f"doc-{d}" if d % 7 else f"문서-{d}", s]
                  for d, s in zip(docs, scores, strict=True)]
    return {
        "name": name, "first_stage": first_stage, "reranker": reranker, "status": "ok",
        "error": None, "metrics": metrics,
        "ci": {m: [round(v - 0.031, 6), round(v + 0.029, 6)] for m, v in metrics.items()},
        "per_query": per_query, "vs_baseline": {},
        "latency_ms": {"p50": latency, "p95": latency * 2.5, "mean": latency * 1.2},
        "first_stage_ms": {"p50": first_ms, "p95": first_ms * 1.5, "mean": first_ms},
        "pairs_per_s": pairs, "load_s": load, "peak_memory_mb": memory,
        "model_calls": 0 if reranker == "none" else N_QUERIES, "cache_hits": 0,
        "cost_per_1000": cost, "slices": slices, "run": run,
    }


def _versus(system: dict, baseline: dict, label: str, p_adj: float) -> dict:
    out = {}
    for metric, values in system["per_query"].items():
        base = baseline["per_query"][metric]
        deltas = [values[q] - base[q] for q in values]
        delta = _mean(deltas)
        out[metric] = {
            "baseline": baseline["name"], "delta": round(delta, 6),
            "ci": [round(delta - 0.02, 6), round(delta + 0.02, 6)],
            "p_value": p_adj / 3, "p_adjusted": p_adj,
            "label": label if metric == PRIMARY else "no evidence",
            "wins": sum(d > 0 for d in deltas), "losses": sum(d < 0 for d in deltas),
            "ties": sum(d == 0 for d in deltas),
        }
    return out


def make_report() -> dict:
    """Three OK systems on one first stage (baseline, a better model, a priced API) + one failed."""
    rng = random.Random(7)
    qids = [f"q{i:03d}" for i in range(N_QUERIES)]

    def per_query(shift: int) -> dict:
        rr = {q: RR_VALUES[max(0, min(5, rng.randrange(6) - shift))] for q in qids}
        return {PRIMARY: rr, "hit@1": {q: float(v == 1.0) for q, v in rr.items()},
                "hit@5": {q: float(v > 0) for q, v in rr.items()}}

    base = _system("kiwi-bm25 + none", "kiwi-bm25", "none", per_query(0), rng, latency=0.0,
                   first_ms=3.9, pairs=None, load=0.0, memory=512.3, ties=True)
    minilm = _system("kiwi-bm25 + minilm", "kiwi-bm25", "minilm", per_query(2), rng,
                     latency=12.14, first_ms=3.9, pairs=1650.4, load=1.23, memory=905.0)
    cohere = _system("kiwi-bm25 + cohere:rerank-v3.5", "kiwi-bm25", "cohere:rerank-v3.5",
                     per_query(1), rng, latency=410.0, first_ms=3.9, pairs=None, load=0.0,
                     memory=530.0, cost=2.0)
    base["vs_baseline"] = _versus(base, base, "baseline", 1.0)
    minilm["vs_baseline"] = _versus(minilm, base, "better", 0.0004)
    cohere["vs_baseline"] = _versus(cohere, base, "no evidence", 0.21)
    failed = {"name": "kiwi-bm25 + bge-m3", "first_stage": "kiwi-bm25",
              "reranker": "BAAI/bge-reranker-v2-m3", "status": "failed",
              "error": "OutOfMemoryError: CUDA out of memory\n  while scoring batch 3",
              "metrics": {}, "ci": {}, "per_query": {}, "vs_baseline": {}}
    return {
        "rerankit_version": "0.1.0", "created": "2026-11-22T00:30:00+00:00",
        "dataset": {"name": "ko-allganize-pages", "queries": N_QUERIES, "documents": 720},
        "settings": {"depth": 20, "top_k": 5, "metrics": [PRIMARY, "hit@1", "hit@5"],
                     "primary_metric": PRIMARY, "alpha": 0.05, "latency_budget_ms": 500.0,
                     "slices": ["domain"], "price_per_1000": {"cohere:rerank-v3.5": 2.0}},
        "systems": [base, minilm, cohere, failed],
        "recommendation": {
            "primary_metric": PRIMARY, "accuracy_first": "kiwi-bm25 + minilm",
            "within_budget": "kiwi-bm25 + minilm", "budget_ms": 500.0,
            "pareto": ["kiwi-bm25 + none", "kiwi-bm25 + minilm"],
            "notes": ["minilm beats BM25 alone on mrr@5 (p_adj < 0.001)."],
        },
    }


@pytest.fixture
def report() -> dict:
    return make_report()


def _ok(report: dict) -> list[dict]:
    return [s for s in report["systems"] if s["status"] == "ok"]


# ----------------------------------------------------------------------------- Markdown


def _md_table_after(markdown: str, heading: str) -> list[list[str]]:
    """Rows (header first, rule dropped) of the first table after ``heading``."""
    lines = markdown.split(heading, 1)[1].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        if not all(set(c) <= set("-:") for c in cells):
            rows.append(cells)
    return rows


def test_markdown_results_table(report):
    md = to_markdown(report)
    header, *rows = _md_table_after(md, "## Results")
    assert len(rows) == len(report["systems"])
    assert all(len(r) == len(header) for r in rows)
    assert [r[0] for r in rows] == [s["name"] for s in report["systems"]]
    col = {name: i for i, name in enumerate(header)}
    assert "$ / 1000 searches" in col  # one system has a price

    minilm = report["systems"][1]
    row = dict(zip(header, rows[1], strict=True))
    mean, (lo, hi) = minilm["metrics"][PRIMARY], minilm["ci"][PRIMARY]
    assert row[f"{PRIMARY} [95% CI]"].strip("*") == f"{mean:.3f} [{lo:.3f}, {hi:.3f}]"
    assert row["hit@1"] == f"{minilm['metrics']['hit@1']:.3f}"
    versus = minilm["vs_baseline"][PRIMARY]
    assert row[f"Δ {PRIMARY} [95% CI]"] == (
        f"**{versus['delta']:+.3f} [{versus['ci'][0]:+.3f}, {versus['ci'][1]:+.3f}]**")
    assert row["p (adj.)"] == "<0.001"
    assert row["verdict"] == "**better**"
    assert (row["first stage p50 ms"], row["rerank p50 ms"], row["rerank p95 ms"]) == (
        "3.9", "12.1", "30.4")
    assert row["total p95 ms"] == "36.2"  # first stage p95 5.85 + rerank p95 30.35
    assert (row["pairs/s"], row["load s"], row["peak MB"]) == ("1,650", "1.2", "905")
    assert row["$ / 1000 searches"] == "—"

    base_row = dict(zip(header, rows[0], strict=True))
    assert base_row["verdict"] == "baseline" and base_row["rerank p50 ms"] == "0.0"
    assert base_row["pairs/s"] == "—"
    cohere_row = dict(zip(header, rows[2], strict=True))
    assert cohere_row["verdict"] == "no evidence" and cohere_row["p (adj.)"] == "0.210"
    assert cohere_row["$ / 1000 searches"] == "$2.00"
    assert cohere_row["rerank p50 ms"] == "410.0"
    # The best primary score is bold, the others are not.
    best = max(_ok(report), key=lambda s: s["metrics"][PRIMARY])["name"]
    for r in rows[:3]:
        assert r[col[f"{PRIMARY} [95% CI]"]].startswith("**") == (r[0] == best)

    failed_row = dict(zip(header, rows[3], strict=True))
    assert failed_row[f"{PRIMARY} [95% CI]"] == "**failed**"
    assert failed_row["reranker"] == "BAAI/bge-reranker-v2-m3"


def test_markdown_recommendation_failed_and_slices(report):
    md = to_markdown(report)
    assert md.startswith("# rerankit bench: ko-allganize-pages\n")
    assert "120 queries, 720 documents" in md
    rec = md.split("## Recommendation", 1)[1].split("## Results", 1)[0]
    assert "- **Most accurate:** kiwi-bm25 + minilm" in rec
    assert "- **Best within the 500 ms budget:** kiwi-bm25 + minilm" in rec
    assert "kiwi-bm25 + none → kiwi-bm25 + minilm" in rec
    assert "minilm beats BM25 alone" in rec and "1 system failed" in rec

    failed = md.split("## Failed systems", 1)[1]
    assert "**kiwi-bm25 + bge-m3**" in failed
    assert "OutOfMemoryError: CUDA out of memory" in failed
    assert "  while scoring batch 3" in failed  # multi-line error kept in a code block

    header, *rows = _md_table_after(md, "### domain")
    ok = _ok(report)
    assert header == ["domain", "queries"] + [s["name"] for s in ok]
    assert [r[0] for r in rows] == DOMAINS
    assert [r[1] for r in rows] == ["40", "40", "40"]
    for row, domain in zip(rows, DOMAINS, strict=True):
        expected = [s["slices"]["domain"][domain]["metrics"][PRIMARY] for s in ok]
        assert [c.strip("*") for c in row[2:]] == [f"{v:.3f}" for v in expected]

    deltas_header, *delta_rows = _md_table_after(md, "## Δ vs baseline, all metrics")
    assert [r[0] for r in delta_rows] == ["kiwi-bm25 + minilm", "kiwi-bm25 + cohere:rerank-v3.5"]
    assert len(deltas_header) == 2 + 3


def test_markdown_escapes_table_breakers(report):
    report["systems"][1]["name"] = "a | b <em>x</em>"
    md = to_markdown(report)
    header, *rows = _md_table_after(md, "## Results")
    assert all(len(r) == len(header) for r in rows)
    assert rows[1][0] == r"a \| b \<em>x\</em>"


# ----------------------------------------------------------------------------- HTML

_VOID = {"meta", "br", "hr", "img", "input", "link", "col", "wbr", "source"}


class _Page(HTMLParser):
    """Records start tags with attributes, checks that every element is closed in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.starts: list[tuple[str, dict]] = []
        self.ends: dict[str, int] = {}
        self.errors: list[str] = []
        self.text: list[tuple[list[str], str]] = []

    def handle_starttag(self, tag, attrs):
        self.starts.append((tag, dict(attrs)))
        if tag not in _VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.starts.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        self.ends[tag] = self.ends.get(tag, 0) + 1
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        if data.strip():
            self.text.append((list(self.stack), data))

    def find(self, tag: str, css: str | None = None) -> list[dict]:
        return [a for t, a in self.starts
                if t == tag and (css is None or css in (a.get("class") or "").split())]


def _parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    parser.close()
    assert parser.errors == [] and parser.stack == []
    return parser


def test_html_is_balanced_and_self_contained(report):
    page = to_html(report)
    parsed = _parse(page)
    for tag in ("table", "svg", "section", "tr", "g", "text", "figure"):
        starts = len(parsed.find(tag))
        assert starts == parsed.ends.get(tag, 0), tag
    assert len(parsed.find("table")) == 3  # results, domain slice, deltas
    lowered = page.lower()
    for needle in ("http://", "https://", "src=", "<script", "<link", "<img", "url(", "@import"):
        assert needle not in lowered, needle
    assert page.startswith("<!DOCTYPE html>")
    # Numeric cells are right-aligned, the header is a real <thead>.
    assert len(parsed.find("thead")) == 3
    assert parsed.find("td", "num") and ".num{text-align:right" in page


def test_html_scatter_points_and_frontier(report):
    parsed = _parse(to_html(report))
    assert len(parsed.find("svg", "plot-scatter")) == 1
    points = parsed.find("circle", "point")
    ok_names = [s["name"] for s in _ok(report)]
    assert sorted(p["data-system"] for p in points) == sorted(ok_names)
    pareto = [p for p in points if "pareto" in p["class"].split()]
    assert sorted(p["data-system"] for p in pareto) == sorted(report["recommendation"]["pareto"])

    (frontier,) = parsed.find("polyline", "frontier")
    assert frontier["data-systems"].split("\n") == report["recommendation"]["pareto"]
    vertices = [tuple(map(float, xy.split(","))) for xy in frontier["points"].split()]
    for point in pareto:
        assert (float(point["cx"]), float(point["cy"])) in vertices
    # A step line: consecutive vertices share either x or y.
    for (x0, y0), (x1, y1) in itertools.pairwise(vertices):
        assert x0 == x1 or y0 == y1
    # Quality goes up on screen (smaller y) for the more accurate system.
    by_name = {p["data-system"]: p for p in points}
    assert float(by_name["kiwi-bm25 + minilm"]["cy"]) < float(by_name["kiwi-bm25 + none"]["cy"])
    # The baseline reranks in 0 ms: it still sits inside the plot (log-x floor, no NaN/inf).
    page = to_html(report)
    assert "log scale" in page and "nan" not in page.lower() and "inf" not in page.lower()
    # The budget is checked at p95 (first stage + rerank): only the API is over 500 ms.
    over = [p["data-system"] for p in points if "over-budget" in p["class"].split()]
    assert over == ["kiwi-bm25 + cohere:rerank-v3.5"]
    width = float(parsed.find("svg", "plot-scatter")[0]["width"])
    assert all(0 <= float(p["cx"]) <= width for p in points)


def test_html_heatmap_cells(report):
    parsed = _parse(to_html(report))
    (heatmap,) = parsed.find("svg", "plot-heatmap")
    assert heatmap["data-slice"] == "domain"
    ok = _ok(report)
    cells = parsed.find("g", "cell")
    assert len(cells) == len(ok) * len(DOMAINS)
    cell_texts = [data for stack, data in parsed.text
                  if stack[-2:] == ["g", "text"] and "svg" in stack]
    expected = [f"{s['slices']['domain'][d]['metrics'][PRIMARY]:.3f}" for s in ok for d in DOMAINS]
    assert cell_texts == expected
    fills = {a["fill"] for t, a in parsed.starts if t == "rect" and "fill" in a}
    assert len(fills) > 1  # coloured by value


def test_html_per_query_gain_loss(report):
    parsed = _parse(to_html(report))
    charts = parsed.find("svg", "plot-gainloss")
    reranked = [s for s in _ok(report) if s["reranker"] != "none"]
    assert [c["data-system"] for c in charts] == [s["name"] for s in reranked]
    page = to_html(report)
    for chart, system in zip(page.split('class="plot plot-gainloss"')[1:], reranked, strict=True):
        chart = chart.split("</svg>", 1)[0]
        versus = system["vs_baseline"][PRIMARY]
        gains = re.findall(r'<rect class="bar gain" x="([\d.]+)" y="[\d.]+" width="[\d.]+" '
                           r'height="([\d.]+)"', chart)
        losses = re.findall(r'<rect class="bar loss" x="([\d.]+)"', chart)
        assert (len(gains), len(losses)) == (versus["wins"], versus["losses"])
        # Sorted: every gain left of every loss, gains descending in height.
        assert max(float(x) for x, _ in gains) < min(float(x) for x in losses)
        heights = [float(h) for _, h in sorted(gains, key=lambda g: float(g[0]))]
        assert heights == sorted(heights, reverse=True)
        assert f"{versus['wins']} up / {versus['losses']} down / {versus['ties']} tied" in page


def test_html_escapes_user_text(report):
    evil = '<script>alert("x")</script> & co'
    report["systems"][1]["name"] = evil
    report["recommendation"]["accuracy_first"] = evil
    report["recommendation"]["pareto"] = ["kiwi-bm25 + none", evil]
    for system in _ok(report):
        system["slices"]["domain"]["<b>bold</b>"] = system["slices"]["domain"].pop("의료")
    report["systems"][3]["error"] = "failed at https://api.example.com/v1 <img src=x>"
    page = to_html(report)
    assert "<script" not in page and "<b>" not in page and "<img" not in page
    assert "&lt;script&gt;" in page
    assert "https://" not in page and "src=" not in page
    parsed = _parse(page)
    assert evil in [p["data-system"] for p in parsed.find("circle", "point")]
    assert evil in [c["data-system"] for c in parsed.find("svg", "plot-gainloss")]
    assert any("https://api.example.com/v1 <img src=x>" in d for _, d in parsed.text)
    assert any(d == "<b>bold</b>" for _, d in parsed.text)


@pytest.mark.parametrize("variant", ["single", "no-slices", "ties", "zero-latency", "all-failed",
                                     "no-pareto", "wide-latency"])
def test_robust_variants(report, variant):
    report = copy.deepcopy(report)
    systems = report["systems"]
    if variant == "single":
        report["systems"] = systems[:1]
        report["recommendation"]["pareto"] = ["kiwi-bm25 + none"]
    elif variant == "no-slices":
        report["settings"]["slices"] = []
        for s in systems:
            s.pop("slices", None)
    elif variant == "ties":
        for s in _ok(report):
            s["per_query"] = {m: dict.fromkeys(v, 0.5) for m, v in s["per_query"].items()}
            s["metrics"] = dict.fromkeys(s["metrics"], 0.5)
            for entry in s["slices"]["domain"].values():
                entry["metrics"] = dict.fromkeys(entry["metrics"], 0.5)
            for s_run in s["run"].values():
                for pair in s_run:
                    pair[1] = 0.0
    elif variant == "zero-latency":
        for s in _ok(report):
            s["latency_ms"] = {"p50": 0.0, "p95": 0.0, "mean": 0.0}
            s["first_stage_ms"] = {"p50": 0.0, "p95": 0.0, "mean": 0.0}
    elif variant == "all-failed":
        for s in systems:
            s["status"], s["error"] = "failed", "boom"
        report["recommendation"].update(accuracy_first=None, within_budget=None, pareto=[])
    elif variant == "no-pareto":
        del report["recommendation"]["pareto"]
    elif variant == "wide-latency":
        systems[2]["latency_ms"]["p50"] = 25_000.0
    md, page = to_markdown(report), to_html(report)
    parsed = _parse(page)
    assert len(parsed.find("svg", "plot-scatter")) == (0 if variant == "all-failed" else 1)
    assert len(parsed.find("circle", "point")) == len(_ok(report))
    assert "nan" not in page.lower() and "inf" not in page.lower()
    _header, *rows = _md_table_after(md, "## Results")
    assert len(rows) == len(report["systems"])
    if variant == "no-slices":
        assert "by slice" not in md and not parsed.find("svg", "plot-heatmap")
    if variant == "ties":
        assert all("0 up / 0 down / 120 tied" in page for _ in range(1))
        assert not parsed.find("rect", "gain") and not parsed.find("rect", "loss")
    if variant == "no-pareto":  # computed from the points instead
        assert parsed.find("polyline", "frontier")


def test_many_queries_use_compact_bars(report):
    system = report["systems"][1]
    base = report["systems"][0]
    for i in range(1500):
        base["per_query"][PRIMARY][f"extra{i}"] = 0.0
        system["per_query"][PRIMARY][f"extra{i}"] = 1.0 if i % 2 else 0.0
    parsed = _parse(to_html(report))
    (_chart,) = [c for c in parsed.find("svg", "plot-gainloss")
                 if c["data-system"] == system["name"]]
    assert parsed.find("path", "gain")  # one path per colour, not 1,600 rects


# ----------------------------------------------------------------------------- files


def _check_runs_equal(loaded: dict[str, dict[str, float]], system: dict) -> None:
    """``loaded`` (qid -> doc -> score, as ranx holds a run) ranks like the report's run."""
    assert set(loaded) == set(system["run"])
    for qid, ranking in system["run"].items():
        order = sorted(loaded[qid], key=lambda d: -loaded[qid][d])
        assert order == [doc for doc, _ in ranking], qid
        written = [loaded[qid][d] for d in order]
        if system["reranker"] != "none":  # untied scores are written unchanged
            assert written == [s for _, s in ranking]
        else:  # ties are broken by tiny steps that keep the given order
            assert written == pytest.approx([s for _, s in ranking])
            assert all(a > b for a, b in itertools.pairwise(written))


def test_trec_runs_format(report, tmp_path):
    paths = write_trec_runs(report, tmp_path / "runs")
    assert [p.name for p in paths] == [
        "kiwi-bm25__none.trec", "kiwi-bm25__minilm.trec", "kiwi-bm25__cohere-rerank-v3.5.trec"]
    for path, system in zip(paths, _ok(report), strict=True):
        loaded: dict[str, dict[str, float]] = {}
        ranks: dict[str, list[int]] = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            qid, q0, doc, rank, score, tag = line.split()  # six fields, as ranx splits them
            assert (q0, tag) == ("Q0", path.stem)
            loaded.setdefault(qid, {})[doc] = float(score)
            ranks.setdefault(qid, []).append(int(rank))
        assert all(r == list(range(1, len(r) + 1)) for r in ranks.values())
        _check_runs_equal(loaded, system)


@pytest.mark.slow
def test_trec_runs_read_back_by_ranx(report, tmp_path):
    """ranx's own reader (slow: importing ranx and compiling its numba typed dicts, ~10-20 s)."""
    ranx = pytest.importorskip("ranx")
    paths = write_trec_runs(report, tmp_path / "runs")
    for path, system in zip(paths, _ok(report), strict=True):
        run = ranx.Run.from_file(str(path), kind="trec")
        assert run.name == path.stem
        _check_runs_equal(run.to_dict(), system)


def test_trec_names_are_safe_and_unique(report, tmp_path):
    report["systems"][1]["reranker"] = "BAAI/bge reranker:v2"
    report["systems"][2]["reranker"] = "BAAI/bge reranker:v2"
    paths = write_trec_runs(report, tmp_path)
    names = [p.name for p in paths]
    assert names[1:] == ["kiwi-bm25__BAAI-bge-reranker-v2.trec",
                         "kiwi-bm25__BAAI-bge-reranker-v2-2.trec"]
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", n) for n in names)


def test_write_reports(report, tmp_path):
    paths = write_reports(report, tmp_path / "out")
    assert set(paths) == {"markdown", "html", "json", "runs"}
    for kind in ("markdown", "html", "json"):
        assert paths[kind].is_file() and paths[kind].stat().st_size > 0
    assert paths["runs"].is_dir() and len(list(paths["runs"].glob("*.trec"))) == 3
    assert json.loads(paths["json"].read_text(encoding="utf-8")) == report
    assert "금융" in paths["json"].read_text(encoding="utf-8")  # ensure_ascii=False
    assert paths["markdown"].read_text(encoding="utf-8") == to_markdown(report)
    assert isinstance(paths["html"], Path)


def test_rewriting_runs_removes_stale_run_files(tmp_path, report):
    stale = tmp_path / "runs" / "old-system__gone.trec"
    stale.parent.mkdir(parents=True)
    stale.write_text("q1 Q0 d1 1 1.0 old\n")
    write_reports(report, tmp_path)
    assert not stale.exists() and list((tmp_path / "runs").glob("*.trec"))
