"""Critical batch size from a batch-size sweep (McCandlish et al. 2018; Kaplan et al. 2020 section 5.1).

For a target loss L*, each run reaches L* after S steps and E = B*S tokens (B: tokens per step).
Across batch sizes these trade off as (S/S_min - 1)(E/E_min - 1) = 1, i.e. S = S_min + E_min/B,
and the critical batch size is B_crit = E_min/S_min: below it, doubling the batch nearly halves
the steps; above it, it mostly doubles the tokens.

Runs are grouped by shape (total parameters). The default target for a shape is the highest of its
runs' final losses, times a small margin, so every batch size of that shape reaches it; a run that
still does not reach it is left out with a warning. S_min, E_min are first read off the straight
line S = S_min + E_min*(1/B), then refined by least squares on log S, because the steps span a
decade or more and the small-batch runs would otherwise dominate.

Bootstrap: within each shape the runs are resampled with replacement and the hyperbola refitted;
a resample with fewer than MIN_BATCH_SIZES distinct batch sizes is dropped (it fits no hyperbola).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from scipy.optimize import least_squares

from harness.errors import InsufficientData, RecordError
from harness.fit.law import Law
from harness.fit.points import Points
from harness.fit.results import percentile_ci
from harness.records import read_sweep

MIN_BATCH_SIZES = 3
DEFAULT_MARGIN = 1.01


@dataclass
class RunToTarget:
    run_id: str
    batch_size: int  # sequences per step
    tokens_per_step: float
    steps: float  # S: steps to first reach the target (interpolated)
    tokens: float  # E: tokens to first reach the target (interpolated)


@dataclass
class ShapeCriticalBatch:
    shape: str
    params: float
    target_loss: float
    s_min: float
    e_min: float
    b_crit_tokens: float
    b_crit_sequences: float | None
    converged: bool
    runs: list[RunToTarget] = field(default_factory=list)
    rms_log_residual: float = math.nan


def _shape_label(n: float) -> str:
    return f"N={n:.3g}"


def _seq_len(rec: Any) -> int | None:
    data = rec.config.get("data") if isinstance(rec.config, dict) else None
    v = data.get("seq_len") if isinstance(data, dict) else None
    return int(v) if v else None


def _batch_size(rec: Any) -> int | None:
    train = rec.config.get("train") if isinstance(rec.config, dict) else None
    v = train.get("batch_size") if isinstance(train, dict) else None
    return int(v) if v else None


def _loss_series(rec: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(steps, tokens, loss) of the curve: evaluated points if any, else training-loss points."""
    pts = [p for p in rec.curve if p.val_loss is not None and p.val_loss > 0]
    key = "val_loss"
    if not pts:
        pts = [p for p in rec.curve if p.train_loss is not None and p.train_loss > 0]
        key = "train_loss"
    pts = sorted(pts, key=lambda p: p.step)
    return (np.array([p.step for p in pts], dtype=float), np.array([p.tokens for p in pts], dtype=float),
            np.array([getattr(p, key) for p in pts], dtype=float))


def final_loss(rec: Any) -> float | None:
    _, _, loss = _loss_series(rec)
    return float(loss[-1]) if loss.size else None


def steps_to_target(steps: np.ndarray, tokens: np.ndarray, loss: np.ndarray,
                    target: float) -> tuple[float, float] | None:
    """(S, E) where the curve first reaches the target, linear in log loss between the bracketing
    points; None if it never does. A curve already below the target at its first point gives that point."""
    hit = np.flatnonzero(loss <= target)
    if hit.size == 0:
        return None
    j = int(hit[0])
    if j == 0:
        return float(steps[0]), float(tokens[0])
    l0, l1 = math.log(loss[j - 1]), math.log(loss[j])
    f = (l0 - math.log(target)) / (l0 - l1)
    return (float(steps[j - 1] + f * (steps[j] - steps[j - 1])),
            float(tokens[j - 1] + f * (tokens[j] - tokens[j - 1])))


def fit_hyperbola(steps: np.ndarray, tokens: np.ndarray) -> tuple[float, float, bool, float]:
    """S_min, E_min of (S/S_min - 1)(E/E_min - 1) = 1, converged, rms log residual."""
    s, e = np.asarray(steps, float), np.asarray(tokens, float)
    inv_b = s / e
    (slope, icpt), *_ = np.linalg.lstsq(np.stack([inv_b, np.ones_like(inv_b)], axis=1), s, rcond=None)
    # A noisy straight line can give a non-positive intercept; start from a small positive one.
    x0 = np.log([max(icpt, 1e-3 * s.min()), max(slope, 1e-3 * e.min())])

    def resid(theta: np.ndarray) -> np.ndarray:
        s_min, e_min = np.exp(theta)
        return np.log(s) - np.log(s_min + e_min * inv_b)

    sol = least_squares(resid, x0, method="lm" if s.size > 2 else "trf", xtol=1e-15, ftol=1e-15, gtol=1e-15)
    s_min, e_min = (float(v) for v in np.exp(sol.x))
    rms = float(np.sqrt(np.mean(sol.fun ** 2)))
    return s_min, e_min, bool(sol.success and math.isfinite(s_min) and math.isfinite(e_min)), rms


