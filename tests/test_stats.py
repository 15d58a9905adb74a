"""rerankit.stats against independent references and constructed cases.

References: ``scipy.stats.permutation_test`` (paired sign flips, exact when it enumerates
every pattern), ``scipy.stats.bootstrap(method="percentile")``, Holm's sequential rejection
procedure written out step by step, a hand-computed Holm example and, when installed,
``statsmodels.stats.multitest.multipletests(method="holm")``.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats as sps

from rerankit._exceptions import InvalidInputError
from rerankit.stats import (
    Comparison,
    bootstrap_ci,
    compare_to_baseline,
    holm_adjust,
    paired_randomization_test,
)


def as_dict(values: np.ndarray, prefix: str = "q") -> dict[str, float]:
    return {f"{prefix}{i}": float(v) for i, v in enumerate(values)}


def mean_diff(x: np.ndarray, y: np.ndarray, axis: int) -> np.ndarray:
    return np.mean(x - y, axis=axis)


def scipy_p(a: np.ndarray, b: np.ndarray, n_resamples: int, seed: int = 1) -> float:
    res = sps.permutation_test(
        (a, b),
        statistic=mean_diff,
        vectorized=True,
        permutation_type="samples",
        alternative="two-sided",
        n_resamples=n_resamples,
        rng=np.random.default_rng(seed),
    )
    return float(res.pvalue)


def systems(n: int, shifts: dict[str, float], noise: float = 0.1, seed: int = 0):
    """A baseline with per-query difficulty and systems = baseline + shift + noise."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.1, 0.6, n)
    out = {"none": as_dict(base)}
    for name, shift in shifts.items():
        out[name] = as_dict(base + shift + rng.normal(0.0, noise, n))
    return out


# ---------------------------------------------------------------------------- randomization


def exact_cases() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(42)
    cases = []
    for n in (2, 5, 8, 11, 13):  # continuous values, no ties
        a = rng.uniform(0, 1, n)
        cases.append((a, a + rng.normal(0.1, 0.3, n)))
    for n in (6, 10, 12):  # metric-like grid values: many tied sums, some zero differences
        a = rng.choice([0.0, 0.25, 0.5, 1.0], n)
        cases.append((a, rng.choice([0.0, 0.25, 0.5, 1.0], n)))
    cases.append((np.array([1.0, 0.0, 0.75, 0.25]), np.array([0.0, 1.0, 0.25, 0.75])))  # mean 0
    return cases


@pytest.mark.parametrize("a, b", exact_cases())
def test_exact_enumeration_equals_scipy(a: np.ndarray, b: np.ndarray) -> None:
    n = a.size
    ours = paired_randomization_test(as_dict(a), as_dict(b), resamples=2**n)
    ref = scipy_p(a, b, n_resamples=2**n)  # scipy is exact when n_resamples >= 2^n
    assert ours == pytest.approx(ref, rel=1e-12, abs=1e-15)
    # Order of a and b does not matter for a two-sided test.
    assert paired_randomization_test(as_dict(b), as_dict(a), resamples=2**n) == ours


@pytest.mark.parametrize("n, shift", [(40, 0.05), (120, 0.03), (250, 0.02)])
def test_monte_carlo_close_to_scipy(n: int, shift: float) -> None:
    rng = np.random.default_rng(n)
    a = rng.uniform(0, 1, n)
    b = a + shift + rng.normal(0.0, 0.2, n)
    ours = paired_randomization_test(as_dict(a), as_dict(b), resamples=10_000, seed=3)
    ref = scipy_p(a, b, n_resamples=10_000, seed=7)
    assert 0.005 < ref < 0.9  # a p-value where Monte Carlo error is visible
    # Each estimate has sd <= sqrt(p(1-p)/10000) <= 0.005; 0.025 is > 3.5 sd of the difference.
    assert ours == pytest.approx(ref, abs=0.025)


def test_monte_carlo_close_to_exact() -> None:
    rng = np.random.default_rng(5)
    n = 16
    a = rng.uniform(0, 1, n)
    b = a + rng.normal(0.08, 0.25, n)
    exact = paired_randomization_test(as_dict(a), as_dict(b), resamples=2**n)
    mc = paired_randomization_test(as_dict(a), as_dict(b), resamples=2**n - 1)  # Monte Carlo
    assert exact == pytest.approx(scipy_p(a, b, n_resamples=2**n), rel=1e-12)
    assert mc == pytest.approx(exact, abs=0.01)


