"""Batched L-BFGS: many starts of one smooth objective minimised together in numpy.

A one-start-at-a-time scipy loop over the 4,500-point Chinchilla grid spends almost all its time
in Python overhead around tiny (a few hundred points) objective evaluations. Here every start
is a row of one (S, P) array, so each iteration costs one vectorised evaluation for all the starts
still running; starts that have converged drop out of the batch, so later iterations get cheaper.

The algorithm per row is textbook L-BFGS (Nocedal & Wright, alg. 7.4, two-loop recursion) with
a backtracking Armijo line search. The stopping rules copy scipy's L-BFGS-B defaults (relative
reduction ftol = factr * eps = 2.2e-9, projected-gradient gtol = 1e-5) so that a batched start
stops where scipy would; the best few are then polished with scipy itself (see ``polish``).

Memory: one evaluation of S rows on n points holds a couple of dozen (S, n) temporaries, so the
whole 4,500-row grid on 20,000 points would need tens of GB. ``max_rows`` splits every evaluation
into slices of rows (``rows_within`` sizes them from a budget of elements per array); each row's
value and gradient are computed exactly as they would be in one batch (the objectives here are
elementwise in the rows, with per-row sums), so chunking changes no number, only peak memory.
For inputs so large that even one pass over the grid costs too much time, ``screen_sample`` draws
the fixed-size subsample a law runs its start grid on before refitting the best starts on all points,
and ``resample_chunks`` switches the bootstrap to a bag of little bootstraps; a law says so with a
``Subsample`` note.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
from scipy.optimize import minimize

from harness.errors import FitInputError

# fun(theta (S, P), rows (S,) int index into per-row data) -> (f (S,), g (S, P))
BatchFun = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]

SCIPY_FTOL = 2.220446049250313e-09  # scipy L-BFGS-B: factr 1e7 * machine epsilon
SCIPY_GTOL = 1e-5

# Elements (rows x points) in each temporary array of one evaluation: 8 MiB of float64, so an
# objective with ~20 temporaries peaks near 200 MB however many starts or resamples are running.
# The 4,500-start grid on up to 233 points still fits in one slice, as every committed study does.
BATCH_ELEMENTS = 1 << 20


def rows_within(elements_per_row: int, budget: int = BATCH_ELEMENTS) -> int:
    """How many rows one evaluation may take when each row costs ``elements_per_row`` array elements."""
    return max(1, budget // max(1, int(elements_per_row)))


def chunked(fun: BatchFun, max_rows: int) -> BatchFun:
    """``fun`` evaluated on at most ``max_rows`` (at least 1) rows at a time, its slices put back in order."""
    max_rows = max(1, int(max_rows))

    def wrapped(theta: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(theta) <= max_rows:
            return fun(theta, rows)
        f = np.empty(len(theta))
        g = np.empty(theta.shape)
        for lo in range(0, len(theta), max_rows):
            f[lo: lo + max_rows], g[lo: lo + max_rows] = fun(theta[lo: lo + max_rows], rows[lo: lo + max_rows])
        return f, g
    return wrapped


def screen_sample(n: int, k: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of a fixed random k of n points (all n when k >= n). The seed is fixed, not the
    bootstrap's, so that a fit's point estimate never depends on which resamples were asked for."""
    if k >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False))


@dataclass(frozen=True)
class Subsample:
    """One step of a fit that ran on a subsample of the points, as the fit reports it."""

    step: str  # "the start grid", "the bootstrap"
    points: int
    of: int
    how: str  # what was done with the subsample, in words

    def note(self) -> str:
        """The warning a fit carries (report.md and fit.json print a law's warnings)."""
        return f"SUBSAMPLED: {self.step} ran on {self.points:,} of the {self.of:,} points: {self.how}"

    def as_dict(self) -> dict[str, object]:
        return {"step": self.step, "points": self.points, "of": self.of, "how": self.how}


@dataclass
class ResampleChunk:
    """A chunk of bootstrap resamples: multinomial counts over the points ``idx`` (all of them, or one
    subset of a bag of little bootstraps), for the resamples numbered ``lo`` on."""

    subset: int  # which subset of a bag of little bootstraps; -1: the ordinary bootstrap, over every point
    idx: np.ndarray  # the points the counts are over, sorted
    lo: int
    counts: np.ndarray  # (resamples, len(idx)), each row summing to n

    @property
    def whole(self) -> bool:
        """Whether the counts are over every point (the ordinary bootstrap)."""
        return self.subset < 0


