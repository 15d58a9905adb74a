"""Which system to use: the accuracy-first pick, the best under a latency budget, and the
quality-latency Pareto frontier (cost per 1,000 searches noted for hosted APIs)."""

from __future__ import annotations

from typing import Any


def total_latency_ms(system: dict[str, Any], stat: str = "p50") -> float:
    """First stage plus rerank time per query (``p50`` or ``p95``)."""
    return float(system.get("first_stage_ms", {}).get(stat, 0.0)) + float(
        system.get("latency_ms", {}).get(stat, 0.0))


def pareto_frontier(systems: list[dict[str, Any]], metric: str) -> list[str]:
    """Names of systems no other system beats on both quality (higher) and p50 latency
    (lower), ordered by latency."""
    points = sorted((total_latency_ms(s), -s["metrics"][metric], s["name"]) for s in systems)
    frontier, best = [], float("-inf")
    for _, negative_quality, name in points:
        if -negative_quality > best:
            frontier.append(name)
            best = -negative_quality
    return frontier


def recommend(report: dict[str, Any]) -> dict[str, Any]:
    """The recommendation block of a bench report."""
    settings = report["settings"]
    metric = settings["primary_metric"]
    budget = settings.get("latency_budget_ms")
    ok = [s for s in report["systems"] if s["status"] == "ok"]
    result: dict[str, Any] = {"primary_metric": metric, "accuracy_first": None,
                              "within_budget": None, "budget_ms": budget, "pareto": [],
                              "notes": []}
    if not ok:
        result["notes"].append("no system ran successfully")
        return result
    def key(s: dict[str, Any]) -> tuple[float, float]:
        return (-s["metrics"][metric], total_latency_ms(s))

    best = min(ok, key=key)
    result["accuracy_first"] = best["name"]
    result["pareto"] = pareto_frontier(ok, metric)
    notes = result["notes"]
    comparison = best.get("vs_baseline", {}).get(metric, {})
    label = comparison.get("label")
    if label == "baseline":
        notes.append(f"No reranker beat no reranking on {metric}: keep {best['name']}.")
    elif label == "no evidence":
        notes.append(f"{best['name']} has the best {metric} ({best['metrics'][metric]:.3f}), "
                     f"but its gain over {comparison['baseline']} is not significant "
                     f"(adjusted p = {comparison['p_adjusted']:.3g}).")
    elif label == "better":
        notes.append(f"{best['name']} is significantly better than "
                     f"{comparison['baseline']} on {metric} "
                     f"({comparison['delta']:+.3f}, adjusted p = {comparison['p_adjusted']:.3g}).")
    worse = [s["name"] for s in ok if s.get("vs_baseline", {}).get(metric, {}).get("label")
             == "worse"]
    if worse:
        notes.append(f"Worse than no reranking on {metric}: {', '.join(worse)}.")
    if budget is not None:
        fits = [s for s in ok if total_latency_ms(s, "p95") <= budget]
        if fits:
            pick = min(fits, key=key)
            result["within_budget"] = pick["name"]
            notes.append(f"Within {budget:g} ms (p95 per query, first stage + rerank): "
                         f"{pick['name']}.")
        else:
            notes.append(f"No system answers within {budget:g} ms at p95.")
    costs = [s for s in ok if s.get("cost_per_1000") is not None]
    for system in costs:
        notes.append(f"{system['name']} costs ${system['cost_per_1000']:g} per 1,000 searches.")
    return result