def test_p_value_is_never_zero_and_one_when_no_difference() -> None:
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 1, 100)
    p = paired_randomization_test(as_dict(a + 0.5), as_dict(a), resamples=999)
    assert p == 1 / 1000
    for resamples in (999, 2**10):  # Monte Carlo and exact paths
        assert paired_randomization_test(as_dict(a[:10]), as_dict(a[:10]), resamples=resamples) == 1
    # Exact path: only the identity and its mirror reach the observed |sum|.
    assert paired_randomization_test([0.7], [0.2]) == 1.0  # n = 1: both patterns reach it
    assert paired_randomization_test([1.0, 2.0, 3.0], [0.0, 0.0, 0.0], resamples=8) == 2 / 8


def test_calibrated_under_the_null() -> None:
    """With exchangeable pairs, P(p <= alpha) is at most about alpha (and not far below)."""
    rng = np.random.default_rng(11)
    rejections = 0
    trials = 400
    for trial in range(trials):
        difficulty = rng.uniform(0, 1, 30)
        a = np.clip(difficulty + rng.normal(0, 0.2, 30), 0, 1)
        b = np.clip(difficulty + rng.normal(0, 0.2, 30), 0, 1)
        rejections += paired_randomization_test(list(a), list(b), resamples=999, seed=trial) <= 0.05
    assert 0.02 <= rejections / trials <= 0.09  # binomial sd at 0.05 is 0.011


def test_sequences_paired_by_position_and_dicts_by_query_id() -> None:
    a = {"q1": 0.9, "q2": 0.8, "q3": 0.7, "q4": 0.95}
    b = {"q4": 0.1, "q3": 0.2, "q2": 0.3, "q1": 0.15}  # other insertion order
    by_id = paired_randomization_test(a, b, resamples=100)
    by_pos = paired_randomization_test([0.9, 0.8, 0.7, 0.95], [0.15, 0.3, 0.2, 0.1], resamples=100)
    assert by_id == by_pos == 2 / 16
    assert paired_randomization_test(np.array([1.0, 2.0]), np.array([0.0, 0.0])) == 0.5


# ---------------------------------------------------------------------------- bootstrap


@pytest.mark.parametrize("n, dist", [(30, "normal"), (100, "skewed"), (400, "grid")])
def test_bootstrap_ci_close_to_scipy(n: int, dist: str) -> None:
    rng = np.random.default_rng(n)
    if dist == "normal":
        x = rng.normal(0.05, 0.2, n)
    elif dist == "skewed":
        x = rng.exponential(0.1, n) - 0.05
    else:
        x = rng.choice([-1.0, -0.5, 0.0, 0.0, 0.0, 0.5, 1.0], n)
    low, high = bootstrap_ci(list(x), resamples=20_000, seed=1)
    ref = sps.bootstrap(
        (x,), np.mean, method="percentile", n_resamples=20_000, rng=np.random.default_rng(99)
    ).confidence_interval
    se = x.std(ddof=1) / np.sqrt(n)
    # A 2.5% quantile from 20k resamples has sd ~0.02 se; allow 0.1 se (> 3.5 sd of the gap).
    assert low == pytest.approx(ref.low, abs=0.1 * se)
    assert high == pytest.approx(ref.high, abs=0.1 * se)
    assert low < x.mean() < high


def test_bootstrap_ci_degenerate_nested_and_dict_input() -> None:
    assert bootstrap_ci([0.3]) == (0.3, 0.3)
    assert bootstrap_ci([0.25] * 50) == (0.25, 0.25)
    x = as_dict(np.random.default_rng(2).normal(0, 1, 80))
    narrow = bootstrap_ci(x, confidence=0.8)
    wide = bootstrap_ci(x, confidence=0.99)
    assert wide[0] < narrow[0] < narrow[1] < wide[1]


def test_bootstrap_coverage() -> None:
    """The 95% percentile interval covers the true mean about 95% of the time."""
    rng = np.random.default_rng(8)
    trials, covered = 300, 0
    for trial in range(trials):
        x = rng.normal(0.1, 0.3, 40)
        low, high = bootstrap_ci(list(x), resamples=2000, seed=trial)
        covered += low <= 0.1 <= high
    assert 0.89 <= covered / trials <= 0.98  # binomial sd at 0.94 is 0.014


# ---------------------------------------------------------------------------- Holm


def test_holm_hand_computed() -> None:
    # Sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, max(0.04*1, 0.06) = 0.06.
    adjusted = holm_adjust([0.01, 0.04, 0.03, 0.005])
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02], abs=1e-15)
    assert holm_adjust([0.5, 0.9]) == [1.0, 1.0]  # capped at 1
    assert holm_adjust([0.02]) == [0.02]
    assert holm_adjust([]) == []


def holm_rejects(p: list[float], alpha: float) -> set[int]:
    """Holm's sequentially rejective procedure (Holm 1979), step by step."""
    order = sorted(range(len(p)), key=lambda i: p[i])
    rejected: set[int] = set()
    for step, i in enumerate(order):
        if p[i] > alpha / (len(p) - step):
            break
        rejected.add(i)
    return rejected


