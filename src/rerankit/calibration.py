"""Raw model scores -> calibrated probabilities of relevance, and how well they are calibrated.

Three fitted maps, all monotonic non-decreasing in the raw score (ranking never changes):

* ``temperature``: ``p = sigmoid(raw / T)`` (one parameter, Guo et al. 2017);
* ``platt``: ``p = sigmoid(a * raw + b)`` (Platt 1999, with his smoothed targets
  ``(N+ + 1) / (N+ + 2)`` and ``1 / (N- + 2)`` so separable data does not diverge);
* ``isotonic``: pool-adjacent-violators on the labels, applied by linear interpolation
  between block centres (Zadrozny and Elkan 2002), so it is strictly increasing inside the
  fitted range and flat outside it.

:func:`expected_calibration_error` measures the result: the mean absolute gap between
predicted probability and observed relevance over equal-width probability bins, weighted by
bin size (Naeini et al. 2015).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rerankit._exceptions import InvalidInputError

METHODS = ("temperature", "platt", "isotonic")
CALIBRATION_FILE = "rerankit_calibration.json"


def _sigmoid(x: np.ndarray) -> np.ndarray:
    from rerankit.rerankers.base import sigmoid

    return sigmoid(x)


@dataclass(frozen=True)
class Calibration:
    """A fitted map from raw scores to probabilities (see the module docstring)."""

    method: str
    a: float = 1.0
    b: float = 0.0
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()
    info: dict[str, Any] = field(default_factory=dict)

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw, dtype=np.float64)
        if self.method in ("temperature", "platt"):
            return _sigmoid(self.a * raw + self.b)
        if self.method == "isotonic":
            return np.interp(raw, self.x, self.y)
        raise InvalidInputError(f"unknown calibration method {self.method!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "a": self.a, "b": self.b, "x": list(self.x),
                "y": list(self.y), "info": self.info}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        method = data.get("method")
        if method not in METHODS:
            raise InvalidInputError(f"unknown calibration method {method!r}")
        return cls(method, float(data.get("a", 1.0)), float(data.get("b", 0.0)),
                   tuple(map(float, data.get("x", ()))), tuple(map(float, data.get("y", ()))),
                   dict(data.get("info", {})))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Calibration:
        try:
            return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as exc:
            raise InvalidInputError(f"cannot read calibration {str(path)!r}: {exc}") from exc


def _check(raw: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(raw, dtype=np.float64).ravel()
    y = np.asarray(labels, dtype=np.float64).ravel()
    if x.shape != y.shape or x.size == 0:
        raise InvalidInputError("raw scores and labels must be non-empty and of equal length")
    if not np.all(np.isfinite(x)):
        raise InvalidInputError("raw scores must be finite numbers (found NaN or inf)")
    if not np.all((y == 0) | (y == 1)):
        raise InvalidInputError("labels must be 0 (not relevant) or 1 (relevant)")
    if y.min() == y.max():
        raise InvalidInputError("calibration needs both relevant and non-relevant examples")
    return x, y


def fit_calibration(raw: Any, labels: Any, method: str = "platt") -> Calibration:
    """Fit ``method`` (one of :data:`METHODS`) on raw scores and 0/1 relevance labels."""
    if method not in METHODS:
        raise InvalidInputError(
            f"unknown calibration method {method!r}; choose one of: {', '.join(METHODS)}"
        )
    x, y = _check(raw, labels)
    info = {"examples": int(x.size), "positives": int(y.sum())}
    if method == "isotonic":
        xs, ys = _isotonic(x, y)
        return Calibration("isotonic", x=tuple(xs), y=tuple(ys), info=info)
    positives, negatives = y.sum(), y.size - y.sum()
    target = np.where(y == 1, (positives + 1) / (positives + 2), 1 / (negatives + 2))
    a, b = _fit_logistic(x, target, with_bias=(method == "platt"))
    return Calibration(method, a=a, b=b, info=info)


def _fit_logistic(x: np.ndarray, t: np.ndarray, *, with_bias: bool) -> tuple[float, float]:
    """Newton's method on the cross-entropy of ``sigmoid(a x + b)`` against targets ``t``."""
    a, b = 1.0, 0.0
    scale = float(np.std(x)) or 1.0
    a = 1.0 / scale
    for _ in range(100):
        p = _sigmoid(a * x + b)
        w = np.maximum(p * (1 - p), 1e-12)
        grad = np.array([np.sum((p - t) * x), np.sum(p - t)])
        hess = np.array([[np.sum(w * x * x), np.sum(w * x)], [np.sum(w * x), np.sum(w)]])
        if not with_bias:
            grad, hess = grad[:1], hess[:1, :1]
        hess += np.eye(len(grad)) * 1e-9
        step = np.linalg.solve(hess, grad)
        # halve the step until the loss goes down (Newton can overshoot)
        loss = _log_loss(a, b, x, t)
        factor = 1.0
        while factor > 1e-6:
            na = a - factor * step[0]
            nb = b - factor * step[1] if with_bias else b
            if _log_loss(na, nb, x, t) <= loss:
                break
            factor /= 2
        a, b = na, nb
        if np.max(np.abs(factor * step)) < 1e-10:
            break
    return float(a), float(b)


