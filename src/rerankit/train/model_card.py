"""The README.md model card written beside a fine-tuned reranker."""

from __future__ import annotations

from typing import Any


def model_card(info: dict[str, Any]) -> str:
    """Markdown with YAML front matter from the run's ``rerankit_training.json`` content."""
    config = info["config"]
    mining = info["mining"]
    lines = [
        "---",
        f"base_model: {info['base_model']}",
        "library_name: sentence-transformers",
        "pipeline_tag: text-ranking",
        "tags: [cross-encoder, reranker, rerankit]",
        "---",
        "",
        f"# Cross-encoder reranker fine-tuned from {info['base_model']}",
        "",
        "Trained with `rerankit train`. One relevance logit; `sigmoid(logit)` is the "
        "probability rerankit and sentence-transformers report.",
        "",
        "## Use",
        "",
        "```python",
        "from rerankit import Reranker",
        "reranker = Reranker(\"path/to/this/folder\")",
        "reranker.rerank(\"a query\", [\"passage one\", \"passage two\"])",
        "",
        "from sentence_transformers import CrossEncoder",
        "CrossEncoder(\"path/to/this/folder\").predict([(\"a query\", \"passage one\")])",
        "```",
        "",
        "## Data",
        "",
        f"- source: `{info['data']['source']}`",
        f"- training queries: {info['data']['train_queries']}, dev queries: "
        f"{info['data']['dev_queries']}, passage pool: {info['data']['passages']}",
        f"- negatives: {mining['config']['num_negatives']} per query, mined with "
        f"`{mining['config']['method']}` from the top {mining['config']['depth']} "
        f"(skip_top={mining['config']['skip_top']}, teacher={mining['config']['teacher']}); "
        f"{mining['report']['mined']} mined, {mining['report']['random_filled']} random, "
        f"{mining['report']['positives_excluded']} positives excluded",
        "",
        "## Training",
        "",
        "| setting | value |",
        "|---|---|",
    ]
    lines += [f"| {key} | {value} |" for key, value in config.items()]
    lines += [
        "",
        f"Stopped: {info['stopped']} after {info['global_step']} optimiser steps "
        f"({info['elapsed_s'] / 60:.1f} min of training in this run).",
        "",
    ]
    evaluations = info.get("evaluations") or []
    if evaluations:
        names = list(evaluations[0]["metrics"])
        lines += ["## Dev evaluation", "",
                  "| step | epoch | " + " | ".join(names) + " |",
                  "|---|---|" + "---|" * len(names)]
        baseline = info.get("dev_baseline")
        if baseline:
            lines.append("| first stage | - | "
                         + " | ".join(f"{baseline[n]:.4f}" for n in names) + " |")
        for item in evaluations:
            mark = " (best)" if item["step"] == info.get("best_step") else ""
            lines.append(f"| {item['step']}{mark} | {item['epoch']} | "
                         + " | ".join(f"{item['metrics'][n]:.4f}" for n in names) + " |")
        lines.append("")
    return "\n".join(lines)