def test_holm_agrees_with_the_sequential_procedure() -> None:
    rng = np.random.default_rng(4)
    for _ in range(200):
        m = int(rng.integers(1, 12))
        p = [float(v) for v in rng.uniform(0, 0.2, m) ** rng.uniform(0.5, 2)]
        if rng.random() < 0.5:
            p = [round(v, 2) for v in p]  # ties
        adjusted = holm_adjust(p)
        assert all(a >= q for a, q in zip(adjusted, p, strict=True))
        assert all(a <= 1 for a in adjusted)
        by_p = [adjusted[i] for i in np.argsort(p)]
        assert by_p == sorted(by_p)  # monotone in the raw p-values
        for alpha in (0.01, 0.05, 0.1):
            assert {i for i, a in enumerate(adjusted) if a <= alpha} == holm_rejects(p, alpha)


def test_holm_matches_statsmodels() -> None:
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    rng = np.random.default_rng(6)
    for m in (1, 3, 7, 20):
        p = rng.uniform(0, 0.3, m)
        ref = multitest.multipletests(p, method="holm")[1]
        assert holm_adjust(list(p)) == pytest.approx(list(ref), abs=1e-12)


# ---------------------------------------------------------------------------- comparisons


def test_identical_system_is_no_evidence() -> None:
    data = systems(50, {})
    data["copy"] = dict(data["none"])
    c = compare_to_baseline(data, "none", metric="ndcg@10")["copy"]
    assert (c.p_value, c.p_adjusted, c.label) == (1.0, 1.0, "no evidence")
    assert (c.delta, c.ci_low, c.ci_high) == (0.0, 0.0, 0.0)
    assert (c.queries, c.wins, c.losses, c.ties) == (50, 0, 0, 50)
    assert (c.system, c.baseline, c.metric) == ("copy", "none", "ndcg@10")


def test_clearly_better_and_clearly_worse() -> None:
    data = systems(100, {"good": 0.3, "bad": -0.3, "same": 0.0})
    result = compare_to_baseline(data, "none")
    assert list(result) == ["good", "bad", "same"]
    base = np.array(list(data["none"].values()))
    for name, sign in (("good", 1), ("bad", -1)):
        c = result[name]
        x = np.array(list(data[name].values()))
        assert c.label == ("better" if sign > 0 else "worse")
        assert c.p_value < 0.01 and c.p_adjusted < 0.01
        assert c.mean == pytest.approx(x.mean()) and c.baseline_mean == pytest.approx(base.mean())
        assert c.delta == pytest.approx(x.mean() - base.mean())
        assert c.delta == pytest.approx(0.3 * sign, abs=0.05)
        assert c.ci_low < c.delta < c.ci_high
        assert (c.ci_low > 0) if sign > 0 else (c.ci_high < 0)
        assert c.wins == int(np.sum(x > base)) and c.losses == int(np.sum(x < base))
        assert c.wins + c.losses + c.ties == c.queries == 100
    assert result["same"].label == "no evidence"
    assert result["same"].ci_low < 0 < result["same"].ci_high


def test_tiny_noisy_difference_is_no_evidence() -> None:
    data = systems(80, {"tiny": 0.003}, noise=0.2, seed=3)
    c = compare_to_baseline(data, "none")["tiny"]
    assert c.label == "no evidence"
    assert c.p_value > 0.2
    assert c.ci_low < 0 < c.ci_high


def test_holm_correction_turns_a_marginal_win_into_no_evidence() -> None:
    rng = np.random.default_rng(1)
    n = 100
    z = rng.normal(0, 1, n)
    d = 0.05 * ((z - z.mean()) / z.std(ddof=1) + 0.23)  # t statistic 2.3: p about 0.02
    base = rng.uniform(0.2, 0.6, n)
    data = {"none": as_dict(base), "marginal": as_dict(base + d)}
    alone = compare_to_baseline(data, "none")["marginal"]
    assert 0.01 < alone.p_value < 0.05
    assert alone.p_adjusted == alone.p_value
    assert alone.label == "better"

    for k in range(5):
        data[f"copy{k}"] = dict(data["none"])
    crowded = compare_to_baseline(data, "none")
    marginal = crowded["marginal"]
    assert marginal.p_value == alone.p_value  # same seed per system: raw p unchanged
    assert marginal.p_adjusted == pytest.approx(min(1.0, 6 * alone.p_value))
    assert marginal.p_adjusted > 0.05
    assert marginal.label == "no evidence"
    assert [c.p_adjusted for c in crowded.values()] == holm_adjust(
        [c.p_value for c in crowded.values()]
    )