# Above this many points a law runs its costliest steps on subsamples of this size (its setting
# ``subsample_points``): every committed study is far smaller, so each runs on all its points.
SUBSAMPLE_POINTS = 2000
# Fewer would let a subsample's noise, not the law, decide which basins survive a screen.
MIN_SUBSAMPLE_POINTS = 100


def check_subsample_points(law: str, k: object) -> int:
    """A law's ``subsample_points`` setting, or a one-line FitInputError naming the law."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < MIN_SUBSAMPLE_POINTS:
        raise FitInputError(f"{law}: subsample_points must be a whole number of at least {MIN_SUBSAMPLE_POINTS}, "
                            f"got {k!r}")
    return int(k)


# Subsets of a bag of little bootstraps: Kleiner et al. (2014) find 10-20 enough for the intervals
# to settle; with 2,000-point subsets of 20,000 points, 10 of them see each point once on average.
LITTLE_BOOTSTRAP_SUBSETS = 10


def little_bootstrap_subsets(n: int, n_boot: int, max_points: int) -> int:
    """How many subsets a bag of little bootstraps of n points uses (0: n is small enough for the
    ordinary bootstrap)."""
    if n <= max_points or n_boot < 1:
        return 0
    return min(LITTLE_BOOTSTRAP_SUBSETS, -(-n // max_points), n_boot)


def little_bootstrap_note(step: str, n: int, n_boot: int, max_points: int, unit: str = "points") -> Subsample | None:
    """The ``Subsample`` a law reports when its bootstrap of n points (or runs: ``unit``) became a
    bag of little bootstraps (``resample_chunks`` with ``max_points``); None when it did not."""
    s = little_bootstrap_subsets(n, n_boot, max_points)
    if not s:
        return None
    return Subsample(step, max_points, n,
                     f"a bag of little bootstraps (Kleiner et al. 2014): its {n_boot:,} resamples are {n:,} draws each "
                     f"from one of {s} random subsets of {max_points:,} {unit}, centred on the full fit")


def resample_chunks(n: int, n_boot: int, seed: int, rows: int,
                    max_points: int | None = None) -> Iterator[ResampleChunk]:
    """The counts of ``n_boot`` bootstrap resamples of n points, ``rows`` resamples at a time.

    Up to ``max_points`` points (or with it None): the ordinary bootstrap, each resample n draws from
    all n points; the generator draws row after row, so the counts are exactly those of
    ``results.resample_counts`` (one (n_boot, n) draw) while only a chunk of them is ever held.
    Above it: the bag of little bootstraps (Kleiner, Talwalkar, Sarkar & Jordan 2014, "A scalable
    bootstrap for massive data"): ``little_bootstrap_subsets`` random subsets of ``max_points`` points
    each, and each resample n draws from one subset's points, so that a resample is still of size n
    (its estimate spreads as the full data's would) while a fit of it touches ``max_points`` points.
    A law centres each subset's resamples on the full-data fit (see ChinchillaFit._bootstrap)."""
    rng = np.random.default_rng(seed)
    rows = max(1, rows)
    s = little_bootstrap_subsets(n, n_boot, max_points) if max_points is not None else 0
    if s == 0:
        p = np.full(n, 1.0 / n)
        everything = np.arange(n)
        for lo in range(0, n_boot, rows):
            yield ResampleChunk(-1, everything, lo, rng.multinomial(n, p, size=min(rows, n_boot - lo)).astype(float))
        return
    subsets = [np.sort(rng.choice(n, size=max_points, replace=False)) for _ in range(s)]
    p = np.full(max_points, 1.0 / max_points)
    lo = 0
    for j, idx in enumerate(subsets):
        share = n_boot // s + (j < n_boot % s)
        for k in range(0, share, rows):
            counts = rng.multinomial(n, p, size=min(rows, share - k)).astype(float)
            yield ResampleChunk(j, idx, lo, counts)
            lo += len(counts)


@dataclass
class BatchResult:
    x: np.ndarray  # (S, P) final points
    f: np.ndarray  # (S,) final objective
    converged: np.ndarray  # (S,) bool: met ftol/gtol (not just hit max_iter or a failed line search)
    n_iter: np.ndarray  # (S,) iterations used
    n_evals: int  # batched evaluations (each over the rows still active)


@dataclass
class _Memory:
    """Each row's last m curvature pairs (s, y) for the two-loop recursion; slot 0 is the newest."""

    s: np.ndarray  # (S, m, P)
    y: np.ndarray  # (S, m, P)
    rho: np.ndarray  # (S, m): 1 / (s·y); 0 marks an empty slot, so it drops out of the recursion
    gamma: np.ndarray  # (S,): the initial Hessian's scale, s·y / y·y of the newest pair

    @classmethod
    def empty(cls, S: int, m: int, P: int) -> "_Memory":
        return cls(s=np.zeros((S, m, P)), y=np.zeros((S, m, P)), rho=np.zeros((S, m)), gamma=np.ones(S))

    def direction(self, act: np.ndarray, ga: np.ndarray) -> np.ndarray:
        """-H g for the active rows, by the two-loop recursion."""
        m = self.rho.shape[1]
        q = ga.copy()
        alphas = np.zeros((act.size, m))
        for j in range(m):
            alphas[:, j] = self.rho[act, j] * np.einsum("sp,sp->s", self.s[act, j], q)
            q -= alphas[:, j:j + 1] * self.y[act, j]
        r = self.gamma[act, None] * q
        for j in range(m - 1, -1, -1):
            beta = self.rho[act, j] * np.einsum("sp,sp->s", self.y[act, j], r)
            r += self.s[act, j] * (alphas[:, j] - beta)[:, None]
        return -r

    def push(self, rows: np.ndarray, sv: np.ndarray, yv: np.ndarray) -> None:
        """Add a step's pair to the rows whose curvature s·y is positive enough to keep H positive definite."""
        sy = np.einsum("sp,sp->s", sv, yv)
        yy = np.einsum("sp,sp->s", yv, yv)
        keep = (sy > 1e-12 * yy) & (yy > 0)
        upd = rows[keep]
        self.s[upd] = np.roll(self.s[upd], 1, axis=1)
        self.y[upd] = np.roll(self.y[upd], 1, axis=1)
        self.rho[upd] = np.roll(self.rho[upd], 1, axis=1)
        self.s[upd, 0] = sv[keep]
        self.y[upd, 0] = yv[keep]
        self.rho[upd, 0] = 1.0 / sy[keep]
        self.gamma[upd] = sy[keep] / yy[keep]


def _descent(mem: _Memory, act: np.ndarray, ga: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Search direction, its slope g·d, and the first trial step of every active row."""
    d = mem.direction(act, ga)
    slope = np.einsum("sp,sp->s", ga, d)
    # Lost descent (a bad curvature history): restart that row from steepest descent.
    bad = ~(slope < 0)
    if bad.any():
        d[bad] = -ga[bad]
        mem.rho[act[bad]] = 0.0
        slope[bad] = -np.einsum("sp,sp->s", ga[bad], ga[bad])
    fresh = mem.rho[act].max(axis=1) == 0
    # Without curvature information the first step is scaled to unit length, as scipy does.
    with np.errstate(over="ignore"):
        # A start far off in the grid can have a direction whose norm overflows: its step is 0,
        # the row fails its line search and drops out, as it should.
        norm = np.linalg.norm(d, axis=1)
    step = np.where(fresh, 1.0 / np.maximum(norm, 1e-300), 1.0)
    return d, slope, np.minimum(step, 1.0)


def _backtrack(fun: BatchFun, xa: np.ndarray, act: np.ndarray, d: np.ndarray, step: np.ndarray,
               f_old: np.ndarray, slope: np.ndarray, c1: float,
               max_backtrack: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Armijo backtracking from the active rows' points ``xa``: (x, f, g) where accepted, which rows
    failed, and the batched evaluations used."""
    x_new = xa.copy()
    f_new = np.full(act.size, np.inf)
    g_new = np.zeros(xa.shape)
    pending = np.arange(act.size)
    n_evals = 0
    for _bt in range(max_backtrack):
        if pending.size == 0:
            break
        trial = xa[pending] + step[pending, None] * d[pending]
        with np.errstate(over="ignore", invalid="ignore"):
            # Overlong trial steps can overflow; they come back non-finite and are rejected.
            ft, gt = fun(trial, act[pending])
        n_evals += 1
        ok = np.isfinite(ft) & (ft <= f_old[pending] + c1 * step[pending] * slope[pending])
        good = pending[ok]
        x_new[good], f_new[good], g_new[good] = trial[ok], ft[ok], gt[ok]
        pending = pending[~ok]
        step[pending] *= 0.5
    failed = np.zeros(act.size, dtype=bool)
    failed[pending] = True
    return x_new, f_new, g_new, failed, n_evals


def batched_lbfgs(fun: BatchFun, x0: np.ndarray, *, m: int = 10, max_iter: int = 1000,
                  ftol: float = SCIPY_FTOL, gtol: float = SCIPY_GTOL, max_backtrack: int = 40,
                  c1: float = 1e-4, max_rows: int | None = None) -> BatchResult:
    """Minimise ``fun`` from every row of ``x0``; ``max_rows``: evaluate at most that many rows at a
    time (bounds memory; the result is the same)."""
    if max_rows is not None:
        fun = chunked(fun, max_rows)
    x = np.array(x0, dtype=float, copy=True)
    S, P = x.shape
    f, g = fun(x, np.arange(S))
    n_evals = 1
    mem = _Memory.empty(S, m, P)
    n_iter = np.zeros(S, dtype=int)
    done = ~np.isfinite(f) | (np.abs(g).max(axis=1) <= gtol)
    converged = np.isfinite(f) & done
    for _ in range(max_iter):
        act = np.flatnonzero(~done)
        if act.size == 0:
            break
        d, slope, step = _descent(mem, act, g[act])
        f_old = f[act]
        x_new, f_new, g_new, failed, evals = _backtrack(fun, x[act], act, d, step, f_old, slope, c1, max_backtrack)
        n_evals += evals
        acc = ~failed
        ia = act[acc]
        sv = x_new[acc] - x[ia]
        yv = g_new[acc] - g[ia]
        rel = (f_old[acc] - f_new[acc]) / np.maximum(np.maximum(np.abs(f_old[acc]), np.abs(f_new[acc])), 1.0)
        x[ia], f[ia], g[ia] = x_new[acc], f_new[acc], g_new[acc]
        n_iter[act] += 1
        mem.push(ia, sv, yv)
        conv = (rel <= ftol) | (np.abs(g[ia]).max(axis=1) <= gtol)
        converged[ia[conv]] = True
        done[ia[conv]] = True
        # A failed line search at a point with a tiny gradient is a kink of the Huber loss, i.e.
        # as converged as a first-order method gets; anything else is reported as not converged.
        fail_rows = act[failed]
        done[fail_rows] = True
        converged[fail_rows] = np.abs(g[fail_rows]).max(axis=1) <= np.sqrt(gtol)
    return BatchResult(x=x, f=f, converged=converged, n_iter=n_iter, n_evals=n_evals)


@dataclass
class PolishResult:
    x: np.ndarray
    f: float
    converged: bool
    message: str
    n_iter: int


def polish(fun1: Callable[[np.ndarray], tuple[float, np.ndarray]], x0: np.ndarray,
           bounds: list[tuple[float | None, float | None]] | None = None,
           max_iter: int = 15000) -> PolishResult:
    """scipy L-BFGS-B from one point: the reference optimiser, used on the best batched starts."""
    res = minimize(fun1, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                   options={"maxiter": max_iter})
    return PolishResult(x=np.asarray(res.x, dtype=float), f=float(res.fun), converged=bool(res.success),
                        message=str(res.message), n_iter=int(res.nit))


def distinct_best(x: np.ndarray, f: np.ndarray, k: int, tol: float = 1e-3) -> np.ndarray:
    """Indices of the k lowest-objective rows that are not near-duplicates of a better row."""
    order = np.argsort(np.where(np.isfinite(f), f, np.inf))
    chosen: list[int] = []
    for i in order:
        if not np.isfinite(f[i]):
            break
        if all(np.max(np.abs(x[i] - x[j])) > tol for j in chosen):
            chosen.append(int(i))
            if len(chosen) == k:
                break
    return np.array(chosen, dtype=int)
