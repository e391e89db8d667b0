"""The fit ``harness-plan --next`` scores its proposals with, and how it scores them.

The runs so far are fitted once with approach 3 (the surrogate). A proposal's score is the
expected width of the target's 95% interval once its runs are added: the linearised
(delta-method) width under approach 3, or approach 2's own bootstrap on losses the surrogate
simulates (harness/sweep/next_runs.py's docstring says why each).
"""

from __future__ import annotations

import math
import zlib
from typing import Sequence

import numpy as np

from harness.errors import FitInputError, InsufficientData, NextRunsError
from harness.fit.allocation import LawParams
from harness.fit.laws.approach2 import IsoFlopFit
from harness.fit.laws.chinchilla import ChinchillaFit
from harness.fit.points import Points
from harness.sweep.runs_so_far import Design, Run, budgets, same_budget

SEED_NOISE = 0.0065  # nats: std of the final loss over 4 seeds (shared notes, ladder_xs at 2e12)
FAIL_WIDTH = 1.0  # the width scored when the target cannot be fitted at all


def fit_surrogate(design: Design, law: str, n_bootstrap: int, seed: int, noise: float) -> tuple[ChinchillaFit, float]:
    """Approach 3 on the runs so far (bootstrapped only when it also scores), and the scale of a
    log residual as the fit sees it: the form's misfit where it exceeds the seed noise."""
    try:
        surrogate = ChinchillaFit(n_bootstrap=n_bootstrap if law == "chinchilla" else 0, seed=seed).fit(design.points)
    except FitInputError as e:
        raise NextRunsError(f"the surrogate fit (approach 3) failed: {e}") from None
    pts = design.points
    resid = np.log(pts.loss) - np.log(surrogate.predict(pts.n, pts.d))
    sigma = max(float(np.sqrt(np.mean(resid ** 2))), noise / float(np.mean(pts.loss)))
    return surrogate, sigma


def _noise(seed: int, draw: int, r: Run) -> float:
    key = zlib.crc32(f"{r.model}|{r.flops:.6g}|{draw}|{seed}".encode())
    return float(np.random.default_rng([seed, draw, key]).normal())


class Simulator:
    """Losses of runs not yet trained: the surrogate's, plus their budget's mean residual (so they
    sit on the measured profile's level), plus seeded Gaussian seed noise."""

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
        loss = [self.mean_loss(r) + self.noise * _noise(self.seed, draw, r) for r in extra]
        return Points(n=np.concatenate([pts.n, [r.n for r in extra]]),
                      d=np.concatenate([pts.d, [r.d for r in extra]]),
                      c=np.concatenate([pts.c, [r.flops for r in extra]]),
                      loss=np.concatenate([pts.loss, loss]),
                      labels=list(pts.labels) + [f"sim:{r.model}@{r.flops:.3g}" for r in extra],
                      flops_convention=pts.flops_convention, param_convention=pts.param_convention)


class Scorer:
    """The expected width of the target's 95% interval on a design.

    approach2: the fitter's own bootstrap on simulated losses (``width``), averaged over ``draws``
    noise draws. chinchilla: the linearised (delta-method) width at the surrogate's parameters
    (``linear_width``), which needs no losses at all, only where the runs are.
    """

    def __init__(self, target: str, c_target: float | None, law: str, surrogate: ChinchillaFit, sim: Simulator,
                 n_bootstrap: int, seed: int, sigma: float, draws: int) -> None:
        self.target, self.c_target, self.law, self.surrogate, self.sim = target, c_target, law, surrogate, sim
        self.n_bootstrap, self.seed, self.sigma, self.draws = n_bootstrap, seed, sigma, draws
        self.last_ok_ = 1.0  # share of the last fit's bootstrap resamples that gave a value
        p = surrogate.chinchilla_
        self.theta = np.log([p.A, p.B, p.E]).tolist() + [p.alpha, p.beta]

    def expected(self, extra: Sequence[Run]) -> float:
        """The width once the runs ``extra`` are added to the design (none: the width now)."""
        pts = self.sim.design.points
        if self.law == "chinchilla":
            n = np.concatenate([pts.n, [r.n for r in extra]])
            d = np.concatenate([pts.d, [r.d for r in extra]])
            return self.linear_width(n, d)
        if not extra:
            return self.width(pts)
        return float(np.mean([self.width(self.sim.points(extra, t)) for t in range(self.draws)]))

    # approach 2 ----------------------------------------------------------------------------
    def interval(self, pts: Points) -> list[float] | None:
        """The fitter's approach-2 bootstrap interval of a on these points (None: no fit)."""
        try:
            f = IsoFlopFit(n_bootstrap=self.n_bootstrap, seed=self.seed).fit(pts)
        except (InsufficientData, FitInputError, np.linalg.LinAlgError, ValueError, OverflowError):
            return None
        self.last_ok_ = f.details_["n_bootstrap"] / self.n_bootstrap if self.n_bootstrap else 1.0
        return list(f.ci_["a"]) if "a" in f.ci_ else None

    def width(self, pts: Points) -> float:
        """Approach 2's interval width, with each failed resample counted as ``FAIL_WIDTH``.

        Approach 2 drops a resample that leaves fewer than two bracketed minima (on three shapes
        per budget, most of them: a resample keeps all three sizes with probability 2/9), and
        the percentile interval of the few survivors can be a single point. Weighting by the
        share that survived keeps such a design from scoring as if a were pinned.
        """
        ci = self.interval(pts)
        if ci is None or not all(math.isfinite(v) for v in ci):
            return FAIL_WIDTH
        ok = self.last_ok_
        return float(ok * (ci[1] - ci[0]) + (1 - ok) * FAIL_WIDTH)

    # approach 3 ----------------------------------------------------------------------------
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
