"""Data-constrained scaling (Muennighoff et al. 2023): repeated tokens are worth less.

With U_D unique tokens seen for R_D = D/U_D - 1 repeated epochs, the effective data is

    D' = U_D + U_D R_D* (1 - exp(-R_D / R_D*))

and likewise parameters beyond U_N = min(N, N_opt(U_D)) (the compute-optimal size for U_D tokens)
have an effective count N' = U_N + U_N R_N* (1 - exp(-R_N / R_N*)), R_N = N/U_N - 1. The loss is
the Chinchilla form in (N', D'). Muennighoff et al. fit R_D* ≈ 15.4 and R_N* ≈ 5.3.

U_D is the unique data the run actually saw, min(U, D): a run stopped before its first epoch
ended has R_D = 0 and D' = D, never D' = U (that would credit it with tokens it never read).
A run with no unique-token count streamed fresh data, so U_D = D. As in the authors' reference
code, the excess-parameter term applies to every run, repeated or not: a model larger than the
compute-optimal size for the data it saw gets diminishing credit for its extra parameters.

Bootstrap: resamples reweight the runs by multinomial counts and are refitted from the
full-data optimum, all at once (``multistart.batched_lbfgs`` with a central-difference
gradient over the 7 parameters, which is 15 batched evaluations of a cheap closed form),
sliced into rows so that memory stays bounded (15 copies of every row of counts). Above
``subsample_points`` runs (default 2,000) the resamples come from a bag of little bootstraps, as
approach 3's do (``ChinchillaFit._bootstrap``), and the approach-3 fit the starts come from
screens its grid on a subsample; the fit says so in its warnings and ``details["subsample"]``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import minimize

from harness.errors import InsufficientData
from harness.fit.anchors import MUENNIGHOFF
from harness.fit.law import Law, scale
from harness.fit.laws.chinchilla import (
    ChinchillaFit,
    lse_samples,
    theta_to_params,
    to_units,
)
from harness.fit.multistart import (
    SUBSAMPLE_POINTS,
    Subsample,
    batched_lbfgs,
    check_subsample_points,
    little_bootstrap_note,
    resample_chunks,
    rows_within,
)
from harness.fit.objective import DEFAULT_DELTA, huber
from harness.fit.points import Points
from harness.fit.results import percentile_ci


def effective_data(d: np.ndarray, u: np.ndarray, rd_star: np.ndarray | float) -> np.ndarray:
    """D' = U_D + U_D R_D* (1 - exp(-R_D/R_D*)), U_D = min(U, D), R_D = D/U_D - 1 (NaN U: fresh data)."""
    d = np.asarray(d, dtype=float)
    u = np.asarray(u, dtype=float)
    u_d = np.where(np.isfinite(u), np.minimum(u, d), d)
    r_d = np.maximum(d / u_d - 1.0, 0.0)
    return u_d + u_d * rd_star * -np.expm1(-r_d / rd_star)


def effective_params(n: np.ndarray, u_n: np.ndarray, rn_star: np.ndarray | float) -> np.ndarray:
    """N' = U_N + U_N R_N* (1 - exp(-R_N/R_N*)), R_N = N/U_N - 1, for U_N <= N."""
    r_n = np.maximum(n / u_n - 1.0, 0.0)
    return u_n + u_n * rn_star * -np.expm1(-r_n / rn_star)


