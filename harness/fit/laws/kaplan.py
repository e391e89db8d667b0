"""Kaplan et al. (2020) forms.

- L(N) = E + (N_c/N)^alpha_N on the best loss reached at each model size,
- L(D) = E + (D_c/D)^alpha_D on the best loss at each token count,
- L(C) on the compute frontier (runs no cheaper run beats),
each with and without the irreducible term E, and the joint form (Kaplan eq. 1.5)

    L(N, D) = [ (N_c/N)^(alpha_N/alpha_D) + D_c/D ]^alpha_D

fitted by least squares on log loss; the joint form is the one used for prediction and holdout.
Kaplan's L(N) and L(D) assume the other resource is not the bottleneck; on a small sweep the
per-size best loss only approximates that, which is why the joint form is reported too.

Bootstrap (runs resampled with replacement): the joint form's four parameters are refitted for
all resamples at once (batched L-BFGS from the full-data optimum, analytic gradient, the
resample counts as weights, evaluated a slice of rows at a time so that memory stays bounded);
the single-variable exponents without E are straight lines through each resample's per-size
bests and frontier, cheap enough to refit one by one. Above ``subsample_points`` runs (default
2,000) the joint form's resamples come from a bag of little bootstraps, as approach 3's do
(``ChinchillaFit._bootstrap``), which the fit says in its warnings and ``details["subsample"]``;
the single-variable exponents, minima over runs that a subset would bias, keep the ordinary
bootstrap (its resample counts drawn a chunk at a time).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import least_squares

from harness.errors import InsufficientData
from harness.fit.anchors import KAPLAN, KAPLAN_JOINT
from harness.fit.law import Law, scale
from harness.fit.laws.approach1 import envelope_from_points
from harness.fit.multistart import (
    SUBSAMPLE_POINTS,
    Subsample,
    batched_lbfgs,
    check_subsample_points,
    little_bootstrap_note,
    resample_chunks,
    rows_within,
)
from harness.fit.points import Points
from harness.fit.powerlaw import cluster_log, fit_logline, fit_sat_powerlaw
from harness.fit.results import percentile_ci

# Kaplan et al. 2020, eqs. 1.1-1.2: N_c 8.8e13 non-embedding params, D_c 5.4e13 tokens, as starts.
KAPLAN_JOINT_START = (8.8e13, 5.4e13, 0.076, 0.095)
# The scale the starts are written for: the joint fit runs on N/geomean(N), D/geomean(D) (so
# its answer does not depend on the units of N and D), with the starts moved to those units.
REF_N, REF_D = 1e6, 1e8
ALPHA_BOUNDS = (1e-4, 5.0)


def _best_per(x: np.ndarray, loss: np.ndarray, rtol: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    labels = cluster_log(x, rtol)
    xs, ls = [], []
    for g in np.unique(labels):
        idx = np.flatnonzero(labels == g)
        j = idx[np.argmin(loss[idx])]
        xs.append(x[j]); ls.append(loss[j])
    return np.array(xs), np.array(ls)


# A least-squares objective of ~1e-4 at the optimum: scipy-like relative tolerances would stop a
# resample where it starts (see chinchilla.BOOT_FTOL), so resamples run to tight tolerances.
BOOT_FTOL = 1e-15
BOOT_GTOL = 1e-11
# Resample counts (resamples x runs) held at once by the bootstrap: 64 MiB of float64.
BOOT_COUNT_ELEMENTS = 1 << 23


def joint_objective(theta: np.ndarray, ln: np.ndarray, ld: np.ndarray, ll: np.ndarray,
                    weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Weighted sum of squared log residuals of the joint form per row of theta (S, 4), and its gradient."""
    lnc, ldc, an, ad = (theta[:, k:k + 1] for k in range(4))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        t1 = (an / ad) * (lnc - ln[None, :])
        t2 = ldc - ld[None, :]
        lse = np.logaddexp(t1, t2)
        w1 = np.exp(t1 - lse)
        w2 = 1.0 - w1
        r = ad * lse - ll[None, :]
        rw = r if weights is None else r * weights
        f = (rw * r).sum(axis=1)
        g = 2 * np.stack([(rw * an * w1).sum(axis=1), (rw * ad * w2).sum(axis=1),
                          (rw * w1 * (lnc - ln[None, :])).sum(axis=1),
                          (rw * (lse - w1 * t1)).sum(axis=1)], axis=1)
    # The full fit's bounds hold for resamples too, or an interval could reach past them.
    lo, hi = ALPHA_BOUNDS
    bad = ~np.isfinite(f) | (theta[:, 2] < lo) | (theta[:, 3] < lo) | (theta[:, 2] > hi) | (theta[:, 3] > hi)
    return np.where(bad, np.inf, f), np.where(np.isfinite(g), g, 0.0)


