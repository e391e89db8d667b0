"""The multi-power law of the loss curve (Luo et al. 2025, "A Multi-Power Law for Loss Curve
Prediction Across Learning Rate Schedules", arXiv 2503.12811).

    L(t) = L0 + A * (S1(t) + S_W)^(-alpha) - LD(t)
    LD(t) = B * sum_k (eta_{k-1} - eta_k) * G(eta_k^(-gamma) * S_k(t)),   G(x) = 1 - (C*x + 1)^(-beta)

S1 + S_W is the sum of every rate applied so far (the warmup's included) and S_k(t) the sum of the
rates from step k to t. Fitted per model shape on every post-warmup evaluation of every curve, it
predicts that shape's whole loss curve under any other schedule or length.

Conventions, and why:
- Steps: a curve point after s optimizer updates has seen the rates eta_0 .. eta_{s-1}
  (harness.fit.lrcurves); its t is the last of them, s - 1, so S1 + S_W = sum_{i<s} eta_i and
  S_k(t) = sum_{k<=i<s} eta_i.
- The sum in LD runs over every step whose rate differs from the one before, the warmup's rises
  included (as negative drops). That is what the authors' released code computes and what their
  published constants (``LUO_CONSTANTS``) mean; with the warmup left out the same constants would put
  every post-warmup loss about B*eta_peak (0.15 at 400M) lower. For a fit it changes little: the
  warmup's share is nearly constant after the warmup and L0 absorbs it.
- Rates are divided internally by the shape's largest peak rate, so every parameter is of order one
  while fitting; the published parameters are in the curves' own rate units, as the paper's.
- The fit is the paper's: Huber loss (delta 1e-3) on log loss, from several starts. Starts are
  screened on a grid of (alpha, beta, gamma, C) with (L0, A, B) solved by least squares at each
  (the law is linear in them); the best few are polished by scipy's trust-region least squares on
  the Huber loss, with the exact Jacobian.
- Early points (``fit_from``): the paper's warmup is 9% of its runs, so its fits start where the
  loss has left its fast initial fall. After a warmup of a few steps, as in this harness's sweeps,
  the first evaluations sit on that fall, which the power law in S1 does not describe, and with
  a couple of hundred evaluations a run they pull the whole fit. Points before 2% of the shape's
  longest fitted run are left out of the fit (predictions are still scored on every point after
  the warmup); results/synthetic_curves_wsd_cpu measures the effect.
- Memory: LD needs, for every fitted point, a sum over every earlier change of rate (points x
  changes); it is evaluated in blocks of rows so that no array exceeds ``BLOCK`` entries.
- Bootstrap (at most 50 resamples): curves resampled within each shape when it has 3 or more, else
  the curve's points (which understates the uncertainty, said in a warning).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from harness.errors import FitInputError, InsufficientData
from harness.fit.curve_law import CurveLaw
from harness.fit.curve_report import multipower_shape_lines, shared_lines
from harness.fit.law import warnings_tail
from harness.fit.lrcurves import FIT_FROM, RunCurve, learning_rates
from harness.fit.points import Points
from harness.fit.results import LawResult, percentile_ci

PARAMS = ("L0", "A", "alpha", "B", "C", "beta", "gamma")
HUBER_DELTA = 1e-3  # the paper's, on log loss
BLOCK = 2_000_000  # entries of the largest (points x changes) array LD is evaluated in
# Luo et al.'s fitted constants for their 25M, 100M and 400M models (cosine and constant to 24,000
# steps and a two-stage schedule fitted; peak rate 3e-4, 2,160 warmup steps), as published in their
# repository thu-yao-01-luo/MultiPowerLaw (src/config.py, README "Best Parameters"). Rates in
# absolute units: eta = 3e-4 at the peak.
LUO_CONSTANTS: dict[str, dict[str, float]] = {
    "25M": {"L0": 3.04045406, "A": 0.52468604, "alpha": 0.50786857, "B": 363.78751622, "C": 2.06560812,
            "beta": 0.58279013, "gamma": 0.64142257},
    "100M": {"L0": 2.6514477, "A": 0.60115152, "alpha": 0.45295811, "B": 437.9464276, "C": 2.13245612,
             "beta": 0.59785199, "gamma": 0.65523644},
    "400M": {"L0": 2.37474466, "A": 0.65421216, "alpha": 0.42878731, "B": 523.42464371, "C": 2.02462735,
             "beta": 0.59350493, "gamma": 0.63472457},
}
LUO_SOURCE = "Luo et al. 2025 (thu-yao-01-luo/MultiPowerLaw)"
# The starts' grid, in the fit's units (rates divided by the shape's peak).
ALPHA_STARTS = (0.2, 0.4, 0.6, 0.9)
BETA_STARTS = (0.3, 0.6, 1.2)
GAMMA_STARTS = (0.2, 0.5, 0.8)
C_STARTS = (0.1, 1.0, 10.0)
POLISHED_STARTS = 4
# Bounds (fit units): lnA, lnB and lnC free within wide limits, exponents positive and moderate.
LOWER = np.array([-np.inf, -30.0, 1e-3, -30.0, -30.0, 1e-3, -2.0])
UPPER = np.array([np.inf, 30.0, 5.0, 30.0, 30.0, 10.0, 5.0])


def multipower_loss(params: Mapping[str, float], eta: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The law's loss after each update count in ``at`` of the per-step rates ``eta`` (absolute
    units, as ``params``): the plain formula, one point at a time, for checks and small inputs."""
    eta = np.asarray(eta, dtype=float)
    f = np.concatenate([[0.0], np.cumsum(eta)])
    drop = np.zeros(len(eta))
    drop[1:] = eta[:-1] - eta[1:]
    out = []
    for s in np.asarray(at, dtype=int):
        k = np.arange(1, s)
        x = params["C"] * np.power(eta[k], -params["gamma"]) * (f[s] - f[k])
        ld = params["B"] * np.sum(drop[k] * (1.0 - np.power(1.0 + x, -params["beta"])))
        out.append(params["L0"] + params["A"] * f[s] ** (-params["alpha"]) - ld)
    return np.array(out)