def _log_loss(a: float, b: float, x: np.ndarray, t: np.ndarray) -> float:
    z = a * x + b
    # log(1 + exp(z)) - t z, stably
    return float(np.sum(np.logaddexp(0.0, z) - t * z))


def _isotonic(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pool adjacent violators: block centres (mean raw score) and block means (labels)."""
    order = np.argsort(x, kind="mergesort")
    xs, ys = x[order], y[order]
    sums: list[float] = []
    x_sums: list[float] = []
    counts: list[int] = []
    for xi, yi in zip(xs, ys, strict=True):
        sums.append(float(yi))
        x_sums.append(float(xi))
        counts.append(1)
        while len(sums) > 1 and sums[-2] / counts[-2] >= sums[-1] / counts[-1]:
            last_sum, last_x, last_count = sums.pop(), x_sums.pop(), counts.pop()
            sums[-1] += last_sum
            x_sums[-1] += last_x
            counts[-1] += last_count
    centres = np.array(x_sums) / np.array(counts)
    means = np.array(sums) / np.array(counts)
    return centres, means


def expected_calibration_error(probabilities: Any, labels: Any, bins: int = 10) -> float:
    """ECE: ``sum_b |B_b|/N * |mean(p in B_b) - mean(y in B_b)|`` over ``bins`` equal-width
    probability bins (the last bin includes 1.0)."""
    p = np.asarray(probabilities, dtype=np.float64).ravel()
    y = np.asarray(labels, dtype=np.float64).ravel()
    if p.shape != y.shape or p.size == 0:
        raise InvalidInputError("probabilities and labels must be non-empty and of equal length")
    if np.any((p < 0) | (p > 1)) or not np.all(np.isfinite(p)):
        raise InvalidInputError("probabilities must lie in [0, 1]")
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise InvalidInputError(f"bins must be a positive int, got {bins!r}")
    index = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        chosen = index == b
        if chosen.any():
            total += chosen.sum() / p.size * abs(p[chosen].mean() - y[chosen].mean())
    return float(total) if math.isfinite(total) else float("nan")


def calibration_paths(model_name: str, source: str) -> list[Path]:
    """Where a model's fitted calibration may live, in the order they are read: inside a
    local model folder, then the rerankit cache (``~/.cache/rerankit/calibration/``)."""
    from rerankit.score_cache import DEFAULT_CACHE_DIR

    safe = "".join(c if c.isalnum() or c in "-_." else "--" for c in model_name)
    cached = DEFAULT_CACHE_DIR / "calibration" / f"{safe}.json"
    folder = Path(source)
    return [folder / CALIBRATION_FILE, cached] if folder.is_dir() else [cached]


def find_calibration(model_name: str, source: str) -> Calibration | None:
    """The saved calibration of a model, if any."""
    for path in calibration_paths(model_name, source):
        if path.is_file():
            return Calibration.load(path)
    return None


def save_calibration(calibration: Calibration, model_name: str, source: str) -> Path:
    """Save beside the model, or in the cache when there is no writable model folder."""
    last_error: OSError | None = None
    for path in calibration_paths(model_name, source):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            calibration.save(path)
            return path
        except OSError as exc:
            last_error = exc
    raise InvalidInputError(f"cannot save the calibration of {model_name!r}: {last_error}")
