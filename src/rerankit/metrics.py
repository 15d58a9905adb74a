"""Ranking metrics: MRR, hit rate, recall, precision, MAP and nDCG at a cutoff k.

Pure Python (no torch, no ranx). The conventions follow trec_eval / pytrec_eval, so the
numbers agree with them exactly, ties included:

* **Relevance.** ``qrels`` maps query id -> doc id -> integer grade. A doc is relevant when
  its grade is > 0; grades <= 0 and unjudged docs are not relevant and have gain 0.
* **Ordering.** A score dict is ranked by score descending, ties broken by doc id descending
  (trec_eval's rule); see :func:`ranked` for the other ``tie_break`` options.
* **nDCG gain.** Linear, gain = grade (trec_eval ``ndcg_cut``, ranx ``ndcg``);
  ``gain="exponential"`` gives 2^grade - 1 (Burges et al. 2005, ranx ``ndcg_burges``).
* **MAP@k** divides by all R relevant docs of the query (trec_eval ``map_cut``, ranx
  ``map@k``), not by min(k, R). **P@k** divides by k even when fewer than k docs are ranked.
* **Averages** (:func:`evaluate`) run over the queries of ``qrels`` with at least one relevant
  doc; such a query missing from the run scores 0; run queries absent from qrels are ignored.
  (pytrec_eval reports only queries present in the run, ranx averages over every qrels query,
  with or without relevant docs, so their means may differ; per-query values agree.)

>>> qrels = {"q1": {"d1": 2, "d2": 0, "d3": 1}}
>>> run = {"q1": {"d2": 0.9, "d1": 0.8, "d4": 0.1}}
>>> evaluate(qrels, run, ["mrr@10", "recall@2"])
{'mrr@10': 0.5, 'recall@2': 0.5}
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Literal

from rerankit._exceptions import InvalidInputError

__all__ = [
    "DEFAULT_METRICS",
    "VALID_METRICS",
    "average_precision_at_k",
    "evaluate",
    "evaluate_per_query",
    "hit_at_k",
    "mrr_at_k",
    "ndcg_at_k",
    "parse_metric",
    "precision_at_k",
    "ranked",
    "recall_at_k",
]

TieBreak = Literal["docid-desc", "docid-asc", "input"]
Gain = Literal["linear", "exponential"]
Qrels = Mapping[str, Mapping[str, int]]
#: Per query either doc id -> score, or doc ids already ranked best first.
Run = Mapping[str, Mapping[str, float] | Sequence[str]]
Relevant = Collection[str] | Mapping[str, int]

VALID_METRICS = ("mrr@k", "hit@k", "ndcg@k", "recall@k", "map@k", "p@k")
DEFAULT_METRICS = ("ndcg@10", "mrr@10", "recall@100")
_TIE_BREAKS = ("docid-desc", "docid-asc", "input")
_GAINS = ("linear", "exponential")
_METRIC_RE = re.compile(r"\s*(mrr|hit|ndcg|recall|map|p)@(\d+)\s*", re.IGNORECASE | re.ASCII)


# ---------------------------------------------------------------------------- validation


def _check_k(k: object) -> int:
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k <= 0:
        raise InvalidInputError(f"k must be a positive int, got {k!r}")
    return int(k)


def _check_ranked_ids(ranked_ids: object, where: str = "ranked_ids") -> list[str]:
    if isinstance(ranked_ids, (str, bytes, Mapping, set, frozenset)) or not isinstance(
        ranked_ids, Iterable
    ):
        raise InvalidInputError(
            f"{where} must be a sequence of doc ids ranked best first, "
            f"got {type(ranked_ids).__name__}"
        )
    ids = list(ranked_ids)
    seen: set[str] = set()
    for doc_id in ids:
        if not isinstance(doc_id, str):
            raise InvalidInputError(f"{where}: doc ids must be str, got {doc_id!r}")
        if doc_id in seen:
            raise InvalidInputError(f"{where}: doc id {doc_id!r} appears more than once")
        seen.add(doc_id)
    return ids


def _check_grades(grades: object, where: str = "grades") -> dict[str, int]:
    if not isinstance(grades, Mapping):
        raise InvalidInputError(
            f"{where} must be a mapping doc id -> int grade, got {type(grades).__name__}"
        )
    out: dict[str, int] = {}
    for doc_id, grade in grades.items():
        if not isinstance(doc_id, str):
            raise InvalidInputError(f"{where}: doc ids must be str, got {doc_id!r}")
        if isinstance(grade, bool) or not isinstance(grade, numbers.Integral):
            raise InvalidInputError(f"{where}[{doc_id!r}]: grade must be an int, got {grade!r}")
        out[doc_id] = int(grade)
    return out


def _relevant_set(relevant: object, where: str = "relevant") -> set[str]:
    if isinstance(relevant, Mapping):
        return {d for d, g in _check_grades(relevant, where).items() if g > 0}
    if isinstance(relevant, (str, bytes)) or not isinstance(relevant, Iterable):
        raise InvalidInputError(
            f"{where} must be a collection of doc ids or a mapping doc id -> grade, "
            f"got {type(relevant).__name__}"
        )
    out = set(relevant)
    bad = next((d for d in out if not isinstance(d, str)), None)
    if bad is not None:
        raise InvalidInputError(f"{where}: doc ids must be str, got {bad!r}")
    return out


def _check_choice(value: object, name: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InvalidInputError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


# ---------------------------------------------------------------------------- ordering


def _ranked(scores: object, tie_break: str, qid: object = None) -> list[str]:
    where = "run" if qid is None else f"run[{qid!r}]"
    if not isinstance(scores, Mapping):
        raise InvalidInputError(
            f"{where} must be a mapping doc id -> score, got {type(scores).__name__}"
        )
    items: list[tuple[float, str]] = []
    for doc_id, score in scores.items():
        if not isinstance(doc_id, str):
            raise InvalidInputError(f"{where}: doc ids must be str, got {doc_id!r}")
        if isinstance(score, bool) or not isinstance(score, numbers.Real):
            raise InvalidInputError(f"{where}[{doc_id!r}]: score must be a number, got {score!r}")
        value = float(score)
        if math.isnan(value):
            raise InvalidInputError(f"{where}[{doc_id!r}]: score is NaN")
        items.append((value, doc_id))
    if tie_break == "docid-desc":
        items.sort(reverse=True)
    elif tie_break == "docid-asc":
        items.sort(key=lambda item: item[1])
        items.sort(key=lambda item: item[0], reverse=True)  # stable: keeps doc id order
    else:  # "input": stable sort keeps the mapping's iteration order among ties
        items.sort(key=lambda item: item[0], reverse=True)
    return [doc_id for _, doc_id in items]


def ranked(run_for_query: Mapping[str, float], tie_break: TieBreak = "docid-desc") -> list[str]:
    """Doc ids of one query's ``{doc_id: score}`` ordered best first.

    Order: score descending; equal scores by ``tie_break``:
    ``"docid-desc"`` (default) doc id descending, as trec_eval / pytrec_eval do
    (Python ``str`` order, which equals their byte-wise ``strcmp`` on UTF-8);
    ``"docid-asc"`` doc id ascending; ``"input"`` the mapping's iteration order.
    NaN scores raise :class:`InvalidInputError`; infinite scores are allowed.
    """
    _check_choice(tie_break, "tie_break", _TIE_BREAKS)
    return _ranked(run_for_query, tie_break)


# ---------------------------------------------------------------------------- per query
# The _unchecked helpers take a list of unique doc ids, a set of relevant ids and an int k >= 1.


def _mrr(ids: list[str], rel: set[str], k: int) -> float:
    for i, doc_id in enumerate(ids[:k]):
        if doc_id in rel:
            return 1.0 / (i + 1)
    return 0.0


def _hit(ids: list[str], rel: set[str], k: int) -> float:
    return 1.0 if any(doc_id in rel for doc_id in ids[:k]) else 0.0


def _hits(ids: list[str], rel: set[str], k: int) -> int:
    return sum(doc_id in rel for doc_id in ids[:k])


def _recall(ids: list[str], rel: set[str], k: int) -> float:
    return _hits(ids, rel, k) / len(rel) if rel else 0.0


def _precision(ids: list[str], rel: set[str], k: int) -> float:
    return _hits(ids, rel, k) / k


def _average_precision(ids: list[str], rel: set[str], k: int) -> float:
    if not rel:
        return 0.0
    total, hits = 0.0, 0
    for i, doc_id in enumerate(ids[:k]):
        if doc_id in rel:
            hits += 1
            total += hits / (i + 1)
    return total / len(rel)


def _gain_fn(gain: str) -> Callable[[int], float]:
    if gain == "linear":
        return lambda g: float(g) if g > 0 else 0.0
    return lambda g: 2.0**g - 1.0 if g > 0 else 0.0


def _ndcg(ids: list[str], grades: Mapping[str, int], k: int, gain: str) -> float:
    to_gain = _gain_fn(gain)
    ideal = sorted((to_gain(g) for g in grades.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    if idcg == 0.0:
        return 0.0
    dcg = sum(to_gain(grades.get(d, 0)) / math.log2(i + 2) for i, d in enumerate(ids[:k]))
    return dcg / idcg


def mrr_at_k(ranked_ids: Sequence[str], relevant: Relevant, k: int) -> float:
    """Reciprocal rank: 1 / (rank of the first relevant doc) if that rank <= k, else 0.

    ``relevant`` is a collection of relevant doc ids, or a mapping doc id -> grade (grade > 0
    counts as relevant). Ranks start at 1.
    """
    return _mrr(_check_ranked_ids(ranked_ids), _relevant_set(relevant), _check_k(k))


def hit_at_k(ranked_ids: Sequence[str], relevant: Relevant, k: int) -> float:
    """Hit rate: 1.0 if any of the top k docs is relevant, else 0.0."""
    return _hit(_check_ranked_ids(ranked_ids), _relevant_set(relevant), _check_k(k))


def recall_at_k(ranked_ids: Sequence[str], relevant: Relevant, k: int) -> float:
    """Recall: |relevant ∩ top k| / |relevant|; 0.0 when nothing is relevant."""
    return _recall(_check_ranked_ids(ranked_ids), _relevant_set(relevant), _check_k(k))


def precision_at_k(ranked_ids: Sequence[str], relevant: Relevant, k: int) -> float:
    """Precision: |relevant ∩ top k| / k (k, not the number ranked, as trec_eval ``P_k``)."""
    return _precision(_check_ranked_ids(ranked_ids), _relevant_set(relevant), _check_k(k))


def average_precision_at_k(ranked_ids: Sequence[str], relevant: Relevant, k: int) -> float:
    """Average precision cut at k: sum over relevant ranks i <= k of P@i, divided by R.

    R is the number of ALL relevant docs of the query (retrieved or not), as trec_eval
    ``map_cut_k`` and ranx ``map@k`` do, not min(k, R). 0.0 when R = 0.
    """
    return _average_precision(_check_ranked_ids(ranked_ids), _relevant_set(relevant), _check_k(k))


def ndcg_at_k(ranked_ids: Sequence[str], grades: Relevant, k: int, gain: Gain = "linear") -> float:
    """Normalized DCG: DCG@k / IDCG@k, with DCG@k = sum_{i=1..k} gain(grade_i) / log2(i + 1).

    ``gain="linear"`` (default): gain = grade, as trec_eval / pytrec_eval ``ndcg_cut`` and
    ranx ``ndcg`` (Järvelin & Kekäläinen). ``gain="exponential"``: 2^grade - 1, as Burges et
    al. 2005 and ranx ``ndcg_burges``. Grades <= 0 and unjudged docs have gain 0. IDCG@k is
    the DCG of all judged docs sorted by grade; the result is 0.0 when IDCG is 0.
    ``grades`` maps doc id -> grade; a plain collection of ids means grade 1 each.
    """
    _check_choice(gain, "gain", _GAINS)
    if isinstance(grades, Mapping):
        graded = _check_grades(grades)
    else:
        graded = dict.fromkeys(_relevant_set(grades, "grades"), 1)
    return _ndcg(_check_ranked_ids(ranked_ids), graded, _check_k(k), gain)


# ---------------------------------------------------------------------------- whole runs


def parse_metric(name: str) -> tuple[str, int]:
    """Split a metric name such as ``"nDCG@10"`` into ``("ndcg", 10)`` (case-insensitive).

    Valid names: ``mrr@k``, ``hit@k``, ``ndcg@k``, ``recall@k``, ``map@k``, ``p@k`` with k a
    positive integer; anything else raises :class:`InvalidInputError` listing them.
    """
    match = _METRIC_RE.fullmatch(name) if isinstance(name, str) else None
    if match is None or int(match.group(2)) <= 0:
        raise InvalidInputError(
            f"unknown metric {name!r}; valid metrics are {', '.join(VALID_METRICS)} "
            "with k a positive integer, e.g. 'ndcg@10'"
        )
    return match.group(1).lower(), int(match.group(2))


def _parse_metrics(metrics: str | Iterable[str]) -> list[tuple[str, str, int]]:
    if isinstance(metrics, str):
        metrics = [metrics]
    parsed: dict[str, tuple[str, str, int]] = {}
    for name in metrics:
        kind, k = parse_metric(name)
        parsed.setdefault(f"{kind}@{k}", (f"{kind}@{k}", kind, k))
    if not parsed:
        raise InvalidInputError(f"no metric given; valid metrics are {', '.join(VALID_METRICS)}")
    return list(parsed.values())


def _run_ids(run: Mapping[object, object], qid: object, tie_break: str) -> list[str]:
    entry = run.get(qid)
    if entry is None:
        return []
    if isinstance(entry, Mapping):
        return _ranked(entry, tie_break, qid)
    return _check_ranked_ids(entry, f"run[{qid!r}]")


def evaluate_per_query(
    qrels: Qrels,
    run: Run,
    metrics: str | Iterable[str] = DEFAULT_METRICS,
    *,
    tie_break: TieBreak = "docid-desc",
    gain: Gain = "linear",
) -> dict[str, dict[str, float]]:
    """Per-query metric values: ``{metric: {query id: value}}``.

    ``run`` maps each query id to ``{doc_id: score}`` (ranked with :func:`ranked` and
    ``tie_break``) or to a list of doc ids already ranked best first. Metric keys are the
    canonical lower-case names (``"ndcg@10"``). Queries evaluated: those of ``qrels`` with at
    least one doc of grade > 0, in qrels order; one missing from ``run`` scores 0; run queries
    not in ``qrels`` are ignored (their entries are still validated). ``gain`` is for nDCG.
    Raises :class:`InvalidInputError` for unknown metrics, NaN scores, malformed inputs, or
    when no query of ``qrels`` has a relevant doc.
    """
    _check_choice(tie_break, "tie_break", _TIE_BREAKS)
    _check_choice(gain, "gain", _GAINS)
    parsed = _parse_metrics(metrics)
    if not isinstance(qrels, Mapping):
        raise InvalidInputError(f"qrels must be a mapping, got {type(qrels).__name__}")
    if not isinstance(run, Mapping):
        raise InvalidInputError(f"run must be a mapping, got {type(run).__name__}")

    ranked_run = {qid: _run_ids(run, qid, tie_break) for qid in run}
    out: dict[str, dict[str, float]] = {name: {} for name, _, _ in parsed}
    for qid, judged in qrels.items():
        grades = _check_grades(judged, f"qrels[{qid!r}]")
        rel = {d for d, g in grades.items() if g > 0}
        if not rel:
            continue
        ids = ranked_run.get(qid, [])
        for name, kind, k in parsed:
            if kind == "ndcg":
                value = _ndcg(ids, grades, k, gain)
            else:
                value = _SET_METRICS[kind](ids, rel, k)
            out[name][qid] = value
    if not out[parsed[0][0]]:
        raise InvalidInputError("no query in qrels has a relevant doc (grade > 0)")
    return out


def evaluate(
    qrels: Qrels,
    run: Run,
    metrics: str | Iterable[str] = DEFAULT_METRICS,
    *,
    tie_break: TieBreak = "docid-desc",
    gain: Gain = "linear",
) -> dict[str, float]:
    """Mean of each metric over the queries of ``qrels`` with at least one relevant doc.

    Same arguments, query selection and errors as :func:`evaluate_per_query`; returns
    ``{metric: mean}`` keyed by canonical lower-case names.
    """
    per_query = evaluate_per_query(qrels, run, metrics, tie_break=tie_break, gain=gain)
    return {name: math.fsum(values.values()) / len(values) for name, values in per_query.items()}


_SET_METRICS: dict[str, Callable[[list[str], set[str], int], float]] = {
    "mrr": _mrr,
    "hit": _hit,
    "recall": _recall,
    "p": _precision,
    "map": _average_precision,
}