def test_strong_results_survive_correction() -> None:
    data = systems(100, {"a": 0.2, "b": 0.25, "c": 0.0, "d": 0.0, "e": -0.2})
    labels = {k: c.label for k, c in compare_to_baseline(data, "none").items()}
    assert labels == {
        "a": "better",
        "b": "better",
        "c": "no evidence",
        "d": "no evidence",
        "e": "worse",
    }


def test_deterministic_with_seed_and_independent_of_query_order() -> None:
    data = systems(120, {"x": 0.02, "y": -0.01}, noise=0.15)
    first = compare_to_baseline(data, "none", seed=7)
    assert compare_to_baseline(data, "none", seed=7) == first
    shuffled = {name: dict(reversed(list(values.items()))) for name, values in data.items()}
    assert compare_to_baseline(shuffled, "none", seed=7) == first
    other = compare_to_baseline(data, "none", seed=8)
    assert any(
        (other[k].p_value, other[k].ci_low) != (first[k].p_value, first[k].ci_low) for k in first
    )
    a, b = data["x"], data["none"]
    assert paired_randomization_test(a, b, seed=3) == paired_randomization_test(a, b, seed=3)
    diffs = [a[q] - b[q] for q in a]
    assert bootstrap_ci(diffs, seed=3) == bootstrap_ci(diffs, seed=3)


def test_comparison_is_frozen_and_baseline_alone_gives_nothing() -> None:
    data = systems(10, {"x": 0.1})
    c = compare_to_baseline(data, "none")["x"]
    assert isinstance(c, Comparison)
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.label = "better"  # type: ignore[misc]
    assert compare_to_baseline({"none": data["none"]}, "none") == {}


# ---------------------------------------------------------------------------- bad input


def test_nan_and_non_numbers_rejected() -> None:
    data = systems(10, {"x": 0.1})
    data["x"]["q3"] = float("nan")
    with pytest.raises(InvalidInputError, match="q3"):
        compare_to_baseline(data, "none")
    with pytest.raises(InvalidInputError):
        paired_randomization_test(data["x"], data["none"])
    with pytest.raises(InvalidInputError):
        paired_randomization_test({"q": float("inf")}, {"q": 0.0})
    with pytest.raises(InvalidInputError):
        bootstrap_ci([0.1, float("nan")])
    with pytest.raises(InvalidInputError):
        bootstrap_ci(["0.1"])  # type: ignore[list-item]
    with pytest.raises(InvalidInputError):
        holm_adjust([0.1, float("nan")])
    with pytest.raises(InvalidInputError):
        holm_adjust([0.1, 1.5])


def test_missing_query_ids_named() -> None:
    data = systems(10, {"x": 0.1})
    del data["x"]["q4"], data["x"]["q7"]
    with pytest.raises(InvalidInputError, match=r"'q4', 'q7'"):
        compare_to_baseline(data, "none")
    with pytest.raises(InvalidInputError, match="q4"):
        paired_randomization_test(data["x"], data["none"])
    data["x"]["extra"] = 0.0
    with pytest.raises(InvalidInputError, match="extra"):
        paired_randomization_test(data["none"], data["x"])
    with pytest.raises(InvalidInputError, match="length"):
        paired_randomization_test([0.1, 0.2], [0.1])
    with pytest.raises(InvalidInputError):
        paired_randomization_test({}, {})
    with pytest.raises(InvalidInputError):
        bootstrap_ci([])


def test_bad_arguments() -> None:
    data = systems(10, {"x": 0.1})
    with pytest.raises(InvalidInputError, match="nope"):
        compare_to_baseline(data, "nope")
    for alpha in (0, 1, -0.1, 1.5, "0.05", True):
        with pytest.raises(InvalidInputError, match="alpha"):
            compare_to_baseline(data, "none", alpha=alpha)  # type: ignore[arg-type]
    for resamples in (0, -5, 2.5, True, "100"):
        with pytest.raises(InvalidInputError, match="resamples"):
            compare_to_baseline(data, "none", resamples=resamples)  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError, match="resamples"):
            paired_randomization_test(data["x"], data["none"], resamples=resamples)  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError, match="resamples"):
            bootstrap_ci([0.1, 0.2], resamples=resamples)  # type: ignore[arg-type]
    for confidence in (0, 1, 95):
        with pytest.raises(InvalidInputError, match="confidence"):
            bootstrap_ci([0.1, 0.2], confidence=confidence)
    with pytest.raises(InvalidInputError):
        compare_to_baseline({"none": [0.1, 0.2], "x": [0.2, 0.3]}, "none")  # type: ignore[dict-item]


def test_import_does_not_pull_in_scipy() -> None:
    code = "import sys, rerankit.stats; assert 'scipy' not in sys.modules, 'scipy imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