@dataclass
class CurveRows:
    """One curve's fitted points and what LD needs: the cumulative rates and the changes of rate."""

    f: np.ndarray  # cumulative rates, f[s] = sum_{i<s} eta_i (fit units)
    at: np.ndarray  # updates applied at each point
    loss: np.ndarray
    k: np.ndarray  # steps whose rate differs from the one before
    drop: np.ndarray  # eta_{k-1} - eta_k there
    log_eta: np.ndarray  # log eta_k there


def curve_rows(eta: np.ndarray, at: np.ndarray, loss: np.ndarray) -> CurveRows:
    f = np.concatenate([[0.0], np.cumsum(eta)])
    d = np.zeros(len(eta))
    d[1:] = eta[:-1] - eta[1:]
    k = np.flatnonzero(d != 0.0)
    return CurveRows(f=f, at=np.asarray(at, dtype=int), loss=np.asarray(loss, dtype=float), k=k, drop=d[k],
                     log_eta=np.log(np.maximum(eta[k], 1e-9 * float(np.max(eta)))))


def _drop_terms(rows: CurveRows, c: float, beta: float, gamma: float, jac: bool) -> tuple[np.ndarray, ...]:
    """LD/B at each point of ``rows`` and, with ``jac``, its derivatives in ln C, beta and gamma."""
    m = len(rows.at)
    ld = np.zeros(m)
    d_lnc, d_beta, d_gamma = np.zeros(m), np.zeros(m), np.zeros(m)
    if len(rows.k) == 0:
        return (ld, d_lnc, d_beta, d_gamma) if jac else (ld,)
    scale = c * np.exp(-gamma * rows.log_eta)  # C eta_k^-gamma
    step = max(1, BLOCK // len(rows.k))
    for lo in range(0, m, step):
        at = rows.at[lo:lo + step]
        s = rows.f[at][:, None] - rows.f[rows.k][None, :]  # S_k(t); <= 0 where k >= at: no term
        live = rows.k[None, :] < at[:, None]
        x = np.where(live, scale[None, :] * s, 0.0)
        log_u = np.log1p(x)
        p = np.exp(-beta * log_u)  # (1 + x)^-beta
        ld[lo:lo + step] = (rows.drop[None, :] * (1.0 - p)).sum(axis=1)
        if jac:
            q = beta * p / (1.0 + x) * x  # x dG/dx
            d_lnc[lo:lo + step] = (rows.drop * q).sum(axis=1)
            d_beta[lo:lo + step] = (rows.drop * p * log_u).sum(axis=1)
            d_gamma[lo:lo + step] = -(rows.drop * q * rows.log_eta).sum(axis=1)
    return (ld, d_lnc, d_beta, d_gamma) if jac else (ld,)


def _unpack(v: np.ndarray) -> tuple[float, ...]:
    l0, ln_a, alpha, ln_b, ln_c, beta, gamma = (float(x) for x in v)
    return l0, math.exp(ln_a), alpha, math.exp(ln_b), math.exp(ln_c), beta, gamma


def predict_rows(v: np.ndarray, rows: CurveRows, jac: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """The law at the points of ``rows`` (fit units), and with ``jac`` d(pred)/dv (points x 7)."""
    l0, a, alpha, b, c, beta, gamma = _unpack(v)
    s1 = rows.f[rows.at]
    pw = np.power(s1, -alpha)
    terms = _drop_terms(rows, c, beta, gamma, jac)
    pred = l0 + a * pw - b * terms[0]
    if not jac:
        return pred, None
    ld, d_lnc, d_beta, d_gamma = terms
    j = np.stack([np.ones_like(pred), a * pw, -a * pw * np.log(s1), -b * ld, -b * d_lnc, -b * d_beta,
                  -b * d_gamma], axis=1)
    return pred, j


@dataclass
class ShapeFit:
    """One shape's fitted law (``v``: L0, ln A, alpha, ln B, ln C, beta, gamma in fit units)."""

    key: str
    label: str
    n: float
    eta_ref: float
    v: np.ndarray
    huber: float
    rmse_rel: float  # RMS of the relative residuals of the fitted points
    run_ids: list[str]
    n_points: int
    max_steps: int
    tokens_per_step: float
    flops_per_token: float
    peak_lr: float
    schedule: dict[str, Any]  # of the shape's longest run: the template of a predicted run
    boot: np.ndarray | None = None  # rows of v
    notes: list[str] = field(default_factory=list)

    def published(self, v: np.ndarray | None = None) -> dict[str, float]:
        """The parameters in the curves' own rate units (the paper's)."""
        l0, a, alpha, b, c, beta, gamma = _unpack(self.v if v is None else v)
        r = self.eta_ref
        return {"L0": l0, "A": a * r ** alpha, "alpha": alpha, "B": b / r, "C": c * r ** (gamma - 1.0),
                "beta": beta, "gamma": gamma}


def fit_units(params: Mapping[str, float], eta_ref: float) -> np.ndarray:
    """Published parameters (rates in absolute units) as the fit's vector v for rates divided by
    ``eta_ref``: the inverse of ``ShapeFit.published``."""
    r, al, ga = eta_ref, params["alpha"], params["gamma"]
    return np.array([params["L0"], math.log(params["A"] * r ** -al), al, math.log(params["B"] * r),
                     math.log(params["C"] * r ** (1.0 - ga)), params["beta"], ga])


def _residuals(v: np.ndarray, rows: list[CurveRows], w: np.ndarray) -> np.ndarray:
    pred = np.concatenate([predict_rows(v, r)[0] for r in rows])
    y = np.concatenate([r.loss for r in rows])
    return np.sqrt(w) * (np.log(np.maximum(pred, 1e-12)) - np.log(y))


def _jacobian(v: np.ndarray, rows: list[CurveRows], w: np.ndarray) -> np.ndarray:
    parts = [predict_rows(v, r, jac=True) for r in rows]
    pred = np.concatenate([p for p, _ in parts])
    j = np.concatenate([jj for _, jj in parts])
    return np.sqrt(w)[:, None] * j / np.maximum(pred, 1e-12)[:, None]


def _huber(r: np.ndarray, delta: float) -> float:
    a = np.abs(r)
    return float(np.sum(np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))))


