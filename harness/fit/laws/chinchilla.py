"""Approach 3 (Hoffmann et al. 2022): fit L(N, D) = E + A/N^alpha + B/D^beta directly.

The procedure is the one of the Epoch AI replication (Besiroglu et al. 2024), which is also
Hoffmann's: Huber loss (delta 1e-3, summed) on log residuals of the log-sum-exp form, L-BFGS
from a 4,500-point grid of starts.

Units: N and D are divided by their geometric means before fitting (and A, B converted back),
so the fit does not depend on whether N counts parameters or billions of them. The start grid
is Epoch's, expressed for data at the scale of Hoffmann's runs (``REF_N``, ``REF_D``), so on
those runs it starts where Epoch's did. The whole grid runs as one batch (``multistart``), the best
few distinct optima are polished with scipy's L-BFGS-B, and the best of those is the estimate.

Large inputs (more than ``subsample_points``, default 2,000): one pass of the 4,500 starts over every
point costs 4,500 x n of work per iteration, and 4,000 resample fits over every point as much again
per iteration, so both steps run on subsamples of ``subsample_points`` points. The grid runs on a
fixed random subsample (its Huber sum scaled by n/k to the full sum's size), and the best
``SCREEN_KEEP`` distinct optima it finds are refitted on all the points, where they are polished
as usual. The bootstrap becomes a bag of little bootstraps (``multistart.resample_chunks``): each
resample is n draws from one of 10 random subsets, refitted from that subset's own optimum (its
points weighted n/k) and shifted by the full fit minus that optimum, so that every subset's spread
is centred on the one estimate. The fit says both in warnings and in ``details["subsample"]``.
Smaller inputs run as before, to the last digit; every evaluation is sliced into rows
(``multistart.rows_within``), so that memory stays bounded either way.

Bootstrap: each resample reweights the points by their multinomial counts and is refitted from
the full-data optimum plus the next few distinct local optima of the full grid, all resamples in
one batch. Re-running the 4,500-point grid per resample would cost 4,500x more for starts
that, on every data set tried here, end in the same basin as the full-data optimum; the extra
local optima guard against a resample whose best basin differs.

Pinning (``pin={"E": 1.2136}``): any of E, A, B, alpha, beta can be held at a given value, e.g. E at
a known irreducible loss. The optimiser then moves only the free parameters: theta (in the fit's
units) is an affine function ``m @ u + c`` of the free ones u (``Embedding``), so the objective and
its gradient are exact, not a penalty. A pinned A or B still moves in the fit's units with its
exponent (log A/N^alpha = log A - alpha log N), which is why it is affine and not a plain mask. The
start grid is the same grid on the free parameters (its duplicates dropped), and the bootstrap the
same resamples; a pinned parameter keeps its value in ``params_`` and has no interval.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

import numpy as np

from harness.errors import FitInputError
from harness.fit.allocation import LawParams, inference_optimum
from harness.fit.anchors import EPOCH, HOFFMANN, HOFFMANN_ALLOCATION
from harness.fit.law import Law, scale
from harness.fit.multistart import (
    SUBSAMPLE_POINTS,
    BatchResult,
    Subsample,
    batched_lbfgs,
    check_subsample_points,
    distinct_best,
    little_bootstrap_note,
    polish,
    resample_chunks,
    rows_within,
    screen_sample,
)
from harness.fit.objective import DEFAULT_DELTA, objective
from harness.fit.points import Points
from harness.fit.results import LawResult, percentile_ci

THETA_NAMES = ("a", "b", "e", "alpha", "beta")
# The parameter each entry of theta stands for, by its name in params_ (what ``pin`` takes).
PINNABLE = ("A", "B", "E", "alpha", "beta")

# scipy's default stop, (f_k - f_k+1) / max(|f_k|, |f_k+1|, 1) <= 2.2e-9, is an absolute 2.2e-9
# on an objective of about 1e-3 (the summed Huber at delta 1e-3). From a start next to the
# optimum that fires after a step or two and every resample would "converge" where it began,
# giving intervals ten times too narrow. Resamples are therefore run to a far tighter tolerance.
BOOT_FTOL = 1e-15
BOOT_GTOL = 1e-10

# Distinct optima of the screen refitted on all the points: far more than the polish and the
# bootstrap use (3 and 4), so that a basin ranked a little lower on the subsample is not lost.
SCREEN_KEEP = 32
# Resample counts (resamples x points) held at once by the bootstrap: 64 MiB of float64.
BOOT_COUNT_ELEMENTS = 1 << 23


def epoch_grid() -> np.ndarray:
    """a, b in {0, 5, ..., 25}, e in {-1, -0.5, ..., 1}, alpha, beta in {0, 0.5, ..., 2}: 4,500 starts."""
    ab = np.arange(0.0, 30.0, 5.0)
    e = np.arange(-1.0, 1.5, 0.5)
    ex = np.arange(0.0, 2.5, 0.5)
    return np.array(list(itertools.product(ab, ab, e, ex, ex)), dtype=float)


# Geometric-mean N and D of the 240 Hoffmann runs the Epoch replication fits (their CSV less the
# 5 highest losses): the scale at which their start grid is written. On those runs every start
# is exactly theirs; on any other points it sits at the same place relative to the points.
REF_N, REF_D = 8.4875623e8, 1.6944877e10


def to_units(theta: np.ndarray, log_sn: float, log_sd: float) -> np.ndarray:
    """Rows (a, b, e, alpha, beta, ...) fitted on N/s_n, D/s_d, as parameters for N, D themselves."""
    t = np.array(theta, dtype=float, copy=True)
    t[..., 0] = t[..., 0] + t[..., 3] * log_sn
    t[..., 1] = t[..., 1] + t[..., 4] * log_sd
    return t


def theta_to_params(theta: np.ndarray) -> LawParams:
    a, b, e, al, be = (float(v) for v in theta)
    return LawParams(E=math.exp(e), A=math.exp(a), B=math.exp(b), alpha=al, beta=be)


def params_to_theta(p: LawParams) -> np.ndarray:
    return np.array([math.log(p.A), math.log(p.B), math.log(p.E), p.alpha, p.beta])


def check_pin(pin: Any, min_loss: float) -> dict[str, float]:
    """The pinned values as floats, or a one-line FitInputError naming the parameter that cannot be pinned."""
    if pin is None:
        return {}
    if not isinstance(pin, Mapping):
        raise FitInputError(f"chinchilla: pin must map parameter names to values, e.g. {{'E': 1.7}}, got {pin!r}")
    out = {}
    for name, value in pin.items():
        if name not in PINNABLE:
            raise FitInputError(f"chinchilla: cannot pin {name!r}: pin one of {', '.join(PINNABLE)}")
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise FitInputError(f"chinchilla: pinned {name} = {value!r} is not a number") from None
        if not math.isfinite(v):
            raise FitInputError(f"chinchilla: pinned {name} = {v} must be finite")
        if name == "E" and not 0 <= v < min_loss:
            # At or above the lowest loss the E term alone overshoots that point whatever A and B do.
            raise FitInputError(f"chinchilla: pinned E = {v:g} must be >= 0 and below the lowest loss {min_loss:.6g}")
        if name != "E" and not v > 0:
            raise FitInputError(f"chinchilla: pinned {name} = {v:g} must be positive")
        out[name] = v
    if len(out) == len(PINNABLE):
        raise FitInputError(f"chinchilla: every parameter ({', '.join(PINNABLE)}) is pinned, so none is left to fit")
    return out


def pinned_text(pins: Mapping[str, float]) -> str:
    """'E pinned at 1.2136, alpha pinned at 0.34': how a result says which parameters were held fixed."""
    return ", ".join(f"{k} pinned at {v:.6g}" for k, v in pins.items())


@dataclass(frozen=True)
class Embedding:
    """theta in the fit's units (rows of (a, b, e, alpha, beta)) as the affine function ``u @ m.T + c``
    of the free parameters u; the identity when nothing is pinned."""

    free: tuple[int, ...]  # the entries of theta that are fitted
    m: np.ndarray  # (5, len(free))
    c: np.ndarray  # (5,)

    @classmethod
    def of(cls, pins: Mapping[str, float], log_sn: float, log_sd: float) -> "Embedding":
        free = tuple(i for i, name in enumerate(PINNABLE) if name not in pins)
        m = np.zeros((5, len(free)))
        m[list(free), range(len(free))] = 1.0
        c = np.zeros(5)
        with np.errstate(divide="ignore"):  # E pinned at 0: e = -inf, and the E term drops out of the sum
            for i, name in enumerate(PINNABLE):
                if name in pins:
                    c[i] = np.log(pins[name]) if i < 3 else pins[name]
        # A pinned A (B) is log A - alpha log s_n in the fit's units: it moves with a free alpha (beta).
        for i, j, log_s in ((0, 3, log_sn), (1, 4, log_sd)):
            if i not in free:
                if j in free:
                    m[i, free.index(j)] = -log_s
                else:
                    c[i] -= c[j] * log_s
        return cls(free=free, m=m, c=c)

    @property
    def identity(self) -> bool:
        return len(self.free) == 5

    def full(self, u: np.ndarray) -> np.ndarray:
        return u if self.identity else u @ self.m.T + self.c

    def grad(self, g: np.ndarray) -> np.ndarray:
        """The objective's gradient in u from its gradient in theta (chain rule through the map)."""
        return g if self.identity else g @ self.m


