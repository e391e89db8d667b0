"""Approach 2 (Hoffmann et al. 2022): IsoFLOP profiles.

Runs are grouped by equal compute; in each group the minimum of loss against log N is that
budget's optimal N, found by one of harness.fit.vertex's finders (default: a parabola through the
sizes around the lowest loss; Hoffmann's one parabola through all is ``vertex="global"``), weighted
when the points carry weights. Power laws through the vertices, each weighted by its standard error
under reruns (seed noise redrawn), give N_opt ∝ C^a and D_opt ∝ C^b, with each vertex's D the tokens that budget buys at that N in the points' own FLOP
convention (``Points.tokens_for``: C/6N under 6ND, the runs' own FLOPs per token otherwise). A
vertex outside the sizes actually tried is an extrapolation and is flagged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from harness.errors import FitInputError, InsufficientData
from harness.fit.optima import OptimaLinesLaw
from harness.fit.plots import isoflop_plot
from harness.fit.points import Points
from harness.fit.powerlaw import LogLine, cluster_log, fit_logline, log_clusters, resample_within
from harness.fit.results import percentile_ci
from harness.fit.vertex import (
    DEFAULT_FINDER,
    DEFAULT_WINDOW,
    VERTEX_FINDERS,
    Profile,
    excess_scatter,
    find_vertex,
    profile_of,
    replicate_deviations,
    replicate_noise,
    residual_noise,
    vertex_sd,
)


@dataclass
class IsoFlopProfile:
    c: float
    n: list[float]  # every run's N and loss, replicates included
    loss: list[float]
    n_opt: float
    d_opt: float
    loss_opt: float
    inside: bool  # vertex within the sizes the finder used
    curve_n: list[float]  # the finder's curve, to draw
    curve_loss: list[float]
    coef: list[float] | None  # loss = coef[0] log(N)^2 + coef[1] log(N) + coef[2], where a parabola was fitted
    sd_log_n: float | None = None  # standard error of log N_opt under reruns (harness.fit.vertex.vertex_sd)


def profiles(points: Points, rtol: float, min_sizes: int, finder: str = DEFAULT_FINDER, window: int = DEFAULT_WINDOW,
             no_minimum: list[str] | None = None) -> list[tuple[IsoFlopProfile, Profile]]:
    """The IsoFLOP profiles of the budgets with ``min_sizes`` sizes or more, each with its sizes
    (replicates averaged). A budget without a minimum (a parabola opening downwards: the losses are
    flat or concave in log N) is left out, and said in ``no_minimum`` when given."""
    labels = cluster_log(points.c, rtol)
    out = []
    for g in np.unique(labels):
        idx = np.flatnonzero(labels == g)
        x = np.log(points.n[idx])
        prof = profile_of(x, points.loss[idx], None if points.weight is None else points.weight[idx])
        if len(prof.x) < min_sizes:
            continue
        c = float(math.exp(np.mean(np.log(points.c[idx]))))
        v = find_vertex(prof, finder, window)
        if v is None:
            if no_minimum is not None:
                no_minimum.append(f"the IsoFLOP profile at C={c:.3g} ({len(idx)} runs, N {points.n[idx].min():.3g}-"
                                  f"{points.n[idx].max():.3g}) has no minimum (flat or concave in log N within the "
                                  "loss noise): left out of the power laws")
            continue
        n_opt = math.exp(v.x)
        # A nearly flat profile's parabola can put its vertex so far below the sizes that N underflows
        # to 0: a vertex outside the sizes, never used for the lines, whose D is unbounded.
        d_opt = math.inf if n_opt == 0.0 else float(points.tokens_for(c, n_opt))
        out.append((IsoFlopProfile(c=c, n=points.n[idx].tolist(), loss=points.loss[idx].tolist(), n_opt=n_opt,
                                   d_opt=d_opt, loss_opt=v.loss, inside=v.inside,
                                   curve_n=np.exp(v.curve_x).tolist(), curve_loss=list(v.curve_y), coef=v.coef),
                    prof))
    return out


class IsoFlopFit(OptimaLinesLaw):
    """Settings: ``vertex`` the finder of each budget's minimum (harness.fit.vertex: local, akima,
    global; global is Hoffmann's); ``window`` the sizes a local parabola uses; ``weighted`` whether the
    power laws weigh each vertex by its uncertainty under reruns; ``seed_noise`` the relative spread
    of one run's loss (None: measured from replicate seeds, else from the local parabolas'
    residuals); ``noise_draws`` the reruns simulated per vertex; ``vertex_sds`` each budget's vertex sd
    to weigh by, as a whole fit measured them (its ``vertex_sds_``; None: measure them), so a
    resample is weighed as the law's own bootstrap weighs it."""

    name = "approach2"
    title = "Approach 2 (Hoffmann et al. 2022): IsoFLOP profiles"
    approach = 2
    min_points = 6
    order = 20
    honours_weights = True

    def __init__(self, n_bootstrap: int = 0, ci_level: float = 0.95, seed: int = 0, rtol: float = 0.05,
                 min_sizes: int = 3, vertex: str = DEFAULT_FINDER, window: int = DEFAULT_WINDOW,
                 weighted: bool = True, seed_noise: float | None = None, noise_draws: int = 200,
                 vertex_sds: dict[float, float] | None = None) -> None:
        super().__init__(n_bootstrap=n_bootstrap, ci_level=ci_level, seed=seed)
        self.rtol, self.min_sizes = rtol, min_sizes
        self.vertex, self.window, self.weighted = vertex, window, weighted
        self.seed_noise, self.noise_draws = seed_noise, noise_draws
        self.vertex_sds = vertex_sds

    def check_settings(self) -> None:
        """Raise FitInputError naming a bad setting (called by fit; callers may call it first)."""
        if self.vertex not in VERTEX_FINDERS:
            raise FitInputError(f"approach2: vertex finder {self.vertex!r} is not one of {', '.join(VERTEX_FINDERS)}")
        if not (isinstance(self.window, int) and self.window >= 3):
            raise FitInputError(f"approach2: window {self.window!r} must be an integer of at least 3 sizes")
        if self.seed_noise is not None and not (math.isfinite(self.seed_noise) and self.seed_noise > 0):
            raise FitInputError(f"approach2: seed_noise {self.seed_noise!r} must be a positive relative spread")

    def _profiles(self, points: Points, no_minimum: list[str] | None = None) -> list[tuple[IsoFlopProfile, Profile]]:
        prof = profiles(points, self.rtol, self.min_sizes, self.vertex, self.window, no_minimum)
        if len(prof) < 2:
            raise InsufficientData(
                f"approach 2 needs IsoFLOP groups (runs of equal compute, within {self.rtol:.0%}) of at least "
                f"{self.min_sizes} model sizes at 2 or more budgets; found {len(prof)}")
        # Only a vertex bracketed by the sizes tried is a measured optimum; one outside is the
        # parabola's extrapolation, which can land decades away when a profile is nearly flat.
        if sum(p.inside for p, _ in prof) < 2:
            raise InsufficientData(
                f"approach 2 needs 2 or more budgets whose IsoFLOP minimum lies within the model sizes "
                f"tried; found {sum(p.inside for p, _ in prof)} of {len(prof)} (widen the shapes around the minimum)")
        return prof

    def _lines(self, prof: list[IsoFlopProfile], sd: dict[float, float] | None) -> tuple[LogLine, LogLine]:
        used = [p for p in prof if p.inside]
        c = np.array([p.c for p in used])
        w = None
        if sd:
            # A resample's budget is matched to the full data's by its nearest C (their geometric means differ a little).
            keys = np.array(list(sd))
            w = np.array([1.0 / sd[float(keys[np.argmin(np.abs(np.log(keys / p.c)))])] for p in used])
        return (fit_logline(c, np.array([p.n_opt for p in used]), w),
                fit_logline(c, np.array([p.d_opt for p in used]), w))

    def _budget_groups(self, points: Points) -> list[np.ndarray]:
        """The indices of each IsoFLOP budget's runs (C within ``rtol``)."""
        return log_clusters(points.c, self.rtol)

    def _vertex_sds(self, points: Points, groups: list[np.ndarray],
                    prof: list[tuple[IsoFlopProfile, Profile]]) -> dict[float, float] | None:
        """Each bracketed vertex's standard error under reruns, by budget; None when unweighted."""
        log_n, loss = [np.log(points.n[g]) for g in groups], [points.loss[g] for g in groups]
        measured = replicate_noise(log_n, loss)
        if measured:
            # Replicates far apart are said: they are real reruns, counted in full by the bootstrap.
            for b, x, v in replicate_deviations(log_n, loss):
                if np.ptp(v) > 4 * measured * math.sqrt(2):
                    c = float(np.exp(np.mean(np.log(points.c[groups[b]]))))
                    self.warnings_.append(f"replicate seeds at C={c:.3g}, N={math.exp(x):.3g} differ by {np.ptp(v):.1%} "
                                          f"(over 4 sd of the typical {measured:.2%} seed noise): a heavy tail of reruns")
        if self.seed_noise is not None:
            self.noise_, self.noise_source_ = self.seed_noise, "given (seed_noise)"
        elif measured is not None:
            self.noise_, self.noise_source_ = measured, "replicate seeds (pooled spread of log loss)"
        else:
            self.noise_ = residual_noise([pr for _, pr in prof], self.window)
            self.noise_source_ = "residuals about the local parabolas (an upper bound: misfit included)"
        if not self.weighted or self.noise_ is None or self.noise_ < 1e-9:
            return None  # noise-free points (predicted profiles) have no rerun spread to weigh by
        rng = np.random.default_rng(self.seed)
        used = [p for p, pr in prof if p.inside]
        for p, pr in prof:
            if p.inside:
                p.sd_log_n = max(vertex_sd(pr, self.noise_, self.vertex, self.window, self.noise_draws, rng), 1e-6)
        x, y = np.log([p.c for p in used]), np.log([p.n_opt for p in used])
        rerun = np.array([p.sd_log_n for p in used])
        self.scatter_ = self._scatter(x, y, rerun)
        self.excess_sd_ = excess_scatter(x, y, rerun)
        # Each vertex weighs by its whole uncertainty: its rerun spread and the spread all vertices show beyond it.
        return {p.c: math.hypot(p.sd_log_n, self.excess_sd_) for p in used}

    def resample_settings(self) -> dict:
        # Its own bootstrap keeps the whole fit's weights; measuring them again per resample would
        # cost 200 simulated reruns a vertex and weigh each resample by its own noise.
        return {"vertex_sds": self.vertex_sds_}

    @staticmethod
    def _scatter(x: np.ndarray, y: np.ndarray, sd: np.ndarray) -> float | None:
        """sqrt(chi^2 / dof) of the line weighted by the rerun sds: 1 when the vertices scatter as those say."""
        if len(x) < 3:
            return None
        coef = np.polyfit(x, y, 1, w=1 / sd)
        return float(math.sqrt(np.sum(((y - np.polyval(coef, x)) / sd) ** 2) / (len(x) - 2)))

    def _fit(self, points: Points) -> None:
        self.check_settings()
        no_minimum: list[str] = []
        prof = self._profiles(points, no_minimum)
        self.profiles_ = [p for p, _ in prof]
        self.noise_, self.noise_source_, self.scatter_, self.excess_sd_ = None, None, None, None
        groups = self._budget_groups(points)
        sd = self._vertex_sds(points, groups, prof) if self.vertex_sds is None else dict(self.vertex_sds)
        self.vertex_sds_ = sd
        self.n_line_, self.d_line_ = self._lines(self.profiles_, sd)
        if self.scatter_ is not None and self.scatter_ > 2:
            self.warnings_.append(
                f"the vertices scatter about the power law {self.scatter_:.1f} times as far as seed noise moves them: "
                f"the profiles carry more than seed noise (shape effects, a misplaced window), so an extra "
                f"{self.excess_sd_:.3f} in log N is added to every vertex's sd before weighting")
        self.warnings_ += no_minimum
        self.boot_ = None
        if self.n_bootstrap > 0:
            rng = np.random.default_rng(self.seed)
            rows = []
            for _ in range(self.n_bootstrap):
                # Resample runs within each budget, so every resample keeps its IsoFLOP groups; where
                # sizes were run with several seeds this resamples the seeds too.
                idx = resample_within(groups, rng)
                try:
                    nl, dl = self._lines([p for p, _ in self._profiles(points.subset(idx))], sd)
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
                         "n_bootstrap": 0 if self.boot_ is None else len(self.boot_),
                         "vertex": self.vertex, "window": self.window if self.vertex == "local" else None,
                         "weighted": sd is not None, "seed_noise": self.noise_, "seed_noise_from": self.noise_source_,
                         "vertex_scatter": self.scatter_, "excess_sd_log_n": self.excess_sd_,
                         "interval": "percentile bootstrap over runs resampled within each budget (replicate seeds "
                                     "included), vertices found again, the weights kept"}

    @classmethod
    def extra_section(cls, r) -> list[str]:
        d = r.details
        if "vertex" not in d:
            return []  # a result written before the finders were named
        how = {"local": f"a parabola in log N through the {d['window']} sizes around the lowest loss",
               "akima": "the minimum of Akima's interpolant through (log N, log loss)",
               "global": "one parabola in log N through every size (Hoffmann et al.)"}[d["vertex"]]
        if d["weighted"]:
            weigh = (f"each vertex weighted by 1/sd of its log N, sd being its spread under simulated reruns (seed "
                     f"noise {d['seed_noise']:.2%} per run, from {d['seed_noise_from']}) and any spread all vertices "
                     "show beyond that")
        else:
            weigh = "every vertex weighted alike"
        scatter = d.get("vertex_scatter")
        if scatter is not None:
            weigh += (f"; the vertices scatter about it {scatter:.2g} times as far as those sds say (1: seed noise "
                      f"alone), so {d.get('excess_sd_log_n') or 0:.3f} in log N is added to each sd in quadrature (Paule-Mandel)")
        lines = ["", f"Vertices: {how}; replicate seeds of a size averaged first. Power laws: {weigh}. "
                     f"Interval: {d['interval']}.", "",
                 "| C | sizes (runs) | N_opt | sd of log N_opt | loss at N_opt | used |", "|---|---|---|---|---|---|"]
        for p in d["profiles"]:
            sd = "–" if p.get("sd_log_n") is None else f"{p['sd_log_n']:.3f}"
            lines.append(f"| {p['c']:.3g} | {len(set(p['n']))} ({len(p['n'])}) | {p['n_opt']:.4g} | {sd} | "
                         f"{p['loss_opt']:.4f} | {'yes' if p['inside'] else 'no: outside the sizes'} |")
        return lines

    def plots(self, report, out_dir, tag: str = "") -> dict[str, str]:
        return {f"isoflop{tag}": isoflop_plot(self, out_dir, f"isoflop{tag}")}