def _screen(rows: list[CurveRows], w: np.ndarray) -> list[np.ndarray]:
    """Starts, best first: on the grid of (alpha, beta, gamma, C), (L0, A, B) by least squares."""
    y = np.concatenate([r.loss for r in rows])
    sw = np.sqrt(w)
    s1 = np.concatenate([r.f[r.at] for r in rows])
    scored = []
    for beta in BETA_STARTS:
        for gamma in GAMMA_STARTS:
            for c in C_STARTS:
                ld = np.concatenate([_drop_terms(r, c, beta, gamma, False)[0] for r in rows])
                for alpha in ALPHA_STARTS:
                    x = np.stack([np.ones_like(y), np.power(s1, -alpha), -ld], axis=1)
                    coef, *_ = np.linalg.lstsq(x * sw[:, None], y * sw, rcond=None)
                    l0, a, b = coef
                    a, b = max(a, 1e-6), max(b, 1e-6)
                    pred = l0 + a * np.power(s1, -alpha) - b * ld
                    if np.any(pred <= 0):
                        continue
                    sse = float(np.sum(w * (np.log(pred) - np.log(y)) ** 2))
                    scored.append((sse, np.array([l0, math.log(a), alpha, math.log(b), math.log(c), beta, gamma])))
    scored.sort(key=lambda t: t[0])
    return [v for _, v in scored]