def _target_for(label: str, n: float, target: float | Mapping[Any, float] | None, margin: float,
                recs: Sequence[Any]) -> float | None:
    if isinstance(target, Mapping):
        for k in (label, n, int(n), str(int(n))):
            if k in target:
                return float(target[k])
    elif target is not None:
        return float(target)
    finals = [f for f in (final_loss(r) for r in recs) if f is not None]
    return max(finals) * margin if finals else None


def critical_batch_from_records(records: Sequence[Any], target: float | Mapping[Any, float] | None = None,
                                margin: float = DEFAULT_MARGIN) -> tuple[list[ShapeCriticalBatch], list[str]]:
    """Per-shape critical batch sizes, and warnings about runs or shapes left out.

    Raises InsufficientData when no shape has runs at MIN_BATCH_SIZES distinct batch sizes.
    """
    warnings: list[str] = []
    by_shape: dict[float, list[Any]] = {}
    for r in records:
        if getattr(r, "status", "completed") != "completed":
            continue
        if _batch_size(r) is None:
            warnings.append(f"run {r.run_id}: no train.batch_size in its config, left out")
            continue
        n = float(r.params.get("total") or 0)
        if n <= 0:
            warnings.append(f"run {r.run_id}: no params.total, left out")
            continue
        by_shape.setdefault(n, []).append(r)
    out: list[ShapeCriticalBatch] = []
    for n in sorted(by_shape):
        recs, label = by_shape[n], _shape_label(n)
        if len({_batch_size(r) for r in recs}) < MIN_BATCH_SIZES:
            warnings.append(f"{label}: fewer than {MIN_BATCH_SIZES} batch sizes, not fitted")
            continue
        tgt = _target_for(label, n, target, margin, recs)
        if tgt is None:
            warnings.append(f"{label}: no run has a loss curve, not fitted")
            continue
        runs: list[RunToTarget] = []
        for r in recs:
            steps, toks, loss = _loss_series(r)
            hit = steps_to_target(steps, toks, loss, tgt) if loss.size else None
            if hit is None:
                warnings.append(f"{label}: run {r.run_id} never reaches loss {tgt:.4g}, left out")
                continue
            b = _batch_size(r)
            sl = _seq_len(r)
            tps = float(b * sl) if sl else (hit[1] / hit[0] if hit[0] > 0 else math.nan)
            runs.append(RunToTarget(run_id=r.run_id, batch_size=b, tokens_per_step=tps, steps=hit[0], tokens=hit[1]))
        if len({rt.batch_size for rt in runs}) < MIN_BATCH_SIZES:
            warnings.append(f"{label}: fewer than {MIN_BATCH_SIZES} batch sizes reach loss {tgt:.4g}, not fitted")
            continue
        runs.sort(key=lambda rt: rt.batch_size)
        s_min, e_min, ok, rms = fit_hyperbola(np.array([rt.steps for rt in runs]), np.array([rt.tokens for rt in runs]))
        b_tok = e_min / s_min
        sl = _seq_len(recs[0])
        out.append(ShapeCriticalBatch(shape=label, params=n, target_loss=tgt, s_min=s_min, e_min=e_min,
                                      b_crit_tokens=b_tok, b_crit_sequences=b_tok / sl if sl else None,
                                      converged=ok, runs=runs, rms_log_residual=rms))
    if not out:
        raise InsufficientData(f"critical batch size needs runs at >= {MIN_BATCH_SIZES} distinct batch sizes "
                               "reaching a common loss for some shape" + (f" ({'; '.join(warnings)})" if warnings else ""))
    return out, warnings


def records_for(points: Any) -> list[Any] | None:
    """The completed run records behind points loaded from one sweep directory, or None."""
    src = Path(str(getattr(points, "source", "")))
    if not (src / "runs").is_dir():
        return None
    try:
        recs = read_sweep(src, status="completed")
    except RecordError:
        return None
    keep = set(points.labels)
    return [r for r in recs if r.run_id in keep]


def has_batch_sweep(records: Sequence[Any] | None) -> bool:
    """Whether some shape was trained at MIN_BATCH_SIZES or more distinct batch sizes."""
    sizes: dict[float, set[int]] = {}
    for r in records or ():
        b = _batch_size(r)
        if b is not None:
            sizes.setdefault(float(r.params.get("total") or 0), set()).add(b)
    return any(len(v) >= MIN_BATCH_SIZES for v in sizes.values())


