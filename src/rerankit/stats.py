"""Significance testing for comparing rerankers on per-query metric values.

A system's per-query values are a dict ``{query_id: float}``; systems compared with each other
must cover the same query ids. The tools:

* :func:`paired_randomization_test` -- two-sided p-value for mean(a - b) != 0 by random sign
  flips of the paired differences (Fisher 1935; Pitman 1937), the test recommended for IR
  evaluation by Smucker, Allan & Carterette (CIKM 2007).
* :func:`bootstrap_ci` -- percentile bootstrap confidence interval of a mean (Efron &
  Tibshirani 1993); pass ``a - b`` to get an interval for a paired difference.
* :func:`holm_adjust` -- Holm (1979) step-down adjusted p-values for multiple comparisons.
* :func:`compare_to_baseline` -- every system against one baseline (e.g. no reranking), with
  deltas, bootstrap intervals, Holm-corrected p-values and a verdict label.

Only numpy is needed; everything is vectorised and seeded, so results are reproducible.

>>> base = {"q1": 0.2, "q2": 0.5, "q3": 0.1, "q4": 0.4}
>>> better = {"q1": 0.6, "q2": 0.9, "q3": 0.5, "q4": 0.8}
>>> paired_randomization_test(better, base)  # 2^4 sign patterns enumerated exactly
0.125
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from rerankit._exceptions import InvalidInputError

__all__ = [
    "Comparison",
    "bootstrap_ci",
    "compare_to_baseline",
    "holm_adjust",
    "paired_randomization_test",
]

Label = Literal["better", "no evidence", "worse"]
Values = Mapping[str, float] | Sequence[float] | np.ndarray

# Random draws are made in chunks of about this many matrix cells (8 MiB as float64).
_CHUNK_CELLS = 1 << 20
# Sign-flipped sums within this fraction of sum(|d|) of the observed one count as ties, so
# that rounding in the summation order cannot split exactly tied patterns.
_TIE_RTOL = 1e-9
_MAX_SHOWN = 5


# ---------------------------------------------------------------------------- validation


def _check_resamples(resamples: object) -> int:
    if isinstance(resamples, bool) or not isinstance(resamples, numbers.Integral) or resamples < 1:
        raise InvalidInputError(f"resamples must be a positive int, got {resamples!r}")
    return int(resamples)


def _check_open_unit(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidInputError(f"{name} must be a number in (0, 1), got {value!r}")
    value = float(value)
    if not 0.0 < value < 1.0:
        raise InvalidInputError(f"{name} must be in (0, 1), got {value!r}")
    return value


def _to_float(value: object, where: str) -> float:
    if isinstance(value, (str, bytes)) or not isinstance(value, (numbers.Real, np.bool_)):
        raise InvalidInputError(f"{where}: expected a number, got {value!r}")
    out = float(value)
    if not math.isfinite(out):
        raise InvalidInputError(f"{where}: value is {out!r}; metric values must be finite")
    return out


def _name_ids(ids: set[object]) -> str:
    shown = sorted(ids, key=str)[:_MAX_SHOWN]
    more = f" (and {len(ids) - _MAX_SHOWN} more)" if len(ids) > _MAX_SHOWN else ""
    return ", ".join(repr(i) for i in shown) + more


def _check_same_ids(ref: Mapping, other: Mapping, ref_name: str, other_name: str) -> None:
    missing = set(ref) - set(other)
    extra = set(other) - set(ref)
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"{other_name} lacks query ids {_name_ids(missing)}")
        if extra:
            parts.append(f"{ref_name} lacks query ids {_name_ids(extra)}")
        raise InvalidInputError(
            "per-query values must cover the same query ids: " + "; ".join(parts)
        )


def _array(values: Values, name: str, order: Sequence[object] | None = None) -> np.ndarray:
    """Values as a 1-d float64 array (a mapping read in ``order``, else in its own order)."""
    if isinstance(values, Mapping):
        keys = list(values) if order is None else order
        out = [_to_float(values[k], f"{name}[{k!r}]") for k in keys]
    elif isinstance(values, np.ndarray) or (
        isinstance(values, Sequence) and not isinstance(values, (str, bytes))
    ):
        if isinstance(values, np.ndarray) and values.ndim != 1:
            raise InvalidInputError(f"{name} must be one-dimensional")
        out = [_to_float(v, f"{name}[{i}]") for i, v in enumerate(values)]
    else:
        raise InvalidInputError(f"{name} must be a mapping or a sequence of numbers")
    if not out:
        raise InvalidInputError(f"{name} is empty: need at least one query")
    return np.asarray(out, dtype=np.float64)


def _paired(a: Values, b: Values) -> np.ndarray:
    """The paired differences a - b (mappings matched by query id, sorted for determinism)."""
    if isinstance(a, Mapping) != isinstance(b, Mapping):
        raise InvalidInputError("a and b must both be mappings or both be sequences")
    if isinstance(a, Mapping):
        _check_same_ids(a, b, "a", "b")
        order = sorted(a, key=str)
        return _array(a, "a", order) - _array(b, "b", order)
    xa, xb = _array(a, "a"), _array(b, "b")
    if xa.shape != xb.shape:
        raise InvalidInputError(f"a and b differ in length: {xa.size} != {xb.size}")
    return xa - xb


def _chunk_rows(n: int) -> int:
    return max(1, _CHUNK_CELLS // max(n, 1))


# ---------------------------------------------------------------------------- tests


def _randomization_p(d: np.ndarray, resamples: int, seed: int | None) -> float:
    n = d.size
    if not np.any(d):
        return 1.0
    total_sum = float(d.sum())
    # Flipping the signs of the differences picked by a 0/1 row ``b`` gives sum(d) - 2 b.d.
    threshold = abs(total_sum) - _TIE_RTOL * float(np.abs(d).sum())
    rows = _chunk_rows(n)
    count = 0
    if n < 63 and 2**n <= resamples:
        # Exact: every one of the 2^n sign patterns, the identity included, so p >= 2 / 2^n.
        total = 2**n
        shifts = np.arange(n, dtype=np.int64)
        for start in range(0, total, rows):
            idx = np.arange(start, min(start + rows, total), dtype=np.int64)
            flips = ((idx[:, None] >> shifts) & 1).astype(np.float64)
            count += int(np.count_nonzero(np.abs(total_sum - 2.0 * (flips @ d)) >= threshold))
        return count / total
    rng = np.random.default_rng(seed)
    for start in range(0, resamples, rows):
        m = min(rows, resamples - start)
        packed = rng.integers(0, 256, size=(m, (n + 7) // 8), dtype=np.uint8)
        flips = np.unpackbits(packed, axis=1, count=n).astype(np.float64)
        count += int(np.count_nonzero(np.abs(total_sum - 2.0 * (flips @ d)) >= threshold))
    return (count + 1) / (resamples + 1)


def paired_randomization_test(
    a: Values, b: Values, *, resamples: int = 10_000, seed: int | None = 0
) -> float:
    """Two-sided p-value of mean(a - b) != 0 by a paired randomization (sign-flip) test.

    Under the null hypothesis the two systems are exchangeable on each query, so every sign
    of each paired difference is equally likely (Fisher 1935; Pitman 1937; for IR see Smucker,
    Allan & Carterette, CIKM 2007). The p-value is the share of sign patterns whose
    ``|sum(d)|`` is at least the observed one. When ``2**n <= resamples`` all 2^n patterns are
    enumerated (exact p); otherwise ``resamples`` random patterns are drawn and
    p = (count + 1) / (resamples + 1), which is never 0. If every difference is 0, p = 1.

    ``a`` and ``b`` are ``{query_id: value}`` dicts with the same ids (or equal-length
    sequences, paired by position). Raises :class:`InvalidInputError` on missing ids or
    non-finite values.
    """
    resamples = _check_resamples(resamples)
    return _randomization_p(_paired(a, b), resamples, seed)


def _bootstrap(x: np.ndarray, confidence: float, resamples: int, seed: int | None):
    n = x.size
    rng = np.random.default_rng(seed)
    means = np.empty(resamples, dtype=np.float64)
    rows = _chunk_rows(n)
    for start in range(0, resamples, rows):
        m = min(rows, resamples - start)
        means[start : start + m] = x[rng.integers(0, n, size=(m, n))].mean(axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)


def bootstrap_ci(
    values: Values,
    *,
    confidence: float = 0.95,
    resamples: int = 10_000,
    seed: int | None = 0,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean (Efron & Tibshirani 1993, ch. 13).

    Draws ``resamples`` samples of the n values with replacement and returns the
    ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles (linear interpolation, as
    ``scipy.stats.bootstrap(method="percentile")``) of their means. For a paired difference
    pass the per-query differences ``a - b``. ``values`` is a ``{query_id: value}`` dict or a
    sequence of numbers.
    """
    confidence = _check_open_unit(confidence, "confidence")
    resamples = _check_resamples(resamples)
    return _bootstrap(_array(values, "values"), confidence, resamples, seed)


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Holm (1979) step-down adjusted p-values, in input order.

    With the m p-values sorted ascending, p_(i) becomes max over j <= i of
    min(1, (m - j + 1) p_(j)): monotone in the raw p-values and capped at 1. Rejecting where
    the adjusted p < alpha controls the family-wise error rate at alpha.
    """
    if isinstance(p_values, (str, bytes, Mapping)):
        raise InvalidInputError("p_values must be a sequence of numbers")
    p = np.asarray([_to_float(v, f"p_values[{i}]") for i, v in enumerate(p_values)])
    if p.size == 0:
        return []
    if np.any((p < 0.0) | (p > 1.0)):
        raise InvalidInputError(f"p-values must lie in [0, 1], got {p.tolist()}")
    m = p.size
    order = np.argsort(p, kind="stable")
    stepped = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.empty(m, dtype=np.float64)
    adjusted[order] = np.maximum.accumulate(stepped)
    return adjusted.tolist()


# ---------------------------------------------------------------------------- comparison


@dataclass(frozen=True)
class Comparison:
    """One system against the baseline on one metric.

    ``delta`` = ``mean`` - ``baseline_mean``; ``ci_low``/``ci_high`` is the percentile
    bootstrap interval of the paired delta; ``p_value`` is the paired randomization test and
    ``p_adjusted`` its Holm correction over all systems compared; ``wins``/``losses``/``ties``
    count queries where the system's value is above / below / equal to the baseline's.
    """

    system: str
    baseline: str
    metric: str
    mean: float
    baseline_mean: float
    delta: float
    ci_low: float
    ci_high: float
    p_value: float
    p_adjusted: float
    label: Label
    queries: int
    wins: int
    losses: int
    ties: int


def compare_to_baseline(
    per_query: Mapping[str, Mapping[str, float]],
    baseline: str,
    *,
    metric: str = "",
    alpha: float = 0.05,
    confidence: float = 0.95,
    resamples: int = 10_000,
    seed: int | None = 0,
) -> dict[str, Comparison]:
    """Compare every system in ``per_query`` (name -> {query_id: value}) with ``baseline``.

    Each system gets a paired randomization test (:func:`paired_randomization_test`) and a
    bootstrap CI of the paired delta (:func:`bootstrap_ci` at ``confidence``), both seeded
    with ``seed`` so a system's result does not depend on which others are compared. The
    p-values are Holm-corrected (:func:`holm_adjust`) over the systems compared. The label is
    "better" when p_adjusted < alpha and delta > 0, "worse" when p_adjusted < alpha and
    delta < 0, else "no evidence". Returns name -> :class:`Comparison` in input order, the
    baseline excluded (empty if it is the only system).
    """
    alpha = _check_open_unit(alpha, "alpha")
    confidence = _check_open_unit(confidence, "confidence")
    resamples = _check_resamples(resamples)
    if not isinstance(per_query, Mapping):
        raise InvalidInputError("per_query must map system name -> {query_id: value}")
    if baseline not in per_query:
        raise InvalidInputError(
            f"baseline {baseline!r} is not among the systems: {_name_ids(set(per_query))}"
        )
    for name, values in per_query.items():
        if not isinstance(values, Mapping):
            raise InvalidInputError(f"system {name!r}: expected a {{query_id: value}} mapping")
    base_values = per_query[baseline]
    if not base_values:
        raise InvalidInputError(f"baseline {baseline!r} has no queries")
    order = sorted(base_values, key=str)
    base = _array(base_values, f"{baseline}", order)
    base_mean = float(base.mean())

    rows: list[tuple[str, float, np.ndarray, float, tuple[float, float]]] = []
    for name, values in per_query.items():
        if name == baseline:
            continue
        _check_same_ids(base_values, values, f"baseline {baseline!r}", f"system {name!r}")
        x = _array(values, f"{name}", order)
        d = x - base
        p = _randomization_p(d, resamples, seed)
        ci = _bootstrap(d, confidence, resamples, seed)
        rows.append((name, float(x.mean()), d, p, ci))

    adjusted = holm_adjust([row[3] for row in rows])
    out: dict[str, Comparison] = {}
    for (name, mean, d, p, (low, high)), p_adj in zip(rows, adjusted, strict=True):
        delta = mean - base_mean
        label: Label = "no evidence"
        if p_adj < alpha and delta > 0:
            label = "better"
        elif p_adj < alpha and delta < 0:
            label = "worse"
        out[name] = Comparison(
            system=name,
            baseline=baseline,
            metric=metric,
            mean=mean,
            baseline_mean=base_mean,
            delta=delta,
            ci_low=low,
            ci_high=high,
            p_value=p,
            p_adjusted=p_adj,
            label=label,
            queries=int(d.size),
            wins=int(np.count_nonzero(d > 0)),
            losses=int(np.count_nonzero(d < 0)),
            ties=int(np.count_nonzero(d == 0)),
        )
    return out