def predict_batch(theta: np.ndarray, n: np.ndarray, d: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Predicted loss (S, n) for parameter rows theta (S, 7) = (a, b, e, alpha, beta, ln R_D*, ln R_N*)."""
    theta = np.atleast_2d(theta)
    a, b, e, al, be, lrd, lrn = (theta[:, k:k + 1] for k in range(7))
    u = np.asarray(u, dtype=float)
    u_d = np.where(np.isfinite(u), np.minimum(u, d), d)[None, :]
    d_eff = effective_data(d[None, :], u_d, np.exp(lrd))
    # Compute-optimal N for U_D tokens: D_opt(C) = U_D gives C/6 = (U_D G)^(1/b), N = G (C/6)^a,
    # i.e. N = G (U_D G)^(beta/alpha), with G = (alpha A / beta B)^(1/(alpha+beta)); in logs:
    with np.errstate(divide="ignore", invalid="ignore"):
        log_g = (np.log(al) + a - np.log(be) - b) / (al + be)
        log_n_u = log_g + (be / al) * (np.log(u_d) + log_g)
    u_n = np.minimum(n[None, :], np.exp(np.minimum(log_n_u, 700.0)))
    n_eff = effective_params(n[None, :], u_n, np.exp(lrn))
    return np.exp(e) + np.exp(a) / n_eff ** al + np.exp(b) / d_eff ** be


def effective(theta: np.ndarray, n: np.ndarray, d: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N', D') for one parameter vector."""
    p = theta_to_params(theta[:5])
    u_d = np.where(np.isfinite(u), np.minimum(u, d), d)
    d_eff = effective_data(d, u_d, math.exp(theta[5]))
    u_n = np.minimum(n, p.G * (u_d * p.G) ** (p.beta / p.alpha))
    return effective_params(n, u_n, math.exp(theta[6])), d_eff


def predict_theta(theta: np.ndarray, n: np.ndarray, d: np.ndarray, u: np.ndarray) -> np.ndarray:
    n_eff, d_eff = effective(theta, n, d, u)
    return theta_to_params(theta[:5]).loss(n_eff, d_eff)


# As for approach 3 (see chinchilla.BOOT_FTOL): scipy's default relative tolerance stops a
# resample that starts at the full-data optimum almost where it began, so resamples run tighter.
BOOT_FTOL = 1e-13
BOOT_GTOL = 1e-9
THETA_NAMES = ("a", "b", "e", "alpha", "beta", "log_R_D_star", "log_R_N_star")
LOG_STAR_BOUNDS = (math.log(0.1), math.log(1e4))


# Resample counts (resamples x runs) held at once by the bootstrap: 64 MiB of float64.
BOOT_COUNT_ELEMENTS = 1 << 23
# Every batched evaluation is the rows themselves and 14 shifted copies (the central differences).
COPIES = 15

# Runs past one epoch before the default laws include the data-constrained fit.
MIN_REPEATED_RUNS = 3


class DataConstrainedFit(Law):
    name = "data_constrained"
    title = "Data-constrained scaling (Muennighoff et al. 2023): Chinchilla form in effective N', D'"
    can_predict = True
    min_points = 8
    n_params = 7
    bounds = {"alpha": (1e-6, 3.0), "beta": (1e-6, 3.0), "R_D_star": tuple(map(math.exp, LOG_STAR_BOUNDS)),
              "R_N_star": tuple(map(math.exp, LOG_STAR_BOUNDS))}
    order = 50
    headline_keys = ("alpha", "beta", "E", "R_D_star", "R_N_star")

    def __init__(self, n_bootstrap: int = 0, ci_level: float = 0.95, seed: int = 0, delta: float = DEFAULT_DELTA,
                 boot_chunk: int = 500, subsample_points: int = SUBSAMPLE_POINTS) -> None:
        super().__init__(n_bootstrap=n_bootstrap, ci_level=ci_level, seed=seed)
        self.delta, self.boot_chunk = delta, boot_chunk
        self.subsample_points = subsample_points

    @classmethod
    def default_for(cls, points: Points) -> bool:
        # Only runs that went past one epoch say anything about repeated data (NaN compares False), and
        # R_D* needs several of them: one run at 1.1 epochs leaves it (and R_N*) unconstrained.
        u = points.unique_tokens
        return u is not None and int(np.sum(points.d > u * 1.001)) >= MIN_REPEATED_RUNS

    def fit(self, points: Points) -> "DataConstrainedFit":
        u = points.unique_tokens
        if u is None or not np.any(np.isfinite(u) & (points.d > u * 1.01)):
            raise InsufficientData("a data-constrained fit needs runs that repeat data (tokens > unique tokens)")
        return super().fit(points)

    def _fit(self, points: Points) -> None:
        check_subsample_points(self.name, self.subsample_points)
        u = np.asarray(points.unique_tokens, dtype=float)
        # Fitted on N and D (and U) in units of their geometric means, so that the answer does not
        # depend on the units of N and D; theta_ is converted back, R_D* and R_N* have no unit.
        s_n, s_d = scale(points.n), scale(points.d)
        self._log_s = (math.log(s_n), math.log(s_d))
        self._n, self._d, self._u = points.n / s_n, points.d / s_d, u / s_d
        self._ll = np.log(points.loss)
        self._data = (self._n, self._d, self._u, self._ll)
        fresh = ~np.isfinite(u) | (points.d <= u)
        base_pts = points.subset(np.flatnonzero(fresh)) if fresh.sum() >= 6 else points
        base_fit = ChinchillaFit(delta=self.delta, subsample_points=self.subsample_points).fit(base_pts)
        base = self._norm(base_fit.theta_)
        self.subsampled_ = [Subsample(f"{s_.step} of the approach-3 fit its starts come from", s_.points, s_.of, s_.how)
                            for s_ in base_fit.subsampled_]

        # Nine starts over the decay constants, run together; the best is polished by scipy with bounds.
        starts = np.array([np.concatenate([base, [math.log(rd), math.log(rn)]])
                           for rd in (5.0, 15.0, 50.0) for rn in (2.0, 5.0, 20.0)])
        batch = batched_lbfgs(self._batch_fun(np.ones((len(starts), len(points)))), starts,
                              ftol=BOOT_FTOL, gtol=BOOT_GTOL, max_iter=2000, max_rows=rows_within(COPIES * len(points)))
        x0 = batch.x[int(np.argmin(batch.f))] if np.isfinite(batch.f).any() else starts[4]

        def obj(th: np.ndarray) -> float:
            return float(self._objective(th[None, :])[0])

        best = minimize(obj, x0, method="L-BFGS-B",
                        bounds=[(None, None)] * 3 + [(1e-6, 3), (1e-6, 3), LOG_STAR_BOUNDS, LOG_STAR_BOUNDS],
                        options={"maxiter": 5000, "ftol": 1e-14, "gtol": 1e-10})
        self._theta_norm = best.x
        self.theta_, self.objective_, self.converged_ = self._raw(best.x), float(best.fun), bool(best.success)
        self.message_ = str(best.message)
        self.chinchilla_ = p = theta_to_params(self.theta_[:5])
        self.boot_theta_ = self._bootstrap(self.n_bootstrap) if self.n_bootstrap > 0 else None
        self.params_ = {**p.as_dict(), "R_D_star": math.exp(self.theta_[5]), "R_N_star": math.exp(self.theta_[6])}
        if self.boot_theta_ is not None:
            t = self.boot_theta_
            samples = {**lse_samples(t), "R_D_star": np.exp(t[:, 5]), "R_N_star": np.exp(t[:, 6])}
            self.ci_ = {k: percentile_ci(v, self.ci_level) for k, v in samples.items()}
        if not self.converged_:
            self.warnings_.append(f"L-BFGS-B did not converge: {self.message_}")
        self.warnings_ += [s_.note() for s_ in self.subsampled_]
        n_boot = 0 if self.boot_theta_ is None else int(np.isfinite(self.boot_theta_).all(axis=1).sum())
        self.details_ = {"published": dict(MUENNIGHOFF), "n_bootstrap": n_boot,
                         **({"subsample": [s_.as_dict() for s_ in self.subsampled_]} if self.subsampled_ else {})}

    def _norm(self, theta: np.ndarray) -> np.ndarray:
        return to_units(theta, -self._log_s[0], -self._log_s[1])

    def _raw(self, theta: np.ndarray) -> np.ndarray:
        return to_units(theta, self._log_s[0], self._log_s[1])

    def _objective(self, theta: np.ndarray, weights: np.ndarray | None = None,
                   data: tuple[np.ndarray, ...] | None = None) -> np.ndarray:
        """Summed Huber loss on log residuals, per row of theta (S, 7); weights (S, n) are resample counts.
        ``data``: (N, D, U, log L) of a subsample of the runs (default all of them)."""
        n, d, u, ll = self._data if data is None else data
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            pred = predict_batch(theta, n, d, u)
            h = huber(np.log(pred) - ll[None, :], self.delta)
        if weights is not None:
            h = h * weights
        f = h.sum(axis=1)
        # Exponents outside (0, 3] or decay constants outside the fit's bounds are not the law.
        al, be, lrd, lrn = theta[:, 3], theta[:, 4], theta[:, 5], theta[:, 6]
        outside = ((al <= 0) | (be <= 0) | (al > 3) | (be > 3) | (lrd < LOG_STAR_BOUNDS[0]) | (lrd > LOG_STAR_BOUNDS[1])
                   | (lrn < LOG_STAR_BOUNDS[0]) | (lrn > LOG_STAR_BOUNDS[1]))
        return np.where(np.isfinite(f) & ~outside, f, np.inf)

    def _batch_fun(self, w: np.ndarray, data: tuple[np.ndarray, ...] | None = None):
        eye = np.eye(7)

        def fun(th: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            ww = w[rows]
            f = self._objective(th, ww, data)
            # Central differences: the 14 shifted copies of every row go through one evaluation.
            h = 1e-6 * np.maximum(1.0, np.abs(th))
            shifted = np.concatenate([th[:, None, :] + h[:, None, :] * eye, th[:, None, :] - h[:, None, :] * eye], axis=1)
            fs = self._objective(shifted.reshape(-1, 7), np.repeat(ww, 14, axis=0), data).reshape(len(th), 14)
            g = (fs[:, :7] - fs[:, 7:]) / (2 * h)
            # A shifted copy past a bound is infinite; that coordinate then gets no push.
            return f, np.where(np.isfinite(g), g, 0.0)
        return fun

    def _bootstrap(self, n_boot: int) -> np.ndarray:
        n = self.n_points_
        k = min(n, self.subsample_points)
        out = np.full((n_boot, 7), np.nan)
        centres: dict[int, np.ndarray | None] = {}
        for ch in resample_chunks(n, n_boot, self.seed, min(self.boot_chunk, rows_within(k, BOOT_COUNT_ELEMENTS)),
                                  max_points=self.subsample_points):
            if ch.whole:
                out[ch.lo: ch.lo + len(ch.counts)] = self._refit(ch.counts, self._theta_norm, None)
                continue
            data = tuple(x[ch.idx] for x in self._data)
            if ch.subset not in centres:
                # The subset's own optimum, its runs standing for all n: the centre its resamples spread around.
                c = self._refit(np.full((1, len(ch.idx)), n / len(ch.idx)), self._theta_norm, data)[0]
                centres[ch.subset] = c if np.all(np.isfinite(c)) else None
            c = centres[ch.subset]
            if c is not None:  # else the subset's resamples stay unfitted (NaN), as failed ones do
                out[ch.lo: ch.lo + len(ch.counts)] = self._refit(ch.counts, c, data) - c + self._theta_norm
        note = little_bootstrap_note("the bootstrap", n, n_boot, self.subsample_points, unit="runs")
        if note:
            self.subsampled_.append(note)
        return self._raw(out)

    def _refit(self, w: np.ndarray, start: np.ndarray, data: tuple[np.ndarray, ...] | None) -> np.ndarray:
        """Each row of weights ``w`` (b, runs) fitted from ``start``, to the bootstrap's tolerances; NaN
        rows where the fit failed."""
        x0 = np.tile(start, (len(w), 1))
        res = batched_lbfgs(self._batch_fun(w, data), x0, ftol=BOOT_FTOL, gtol=BOOT_GTOL, max_iter=2000,
                            max_rows=rows_within(COPIES * w.shape[1]))
        return np.where(np.isfinite(res.f)[:, None], res.x, np.nan)

    def predict(self, n: np.ndarray | float, d: np.ndarray | float) -> np.ndarray:
        """Loss on fresh data (no repetition): U_D = D."""
        n, d = np.broadcast_arrays(np.asarray(n, dtype=float), np.asarray(d, dtype=float))
        return predict_theta(self.theta_, n.ravel(), d.ravel(), np.full(n.size, np.nan)).reshape(n.shape)

    def predict_interval(self, n: np.ndarray | float, d: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Percentile band of the fresh-data loss over the bootstrap fits (NaN without bootstrap)."""
        n, d = np.broadcast_arrays(np.asarray(n, dtype=float), np.asarray(d, dtype=float))
        t = None if self.boot_theta_ is None else self.boot_theta_[np.isfinite(self.boot_theta_).all(axis=1)]
        if t is None or len(t) < 2:
            return np.full(n.shape, np.nan), np.full(n.shape, np.nan)
        sims = predict_batch(t, n.ravel(), d.ravel(), np.full(n.size, np.nan))
        q = (1 - self.ci_level) / 2
        lo, hi = np.quantile(sims, [q, 1 - q], axis=0)
        return lo.reshape(n.shape), hi.reshape(n.shape)

    def predict_points(self, points: Points) -> np.ndarray:
        u = points.unique_tokens if points.unique_tokens is not None else np.full(len(points), np.nan)
        return predict_theta(self.theta_, points.n, points.d, np.asarray(u, dtype=float))

    @classmethod
    def published(cls) -> dict[str, tuple[str, dict[str, float]]]:
        return {"Muennighoff": ("Muennighoff et al. 2023", dict(MUENNIGHOFF))}
