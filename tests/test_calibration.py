"""Calibration maps and ECE against independent references (scikit-learn, scipy)."""

from __future__ import annotations

import numpy as np
import pytest

from rerankit import InvalidInputError
from rerankit.calibration import Calibration, expected_calibration_error, fit_calibration


@pytest.fixture(scope="module")
def scores_and_labels():
    """Overconfident raw logits: true P(relevant) = sigmoid(raw / 3 - 0.5)."""
    rng = np.random.default_rng(7)
    raw = rng.normal(0, 4, size=3000)
    labels = (rng.random(raw.size) < 1 / (1 + np.exp(-(raw / 3 - 0.5)))).astype(int)
    return raw, labels


def test_platt_matches_scipy_on_the_smoothed_targets(scores_and_labels):
    from scipy.optimize import minimize

    raw, labels = scores_and_labels
    fitted = fit_calibration(raw, labels, "platt")
    pos, neg = labels.sum(), labels.size - labels.sum()
    t = np.where(labels == 1, (pos + 1) / (pos + 2), 1 / (neg + 2))

    def loss(params):
        z = params[0] * raw + params[1]
        return np.sum(np.logaddexp(0, z) - t * z)

    reference = minimize(loss, x0=[1.0, 0.0], method="BFGS").x
    assert fitted.a == pytest.approx(reference[0], abs=1e-4)
    assert fitted.b == pytest.approx(reference[1], abs=1e-4)
    # and it recovers the generating map
    assert fitted.a == pytest.approx(1 / 3, abs=0.05)
    assert fitted.b == pytest.approx(-0.5, abs=0.15)


def test_temperature_has_no_bias(scores_and_labels):
    raw, labels = scores_and_labels
    fitted = fit_calibration(raw, labels, "temperature")
    assert fitted.b == 0.0 and 0 < fitted.a < 1


def test_isotonic_matches_scikit_learn(scores_and_labels):
    from sklearn.isotonic import IsotonicRegression

    raw, labels = scores_and_labels
    fitted = fit_calibration(raw, labels, "isotonic")
    reference = IsotonicRegression(out_of_bounds="clip").fit(raw, labels)
    # at each block centre our value is the block's mean label, as sklearn's fit there
    np.testing.assert_allclose(fitted(np.array(fitted.x)), fitted.y)
    np.testing.assert_allclose(sorted(set(np.round(fitted.y, 12))),
                               sorted(set(np.round(reference.predict(raw), 12))))


@pytest.mark.parametrize("method", ["temperature", "platt", "isotonic"])
def test_calibrated_scores_are_monotonic_and_improve_ece(scores_and_labels, method):
    raw, labels = scores_and_labels
    train, held = slice(0, 2000), slice(2000, None)
    fitted = fit_calibration(raw[train], labels[train], method)
    grid = np.linspace(-20, 20, 2001)
    assert np.all(np.diff(fitted(grid)) >= 0)
    before = expected_calibration_error(1 / (1 + np.exp(-raw[held])), labels[held])
    after = expected_calibration_error(fitted(raw[held]), labels[held])
    assert after < before / 2, (before, after)


def test_round_trip_through_json(tmp_path, scores_and_labels):
    raw, labels = scores_and_labels
    for method in ("platt", "isotonic"):
        fitted = fit_calibration(raw, labels, method)
        fitted.save(tmp_path / "c.json")
        loaded = Calibration.load(tmp_path / "c.json")
        np.testing.assert_allclose(loaded(raw), fitted(raw))


def test_ece_against_a_hand_computed_value():
    p = [0.05, 0.15, 0.95, 0.85, 1.0]
    y = [0, 1, 1, 1, 0]
    # bins: [0,.1): 0.05 vs 0; [.1,.2): 0.15 vs 1; [.8,.9): .85 vs 1; [.9,1]: .975 vs .5
    expected = (abs(0.05) + abs(0.15 - 1) + abs(0.85 - 1) + 2 * abs(0.975 - 0.5)) / 5
    assert expected_calibration_error(p, y) == pytest.approx(expected)


@pytest.mark.parametrize("raw, labels, message", [
    ([1.0, 2.0], [1, 1], "both relevant and non-relevant"),
    ([1.0, float("nan")], [0, 1], "finite"),
    ([1.0, 2.0], [0, 2], "0 .* or 1"),
    ([1.0], [0, 1], "equal length"),
])
def test_bad_inputs(raw, labels, message):
    with pytest.raises(InvalidInputError, match=message):
        fit_calibration(raw, labels)
    with pytest.raises(InvalidInputError, match="method"):
        fit_calibration([0.0, 1.0], [0, 1], "beta")
