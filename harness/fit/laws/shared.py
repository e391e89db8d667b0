"""Shared exponents across groups: L_g(N, D) = E_g + A_g/N^alpha + B_g/D^beta.

"Data composition moves the offset, not the slope" is testable: fit every group on its own, then
fit one alpha and beta for all groups with per-group E, A, B, and compare. If the shared fit's
objective is barely worse and the per-group exponents' intervals overlap the shared ones, the
data do not distinguish the slopes.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import minimize

from harness.errors import FitInputError, InsufficientData
from harness.fit.law import Law, scale
from harness.fit.laws.chinchilla import ChinchillaFit, theta_to_params, to_units
from harness.fit.multistart import SUBSAMPLE_POINTS, Subsample, check_subsample_points
from harness.fit.objective import DEFAULT_DELTA, huber, huber_grad
from harness.fit.points import Points
from harness.fit.results import percentile_ci

# Tighter than scipy's default (see chinchilla.BOOT_FTOL) but capped: the kinked objective can
# otherwise take thousands of tiny steps for digits that do not matter.
TIGHT = {"maxiter": 1500, "ftol": 1e-13, "gtol": 1e-8}


def _objective(th: np.ndarray, gi: np.ndarray, G: int, ln: np.ndarray, ld: np.ndarray, ll: np.ndarray,
               delta: float, w: np.ndarray | None) -> tuple[float, np.ndarray]:
    al, be = th[0], th[1]
    a, b, e = th[2:2 + G][gi], th[2 + G:2 + 2 * G][gi], th[2 + 2 * G:][gi]
    t = np.stack([a - al * ln, b - be * ld, e])
    m = t.max(axis=0)
    x = np.exp(t - m)
    s = x.sum(axis=0)
    r = m + np.log(s) - ll
    sm = x / s
    ww = np.ones_like(r) if w is None else w
    dh = huber_grad(r, delta) * ww
    g = np.zeros_like(th)
    g[0] = -(dh * sm[0] * ln).sum()
    g[1] = -(dh * sm[1] * ld).sum()
    g[2:2 + G] = np.bincount(gi, dh * sm[0], minlength=G)
    g[2 + G:2 + 2 * G] = np.bincount(gi, dh * sm[1], minlength=G)
    g[2 + 2 * G:] = np.bincount(gi, dh * sm[2], minlength=G)
    return float((huber(r, delta) * ww).sum()), g


class SharedExponentFit(Law):
    name = "shared"
    title = "Shared exponents across data sets: L_g(N, D) = E_g + A_g/N^alpha + B_g/D^beta"
    can_predict = False  # a prediction needs a data set: see predict_points
    pools_datasets = True
    min_points = 12
    order = 60
    # Each resample is a separate scipy fit (not batched), so resamples are capped for speed.
    bootstrap_cap = 20
    headline_keys = ("alpha", "beta")

    def __init__(self, n_bootstrap: int = 0, ci_level: float = 0.95, seed: int = 0, delta: float = DEFAULT_DELTA,
                 subsample_points: int = SUBSAMPLE_POINTS) -> None:
        super().__init__(n_bootstrap=n_bootstrap, ci_level=ci_level, seed=seed)
        self.delta = delta
        self.subsample_points = subsample_points

    @classmethod
    def default_for(cls, points: Points) -> bool:
        return len(points.datasets()) > 1

    def _fit(self, points: Points) -> None:
        check_subsample_points(self.name, self.subsample_points)
        if not points.group or len(set(points.group)) < 2:
            raise InsufficientData("a shared-exponent fit needs points from 2 or more data sets")
        labels = list(points.group)
        self.groups_ = sorted(set(labels))
        G = len(self.groups_)
        gi = np.array([self.groups_.index(g) for g in labels])
        counts = np.bincount(gi, minlength=G)
        if counts.min() < 6:
            raise InsufficientData(f"every group needs 6 or more points for its own fit; smallest has {counts.min()}")
        self._gi = gi
        # The joint fit runs on N and D in units of their geometric means (so it does not depend
        # on the units of N and D); theta_ is in those units and group_params converts back.
        self._log_s = (math.log(scale(points.n)), math.log(scale(points.d)))
        self._logs = (np.log(points.n) - self._log_s[0], np.log(points.d) - self._log_s[1], np.log(points.loss))
        self.separate_ = {}
        sep_obj = 0.0
        # One full 4,500-start grid on the pooled points; each group then starts from the pooled
        # fit's distinct local optima (the groups differ by offsets far less than the grid spacing).
        # On many points that grid is screened on a subsample (ChinchillaFit), which the fit passes on.
        pooled = ChinchillaFit(delta=self.delta, n_polish=1, boot_starts=6, subsample_points=self.subsample_points)
        pooled.allow_pooling = True  # only to find starts: the pooled optimum is not reported
        pooled.fit(points)
        self.subsampled_ = [Subsample(f"{s_.step} of the pooled fit the groups start from", s_.points, s_.of, s_.how)
                            for s_ in pooled.subsampled_]
        local_grid = np.vstack([pooled.theta_[None, :], pooled._local_optima])
        for k, g in enumerate(self.groups_):
            f = ChinchillaFit(delta=self.delta, grid=local_grid).fit(points.subset(np.flatnonzero(gi == k)))
            self.separate_[g] = f
            sep_obj += f.objective_
        self.separate_objective_ = sep_obj
        starts = []
        thetas = to_units(np.array([f.theta_ for f in self.separate_.values()]), -self._log_s[0], -self._log_s[1])
        for al, be in [thetas[:, 3:].mean(axis=0), *thetas[:, 3:]]:
            starts.append(np.concatenate([[al, be], thetas[:, 0], thetas[:, 1], thetas[:, 2]]))
        best = None
        for x0 in starts:
            res = minimize(_objective, x0, args=(gi, G, *self._logs, self.delta, None), jac=True,
                           method="L-BFGS-B", options=TIGHT)
            if best is None or res.fun < best.fun:
                best = res
        self.theta_, self.objective_, self.converged_ = best.x, float(best.fun), bool(best.success)
        self.message_ = str(best.message)
        self.boot_ = None
        if self.n_bootstrap > 0:
            rng = np.random.default_rng(self.seed)
            idx_by_g = [np.flatnonzero(gi == k) for k in range(G)]
            rows = []
            for _ in range(self.n_boot_run):
                w = np.zeros(len(gi))
                for idx in idx_by_g:  # resample within groups so that each group keeps its size
                    np.add.at(w, rng.choice(idx, size=len(idx), replace=True), 1.0)
                res = minimize(_objective, self.theta_, args=(gi, G, *self._logs, self.delta, w), jac=True,
                               method="L-BFGS-B", options=TIGHT)
                rows.append(res.x[:2])
            self.boot_ = np.array(rows)
        self._set_result()

    def group_params(self, k: int):
        G = len(self.groups_)
        t = self.theta_
        return theta_to_params(to_units(np.array([t[2 + k], t[2 + G + k], t[2 + 2 * G + k], t[0], t[1]]),
                                        *self._log_s))

    def predict_points(self, points: Points) -> np.ndarray:
        if not points.group:
            raise FitInputError("shared-exponent predictions need each point's data set")
        out = np.empty(len(points))
        for i, g in enumerate(points.group):
            if g not in self.groups_:
                raise FitInputError(f"data set {g!r} was not in the fit")
            out[i] = self.group_params(self.groups_.index(g)).loss(points.n[i], points.d[i])
        return out

    def _set_result(self) -> None:
        if self.boot_ is not None:
            self.ci_ = {"alpha": percentile_ci(self.boot_[:, 0], self.ci_level),
                        "beta": percentile_ci(self.boot_[:, 1], self.ci_level)}
        per_group = {}
        for k, g in enumerate(self.groups_):
            p = self.group_params(k)
            sep = self.separate_[g].chinchilla_
            per_group[g] = {"E": p.E, "A": p.A, "B": p.B, "separate_alpha": sep.alpha, "separate_beta": sep.beta,
                            "separate_E": sep.E}
        if not self.converged_:
            self.warnings_.append(f"L-BFGS-B did not converge: {self.message_}")
        self.warnings_ += [s_.note() for s_ in self.subsampled_]
        self.params_ = {"alpha": float(self.theta_[0]), "beta": float(self.theta_[1])}
        self.details_ = {"groups": per_group, "separate_objective": self.separate_objective_,
                         "objective_ratio_shared_over_separate": self.objective_ / self.separate_objective_,
                         "n_bootstrap": 0 if self.boot_ is None else len(self.boot_),
                         **({"subsample": [s_.as_dict() for s_ in self.subsampled_]} if self.subsampled_ else {})}

    @classmethod
    def extra_section(cls, r) -> list[str]:
        lines = ["", f"Shared-exponent objective / sum of separate fits: "
                 f"{r.details['objective_ratio_shared_over_separate']:.4f}", "",
                 "| data set | E | A | B | separate α | separate β |", "|---|---|---|---|---|---|"]
        f = _fmt
        for g, d in r.details["groups"].items():
            lines.append(f"| {g} | {f(d['E'])} | {f(d['A'])} | {f(d['B'])} | {f(d['separate_alpha'])} | {f(d['separate_beta'])} |")
        return lines


def _fmt(v: float) -> str:
    return f"{v:.4g}"
