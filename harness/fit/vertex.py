"""The minimum of one IsoFLOP profile: where loss against log N bottoms out, and how surely.

Three finders, all on the profile's distinct sizes (replicate seeds of one size averaged first):

* ``global``: one parabola in log N through every size, Hoffmann et al.'s approach 2. Its vertex is
  pulled towards the longer arm of a wide, asymmetric profile: with a fixed ladder of sizes the
  arms change length from budget to budget, and the bias turns into a bias of the exponent.
* ``local`` (the default): a parabola through the ``window`` sizes around the lowest loss, so only
  the part of the profile that the minimum's neighbourhood defines is fitted.
* ``akima``: Akima's interpolant through (log N, log loss), minimised on a fine grid (Porian et
  al. 2024's method). It passes through every point, so a noisy point moves its minimum in full.

Which is default was decided on profiles of known truth and asymmetry (tests/fit/test_vertex.py;
the measurement in docs/fitting.md). A vertex outside the sizes tried (or at an end of the
interpolant) is an extrapolation and its ``inside`` is False.

The vertex's uncertainty is that of a rerun: each size's loss is redrawn with the seed noise
(``noise_draws``), the vertex found again, and the spread of log N_opt is its standard error. Where
the vertices scatter about their power law more than those errors allow, the excess
(``excess_scatter``) is added to every one before they are weighed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.interpolate import Akima1DInterpolator
from scipy.optimize import brentq

# The documented seed-to-seed spread of one run's final loss, relative: four seeds of ladder_xs at 2e12
# FLOPs gave 0.0065 nats on 1.65 (the project's notes). Measured replicates replace it where a study has them.
SEED_NOISE = 0.004
VERTEX_FINDERS = ("local", "akima", "global")
DEFAULT_FINDER = "local"
DEFAULT_WINDOW = 5
_GRID = 801  # Akima: points of the grid its minimum is read off (in log N, between the ends)
_CURVE = 40  # points kept to draw a profile's fitted curve


@dataclass
class Profile:
    """One budget's sizes, replicates averaged: log N, mean loss, summed weight, replicate count."""

    x: np.ndarray
    y: np.ndarray
    w: np.ndarray
    reps: np.ndarray


@dataclass
class Vertex:
    x: float  # log N at the minimum
    loss: float
    inside: bool  # bracketed by the sizes the finder used
    curve_x: list[float]  # the finder's curve, to draw
    curve_y: list[float]
    coef: list[float] | None  # the parabola (loss against log N), where the finder fits one


def profile_of(log_n: np.ndarray, loss: np.ndarray, weight: np.ndarray | None) -> Profile:
    """Average the replicates of each size (runs at the same N in one budget): a weighted mean,
    whose weight is the replicates' sum, so a weighted parabola through the means is the one
    through the runs themselves."""
    w = np.ones_like(loss) if weight is None else np.asarray(weight, dtype=float)
    key = np.round(log_n, 6)
    sizes = np.unique(key)
    x, y, ws, reps = (np.empty(len(sizes)) for _ in range(4))
    for i, s in enumerate(sizes):
        m = key == s
        ws[i] = w[m].sum()
        x[i] = log_n[m].mean()
        y[i] = float(np.sum(w[m] * loss[m]) / ws[i])
        reps[i] = m.sum()
    return Profile(x=x, y=y, w=ws, reps=reps)