def _polish(v0: np.ndarray, rows: list[CurveRows], w: np.ndarray, delta: float) -> tuple[np.ndarray, float, bool]:
    from scipy.optimize import least_squares
    v0 = np.clip(v0, LOWER + 1e-9, UPPER - 1e-9)
    res = least_squares(_residuals, v0, jac=_jacobian, bounds=(LOWER, UPPER), loss="huber", f_scale=delta,
                        args=(rows, w), x_scale="jac", max_nfev=400)
    return res.x, _huber(_residuals(res.x, rows, w), delta), bool(res.success)


class MultiPowerLaw(CurveLaw):
    """``MultiPowerLaw().fit(points)`` on points with loss curves (run records, or curve CSVs), then
    ``predict_final(shape, schedule, steps, warmup_steps, peak_lr)`` or ``predict_rates(shape, eta, at)``."""

    name = "multipower"
    title = ("Multi-power law of the loss curve (Luo et al. 2025): L = L0 + A·(S1+S_W)^(−α) − B·Σ(η_{k−1}−η_k)·"
             "G(η_k^(−γ)·S_k), G(x) = 1 − (Cx+1)^(−β), per shape")
    order = 61
    # Each resample polishes the 7 parameters again (seconds on long curves).
    bootstrap_cap = 50

    def __init__(self, n_bootstrap: int = 0, ci_level: float = 0.95, seed: int = 0, huber_delta: float = HUBER_DELTA,
                 fit_warmup: bool = False, fit_from: float = FIT_FROM) -> None:
        super().__init__(n_bootstrap=n_bootstrap, ci_level=ci_level, seed=seed)
        self.huber_delta = huber_delta
        self.fit_warmup = fit_warmup
        self.fit_from = fit_from

    @classmethod
    def published(cls) -> dict[str, tuple[str, dict[str, float]]]:
        return {}  # per-shape parameters: the paper's constants are in LUO_CONSTANTS and the report

    # -- fitting -----------------------------------------------------------------------------
    def _fit(self, points: Points) -> None:
        if not self.huber_delta > 0:
            raise FitInputError(f"multipower: huber_delta must be positive, got {self.huber_delta}")
        super()._fit(points)

    def fitted_points(self, rc: RunCurve, from_step: float = 0.0) -> np.ndarray:
        """The mask of a curve's evaluations the law is fitted on: after the warmup and ``from_step``
        (``fit_from`` of the shape's longest run), on the whole validation set."""
        keep = rc.eval_steps > max(0 if self.fit_warmup else rc.warmup_steps, from_step)
        return keep & rc.eval_full

    def _rows(self, runs: list[RunCurve], eta_ref: float) -> list[CurveRows]:
        from_step = self.from_step(runs)
        out = []
        for rc in runs:
            keep = self.fitted_points(rc, from_step)
            if keep.any():
                out.append(curve_rows(rc.eta() / eta_ref, rc.eval_steps[keep], rc.eval_loss[keep]))
        return out

    def _fit_shape(self, key: str, runs: list[RunCurve], rng: np.random.Generator) -> ShapeFit | None:
        label = runs[0].shape_label
        eta_ref = max(rc.peak_lr for rc in runs)
        rows = self._rows(runs, eta_ref)
        n_pts = sum(len(r.at) for r in rows)
        if n_pts <= len(PARAMS):
            self.warnings_.append(f"UNDER-DETERMINED: shape {label}: {n_pts} curve point(s) after the warmup (and "
                                  f"{self.fit_from:.0%} of its longest run) for "
                                  f"{len(PARAMS)} parameters; not fitted")
            return None
        w = np.ones(n_pts)
        best = None
        for v0 in _screen(rows, w)[:POLISHED_STARTS]:
            v, h, ok = _polish(v0, rows, w, self.huber_delta)
            if best is None or h < best[1]:
                best = (v, h, ok)
        if best is None:
            raise InsufficientData(f"multipower: shape {label}: no start gives a positive loss everywhere")
        v, h, ok = best
        self.converged_ = self.converged_ and ok
        rel = np.exp(_residuals(v, rows, w)) - 1.0
        longest = max(runs, key=lambda rc: rc.steps)
        sf = ShapeFit(key=key, label=label, n=runs[0].n, eta_ref=eta_ref, v=v, huber=h,
                      rmse_rel=float(np.sqrt(np.mean(rel ** 2))), run_ids=[rc.run_id for rc in runs], n_points=n_pts,
                      max_steps=longest.steps, tokens_per_step=longest.tokens_per_step,
                      flops_per_token=longest.flops_per_token, peak_lr=longest.peak_lr, schedule=dict(longest.schedule))
        self._shape_warnings(sf, rows)
        if self.n_boot_run > 0:
            sf.boot = self._bootstrap(rows, rng, sf)
        return sf

    def _shape_warnings(self, sf: ShapeFit, rows: list[CurveRows]) -> None:
        if len(rows) == 1:
            self.warnings_.append(f"UNDER-DETERMINED: shape {sf.label} is fitted on one curve: the split between "
                                  "the power law and the loss drop rests on that one schedule")
        if not any(np.any(r.drop > 0) for r in rows):
            self.warnings_.append(f"UNDER-DETERMINED: no curve of shape {sf.label} lowers its learning rate after "
                                  "the warmup, so B, C, beta and gamma are not measured")
        for i, name in enumerate(PARAMS):
            if i == 0:
                continue
            lo, hi = LOWER[i], UPPER[i]
            if sf.v[i] <= lo + 1e-6 * max(1.0, abs(lo)) or sf.v[i] >= hi - 1e-6 * max(1.0, abs(hi)):
                self.warnings_.append(f"UNDER-DETERMINED: shape {sf.label}: {name} sits on its bound: the curves do "
                                      "not pin it")

    def _bootstrap(self, rows: list[CurveRows], rng: np.random.Generator, sf: ShapeFit) -> np.ndarray:
        out = np.full((self.n_boot_run, len(PARAMS)), np.nan)
        for b, w in self.curve_resamples(rng, [len(r.at) for r in rows], len(PARAMS), sf.notes):
            out[b] = _polish(sf.v, rows, w, self.huber_delta)[0]
        return out

    def _publish(self) -> None:
        self.params_, self.ci_ = {}, {}
        shapes = []
        for sf in self.shapes_.values():
            pub = sf.published()
            boots = None
            if sf.boot is not None:
                ok = sf.boot[np.all(np.isfinite(sf.boot), axis=1)]
                boots = [sf.published(v) for v in ok]
            for name in PARAMS:
                self.params_[f"{name}[{sf.label}]"] = float(pub[name])
                if boots:
                    self.ci_[f"{name}[{sf.label}]"] = percentile_ci(np.array([p[name] for p in boots]), self.ci_level)
            shapes.append({"label": sf.label, "shape": sf.key, "n": sf.n, "eta_ref": sf.eta_ref,
                           "rmse_rel": sf.rmse_rel, "huber": sf.huber, "n_points": sf.n_points, "runs": sf.run_ids,
                           "max_steps": sf.max_steps})
        self.warnings_ += self.shape_notes()
        self.n_points_ = sum(sf.n_points for sf in self.shapes_.values())
        self.details_ = {"shapes": shapes, "huber_delta": self.huber_delta, "fit_from": self.fit_from,
                         "n_bootstrap": self.n_resamples(),
                         "rows": (f"every evaluation of every curve on the whole validation set after the warmup and "
                                  f"{self.fit_from:.0%} of its shape's longest fitted run"),
                         "units": "parameters in the curves' own learning-rate units (as the paper's)"}
        self.objective_ = float(sum(sf.huber for sf in self.shapes_.values()))

    # -- prediction --------------------------------------------------------------------------
    def predict_rates(self, shape: str, eta: np.ndarray, at: np.ndarray, v: np.ndarray | None = None) -> np.ndarray:
        """The loss after each update count in ``at`` of a run of this shape with per-step rates ``eta``
        (at the fitted parameters, or at ``v``: a resample's, in the fit's units)."""
        sf = self.shape(shape)
        at = self.check_at(at, len(eta))
        rows = curve_rows(np.asarray(eta, dtype=float) / sf.eta_ref, at, np.ones(len(at)))
        return predict_rows(sf.v if v is None else v, rows)[0]

    def predict_final_interval(self, shape: str, schedule: Mapping[str, Any] | Any, steps: int, warmup_steps: int,
                               peak_lr: float) -> tuple[float, float]:
        """Percentile band of ``predict_final`` over the bootstrap fits (NaN without bootstrap)."""
        sf = self.shape(shape)
        if sf.boot is None:
            return math.nan, math.nan
        ok = sf.boot[np.all(np.isfinite(sf.boot), axis=1)]
        if not len(ok):
            return math.nan, math.nan
        eta = learning_rates(schedule, steps, warmup_steps, peak_lr)
        return self.band(np.array([self.predict_rates(shape, eta, np.array([steps]), v)[0] for v in ok]))

    # -- output --------------------------------------------------------------------------------
    @classmethod
    def headline(cls, r: LawResult) -> str:
        parts = []
        for s in r.details.get("shapes", []):
            lab = s["label"]
            parts.append(f"{lab} α {r.params.get('alpha[' + lab + ']', math.nan):.3g}, "
                         f"L0 {r.params.get('L0[' + lab + ']', math.nan):.4g}, rms {100 * s['rmse_rel']:.2f}%")
        line = f"multipower: {len(parts)} shape(s) fitted on {r.n_points} curve points: " + "; ".join(parts)
        return line + cls.predict_runs_tail(r) + warnings_tail(r)

    @classmethod
    def extra_section(cls, r: LawResult) -> list[str]:
        return multipower_shape_lines(r, LUO_CONSTANTS, LUO_SOURCE) + shared_lines(r)
