"""The fit ``harness-plan --next`` scores its proposals with, and how it scores them.

The runs so far are fitted once with approach 3 (the surrogate). A proposal's score is the
expected width of the target's 95% interval once its runs are added, and it is the interval the
fitter itself reports: the law's own percentile bootstrap over runs (approach 3's, or approach 2's),
refitted on the runs so far (their measured losses) plus the proposal's runs, whose losses the
surrogate simulates with noise (``Noise``: seed noise, or the law's misfit where larger), averaged
over a few draws of that noise and of the bootstrap's seed. The linearised (delta-method) width under approach 3 survives only as a cheap screen that
picks which candidates get the bootstrap (harness/sweep/next_runs.py's docstring says why).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from harness.errors import FitInputError, InsufficientData, NextRunsError
from harness.fit.allocation import LawParams
from harness.fit.laws.approach2 import IsoFlopFit
from harness.fit.laws.chinchilla import ChinchillaFit
from harness.fit.points import Points
from harness.fit.vertex import SEED_NOISE, replicate_noise
from harness.sweep.runs_so_far import Design, Run, budgets, same_budget

FAIL_WIDTH = 1.0  # the width scored when the target cannot be fitted at all
LAW_TEXT = {"chinchilla": "approach 3 (L = E + A/N^alpha + B/D^beta)", "approach2": "approach 2 (IsoFLOP vertices)"}
INTERVAL_TEXT = {"chinchilla": "percentile bootstrap over runs",
                 "approach2": "percentile bootstrap over runs resampled within each budget"}


@dataclass(frozen=True)
class Noise:
    """How far a simulated run's loss lands from the surrogate's, relative (a std of log loss).

    A run not yet trained will miss the surrogate by its seed noise and by the law's misfit where
    it goes, and the fitter sees both. So the spread is the seed noise or, where the surrogate
    misses the runs so far by more, its residual scale. With the seed noise alone the simulated runs
    sit closer to the law than real ones, and the width after a whole budget came out 20-50% too
    narrow where the form misfits (results/planner_calibration: synthetic_isoflop_decades_cpu's
    residuals are 2.6%, six times its replicate seeds' spread).
    """

    seed: float  # seed-to-seed spread of one run's loss
    source: str  # where ``seed`` comes from
    misfit: float = 0.0  # the surrogate's residual scale on the runs so far (0: not counted)

    @property
    def relative(self) -> float:
        return max(self.seed, self.misfit)

    def text(self) -> str:
        seed = f"seed noise {self.seed:.2%} ({self.source})"
        if self.misfit > self.seed:
            return f"{self.relative:.2%}: the surrogate's residual scale on the runs so far, over the {seed}"
        return f"{self.relative:.2%}: the {seed}"


@dataclass(frozen=True)
class WidthMethod:
    """What a scored width is: which law's interval, by which method, on which simulated losses."""

    law: str  # chinchilla | approach2
    target: str  # a | loss@C
    n_bootstrap: int
    draws: int
    seed: int
    noise: Noise

    def describe(self) -> str:
        seeds = f"{self.seed}" if self.draws == 1 else f"{self.seed}-{self.seed + self.draws - 1}"
        text = (f"expected width = mean over {self.draws} draws of the fitter's own 95% interval of {self.target} "
                f"under {LAW_TEXT[self.law]}: {INTERVAL_TEXT[self.law]}, {self.n_bootstrap} resamples, bootstrap "
                f"seeds {seeds}; the runs so far keep their measured losses, a proposed run gets the surrogate's "
                f"loss + its budget's mean residual, times exp(N(0, s)) with s = {self.noise.text()}")
        if self.law == "approach2":
            text += f"; a resample approach 2 drops counts as width {FAIL_WIDTH:g}"
        return text


def measured_noise(design: Design) -> Noise:
    """From the design's replicate seeds (the same shape run again at one budget) when it has any,
    as approach 2 measures them; else the documented seed-to-seed spread."""
    log_n, loss = [], []
    for c in budgets(design.runs):
        idx = [k for k, r in enumerate(design.runs) if same_budget(r.flops, c)]
        log_n.append(np.log(design.points.n[idx]))
        loss.append(design.points.loss[idx])
    measured = replicate_noise(log_n, loss)
    if measured is not None and measured > 0:
        return Noise(measured, "measured from this sweep's replicate seeds")
    return Noise(SEED_NOISE, "documented; this sweep has no replicate seeds")


def fit_surrogate(design: Design) -> tuple[ChinchillaFit, np.ndarray]:
    """Approach 3 on the runs so far, and its log residuals there."""
    try:
        surrogate = ChinchillaFit(n_bootstrap=0).fit(design.points)
    except FitInputError as e:
        raise NextRunsError(f"the surrogate fit (approach 3) failed: {e}") from None
    pts = design.points
    return surrogate, np.log(pts.loss) - np.log(surrogate.predict(pts.n, pts.d))


def residual_scale(resid: np.ndarray, n_params: int = 5) -> float:
    """The rms log residual over the degrees of freedom: a run the fit has not seen misses it by
    more than the runs it was fitted to (by sqrt(n / (n - 5)), 1.3x on 12 runs)."""
    return float(np.sqrt(np.sum(resid ** 2) / max(len(resid) - n_params, 1)))


def _noise(seed: int, draw: int, r: Run) -> float:
    key = zlib.crc32(f"{r.model}|{r.flops:.6g}|{draw}|{seed}".encode())
    return float(np.random.default_rng([seed, draw, key]).normal())


class Simulator:
    """Losses of runs not yet trained: the surrogate's, plus their budget's mean residual (so they
    sit on the measured profile's level), times seeded log-normal noise (``Noise``)."""

    def __init__(self, design: Design, surrogate: ChinchillaFit, noise: float, seed: int) -> None:
        self.design, self.surrogate, self.noise, self.seed = design, surrogate, noise, seed
        pts = design.points
        resid = pts.loss - surrogate.predict(pts.n, pts.d)
        self.offsets = [(c, float(np.mean([resid[k] for k, r in enumerate(design.runs) if same_budget(r.flops, c)])))
                        for c in budgets(design.runs)]

    def mean_loss(self, r: Run) -> float:
        off = next((o for c, o in self.offsets if same_budget(c, r.flops)), 0.0)
        return float(self.surrogate.predict(r.n, r.d)) + off

    def points(self, extra: Sequence[Run], draw: int) -> Points:
        pts = self.design.points
        if not extra:
            return pts
        # Relative noise: the seed-to-seed spread is documented and measured as a share of the loss.
        loss = [self.mean_loss(r) * math.exp(self.noise * _noise(self.seed, draw, r)) for r in extra]
        return Points(n=np.concatenate([pts.n, [r.n for r in extra]]),
                      d=np.concatenate([pts.d, [r.d for r in extra]]),
                      c=np.concatenate([pts.c, [r.flops for r in extra]]),
                      loss=np.concatenate([pts.loss, loss]),
                      labels=list(pts.labels) + [f"sim:{r.model}@{r.flops:.3g}" for r in extra],
                      flops_convention=pts.flops_convention, param_convention=pts.param_convention)


class Scorer:
    """The expected width of the target's 95% interval on a design (``expected``), and a cheap
    screen of candidates (``linear_width``).

    ``expected``: the mean over ``draws`` of the fitter's own bootstrap interval (``width``), draw t
    with the simulated runs' noise draw t and bootstrap seed ``seed + t``. Why a mean: on a dozen
    runs one bootstrap's width moves by 10-25% with its seed alone, and the fitter's user sees one
    seed, so the expectation over seeds is the number to promise. Every candidate of a round uses
    the same seeds (the same resample counts where the designs have as many runs), so candidates
    are compared on common random numbers.
    """

    def __init__(self, target: str, c_target: float | None, law: str, surrogate: ChinchillaFit, sim: Simulator,
                 n_bootstrap: int, seed: int, sigma: float, draws: int) -> None:
        if n_bootstrap < 1 or draws < 1:
            raise NextRunsError(f"scoring needs at least one bootstrap resample and one draw "
                                f"(got {n_bootstrap} resamples, {draws} draws)")
        self.target, self.c_target, self.law, self.surrogate, self.sim = target, c_target, law, surrogate, sim
        self.n_bootstrap, self.seed, self.sigma, self.draws = n_bootstrap, seed, sigma, draws
        self.last_ok_ = 1.0  # share of the last fit's bootstrap resamples that gave a value
        # (runs added, draw) -> (interval, share kept): the width now is asked for again by its interval
        self._fits: dict[tuple[tuple[Run, ...], int], tuple[list[float] | None, float]] = {}
        p = surrogate.chinchilla_
        self.theta = np.log([p.A, p.B, p.E]).tolist() + [p.alpha, p.beta]
        # Refits start from the surrogate's local optima, not the 4,500-point grid: a design that
        # differs by a few runs has its optimum in one of those basins, and the grid would cost ~1 s a fit.
        self.starts = np.vstack([surrogate.theta_[None, :], surrogate._local_optima])

    def with_noise(self, noise: float) -> Scorer:
        """The same scorer, its runs simulated with another relative noise (no refit of the surrogate)."""
        sim = Simulator(self.sim.design, self.surrogate, noise, self.sim.seed)
        return Scorer(self.target, self.c_target, self.law, self.surrogate, sim, self.n_bootstrap, self.seed,
                      self.sigma, self.draws)

    def expected(self, extra: Sequence[Run]) -> float:
        """The width once the runs ``extra`` are added to the design (none: the width now)."""
        return float(np.mean([self.width(extra, t) for t in range(self.draws)]))

    def interval(self, extra: Sequence[Run], draw: int = 0) -> list[float] | None:
        """The fitter's bootstrap interval of the target once ``extra`` is added, at noise draw and
        bootstrap seed ``draw`` (None: no fit)."""
        key = (tuple(extra), draw)
        if key not in self._fits:
            self._fits[key] = self._interval(self.sim.points(extra, draw), self.seed + draw)
        ci, self.last_ok_ = self._fits[key]
        return ci

    def _interval(self, pts: Points, seed: int) -> tuple[list[float] | None, float]:
        """The interval and the share of resamples that gave a value."""
        try:
            if self.law == "approach2":
                f2 = IsoFlopFit(n_bootstrap=self.n_bootstrap, seed=seed).fit(pts)
                ok = f2.details_["n_bootstrap"] / self.n_bootstrap
                return (list(f2.ci_["a"]) if "a" in f2.ci_ else None), ok
            f3 = ChinchillaFit(n_bootstrap=self.n_bootstrap, seed=seed, grid=self.starts).fit(pts)
        except (InsufficientData, FitInputError, np.linalg.LinAlgError, ValueError, OverflowError):
            return None, 0.0
        ok = f3.details_["n_bootstrap"] / self.n_bootstrap
        if self.target == "a":
            return (list(f3.ci_["a"]) if "a" in f3.ci_ else None), ok
        return list(f3.derived_ci(lambda q: float(q.loss(*f3.optimum(q, self.c_target))))), ok

    def width(self, extra: Sequence[Run], draw: int = 0) -> float:
        """The interval's width; approach 2's with each failed resample counted as ``FAIL_WIDTH``.

        Approach 2 drops a resample that leaves fewer than two bracketed minima (on three shapes
        per budget, most of them: a resample keeps all three sizes with probability 2/9), and
        the percentile interval of the few survivors can be a single point. Weighting by the
        share that survived keeps such a design from scoring as if a were pinned. Approach 3's
        fitter drops only resamples that run off to non-finite parameters; its width is as reported.
        """
        ci = self.interval(extra, draw)
        if ci is None or not all(math.isfinite(v) for v in ci):
            return FAIL_WIDTH
        if self.law == "chinchilla":
            return float(ci[1] - ci[0])
        ok = self.last_ok_
        return float(ok * (ci[1] - ci[0]) + (1 - ok) * FAIL_WIDTH)

    # the screen: approach 3 linearised -------------------------------------------------------
    def screen(self, extra: Sequence[Run]) -> float:
        """The delta-method width once ``extra`` is added: only where the runs are, no losses, ~1 ms."""
        pts = self.sim.design.points
        return self.linear_width(np.concatenate([pts.n, [r.n for r in extra]]),
                                 np.concatenate([pts.d, [r.d for r in extra]]))

    @staticmethod
    def _log_loss(theta: np.ndarray, n: np.ndarray, d: np.ndarray) -> np.ndarray:
        la, lb, le, al, be = theta
        return np.logaddexp(np.logaddexp(la - al * np.log(n), lb - be * np.log(d)), le)

    def _quantity(self, theta: np.ndarray) -> float:
        la, lb, le, al, be = theta
        if self.target == "a":
            return be / (al + be)
        q = LawParams(E=math.exp(le), A=math.exp(la), B=math.exp(lb), alpha=al, beta=be)
        return float(q.loss(*self.surrogate.optimum(q, self.c_target)))

    def linear_width(self, n: np.ndarray, d: np.ndarray) -> float:
        """2 x 1.96 x the delta-method standard error of the target, for runs at (n, d).

        The fit minimises residuals of log L in θ = (log A, log B, log E, α, β); near the
        optimum Cov(θ) ≈ σ² (JᵀJ)⁻¹ with J the Jacobian of log L at each run, and the target's
        variance is gᵀ Cov g with g its gradient in θ (central differences on both).

        This is what --next scored by until issue 20, and it is 1.2-3.4x narrower than the bootstrap
        interval the fitter reports (results/planner_calibration): σ is the rms residual over n
        runs, not over n - 5 degrees of freedom; the Huber fit is near least absolute deviations,
        whose spread is ~1.25x least squares'; and on a dozen runs the bootstrap's resamples that
        lose a run which alone pins a direction give heavy tails that no linearisation sees. Its
        ranking is still informative, and free, so it only decides which candidates get scored.
        """
        th = np.asarray(self.theta, dtype=float)
        h = 1e-5
        jac = np.empty((len(n), 5))
        grad = np.empty(5)
        for j in range(5):
            e = np.zeros(5)
            e[j] = h
            jac[:, j] = (self._log_loss(th + e, n, d) - self._log_loss(th - e, n, d)) / (2 * h)
            grad[j] = (self._quantity(th + e) - self._quantity(th - e)) / (2 * h)
        info = jac.T @ jac
        cov = np.linalg.pinv(info, rcond=1e-12)
        var = float(grad @ cov @ grad)
        # A direction the runs do not constrain at all (pinv's null space) leaves the target free.
        null = np.linalg.svd(info, compute_uv=False)
        if null[-1] < 1e-12 * null[0] or not math.isfinite(var) or var < 0:
            return FAIL_WIDTH
        return min(FAIL_WIDTH, 2 * 1.96 * self.sigma * math.sqrt(var))
