"""Small shared helpers: straight lines in log-log space and saturating power laws."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from harness.errors import InsufficientData

# exp() of more than this is not a float: an X_c that large means the loss is all but flat in X.
_MAX_LOG = 700.0


@dataclass
class LogLine:
    """y = k x^slope, fitted by least squares on log y against log x."""

    slope: float
    k: float

    def __call__(self, x: np.ndarray | float) -> np.ndarray:
        return self.k * np.asarray(x, dtype=float) ** self.slope


def fit_logline(x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> LogLine:
    """``w``: each point's weight on its residual (1/sd), as numpy's polyfit takes it."""
    slope, icpt = np.polyfit(np.log(x), np.log(y), 1, w=w)
    return LogLine(slope=float(slope), k=float(math.exp(icpt)))


@dataclass
class SatPowerLaw:
    """L(X) = E + (X_c / X)^alpha; E = 0 is the pure power law."""

    E: float
    X_c: float
    alpha: float

    def __call__(self, x: np.ndarray | float) -> np.ndarray:
        return self.E + (self.X_c / np.asarray(x, dtype=float)) ** self.alpha


def fit_sat_powerlaw(x: np.ndarray, loss: np.ndarray, with_e: bool) -> SatPowerLaw:
    """Least squares on log residuals; without E it is a line in log-log space."""
    line = fit_logline(x, loss)
    if line.slope >= 0:
        raise InsufficientData(f"the loss does not fall with it (log-log slope {line.slope:+.3g})")
    alpha0 = -line.slope
    if not with_e:
        return SatPowerLaw(E=0.0, X_c=_exp_xc(math.log(line.k) / alpha0, alpha0), alpha=alpha0)
    lmin = float(np.min(loss))
    lx = np.log(x)

    def resid(th: np.ndarray) -> np.ndarray:
        e, log_xc, al = th
        return np.log(e + np.exp(al * (log_xc - lx))) - np.log(loss)

    best = None
    for frac in (0.0, 0.5, 0.9):
        e0 = frac * lmin
        y = np.maximum(loss - e0, 1e-12)
        l0 = fit_logline(x, y)
        a0 = max(-l0.slope, 1e-3)
        th0 = np.array([max(e0, 1e-9), math.log(l0.k) / a0, a0])
        res = least_squares(resid, th0, bounds=([0.0, -np.inf, 1e-6], [lmin * (1 - 1e-9), np.inf, 10.0]))
        if best is None or res.cost < best.cost:
            best = res
    e, log_xc, al = best.x
    return SatPowerLaw(E=float(e), X_c=_exp_xc(float(log_xc), float(al)), alpha=float(al))


def _exp_xc(log_xc: float, alpha: float) -> float:
    if log_xc > _MAX_LOG:
        raise InsufficientData(f"the loss barely falls with it (alpha {alpha:.3g}), so X_c = e^{log_xc:.0f} "
                               "is beyond floating point")
    return math.exp(log_xc)


def cluster_log(values: np.ndarray, rtol: float) -> np.ndarray:
    """Label values that agree within a relative tolerance (sorted single-linkage in log space)."""
    order = np.argsort(values)
    lv = np.log(values[order])
    labels = np.empty(len(values), dtype=int)
    cur = 0
    for i, j in enumerate(order):
        if i > 0 and lv[i] - lv[i - 1] > math.log1p(rtol):
            cur += 1
        labels[j] = cur
    return labels


def log_clusters(values: np.ndarray, rtol: float) -> list[np.ndarray]:
    """The indices of each cluster of ``cluster_log``, the clusters in ascending order of value."""
    labels = cluster_log(values, rtol)
    return [np.flatnonzero(labels == g) for g in np.unique(labels)]


def resample_within(groups: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """One bootstrap draw that keeps every group: each group's indices drawn with replacement, joined."""
    return np.concatenate([rng.choice(g, size=len(g), replace=True) for g in groups])