def _refit_joint(w: np.ndarray, start: np.ndarray, data: tuple[np.ndarray, ...]) -> np.ndarray:
    """The joint form refitted for each row of weights ``w`` (b, runs) from ``start``, to the
    bootstrap's tolerances; NaN rows where the fit failed."""
    res = batched_lbfgs(lambda th, rows: joint_objective(th, *data, w[rows]), np.tile(start, (len(w), 1)),
                        ftol=BOOT_FTOL, gtol=BOOT_GTOL, max_iter=3000, max_rows=rows_within(w.shape[1]))
    return np.where(np.isfinite(res.f)[:, None], res.x, np.nan)


def _single_alphas(points: Points) -> dict[str, float]:
    out = {}
    series = {"alpha_N_single": _best_per(points.n, points.loss), "alpha_D_single": _best_per(points.d, points.loss)}
    c, _, lc = envelope_from_points(points)
    series["alpha_C"] = (c, lc)
    for name, (x, y) in series.items():
        out[name] = -fit_logline(x, y).slope if len(x) >= 3 else math.nan
    return out


class KaplanFit(Law):
    name = "kaplan"
    title = "Kaplan et al. (2020): L(N, D) = [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D, and L(N), L(D), L(C) alone"
    can_predict = True
    min_points = 5
    n_params = 4
    bounds = {"alpha_N": ALPHA_BOUNDS, "alpha_D": ALPHA_BOUNDS}
    order = 40
    headline_keys = ("alpha_N", "alpha_D", "alpha_N_single", "alpha_D_single", "alpha_C")
    # Joint-fit and single-variable exponents are different quantities: every table says which.
    param_labels = {"alpha_N": "α_N (joint L(N,D))", "alpha_D": "α_D (joint L(N,D))",
                    "N_c": "N_c (joint L(N,D))", "D_c": "D_c (joint L(N,D))",
                    "alpha_N_single": "α_N (L(N) alone)", "alpha_D_single": "α_D (L(D) alone)",
                    "alpha_C": "α_C (L(C) frontier alone)"}

    def __init__(self, n_bootstrap: int = 0, ci_level: float = 0.95, seed: int = 0,
                 subsample_points: int = SUBSAMPLE_POINTS) -> None:
        super().__init__(n_bootstrap=n_bootstrap, ci_level=ci_level, seed=seed)
        self.subsample_points = subsample_points

    @classmethod
    def default_for(cls, points: Points) -> bool:
        return True

    def _fit(self, points: Points) -> None:
        check_subsample_points(self.name, self.subsample_points)
        self.subsampled_: list[Subsample] = []
        self.single_: dict[str, dict[str, float]] = {}
        series = {"N": _best_per(points.n, points.loss), "D": _best_per(points.d, points.loss)}
        c, _, lc = envelope_from_points(points)
        series["C"] = (c, lc)
        for var, (x, y) in series.items():
            if len(x) < 3:
                self.warnings_.append(f"L({var}) skipped: fewer than 3 distinct {var} values")
                continue
            for with_e in (False, True):
                if with_e and len(x) < 4:
                    continue
                key = f"L({var})" + (" + E" if with_e else "")
                try:
                    f = fit_sat_powerlaw(x, y, with_e)
                except InsufficientData as e:
                    # An IsoFLOP grid's best loss per size need not fall with size: one form, not the law.
                    self.warnings_.append(f"{key} skipped: {e}")
                    continue
                self.single_[key] = {"E": f.E, f"{var}_c": f.X_c, "alpha": f.alpha}
        self._log_s = (math.log(scale(points.n)), math.log(scale(points.d)))
        self._fit_joint(points)
        self.boot_ = self._bootstrap(points) if self.n_bootstrap > 0 else None
        params = dict(self.joint_)
        for key, name in (("L(N)", "alpha_N_single"), ("L(D)", "alpha_D_single"), ("L(C)", "alpha_C")):
            if key in self.single_:
                params[name] = self.single_[key]["alpha"]
        self.params_ = params
        if self.boot_ is not None:
            self.ci_ = {k: percentile_ci(v, self.ci_level) for k, v in self.boot_.items() if k in params}
        n_boot = 0 if self.boot_ is None else int(np.isfinite(self.boot_["alpha_N"]).sum())
        self.warnings_ += [s_.note() for s_ in self.subsampled_]
        self.details_ = {"single_variable": self.single_, "n_bootstrap": n_boot,
                         **({"subsample": [s_.as_dict() for s_ in self.subsampled_]} if self.subsampled_ else {})}

    def _bootstrap(self, points: Points) -> dict[str, np.ndarray]:
        n, n_boot = len(points), self.n_bootstrap
        data = (np.log(points.n) - self._log_s[0], np.log(points.d) - self._log_s[1], np.log(points.loss))
        j = self.joint_
        th = np.array([math.log(j["N_c"]) - self._log_s[0], math.log(j["D_c"]) - self._log_s[1],
                       j["alpha_N"], j["alpha_D"]])
        k = min(n, self.subsample_points)
        rows = rows_within(k, BOOT_COUNT_ELEMENTS)
        x = np.full((n_boot, 4), np.nan)
        singles: list[dict[str, float]] = []
        centres: dict[int, np.ndarray | None] = {}
        for ch in resample_chunks(n, n_boot, self.seed, rows, max_points=self.subsample_points):
            if ch.whole:
                x[ch.lo: ch.lo + len(ch.counts)] = _refit_joint(ch.counts, th, data)
                singles += [_single_alphas(points.subset(np.flatnonzero(row > 0))) for row in ch.counts]
                continue
            sub = tuple(v[ch.idx] for v in data)
            if ch.subset not in centres:
                # The subset's own optimum, its runs standing for all n: the centre its resamples spread around.
                c = _refit_joint(np.full((1, len(ch.idx)), n / len(ch.idx)), th, sub)[0]
                centres[ch.subset] = c if np.all(np.isfinite(c)) else None
            c = centres[ch.subset]
            if c is not None:  # else the subset's resamples stay unfitted (NaN), as failed ones do
                x[ch.lo: ch.lo + len(ch.counts)] = _refit_joint(ch.counts, c, sub) - c + th
        if centres:
            self.subsampled_.append(little_bootstrap_note("the bootstrap of the joint form", n, n_boot,
                                                          self.subsample_points, unit="runs"))
            # The single-variable exponents: the ordinary bootstrap, a chunk of resamples at a time.
            for ch in resample_chunks(n, n_boot, self.seed, rows_within(n, BOOT_COUNT_ELEMENTS)):
                singles += [_single_alphas(points.subset(np.flatnonzero(row > 0))) for row in ch.counts]
        out = {"N_c": np.exp(x[:, 0] + self._log_s[0]), "D_c": np.exp(x[:, 1] + self._log_s[1]),
               "alpha_N": x[:, 2], "alpha_D": x[:, 3]}
        for name in ("alpha_N_single", "alpha_D_single", "alpha_C"):
            out[name] = np.array([s_[name] for s_ in singles])
        return out

    def _fit_joint(self, points: Points) -> None:
        ln, ld, ll = np.log(points.n) - self._log_s[0], np.log(points.d) - self._log_s[1], np.log(points.loss)

        def resid(th: np.ndarray) -> np.ndarray:
            lnc, ldc, an, ad = th
            t1 = (an / ad) * (lnc - ln)
            t2 = ldc - ld
            return ad * np.logaddexp(t1, t2) - ll

        best = None
        n_c0, d_c0, an0, ad0 = KAPLAN_JOINT_START
        for sc in (1.0, 1e-3, 1e3):
            for an, ad in ((an0, ad0), (0.3, 0.3), (0.1, 0.2)):
                th0 = np.array([math.log(n_c0 * sc / REF_N), math.log(d_c0 * sc / REF_D), an, ad])
                res = least_squares(resid, th0, bounds=([-np.inf, -np.inf, ALPHA_BOUNDS[0], ALPHA_BOUNDS[0]],
                                                        [np.inf, np.inf, ALPHA_BOUNDS[1], ALPHA_BOUNDS[1]]))
                if best is None or res.cost < best.cost:
                    best = res
        lnc, ldc, an, ad = best.x
        for what, v in (("N_c", lnc + self._log_s[0]), ("D_c", ldc + self._log_s[1])):
            if v > 700:  # exp() overflows: the points give that term no scale at all
                raise InsufficientData(f"the joint form's {what} runs off to e^{v:.0f}: the points do not "
                                       f"determine it (does the loss fall with {what[0]} at all?)")
        self.joint_ = {"N_c": math.exp(lnc + self._log_s[0]), "D_c": math.exp(ldc + self._log_s[1]),
                       "alpha_N": float(an), "alpha_D": float(ad)}
        self.objective_ = float(2 * best.cost)
        self.converged_ = bool(best.success)

    def predict(self, n: np.ndarray | float, d: np.ndarray | float) -> np.ndarray:
        j = self.joint_
        n = np.asarray(n, dtype=float)
        d = np.asarray(d, dtype=float)
        return ((j["N_c"] / n) ** (j["alpha_N"] / j["alpha_D"]) + j["D_c"] / d) ** j["alpha_D"]

    @classmethod
    def published(cls) -> dict[str, tuple[str, dict[str, float]]]:
        return {"Kaplan": ("Kaplan et al. 2020", {**KAPLAN_JOINT, "alpha_N_single": KAPLAN["alpha_N"],
                                                  "alpha_D_single": KAPLAN["alpha_D"], "alpha_C": KAPLAN["alpha_C"]})}
