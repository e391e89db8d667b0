"""Typed results shared by every law, and their JSON form."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass
class Allocation:
    """Compute-optimal N_opt and D_opt at each budget C, in the points' FLOP convention (under 6ND,
    N_opt = G (C/6)^a and D_opt = G^-1 (C/6)^b for approach 3; a direct fit for approaches 1, 2)."""

    a: float
    b: float
    G: float | None
    tokens_per_param: dict[str, float]  # keyed by the compute budget, formatted like "1e+21"
    n_opt: dict[str, float]
    d_opt: dict[str, float]
    ci: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class Prediction:
    n: float | None
    d: float | None
    c: float | None
    loss: float
    lo: float | None = None
    hi: float | None = None


@dataclass
class Holdout:
    k: int
    n_fit: int
    labels: list[str]
    c: list[float]
    measured: list[float]
    predicted: list[float]
    rel_error: list[float]  # (predicted - measured) / measured
    mean_abs_rel_error: float
    max_abs_rel_error: float


@dataclass
class LawResult:
    law: str
    n_points: int
    params: dict[str, float]
    ci: dict[str, list[float]]
    objective: float | None
    converged: bool
    allocation: Allocation | None = None
    predictions: list[Prediction] = field(default_factory=list)
    holdout: Holdout | None = None
    warnings: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)  # law-specific: isoflop minima, groups...
    dataset: str | None = None  # the data set fitted, when each is fitted on its own (--by-data)
    flops_convention: str = "6ND"  # the FLOP convention of every C in this result (allocation, predictions)
    # A curve law's predictions of the curves it was not fitted on (harness.fit.curve_predict):
    # {"curve", "shape", "points", "steps", "mean_rel_error", "max_rel_error", "final_rel_error",
    # "extrapolated"}, errors as fractions; None where no curve was held out.
    curve_predictions: list[dict[str, Any]] | None = None

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        # fit.json is a file format others read: its key for the convention keeps its first name.
        d["c_convention"] = d.pop("flops_convention")
        if d["curve_predictions"] is None:
            del d["curve_predictions"]
        return _clean(d)


def _clean(x: Any) -> Any:
    """JSON-safe: numpy scalars to Python, non-finite floats to None (JSON has no NaN)."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, np.ndarray):
        return _clean(x.tolist())
    if isinstance(x, (np.floating, float)):
        f = float(x)
        return f if math.isfinite(f) else None
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def budget_key(c: float) -> str:
    return f"{c:.3g}"


def percentile_ci(samples: np.ndarray, level: float = 0.95) -> list[float]:
    """Percentile bootstrap interval of a 1-D sample (NaNs, from failed resamples, ignored)."""
    s = np.asarray(samples, dtype=float)
    s = s[np.isfinite(s)]
    if s.size < 2:
        return [math.nan, math.nan]
    q = (1 - level) / 2
    lo, hi = np.quantile(s, [q, 1 - q])
    return [float(lo), float(hi)]


def resample_counts(n: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n) multinomial counts: row b says how often each of the n runs is drawn in resample b."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(float)


def masked_slopes(x: np.ndarray, y: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares slope and intercept of y on x per row, over the entries where mask is set.

    x, y, mask are (B, m); rows with fewer than 2 distinct x give NaN.
    """
    w = mask.astype(float)
    cnt = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx = (w * x).sum(axis=1) / cnt
        my = (w * y).sum(axis=1) / cnt
        dx = np.where(mask, x - mx[:, None], 0.0)
        sxx = (dx * dx).sum(axis=1)
        slope = (dx * np.where(mask, y - my[:, None], 0.0)).sum(axis=1) / sxx
    bad = (cnt < 2) | ~(sxx > 1e-300)
    slope = np.where(bad, np.nan, slope)
    return slope, np.where(bad, np.nan, my - slope * mx)
