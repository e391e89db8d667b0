"""Approach 2 (Hoffmann et al. 2022): IsoFLOP profiles.

Runs are grouped by equal compute; in each group the loss is fitted by a parabola in log N and
its vertex is that budget's optimal N (a weighted least-squares parabola when the points carry
weights); power laws through the vertices give N_opt ∝ C^a and
D_opt ∝ C^b, with each vertex's D the tokens that budget buys at that N in the points' own FLOP
convention (``Points.tokens_for``: C/6N under 6ND, the runs' own FLOPs per token otherwise). A
vertex outside the sizes actually tried is an extrapolation and is flagged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from harness.errors import InsufficientData
from harness.fit.optima import OptimaLinesLaw
from harness.fit.plots import isoflop_plot
from harness.fit.points import Points
from harness.fit.powerlaw import LogLine, cluster_log, fit_logline
from harness.fit.results import percentile_ci


@dataclass
class IsoFlopProfile:
    c: float
    n: list[float]
    loss: list[float]
    coef: list[float]  # loss = coef[0] log(N)^2 + coef[1] log(N) + coef[2]
    n_opt: float
    d_opt: float
    loss_opt: float
    inside: bool  # vertex within the sampled N range


def profiles(points: Points, rtol: float, min_sizes: int,
             no_minimum: list[str] | None = None) -> list[IsoFlopProfile]:
    """The IsoFLOP profiles of the budgets with ``min_sizes`` sizes or more. A budget whose
    parabola opens downwards (no minimum: the losses are flat or concave in log N) is left out,
    and said in ``no_minimum`` when given."""
    labels = cluster_log(points.c, rtol)
    out = []
    for g in np.unique(labels):
        idx = np.flatnonzero(labels == g)
        if len(np.unique(np.round(np.log(points.n[idx]), 6))) < min_sizes:
            continue
        x = np.log(points.n[idx])
        y = points.loss[idx]
        # polyfit weighs residuals, not squared residuals: sqrt gives each point its weight in the sum of squares.
        coef = np.polyfit(x, y, 2, w=None if points.weight is None else np.sqrt(points.weight[idx]))
        if coef[0] <= 0:
            if no_minimum is not None:
                c = float(math.exp(np.mean(np.log(points.c[idx]))))
                no_minimum.append(f"the IsoFLOP profile at C={c:.3g} ({len(idx)} runs, N {points.n[idx].min():.3g}-"
                                  f"{points.n[idx].max():.3g}) has no minimum (flat or concave in log N within the "
                                  "loss noise): left out of the power laws")
            continue
        xv = -coef[1] / (2 * coef[0])
        c = float(math.exp(np.mean(np.log(points.c[idx]))))
        n_opt = math.exp(xv)
        out.append(IsoFlopProfile(c=c, n=points.n[idx].tolist(), loss=y.tolist(), coef=coef.tolist(),
                                  n_opt=n_opt, d_opt=float(points.tokens_for(c, n_opt)), loss_opt=float(np.polyval(coef, xv)),
                                  inside=bool(x.min() <= xv <= x.max())))
    return out


class IsoFlopFit(OptimaLinesLaw):
    name = "approach2"
    title = "Approach 2 (Hoffmann et al. 2022): IsoFLOP profiles"
    approach = 2
    min_points = 6
    order = 20
    honours_weights = True

    def __init__(self, n_bootstrap: int = 0, ci_level: float = 0.95, seed: int = 0, rtol: float = 0.05,
                 min_sizes: int = 3) -> None:
        super().__init__(n_bootstrap=n_bootstrap, ci_level=ci_level, seed=seed)
        self.rtol, self.min_sizes = rtol, min_sizes

    def _lines(self, points: Points, no_minimum: list[str] | None = None) -> tuple[list[IsoFlopProfile], LogLine, LogLine]:
        prof = profiles(points, self.rtol, self.min_sizes, no_minimum)
        if len(prof) < 2:
            raise InsufficientData(
                f"approach 2 needs IsoFLOP groups (runs of equal compute, within {self.rtol:.0%}) of at least "
                f"{self.min_sizes} model sizes at 2 or more budgets; found {len(prof)}")
        # Only a vertex bracketed by the sizes tried is a measured optimum; one outside is the
        # parabola's extrapolation, which can land decades away when a profile is nearly flat.
        used = [p for p in prof if p.inside]
        if len(used) < 2:
            raise InsufficientData(
                f"approach 2 needs 2 or more budgets whose IsoFLOP minimum lies within the model sizes "
                f"tried; found {len(used)} of {len(prof)} (widen the shapes around the minimum)")
        c = np.array([p.c for p in used])
        return prof, fit_logline(c, np.array([p.n_opt for p in used])), fit_logline(c, np.array([p.d_opt for p in used]))

    def _fit(self, points: Points) -> None:
        no_minimum: list[str] = []
        self.profiles_, self.n_line_, self.d_line_ = self._lines(points, no_minimum)
        self.warnings_ += no_minimum
        self.boot_ = None
        if self.n_bootstrap > 0:
            rng = np.random.default_rng(self.seed)
            labels = cluster_log(points.c, self.rtol)
            groups = [np.flatnonzero(labels == g) for g in np.unique(labels)]
            rows = []
            for _ in range(self.n_bootstrap):
                # Resample runs within each budget, so every resample keeps its IsoFLOP groups.
                idx = np.concatenate([rng.choice(g, size=len(g), replace=True) for g in groups])
                try:
                    _, nl, dl = self._lines(points.subset(idx))
                except (InsufficientData, OverflowError, np.linalg.LinAlgError):
                    continue  # this resample has no usable pair of minima; it says nothing about a, b
                row = (nl.slope, dl.slope, nl.k, dl.k)
                if np.all(np.isfinite(row)):
                    rows.append(row)
            self.boot_ = np.array(rows) if rows else None
            self.n_boot_used_ = len(rows)
        if self.boot_ is not None:
            self.ci_ = {"a": percentile_ci(self.boot_[:, 0], self.ci_level),
                        "b": percentile_ci(self.boot_[:, 1], self.ci_level)}
        self.params_ = self.line_params()
        self.warnings_ += [f"IsoFLOP vertex at C={p.c:.3g} lies outside the model sizes tried "
                           f"({min(p.n):.3g}-{max(p.n):.3g}): an extrapolation, left out of the power laws"
                           for p in self.profiles_ if not p.inside]
        self.details_ = {"profiles": [p.__dict__ for p in self.profiles_], "rtol": self.rtol,
                         "n_bootstrap": 0 if self.boot_ is None else len(self.boot_)}

    def plots(self, report, out_dir, tag: str = "") -> dict[str, str]:
        return {f"isoflop{tag}": isoflop_plot(self, out_dir, f"isoflop{tag}")}