def _parabola(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> Vertex | None:
    # polyfit weighs residuals, not squared residuals: sqrt gives each point its weight in the sum of squares.
    coef = np.polyfit(x, y, 2, w=np.sqrt(w))
    if coef[0] <= 0:
        return None  # flat or concave: no minimum
    xv = -coef[1] / (2 * coef[0])
    cx = np.linspace(x.min(), x.max(), _CURVE)
    return Vertex(x=float(xv), loss=float(np.polyval(coef, xv)), inside=bool(x.min() <= xv <= x.max()),
                  curve_x=cx.tolist(), curve_y=np.polyval(coef, cx).tolist(), coef=coef.tolist())


def local_window(y: np.ndarray, window: int, centre: int | None = None) -> slice:
    """The ``window`` consecutive sizes centred, as far as the ends allow, on size ``centre`` (default:
    the lowest loss)."""
    k = len(y)
    if k <= window:
        return slice(0, k)
    mid = int(np.argmin(y)) if centre is None else centre
    lo = min(max(mid - window // 2, 0), k - window)
    return slice(lo, lo + window)


def _local(p: Profile, window: int) -> Vertex | None:
    """The window is centred on the size nearest the smoothed minimum, not on the lowest loss: on a
    flat bottom the lowest of a few noisy losses wanders, and the window with it. The global
    parabola's vertex places it first; the local vertex then re-centres it until it stays put."""
    g = _parabola(p.x, p.y, p.w)
    centre = int(np.argmin(np.abs(p.x - g.x))) if g is not None else int(np.argmin(p.y))
    seen = set()
    while True:
        s = local_window(p.y, window, centre)
        v = _parabola(p.x[s], p.y[s], p.w[s])
        if v is None or s.start in seen:
            return v
        seen.add(s.start)
        centre = int(np.argmin(np.abs(p.x - v.x)))


def find_vertex(p: Profile, finder: str = DEFAULT_FINDER, window: int = DEFAULT_WINDOW) -> Vertex | None:
    """The profile's minimum by ``finder``; None when it has none (a parabola opening downwards)."""
    if finder == "global":
        return _parabola(p.x, p.y, p.w)
    if finder == "local":
        return _local(p, window)
    if finder == "akima":
        if len(p.x) < 3:
            return None
        f = Akima1DInterpolator(p.x, np.log(p.y))
        gx = np.linspace(p.x[0], p.x[-1], _GRID)
        gy = f(gx)
        i = int(np.argmin(gy))
        cx = gx[:: max(len(gx) // _CURVE, 1)]
        return Vertex(x=float(gx[i]), loss=float(math.exp(gy[i])), inside=0 < i < len(gx) - 1,
                      curve_x=cx.tolist(), curve_y=np.exp(f(cx)).tolist(), coef=None)
    raise ValueError(f"vertex finder {finder!r}: choose one of {', '.join(VERTEX_FINDERS)}")


def replicate_deviations(log_n: list[np.ndarray], loss: list[np.ndarray]) -> list[tuple[int, float, np.ndarray]]:
    """(budget index, log N, the replicates' log losses) of every size run more than once in a budget."""
    out = []
    for b, (xn, yl) in enumerate(zip(log_n, loss)):
        key = np.round(xn, 6)
        for s in np.unique(key):
            if np.sum(key == s) > 1:
                out.append((b, float(xn[key == s][0]), np.log(yl[key == s])))
    return out


def replicate_noise(log_n: list[np.ndarray], loss: list[np.ndarray]) -> float | None:
    """The seed-to-seed spread of log loss over every size run more than once in a budget (None if
    none was), as a robust scale: 1.4826 x the median deviation from each size's mean (scaled by
    sqrt(n / (n - 1)) so a pair's deviation is its difference over sqrt 2). Seed noise is heavy-tailed
    (one run in a few dozen lands far off), and a mean square would let that one pair set every
    vertex's weight; the outlier still counts in full in the bootstrap, which resamples the seeds."""
    dev = []
    for _, _, v in replicate_deviations(log_n, loss):
        dev += list(np.abs(v - v.mean()) * math.sqrt(len(v) / (len(v) - 1)))
    return 1.4826 * float(np.median(dev)) if dev else None


def residual_noise(profiles: list[Profile], window: int) -> float | None:
    """Where no size was replicated: the pooled residual spread of log loss about each budget's local
    parabola, an upper bound on the seed noise (it holds the parabola's misfit too)."""
    ss, dof = 0.0, 0
    for p in profiles:
        s = local_window(p.y, window)
        x, y = p.x[s], np.log(p.y[s])
        if len(x) > 3:
            coef = np.polyfit(x, y, 2)
            ss += float(np.sum((y - np.polyval(coef, x)) ** 2))
            dof += len(x) - 3
    return math.sqrt(ss / dof) if dof else None


def vertex_sd(p: Profile, noise: float, finder: str, window: int, draws: int,
              rng: np.random.Generator) -> float:
    """Standard error of the vertex's log N under reruns: each size's mean loss redrawn with relative
    noise ``noise`` over the square root of its replicates, the vertex found again. Draws with no
    bracketed minimum count as the widest bracketed one did, so a fragile vertex is not made sure."""
    got = []
    for _ in range(draws):
        y = p.y * np.exp(noise * rng.standard_normal(len(p.y)) / np.sqrt(p.reps))
        v = find_vertex(Profile(x=p.x, y=y, w=p.w, reps=p.reps), finder, window)
        got.append(v.x if v is not None and v.inside else np.nan)
    got = np.array(got)
    ok = got[np.isfinite(got)]
    if len(ok) < 2:
        return float(p.x.max() - p.x.min())  # no measured minimum survives the noise: the whole range
    miss = len(got) - len(ok)
    # A draw that lost the minimum is scored at the farthest end of the sizes tried.
    far = np.where(np.abs(p.x.max() - ok.mean()) > np.abs(p.x.min() - ok.mean()), p.x.max(), p.x.min())
    return float(np.std(np.concatenate([ok, np.full(miss, far)]), ddof=1))


def excess_scatter(x: np.ndarray, y: np.ndarray, sd: np.ndarray) -> float:
    """The spread tau that the points scatter about their weighted line beyond their own sds (Paule and
    Mandel's estimator): 0 when chi^2 per degree of freedom is at most 1, else the tau at which the
    line weighted by 1 / (sd^2 + tau^2) has chi^2 equal to its degrees of freedom. Vertices carry
    more than seed noise (the shapes of a ladder differ by more than their seeds do), and weights
    from seed noise alone would let the surest vertices set the line however wrong they are."""
    dof = len(x) - 2
    if dof < 1:
        return 0.0

    def excess(tau2: float) -> float:
        w = 1.0 / (sd**2 + tau2)
        coef = np.polyfit(x, y, 1, w=np.sqrt(w))
        return float(np.sum(w * (y - np.polyval(coef, x)) ** 2)) - dof

    if excess(0.0) <= 0:
        return 0.0
    hi = float(np.var(y)) + float(np.max(sd)) ** 2
    while excess(hi) > 0:  # a line with equal weights leaves chi^2 below dof once tau^2 is large enough
        hi *= 4
    return math.sqrt(brentq(excess, 0.0, hi, xtol=1e-12))
