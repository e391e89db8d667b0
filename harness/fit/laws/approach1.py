"""Approach 1 (Hoffmann et al. 2022): the lower envelope of loss over compute.

At each of a log-spaced set of compute values, the run whose training curve reaches the lowest
loss there is the compute-optimal one; its N, and the tokens that C buys at that N in the points'
own FLOP convention (``Points.tokens_for``; C/6N under 6ND), are fitted with power laws in C.
With final points only (a CSV, or records without curves) the envelope is the set of points no
cheaper run beats; that is coarser and is said so.

Caveat, as in Hoffmann: an intermediate point of a cosine-decayed run is not a fully-trained
model of that length, so an envelope from curves is biased towards larger N unless the sweep
includes several schedule lengths per size.

Bootstrap: runs are resampled with replacement (whole curves, since a curve is one run). A run
drawn twice changes no lower envelope, so a resample is the envelope of the runs it drew at
least once; every resample is computed at once from one (runs x grid) loss matrix.
"""

from __future__ import annotations

import numpy as np

from harness.errors import InsufficientData
from harness.fit.optima import OptimaLinesLaw
from harness.fit.points import Points
from harness.fit.powerlaw import fit_logline
from harness.fit.results import masked_slopes, percentile_ci, resample_counts


def curve_matrix(points: Points, n_grid: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Compute grid (G,), each curve's N (R,), and its loss interpolated on the grid (R, G), inf outside it."""
    curves = points.curves or []
    lo = min(cv.flops.min() for cv in curves)
    hi = max(cv.flops.max() for cv in curves)
    grid = np.geomspace(lo, hi, n_grid)
    mat = np.full((len(curves), n_grid), np.inf)
    for r, cv in enumerate(curves):
        order = np.argsort(cv.flops)
        f, loss = cv.flops[order], cv.loss[order]
        inside = (grid >= f[0]) & (grid <= f[-1])
        mat[r, inside] = np.interp(np.log(grid[inside]), np.log(f), loss)
    return grid, np.array([cv.n for cv in curves], dtype=float), mat


def envelope_from_curves(points: Points, n_grid: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    grid, n_run, mat = curve_matrix(points, n_grid)
    best = np.argmin(mat, axis=0)  # first curve wins ties, as a strict "better than" scan would
    best_loss = mat[best, np.arange(n_grid)]
    ok = np.isfinite(best_loss)
    return grid[ok], n_run[best][ok], best_loss[ok]


def envelope_from_points(points: Points) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    order = np.argsort(points.c, kind="stable")
    keep, best = [], np.inf
    for i in order:
        if points.loss[i] < best:
            best = points.loss[i]
            keep.append(i)
    keep = np.array(keep)
    return points.c[keep], points.n[keep], points.loss[keep]


class EnvelopeFit(OptimaLinesLaw):
    name = "approach1"
    title = "Approach 1 (Hoffmann et al. 2022): lower envelope of loss over compute"
    approach = 1
    min_points = 3
    order = 30

    def __init__(self, n_bootstrap: int = 0, ci_level: float = 0.95, seed: int = 0, n_grid: int = 200,
                 boot_chunk: int = 100) -> None:
        super().__init__(n_bootstrap=n_bootstrap, ci_level=ci_level, seed=seed)
        self.n_grid, self.boot_chunk = n_grid, boot_chunk

    def _fit(self, points: Points) -> None:
        self.from_curves_ = bool(points.curves)
        if self.from_curves_:
            c, n, loss = envelope_from_curves(points, self.n_grid)
        else:
            c, n, loss = envelope_from_points(points)
        if len(np.unique(n)) < 3:
            raise InsufficientData(f"approach 1 needs at least 3 model sizes on the compute frontier; found "
                                   f"{len(np.unique(n))}")
        self.c_, self.n_env_, self.loss_env_ = c, n, loss
        self.n_line_ = fit_logline(c, n)
        self.d_line_ = fit_logline(c, self.tokens_for(c, n))
        self.boot_a_ = self._bootstrap(points) if self.n_bootstrap > 0 else None
        if self.boot_a_ is not None:
            # b = 1 - a holds exactly only when C/(N·D) is constant; otherwise b's interval is not given.
            self.ci_ = {"a": percentile_ci(self.boot_a_, self.ci_level)}
            if self.flops_per_token_ is not None:
                self.ci_["b"] = percentile_ci(1.0 - self.boot_a_, self.ci_level)
        self.params_ = self.line_params()
        if not self.from_curves_:
            self.warnings_.append("no training curves: the envelope uses final points only (one point per run), "
                                  "which is coarse")
        self.details_ = {"from_curves": self.from_curves_,
                         "n_bootstrap": 0 if self.boot_a_ is None else int(np.isfinite(self.boot_a_).sum()),
                         "envelope": {"c": self.c_.tolist(), "n": self.n_env_.tolist(), "loss": self.loss_env_.tolist()}}

    def _bootstrap(self, points: Points) -> np.ndarray:
        """Slope a of N_opt ∝ C^a per resample (b = 1 - a exactly under 6ND, where D = C/6N on the envelope)."""
        if self.from_curves_:
            x_grid, n_run, mat = curve_matrix(points, self.n_grid)
        else:
            order = np.argsort(points.c, kind="stable")
            x_grid, n_run, loss = points.c[order], points.n[order], points.loss[order]
        counts = resample_counts(len(n_run), self.n_bootstrap, self.seed)
        out = np.full(self.n_bootstrap, np.nan)
        for lo in range(0, self.n_bootstrap, self.boot_chunk):
            drawn = counts[lo: lo + self.boot_chunk] > 0
            if self.from_curves_:
                masked = np.where(drawn[:, :, None], mat[None, :, :], np.inf)  # (B, R, G)
                best = np.argmin(masked, axis=1)
                on = np.isfinite(np.take_along_axis(masked, best[:, None, :], axis=1)[:, 0, :])
                n_env = n_run[best]
                x = np.broadcast_to(np.log(x_grid), n_env.shape)
            else:
                masked = np.where(drawn, loss[None, :], np.inf)  # (B, R), in compute order
                prev = np.minimum.accumulate(masked, axis=1)
                prev = np.concatenate([np.full((len(masked), 1), np.inf), prev[:, :-1]], axis=1)
                on = masked < prev
                n_env = np.broadcast_to(n_run, masked.shape)
                x = np.broadcast_to(np.log(x_grid), masked.shape)
            slope, _ = masked_slopes(x, np.log(n_env), on)
            # The same rule as the full fit: fewer than 3 sizes on a resample's frontier fits no line.
            sizes = np.array([len(np.unique(n_env[i][on[i]])) for i in range(len(on))])
            out[lo: lo + len(on)] = np.where(sizes >= 3, slope, np.nan)
        return out
