"""The loss-curve law with learning-rate annealing (Tissue et al. 2024, arXiv 2408.11029).

    L(s) = L0 + A * S1(s)^(-alpha) - C * S2(s)

S1(s) = sum_{i<s} eta_i is the forward area (the rates of the steps taken so far) and
S2(s) = sum_{i<s} m_i, m_i = lam * m_{i-1} + (eta_{i-1} - eta_i), the annealing area with
momentum (harness.fit.lrcurves). Fitted per model shape on every evaluation of every curve, it
predicts that shape's final loss under any schedule and length (``predict_final``).

Choices, and why:
- eta is divided by the shape's largest peak rate (``eta_ref``), so S1 counts "steps at the peak
  rate" and A, C are of order one; a run with another peak rate keeps its own absolute scale.
- Warmup steps count in S1 (they are real updates), but their rises are not negative annealing in
  S2 (see ``annealing_area``). Points inside the warmup are not fitted: the power law in S1 is a
  description of the post-warmup curve.
- lam is chosen on a grid, 1/(1-lam) from 10 to 2,000 steps: the paper's 0.999 (a 1,000-step
  memory) is tuned for runs of 10^4-10^5 steps; ours are 10^2-10^4 steps long, and a memory
  longer than the cooldown makes S2 barely move before the run ends. The grid's best lam is
  reported per shape, with a warning when it sits at an end of the grid.
- Given alpha and lam the law is linear in (L0, A, C): they are solved exactly (least squares,
  A and C kept >= 0), alpha on a grid then refined, lam on its grid. No start guesses.
- Intermediate evaluations on a subset of the validation set (``train.eval_sequences``) sit at a
  different level than the final one on the whole set; a per-shape offset delta is fitted for
  them, and every prediction is of the whole set's loss.
- Bootstrap (at most 100 resamples): runs resampled within each shape when it has 3 or more curves, else the curve's
  points (which understates the uncertainty, said in a warning).

Published numbers: no fitted example constants of the paper (its L0, A, alpha, C) could be
checked from the sources searchable here, so the tests use synthetic curves with known constants.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from harness.fit.curve_law import CurveLaw
from harness.fit.curve_report import annealing_shape_lines, shared_lines
from harness.fit.law import warnings_tail
from harness.fit.lrcurves import FIT_FROM, RunCurve, annealing_area, forward_area, learning_rates
from harness.fit.results import LawResult, percentile_ci

ALPHA_BOUNDS = (0.02, 3.0)
ALPHA_GRID = np.geomspace(*ALPHA_BOUNDS, 56)
LAMBDA_GRID = (0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 0.9995)
SHAPE_PARAMS = ("L0", "A", "alpha", "C", "lambda")


@dataclass
class ShapeData:
    """The fitted rows of one shape: every post-warmup evaluation of every curve."""

    runs: list[RunCurve]
    eta_ref: float
    s1: np.ndarray
    s2: dict[float, np.ndarray]  # per lam
    subset: np.ndarray  # 1.0 where the point saw only train.eval_sequences
    loss: np.ndarray
    run_index: np.ndarray


@dataclass
class Solution:
    sse: float
    alpha: float
    lam: float
    coef: dict[str, float]


@dataclass
class ShapeFit:
    key: str
    label: str
    n: float
    eta_ref: float
    L0: float
    A: float
    alpha: float
    C: float
    lam: float
    delta: float
    rmse: float
    run_ids: list[str]
    n_points: int
    max_steps: int
    tokens_per_step: float
    flops_per_token: float
    peak_lr: float
    schedule: dict[str, Any]  # of the shape's longest run: the template of a predicted run
    boot: np.ndarray | None = None  # rows of (L0, A, alpha, C, lam)
    has_annealing: bool = True
    notes: list[str] = field(default_factory=list)

    def loss_at(self, s1: np.ndarray, s2: np.ndarray, theta: np.ndarray | None = None) -> np.ndarray:
        l0, a, al, c = (self.L0, self.A, self.alpha, self.C) if theta is None else theta[:4]
        with np.errstate(divide="ignore"):
            return l0 + a * np.power(s1, -al) - c * s2


def _solve_linear(s1: np.ndarray, s2: np.ndarray | None, subset: np.ndarray | None, y: np.ndarray, w: np.ndarray,
                  alpha: float) -> tuple[float, np.ndarray]:
    """Least squares for (L0, A, C, delta) at fixed alpha, A and C kept >= 0; (sse, coefficients)."""
    cols = [np.ones_like(s1), np.power(s1, -alpha)]
    if s2 is not None:
        cols.append(-s2)
    if subset is not None:
        cols.append(subset)
    x = np.stack(cols, axis=1)
    sw = np.sqrt(w)
    coef, *_ = np.linalg.lstsq(x * sw[:, None], y * sw, rcond=None)
    if coef[1] < 0 or (s2 is not None and coef[2] < 0):
        from scipy.optimize import lsq_linear
        lo = np.full(x.shape[1], -np.inf)
        lo[1] = 0.0
        if s2 is not None:
            lo[2] = 0.0
        coef = lsq_linear(x * sw[:, None], y * sw, bounds=(lo, np.full(x.shape[1], np.inf))).x
    r = y - x @ coef
    return float(np.sum(w * r * r)), coef


def _best(d: ShapeData, w: np.ndarray, lams: tuple[float, ...], has_c: bool, has_delta: bool,
          polish: bool = True) -> Solution:
    """Grid over (alpha, lam), exact linear parameters, alpha refined at the best lam."""
    sub = d.subset if has_delta else None
    best: Solution | None = None
    for lam in lams:
        s2 = d.s2[lam] if has_c else None
        for al in ALPHA_GRID:
            sse, coef = _solve_linear(d.s1, s2, sub, d.loss, w, float(al))
            if best is None or sse < best.sse:
                best = Solution(sse, float(al), lam, _coef_dict(coef, has_c, has_delta))
    assert best is not None
    if polish:
        from scipy.optimize import minimize_scalar
        i = int(np.argmin(np.abs(ALPHA_GRID - best.alpha)))
        lo, hi = ALPHA_GRID[max(0, i - 1)], ALPHA_GRID[min(len(ALPHA_GRID) - 1, i + 1)]
        s2 = d.s2[best.lam] if has_c else None
        res = minimize_scalar(lambda a: _solve_linear(d.s1, s2, sub, d.loss, w, a)[0], bounds=(lo, hi),
                              method="bounded", options={"xatol": 1e-7})
        if res.fun < best.sse:
            sse, coef = _solve_linear(d.s1, s2, sub, d.loss, w, float(res.x))
            best = Solution(sse, float(res.x), best.lam, _coef_dict(coef, has_c, has_delta))
    return best


def _coef_dict(coef: np.ndarray, has_c: bool, has_delta: bool) -> dict[str, float]:
    out = {"L0": float(coef[0]), "A": float(coef[1]), "C": float(coef[2]) if has_c else 0.0}
    out["delta"] = float(coef[-1]) if has_delta else 0.0
    return out


class AnnealingLaw(CurveLaw):
    """``AnnealingLaw().fit(points)`` on a sweep's points (``load_sweep`` fills their run curves),
    then ``predict_final(shape, schedule, steps, warmup_steps, peak_lr)``."""

    name = "annealing"
    title = "Loss curve with LR annealing (Tissue et al. 2024): L(s) = L0 + A·S1^(−α) − C·S2, per shape"
    order = 60
    # Each resample refits alpha and lambda (about 0.2 s a shape here): 100 keeps a 5-shape sweep near a minute.
    bootstrap_cap = 100

    def __init__(self, n_bootstrap: int = 0, ci_level: float = 0.95, seed: int = 0,
                 lambdas: tuple[float, ...] = LAMBDA_GRID, fit_warmup: bool = False, fit_from: float = FIT_FROM) -> None:
        super().__init__(n_bootstrap=n_bootstrap, ci_level=ci_level, seed=seed)
        self.lambdas = lambdas
        self.fit_warmup = fit_warmup
        self.fit_from = fit_from

    # -- fitting -----------------------------------------------------------------------------
    def _shape_data(self, runs: list[RunCurve]) -> ShapeData:
        eta_ref = max(rc.peak_lr for rc in runs)
        s1, sub, y, idx = [], [], [], []
        s2: dict[float, list[np.ndarray]] = {lam: [] for lam in self.lambdas}
        from_step = self.from_step(runs)
        for j, rc in enumerate(runs):
            eta = rc.eta() / eta_ref
            keep = rc.eval_steps > max(0 if self.fit_warmup else rc.warmup_steps, from_step)
            keep |= rc.eval_steps == rc.steps  # the final point is what a prediction is of
            at = rc.eval_steps[keep]
            s1.append(forward_area(eta)[at])
            for lam in self.lambdas:
                s2[lam].append(annealing_area(eta, rc.warmup_steps, lam)[at])
            sub.append((~rc.eval_full[keep]).astype(float))
            y.append(rc.eval_loss[keep])
            idx.append(np.full(len(at), j))
        return ShapeData(runs=runs, eta_ref=eta_ref, s1=np.concatenate(s1),
                         s2={lam: np.concatenate(v) for lam, v in s2.items()}, subset=np.concatenate(sub),
                         loss=np.concatenate(y), run_index=np.concatenate(idx))

    def _fit_shape(self, key: str, runs: list[RunCurve], rng: np.random.Generator) -> ShapeFit | None:
        d = self._shape_data(runs)
        label = runs[0].shape_label
        has_c = any(np.any(np.abs(v) > 1e-12) for v in d.s2.values())
        has_delta = bool(d.subset.any() and (d.subset == 0).any())
        n_free = 2 + int(has_c) + int(has_delta) + 1
        if len(d.loss) <= n_free:
            self.warnings_.append(f"UNDER-DETERMINED: shape {label}: {len(d.loss)} curve point(s) for {n_free} "
                                  "parameters; not fitted")
            return None
        lams = self.lambdas if has_c else (self.lambdas[0],)
        sol = _best(d, np.ones_like(d.loss), lams, has_c, has_delta)
        longest = max(runs, key=lambda rc: rc.steps)
        sf = ShapeFit(key=key, label=label, n=runs[0].n, eta_ref=d.eta_ref, L0=sol.coef["L0"], A=sol.coef["A"],
                      alpha=sol.alpha, C=sol.coef["C"], lam=sol.lam if has_c else math.nan,
                      delta=sol.coef["delta"], rmse=math.sqrt(sol.sse / len(d.loss)), run_ids=[r.run_id for r in runs],
                      n_points=len(d.loss), max_steps=longest.steps, tokens_per_step=longest.tokens_per_step,
                      flops_per_token=longest.flops_per_token, peak_lr=longest.peak_lr, schedule=dict(longest.schedule),
                      has_annealing=has_c)
        self._shape_warnings(sf, d, has_c)
        if self.n_boot_run > 0:
            sf.boot = self._bootstrap(d, lams, has_c, has_delta, rng, sf)
        return sf

    def _shape_warnings(self, sf: ShapeFit, d: ShapeData, has_c: bool) -> None:
        lab = sf.label
        if len(d.runs) == 1:
            self.warnings_.append(f"UNDER-DETERMINED: shape {lab} is fitted on one curve: the law's split between "
                                  "the power law in S1 and the annealing term rests on that one schedule")
        if not has_c:
            self.warnings_.append(f"UNDER-DETERMINED: no curve of shape {lab} anneals its learning rate, so C and "
                                  "lambda are not measured (C = 0): its predictions ignore any cooldown")
        elif len(self.lambdas) > 1 and sf.lam in (self.lambdas[0], self.lambdas[-1]):
            self.warnings_.append(f"UNDER-DETERMINED: shape {lab}: lambda = {sf.lam:g} sits at an end of its grid "
                                  f"{self.lambdas[0]:g}-{self.lambdas[-1]:g}")
        lo, hi = ALPHA_BOUNDS
        if sf.alpha <= lo * 1.001 or sf.alpha >= hi * 0.999:
            self.warnings_.append(f"UNDER-DETERMINED: shape {lab}: alpha = {sf.alpha:.3g} sits on its bound "
                                  f"[{lo:g}, {hi:g}]: the curves do not pin it")
        if sf.C == 0.0 and has_c:
            self.warnings_.append(f"shape {lab}: the fit puts C at its bound 0 (annealing lowers no loss here)")

    def _bootstrap(self, d: ShapeData, lams: tuple[float, ...], has_c: bool, has_delta: bool,
                   rng: np.random.Generator, sf: ShapeFit) -> np.ndarray:
        out = np.full((self.n_boot_run, 5), np.nan)
        # Every run keeps its final point, so each has a size; its points are contiguous in run order.
        sizes = np.bincount(d.run_index, minlength=len(d.runs))
        for b, w in self.curve_resamples(rng, sizes, 3, sf.notes):
            sol = _best(d, w, lams, has_c, has_delta)  # refined: a grid alpha would quantise the interval
            out[b] = (sol.coef["L0"], sol.coef["A"], sol.alpha, sol.coef["C"], sol.lam)
        return out

    def _publish(self) -> None:
        self.params_, self.ci_ = {}, {}
        shapes = []
        for sf in self.shapes_.values():
            vals = {"L0": sf.L0, "A": sf.A, "alpha": sf.alpha, "C": sf.C, "lambda": sf.lam}
            for j, name in enumerate(SHAPE_PARAMS):
                self.params_[f"{name}[{sf.label}]"] = float(vals[name])
                if sf.boot is not None and name != "lambda":
                    self.ci_[f"{name}[{sf.label}]"] = percentile_ci(sf.boot[:, j], self.ci_level)
            shapes.append({"label": sf.label, "shape": sf.key, "n": sf.n, "eta_ref": sf.eta_ref, "delta": sf.delta,
                           "rmse": sf.rmse, "n_points": sf.n_points, "runs": sf.run_ids, "max_steps": sf.max_steps,
                           "has_annealing": sf.has_annealing})
        self.warnings_ += self.shape_notes()
        self.n_points_ = sum(sf.n_points for sf in self.shapes_.values())
        self.details_ = {"shapes": shapes, "lambda_grid": list(self.lambdas), "fit_from": self.fit_from,
                         "n_bootstrap": self.n_resamples(),
                         "rows": "every post-warmup validation point of every curve, and each run's final one"}
        self.objective_ = float(sum(sf.rmse ** 2 * sf.n_points for sf in self.shapes_.values()))

    # -- prediction --------------------------------------------------------------------------
    def areas(self, sf: ShapeFit, schedule: Mapping[str, Any] | Any, steps: int, warmup_steps: int,
              peak_lr: float, lam: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(S1, S2) at s = 0 .. steps, in the shape's units (rates divided by its eta_ref)."""
        eta = learning_rates(schedule, steps, warmup_steps, peak_lr) / sf.eta_ref
        lam = sf.lam if lam is None else lam
        s2 = annealing_area(eta, warmup_steps, lam) if math.isfinite(lam) else np.zeros(steps + 1)
        return forward_area(eta), s2

    def predict_rates(self, shape: str, eta: np.ndarray, at: np.ndarray) -> np.ndarray:
        """The whole set's loss after each update count in ``at`` of a run of this shape with per-step
        rates ``eta`` (a curve read from a file, or any schedule)."""
        sf = self.shape(shape)
        at = self.check_at(at, len(eta))
        e = np.asarray(eta, dtype=float) / sf.eta_ref
        warm = int(np.argmax(e >= e.max() * (1 - 1e-9))) if len(e) else 0
        s2 = annealing_area(e, warm, sf.lam) if math.isfinite(sf.lam) else np.zeros(len(e) + 1)
        return sf.loss_at(forward_area(e)[at], s2[at])

    def predict_curve(self, shape: str, schedule: Mapping[str, Any] | Any, steps: int, warmup_steps: int,
                      peak_lr: float, at: np.ndarray | None = None) -> np.ndarray:
        """Predicted whole-validation-set loss after each step count in ``at`` (default 1 .. steps)."""
        sf = self.shape(shape)
        s1, s2 = self.areas(sf, schedule, steps, warmup_steps, peak_lr)
        at = np.arange(1, steps + 1) if at is None else np.asarray(at, dtype=int)
        return sf.loss_at(s1[at], s2[at])

    def predict_final_interval(self, shape: str, schedule: Mapping[str, Any] | Any, steps: int, warmup_steps: int,
                               peak_lr: float) -> tuple[float, float]:
        """Percentile band of ``predict_final`` over the bootstrap fits (NaN without bootstrap)."""
        sf = self.shape(shape)
        if sf.boot is None:
            return math.nan, math.nan
        ok = sf.boot[np.all(np.isfinite(sf.boot[:, :4]), axis=1)]
        if not len(ok):
            return math.nan, math.nan
        eta = learning_rates(schedule, steps, warmup_steps, peak_lr) / sf.eta_ref
        s1 = forward_area(eta)[steps]
        s2_by = {lam: annealing_area(eta, warmup_steps, lam)[steps] for lam in set(ok[:, 4]) if math.isfinite(lam)}
        return self.band(np.array([sf.loss_at(np.array([s1]), np.array([s2_by.get(t[4], 0.0)]), t)[0] for t in ok]))

    # -- output --------------------------------------------------------------------------------
    @classmethod
    def headline(cls, r: LawResult) -> str:
        shapes = r.details.get("shapes", [])
        parts = []
        for s in shapes:
            lab = s["label"]
            parts.append(f"{lab} α {r.params.get('alpha[' + lab + ']', math.nan):.3g}, "
                         f"L0 {r.params.get('L0[' + lab + ']', math.nan):.3g}, rmse {s['rmse']:.2g}")
        line = f"annealing: {len(shapes)} shape(s) fitted on {r.n_points} curve points: " + "; ".join(parts)
        return line + cls.predict_runs_tail(r) + warnings_tail(r)

    @classmethod
    def extra_section(cls, r: LawResult) -> list[str]:
        return annealing_shape_lines(r) + shared_lines(r)