@dataclass
class GridReport:
    n_starts: int
    n_converged: int
    n_at_best: int  # starts whose optimum is within 1e-6 (relative) of the best objective
    best_start: list[float]
    optimum_outside_grid: list[str] = field(default_factory=list)


def lse_samples(theta: np.ndarray) -> dict[str, np.ndarray]:
    """E, A, B, alpha, beta of each row of bootstrap thetas (a, b, e, alpha, beta, ...)."""
    with np.errstate(over="ignore"):  # a runaway resample's A or B overflows; percentile_ci drops it like a failed one
        return {"E": np.exp(theta[:, 2]), "A": np.exp(theta[:, 0]), "B": np.exp(theta[:, 1]),
                "alpha": theta[:, 3], "beta": theta[:, 4]}


class ChinchillaFit(Law):
    """Approach 3: ``ChinchillaFit().fit(points)`` then ``params_``, ``ci_``, ``predict``, ``n_opt``."""

    name = "chinchilla"
    title = "Approach 3 (Hoffmann et al. 2022): L(N, D) = E + A/N^alpha + B/D^beta"
    can_predict = True
    can_allocate = True
    min_points = 6
    n_params = 5
    order = 10
    headline_keys = ("alpha", "beta", "E", "a", "b")
    honours_weights = True
    can_pin = True
    fitted_by_default = True

    def __init__(self, n_bootstrap: int = 0, ci_level: float = 0.95, seed: int = 0, delta: float = DEFAULT_DELTA,
                 grid: np.ndarray | None = None, n_polish: int = 3, boot_starts: int = 4,
                 boot_chunk: int = 1000, pin: Mapping[str, float] | None = None,
                 subsample_points: int = SUBSAMPLE_POINTS) -> None:
        super().__init__(n_bootstrap=n_bootstrap, ci_level=ci_level, seed=seed)
        self.delta = delta
        self.grid = grid
        self.n_polish = n_polish
        self.boot_starts = boot_starts
        self.boot_chunk = boot_chunk
        self.pin = pin
        self.subsample_points = subsample_points

    # -- fitting ---------------------------------------------------------------------------
    def _fit(self, points: Points) -> None:
        self.pinned_ = check_pin(self.pin, float(np.min(points.loss)))
        check_subsample_points(self.name, self.subsample_points)
        # Fit in units of the points' own geometric means; the grid (raw units) moves with them.
        self._log_s = (math.log(scale(points.n)), math.log(scale(points.d)))
        self._emb = Embedding.of(self.pinned_, *self._log_s)
        free = list(self._emb.free)
        if self.grid is None:  # Epoch's grid, moved from their runs' units to the fit's
            grid_norm = to_units(epoch_grid(), -math.log(REF_N), -math.log(REF_D))
        else:  # a grid given in the points' own units
            grid_norm = self._norm(np.asarray(self.grid, dtype=float))
        # With parameters pinned, the grid's starts that differ only in those are one start.
        starts = grid_norm if self._emb.identity else np.unique(grid_norm[:, free], axis=0)
        self._logs = (np.log(points.n) - self._log_s[0], np.log(points.d) - self._log_s[1], np.log(points.loss))
        # Point weights (down-weighted runs) scale each Huber term; a bootstrap resample's counts multiply them.
        self._w = None if points.weight is None else np.asarray(points.weight, dtype=float)
        w_row = None if self._w is None else self._w[None, :]  # one row, broadcast over the starts
        n = len(points)
        self.subsampled_: list[Subsample] = []
        # 500 iterations: on the data sets tried, starts still running by then are stuck on Huber
        # kinks far from the best basin, and each costs a full iteration of Python overhead.
        if n > self.subsample_points and len(starts) > SCREEN_KEEP:
            screen, keep = self._screen(starts)
            batch = batched_lbfgs(lambda u, rows: self._objective(u, w_row), screen.x[keep], max_iter=500,
                                  max_rows=rows_within(n))
        else:
            batch = screen = batched_lbfgs(lambda u, rows: self._objective(u, w_row), starts, max_iter=500,
                                           max_rows=rows_within(n))
            keep = np.arange(len(starts))
        cand = distinct_best(batch.x, batch.f, max(self.n_polish, self.boot_starts))
        polished = [polish(self._fun1(self._w), batch.x[i]) for i in cand[: self.n_polish]]
        best = min(range(len(polished)), key=lambda i: polished[i].f)
        self.theta_norm_ = self._emb.full(polished[best].x)
        self.theta_ = self._raw(self.theta_norm_)
        self.objective_ = polished[best].f
        self.converged_ = polished[best].converged
        self.message_ = polished[best].message
        # A pinned value is kept as given, not as it comes back through its logarithm and the units.
        self.chinchilla_ = replace(theta_to_params(self.theta_), **self.pinned_)
        # Kept in raw units: the shared-exponent law starts its per-data-set fits from them.
        self._local_optima = self._raw(self._emb.full(batch.x[cand]))
        # Over the whole grid: on the subsample when it was screened (said in details["subsample"]).
        f_best = float(np.nanmin(screen.f))
        lo, hi = starts.min(axis=0), starts.max(axis=0)
        outside = [f"{THETA_NAMES[i]} = {self.theta_norm_[i]:.4g} is outside the start grid's range [{l:g}, {h:g}] "
                   "(in the fit's units)" for i, l, h in zip(free, lo, hi)
                   if self.theta_norm_[i] <= l or self.theta_norm_[i] >= h]
        self.grid_report_ = GridReport(
            n_starts=len(starts), n_converged=int(screen.converged.sum()),
            n_at_best=int(np.sum(screen.f <= f_best + 1e-6 * abs(f_best))),
            best_start=[float(v) for v in self._raw(self._emb.full(starts[keep[cand[best]]]))],
            optimum_outside_grid=outside)
        self.boot_theta_ = self._raw(self._bootstrap(self.n_bootstrap)) if self.n_bootstrap > 0 else None
        p = self.chinchilla_
        self.params_ = {**p.as_dict(), "a": p.a, "b": p.b, "G": p.G}
        self.ci_ = self._ci()
        self.warnings_ += outside + [s_.note() for s_ in self.subsampled_]
        if "E" not in self.pinned_ and p.E < 1e-3 * float(np.min(points.loss)):
            # E has run towards its floor of 0: the points do not separate the irreducible loss
            # from the power laws (typically too few budgets, or none near the floor).
            self.warnings_.append(f"UNDER-DETERMINED: E = {p.E:.3g} is all but 0: the points do not pin the "
                                  "irreducible loss, and the exponents trade off against it")
        if not self.converged_:
            self.warnings_.append(f"L-BFGS-B did not converge: {self.message_}")
        self.details_ = {"delta": self.delta, "grid": self.grid_report_.__dict__,
                         "n_bootstrap": len(self.boot_params()), "optimizer_message": self.message_,
                         "units": {"N": math.exp(self._log_s[0]), "D": math.exp(self._log_s[1])},
                         **({"pinned": dict(self.pinned_)} if self.pinned_ else {}),
                         **({"subsample": [s_.as_dict() for s_ in self.subsampled_]} if self.subsampled_ else {})}

    def _screen(self, starts: np.ndarray) -> tuple[BatchResult, np.ndarray]:
        """The start grid run on a fixed subsample of ``subsample_points`` points: its batch result and
        the rows of its best ``SCREEN_KEEP`` distinct optima, which the caller refits on all the points."""
        n = len(self._logs[2])
        idx = screen_sample(n, self.subsample_points)
        # The subsample's Huber sum scaled to the full sum's size: scipy's stopping rule is absolute
        # on an objective this far below 1, so the screen then stops where a full-data run would.
        w = (n / len(idx)) * (np.ones(len(idx)) if self._w is None else self._w[idx])
        logs = tuple(x[idx] for x in self._logs)
        screen = batched_lbfgs(lambda u, rows: self._objective(u, w[None, :], logs), starts, max_iter=500,
                               max_rows=rows_within(len(idx)))
        keep = distinct_best(screen.x, screen.f, SCREEN_KEEP)
        self.subsampled_.append(Subsample(
            "the start grid", len(idx), n,
            f"its {len(starts):,} starts ran on a fixed random subsample, and its best {len(keep)} distinct "
            f"optima were refitted on all {n:,} points"))
        return screen, keep

    def _norm(self, theta: np.ndarray) -> np.ndarray:
        return to_units(theta, -self._log_s[0], -self._log_s[1])

    def _raw(self, theta: np.ndarray) -> np.ndarray:
        return to_units(theta, self._log_s[0], self._log_s[1])

    def _objective(self, u: np.ndarray, weights: np.ndarray | None,
                   logs: tuple[np.ndarray, ...] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The summed Huber objective and its gradient at rows u of free parameters (the fit's units),
        on every point or on ``logs`` (log N, log D, log L of a subsample)."""
        ln, ld, ll = self._logs if logs is None else logs
        f, g = objective(self._emb.full(u), ln, ld, ll, self.delta, weights=weights)
        return f, self._emb.grad(g)

    def _fun1(self, weights: np.ndarray | None = None):
        def f1(u: np.ndarray) -> tuple[float, np.ndarray]:
            f, g = self._objective(u[None, :], None if weights is None else weights[None, :])
            return float(f[0]), g[0]
        return f1

    def _bootstrap(self, n_boot: int) -> np.ndarray:
        """Resampled optima in the fit's (normalised) units."""
        n = len(self._logs[2])
        free = list(self._emb.free)
        u_hat = self.theta_norm_[free]
        others = self._norm(self._local_optima[: self.boot_starts - 1])[:, free]
        starts = np.vstack([u_hat[None, :], others])
        out = np.full((n_boot, len(free)), np.nan)
        k = min(n, self.subsample_points)
        centres: dict[int, np.ndarray | None] = {}
        # Resamples are drawn and fitted a chunk at a time, so the counts held are bounded too; the
        # chunks change no number (every resample is its own rows of the batch).
        for ch in resample_chunks(n, n_boot, self.seed, min(self.boot_chunk, rows_within(k, BOOT_COUNT_ELEMENTS)),
                                  max_points=self.subsample_points):
            if ch.whole:
                w = ch.counts if self._w is None else ch.counts * self._w[None, :]
                out[ch.lo: ch.lo + len(w)] = self._refit(w, starts, self._logs)[0]
                continue
            logs = tuple(x[ch.idx] for x in self._logs)
            w_pt = np.ones(len(ch.idx)) if self._w is None else self._w[ch.idx]
            if ch.subset not in centres:
                # The subset's own optimum, its points standing for all n: the centre its resamples spread around.
                c, f_c = self._refit((n / len(ch.idx)) * w_pt[None, :], starts, logs)
                centres[ch.subset] = c[0] if np.isfinite(f_c[0]) else None
            u_j = centres[ch.subset]
            if u_j is None:  # the subset's resamples stay unfitted (NaN) and are dropped, as failed ones are
                continue
            fits = self._refit(ch.counts * w_pt[None, :], np.vstack([u_j[None, :], others]), logs)[0]
            out[ch.lo: ch.lo + len(fits)] = fits - u_j + u_hat
        note = little_bootstrap_note("the bootstrap", n, n_boot, self.subsample_points)
        if note:
            self.subsampled_.append(note)
        return self._emb.full(out)

    def _refit(self, w: np.ndarray, starts: np.ndarray,
               logs: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Each row of point weights ``w`` (b, points) fitted from every start, to the bootstrap's
        tolerances: the best optimum of each row (b, free parameters) and its objective (b,)."""
        b = len(w)
        k, p = starts.shape
        x0 = np.tile(starts, (b, 1))
        owner = np.repeat(np.arange(b), k)
        res = batched_lbfgs(lambda u, rows: self._objective(u, w[owner[rows]], logs),
                            x0, ftol=BOOT_FTOL, gtol=BOOT_GTOL, max_iter=3000, max_rows=rows_within(w.shape[1]))
        f = np.where(np.isfinite(res.f), res.f, np.inf).reshape(b, k)
        pick = np.argmin(f, axis=1)
        return res.x.reshape(b, k, p)[np.arange(b), pick], f[np.arange(b), pick]

    # -- reading the fit -------------------------------------------------------------------
    def boot_params(self) -> list[LawParams]:
        if self.boot_theta_ is None:
            return []
        # A resample that ran off to A or B = exp(>700) has no finite parameters; it is dropped, as a failed one is.
        # Only the free entries are asked: E pinned at 0 is a log E of -inf in every resample.
        free = list(self._emb.free)
        logs = [i for i in free if i < 3]  # the free ones of log A, log B, log E
        return [replace(theta_to_params(t), **self.pinned_) for t in self.boot_theta_
                if np.all(np.isfinite(t[free])) and np.all(np.abs(t[logs]) < 700)]

    def _ci(self) -> dict[str, list[float]]:
        if self.boot_theta_ is None:
            return {}
        t = self.boot_theta_
        al, be = t[:, 3], t[:, 4]
        samples = {**lse_samples(t), "a": be / (al + be), "b": al / (al + be)}
        # A pinned parameter has no interval, nor have a and b once both exponents are pinned.
        fixed = set(self.pinned_) | ({"a", "b"} if {"alpha", "beta"} <= set(self.pinned_) else set())
        return {k: percentile_ci(v, self.ci_level) for k, v in samples.items() if k not in fixed}

    def predict(self, n: np.ndarray | float, d: np.ndarray | float) -> np.ndarray:
        return self.chinchilla_.loss(n, d)

    def n_opt(self, c: np.ndarray | float) -> np.ndarray:
        return self.optimum(self.chinchilla_, c)[0]

    def d_opt(self, c: np.ndarray | float) -> np.ndarray:
        return self.optimum(self.chinchilla_, c)[1]

    def predict_interval(self, n: np.ndarray | float, d: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Percentile band of the predicted loss over the bootstrap fits (NaN without bootstrap)."""
        boots = self.boot_params()
        if not boots:
            return super().predict_interval(n, d)
        sims = np.array([p.loss(n, d) for p in boots])
        q = (1 - self.ci_level) / 2
        return np.quantile(sims, q, axis=0), np.quantile(sims, 1 - q, axis=0)

    def derived_ci(self, fn) -> list[float]:
        """Percentile interval of any function of the parameters (e.g. tokens per parameter)."""
        return percentile_ci(np.array([fn(p) for p in self.boot_params()]), self.ci_level)

    def allocation_ci(self, budgets: dict[str, float]) -> dict[str, list[float]]:
        if self.boot_theta_ is None:
            return {}
        out = {}
        for k, c in budgets.items():
            out[f"tokens_per_param@{k}"] = self.derived_ci(
                lambda q, c=c: float(np.divide(*self.optimum(q, c)[::-1])))
        return out

    def inference_optimum(self, c: float, inference_tokens: float) -> dict[str, float] | None:
        target = float(self.optimal_loss(c))
        return inference_optimum(self.chinchilla_, target, inference_tokens, self.compute_for).__dict__

    def allocation_exponents(self) -> tuple[float, float, float | None]:
        p = self.chinchilla_
        return p.a, p.b, p.G

    @classmethod
    def headline(cls, r: LawResult) -> str:
        line = super().headline(r)
        pins = r.details.get("pinned")
        if not pins:
            return line
        first, sep, rest = line.partition("\n")
        return f"{first}; {pinned_text(pins)}{sep}{rest}"

    @classmethod
    def extra_section(cls, r: LawResult) -> list[str]:
        pins = r.details.get("pinned")
        if not pins:
            return []
        return ["", f"Pinned, not fitted (so no interval): {pinned_text(pins)}. The other parameters are "
                "fitted with these held fixed."]

    @classmethod
    def published(cls) -> dict[str, tuple[str, dict[str, float]]]:
        # a and b as Hoffmann's Table 2 prints them for approach 3 (0.46, 0.54), not the 0.4516
        # that the rounded eq. 10 exponents give.
        t2 = {k: v.value for k, v in HOFFMANN_ALLOCATION["approach3"].items()}
        return {"Hoffmann": ("Chinchilla (Hoffmann)", {**HOFFMANN.as_dict(), **t2}),
                "Epoch": ("Epoch replication", {**EPOCH.as_dict(), "a": EPOCH.a, "b": EPOCH.b})}