class CriticalBatchFit(Law):
    """``fit(points)`` then ``params_``/``ci_``/``result()``, like every law.

    Points carry no batch sizes, so the records are re-read from the sweep directory the points
    came from, or given directly (``fit(records=...)``: data, so an argument of fit, not a setting).
    """

    name = "critical_batch"
    title = "Critical batch size (McCandlish et al. 2018; Kaplan et al. 2020 section 5.1)"
    min_points = 1
    vary = ()
    order = 70
    # Each resample is one small least-squares fit per shape, run one by one.
    bootstrap_cap = 200

    def __init__(self, n_bootstrap: int = 0, ci_level: float = 0.95, seed: int = 0,
                 target: float | Mapping[Any, float] | None = None, margin: float = DEFAULT_MARGIN) -> None:
        super().__init__(n_bootstrap=n_bootstrap, ci_level=ci_level, seed=seed)
        self.target = target
        self.margin = margin

    @classmethod
    def default_for(cls, points: Points) -> bool:
        # Re-reads the records only for a single sweep directory; a batch-size sweep needs >= 3 sizes per shape.
        return has_batch_sweep(records_for(points))

    def fit(self, points: Points | None = None, records: Sequence[Any] | None = None) -> "CriticalBatchFit":
        """Fit to ``records`` where given, else to the records behind ``points``."""
        self._records = records
        if points is not None:
            return super().fit(points)
        # Records given directly and no points: there is no FLOP convention or data set to check.
        self.flops_convention_ = "6ND"
        self._init_learned(0)
        self._fit(None)
        return self

    def _fit(self, points: Points | None) -> None:
        recs = self._records if self._records is not None else records_for(points)
        if not recs:
            raise InsufficientData("critical batch size needs run records (a sweep directory), not bare points")
        self.shapes_, warnings = critical_batch_from_records(recs, self.target, self.margin)
        self.warnings_ += warnings
        params: dict[str, float] = {}
        for sh in self.shapes_:
            params[f"B_crit_tokens@{sh.shape}"] = sh.b_crit_tokens
            if sh.b_crit_sequences is not None:
                params[f"B_crit_sequences@{sh.shape}"] = sh.b_crit_sequences
            params[f"S_min@{sh.shape}"] = sh.s_min
            params[f"E_min@{sh.shape}"] = sh.e_min
            params[f"target_loss@{sh.shape}"] = sh.target_loss
        self.params_ = params
        self.objective_ = float(sum(sh.rms_log_residual ** 2 * len(sh.runs) for sh in self.shapes_))
        self.converged_ = all(sh.converged for sh in self.shapes_)
        self.n_points_ = sum(len(sh.runs) for sh in self.shapes_)
        n_boot = self._bootstrap() if self.n_boot_run > 0 else 0
        self.details_ = {"shapes": {sh.shape: asdict(sh) for sh in self.shapes_}, "n_bootstrap": n_boot}

    def _bootstrap(self) -> int:
        """Percentile intervals of B_crit, S_min, E_min per shape; returns the fewest usable resamples."""
        rng = np.random.default_rng(self.seed)
        fewest = self.n_boot_run
        for sh in self.shapes_:
            steps = np.array([rt.steps for rt in sh.runs])
            toks = np.array([rt.tokens for rt in sh.runs])
            sizes = np.array([rt.batch_size for rt in sh.runs])
            rows = []
            for _ in range(self.n_boot_run):
                idx = rng.integers(0, len(steps), len(steps))
                if len(set(sizes[idx])) < MIN_BATCH_SIZES:
                    continue
                s_min, e_min, ok, _ = fit_hyperbola(steps[idx], toks[idx])
                if ok:
                    rows.append((e_min / s_min, s_min, e_min))
            fewest = min(fewest, len(rows))
            if len(rows) >= 2:
                r = np.array(rows)
                for col, key in enumerate(("B_crit_tokens", "S_min", "E_min")):
                    self.ci_[f"{key}@{sh.shape}"] = percentile_ci(r[:, col], self.ci_level)
                if sh.b_crit_sequences is not None:
                    sl = sh.b_crit_tokens / sh.b_crit_sequences
                    self.ci_[f"B_crit_sequences@{sh.shape}"] = percentile_ci(r[:, 0] / sl, self.ci_level)
        return fewest

    @classmethod
    def headline(cls, r) -> str:
        keys = [k for k in r.params if k.startswith("B_crit_tokens@")]
        s = f"{cls.name}: " + ", ".join(
            f"{k} {r.params[k]:.3g}" + (f" [{r.ci[k][0]:.3g}, {r.ci[k][1]:.3g}]" if k in r.ci else "") for k in keys)
        for w in r.warnings:
            if w.startswith(("UNDER-DETERMINED", "NOT CONVERGED")):
                s += f"\n  ! {w}"
        return s

    @classmethod
    def extra_section(cls, r) -> list[str]:
        lines = ["", "| shape | target loss | S_min | E_min | B_crit (tokens) | B_crit (sequences) | batch sizes |",
                 "|---|---|---|---|---|---|---|"]
        f = _fmt
        for g, d in r.details["shapes"].items():
            bs = ", ".join(str(rt["batch_size"]) for rt in d["runs"])
            lines.append(f"| {g} | {f(d['target_loss'])} | {f(d['s_min'])} | {f(d['e_min'])} | "
                         f"{f(d['b_crit_tokens'])} | {f(d['b_crit_sequences'])} | {bs} |")
        return lines


def _fmt(v: Any) -> str:
    return "–" if v is None else f"{v:.4g}"
