"""The fitter's Python API: points in, laws out, files written. The CLI and the sweep callback
both call ``fit_points`` / ``fit_sweep`` so there is one code path.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from harness.fit.anchors import anchors_json
from harness.fit.chinchilla import ChinchillaFit
from harness.fit.envelope import EnvelopeFit
from harness.fit.errors import FitInputError, InsufficientData
from harness.fit.holdout import evaluate_holdout
from harness.fit.isoflop import IsoFlopFit
from harness.fit.kaplan import KaplanFit
from harness.fit.points import Points, load_sweep
from harness.fit.results import Allocation, LawResult, Prediction, budget_key

LAWS = ("chinchilla", "approach2", "approach1", "kaplan", "data_constrained", "shared", "critical_batch")
DEFAULT_BOOTSTRAP = 1000
# The shared fit's resamples run one scipy fit each (not batched), so they are capped for speed.
SHARED_BOOTSTRAP_CAP = 20
# Runs past one epoch before the default laws include the data-constrained fit.
MIN_REPEATED_RUNS = 3


def positive_number(text: str, what: str) -> float:
    """A command-line number that must be finite and positive, or a one-line FitInputError naming it."""
    try:
        v = float(text)
    except ValueError:
        raise FitInputError(f"{what}: {text.strip()!r} is not a number") from None
    if not (math.isfinite(v) and v > 0):
        raise FitInputError(f"{what} must be positive and finite, got {text.strip()!r}")
    return v


@dataclass
class PredictSpec:
    n: float | None = None
    d: float | None = None
    c: float | None = None

    @classmethod
    def parse(cls, text: str) -> "PredictSpec":
        vals: dict[str, float] = {}
        for part in text.split(","):
            key, sep, val = part.partition("=")
            key = key.strip().upper()
            if not sep or key not in ("N", "D", "C"):
                raise FitInputError(f"--predict {text!r}: expected N=...,D=... or C=...")
            vals[key.lower()] = positive_number(val, f"--predict {text!r}: {key}")
        spec = cls(**vals)
        if not ((spec.n and spec.d and spec.c is None) or (spec.c and spec.n is None and spec.d is None)):
            raise FitInputError(f"--predict {text!r}: give either N and D, or C alone")
        return spec


@dataclass
class FitReport:
    source: str
    n_points: int
    n_convention: str
    c_convention: str
    notes: list[str]
    results: list[LawResult]
    skipped: dict[str, str]
    anchors: dict[str, dict[str, float]] = field(default_factory=anchors_json)
    # Kept for the plots; not serialised.
    points: Points | None = None
    fitters: dict[str, Any] = field(default_factory=dict)

    @property
    def floor(self) -> float | None:
        """The exactly known irreducible loss of the points' validation set (``Points.floor``), if any."""
        return self.points.floor if self.points is not None else None

    def get(self, law: str) -> LawResult | None:
        return next((r for r in self.results if r.law == law), None)

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "n_points": self.n_points, "n_convention": self.n_convention,
                "c_convention": self.c_convention, "notes": self.notes,
                "laws": [r.to_json() for r in self.results], "skipped": self.skipped, "anchors": self.anchors,
                "bayes_loss": self.floor}

    def e_vs_floor(self) -> list[tuple[str, float, list[float] | None]]:
        """(law, fitted E, its interval) for each law with an irreducible term, to set beside ``floor``."""
        return [(r.law, r.params["E"], r.ci.get("E")) for r in self.results if "E" in r.params]

    def headline(self) -> str:
        parts = []
        for r in self.results:
            p, ci = r.params, r.ci

            def fmt(k: str) -> str:
                s = f"{k} {p[k]:.3g}"
                return s + (f" [{ci[k][0]:.3g}, {ci[k][1]:.3g}]" if k in ci and ci[k][0] is not None else "")
            keys = [k for k in ("alpha", "beta", "E", "a", "b", "alpha_N", "alpha_D", "R_D_star", "R_N_star") if k in p]
            keys += [k for k in p if k.startswith("B_crit_tokens@")]
            s = f"{r.law}: " + ", ".join(fmt(k) for k in keys)
            if r.allocation and r.allocation.tokens_per_param:
                c, tpp = list(r.allocation.tokens_per_param.items())[-1]
                s += f"; {tpp:.3g} tokens/param at C={c}"
            if r.holdout:
                s += f"; holdout {r.holdout.k} largest-C: mean |err| {100 * r.holdout.mean_abs_rel_error:.2f}%"
            if not r.converged:
                s += " (NOT CONVERGED)"
            parts.append(s)
        for law, why in self.skipped.items():
            parts.append(f"{law}: skipped ({why})")
        if self.floor is not None:
            es = ", ".join(f"{law} E {e:.3g}" for law, e, _ in self.e_vs_floor())
            parts.append(f"exact Bayes loss of the validation set {self.floor:.4g}" + (f" (fitted: {es})" if es else ""))
        return "\n".join(parts)


def _default_laws(points: Points) -> list[str]:
    laws = ["chinchilla", "approach2", "approach1", "kaplan"]
    # Only runs that went past one epoch say anything about repeated data (NaN compares False), and
    # R_D* needs several of them: one run at 1.1 epochs leaves it (and R_N*) unconstrained.
    if points.unique_tokens is not None and np.sum(points.d > points.unique_tokens * 1.001) >= MIN_REPEATED_RUNS:
        laws.append("data_constrained")
    if points.group and len(set(points.group)) > 1:
        laws.append("shared")
    # Re-reads the records only for a single sweep directory; a batch-size sweep needs >= 3 sizes per shape.
    from harness.fit.critical_batch import has_batch_sweep, records_for
    if has_batch_sweep(records_for(points)):
        laws.append("critical_batch")
    return laws


def _make(law: str, bootstrap: int, seed: int, holdout_fit: bool = False):
    nb = 0 if holdout_fit else bootstrap
    if law == "chinchilla":
        return ChinchillaFit(n_bootstrap=nb, seed=seed)
    if law == "approach2":
        return IsoFlopFit(n_bootstrap=nb, seed=seed)
    if law == "approach1":
        return EnvelopeFit(n_bootstrap=nb, seed=seed)
    if law == "kaplan":
        return KaplanFit(n_bootstrap=nb, seed=seed)
    if law == "data_constrained":
        from harness.fit.data_constrained import DataConstrainedFit
        return DataConstrainedFit(n_bootstrap=nb, seed=seed)
    if law == "shared":
        from harness.fit.shared import SharedExponentFit
        return SharedExponentFit(n_bootstrap=min(nb, SHARED_BOOTSTRAP_CAP), seed=seed)
    if law == "critical_batch":
        from harness.fit.critical_batch import CriticalBatchFit
        return CriticalBatchFit(n_bootstrap=nb, seed=seed)
    raise FitInputError(f"unknown law {law!r}; choose from {', '.join(LAWS)}")


def _allocation(fitter: Any, budgets: Sequence[float]) -> Allocation | None:
    if not hasattr(fitter, "n_opt"):
        return None
    keys = [budget_key(c) for c in budgets]
    n_opt = {k: float(fitter.n_opt(c)) for k, c in zip(keys, budgets)}
    d_opt = {k: float(fitter.d_opt(c)) for k, c in zip(keys, budgets)}
    tpp = {k: d_opt[k] / n_opt[k] for k in keys}
    p = getattr(fitter, "params_", None)
    ci: dict[str, list[float]] = {}
    if isinstance(fitter, ChinchillaFit) and fitter.boot_theta_ is not None:
        for k, c in zip(keys, budgets):
            ci[f"tokens_per_param@{k}"] = fitter.derived_ci(lambda q, c=c: float(q.tokens_per_param(c)))
    res = fitter.result()
    return Allocation(a=res.params["a"], b=res.params["b"], G=getattr(p, "G", None),
                      tokens_per_param=tpp, n_opt=n_opt, d_opt=d_opt, ci=ci)


def _predictions(fitter: Any, specs: Sequence[PredictSpec]) -> list[Prediction]:
    out = []
    for s in specs:
        if s.c is not None:
            if not hasattr(fitter, "optimal_loss"):
                continue
            n, d = float(fitter.n_opt(s.c)), float(fitter.d_opt(s.c))
        else:
            n, d = s.n, s.d
        if not hasattr(fitter, "predict"):
            continue
        loss = float(fitter.predict(n, d))
        lo = hi = None
        if hasattr(fitter, "predict_interval"):
            lo_a, hi_a = fitter.predict_interval(n, d)
            lo, hi = float(lo_a), float(hi_a)
        out.append(Prediction(n=n, d=d, c=s.c if s.c is not None else 6 * n * d, loss=loss, lo=lo, hi=hi))
    return out


def fit_points(points: Points, laws: Sequence[str] | None = None, *, bootstrap: int = DEFAULT_BOOTSTRAP,
               holdout: int = 0, at_flops: Sequence[float] = (), predict: Sequence[PredictSpec | str] = (),
               inference_tokens: float | None = None, seed: int = 0) -> FitReport:
    """Fit each law that the points support; a law they cannot support is skipped with a reason."""
    if len(points) == 0:
        raise FitInputError("no points to fit")
    explicit = laws is not None
    laws = list(laws) if laws is not None else _default_laws(points)
    for law in laws:
        if law not in LAWS:
            raise FitInputError(f"unknown law {law!r}; choose from {', '.join(LAWS)}")
    specs = [PredictSpec.parse(s) if isinstance(s, str) else s for s in predict]
    budgets = sorted(set([float(np.max(points.c)), *map(float, at_flops)]))
    results, skipped, fitters = [], {}, {}
    for law in laws:
        try:
            fitter = _make(law, bootstrap, seed).fit(points)
        except InsufficientData as e:
            skipped[law] = str(e)
            continue
        except FitInputError as e:
            if explicit and len(laws) == 1:
                raise
            skipped[law] = str(e)
            continue
        res = fitter.result()
        if law == "shared" and bootstrap > SHARED_BOOTSTRAP_CAP:
            res.warnings.append(f"bootstrap capped at {SHARED_BOOTSTRAP_CAP} resamples (asked for {bootstrap}): each "
                                "shared-exponent resample is a separate scipy fit, so its intervals are rough")
        res.allocation = _allocation(fitter, budgets)
        res.predictions = _predictions(fitter, specs)
        if holdout and hasattr(fitter, "predict_points"):
            try:
                res.holdout = evaluate_holdout(lambda: _make(law, bootstrap, seed, holdout_fit=True), points, holdout)
            except (InsufficientData, FitInputError) as e:
                res.warnings.append(f"holdout not evaluated: {e}")
        if inference_tokens and isinstance(fitter, ChinchillaFit):
            from harness.fit.allocation import inference_optimum
            c_max = budgets[-1]
            target = float(fitter.params_.optimal_loss(c_max))
            res.details["inference_optimum"] = inference_optimum(fitter.params_, target, inference_tokens).__dict__
        results.append(res)
        fitters[law] = fitter
    if not results:
        raise FitInputError("no law could be fitted: " + "; ".join(f"{k}: {v}" for k, v in skipped.items()))
    return FitReport(source=points.source, n_points=len(points), n_convention=points.n_convention,
                     c_convention=points.c_convention, notes=list(points.notes), results=results,
                     skipped=skipped, points=points, fitters=fitters)


def write_outputs(report: FitReport, json_path: str | Path | None = None, plots_dir: str | Path | None = None,
                  report_path: str | Path | None = None) -> None:
    if json_path is not None:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(json.dumps(report.to_json(), indent=1, allow_nan=False) + "\n")
    if plots_dir is not None or report_path is not None:
        from harness.report import write_plots, write_report
        figs = write_plots(report, plots_dir) if plots_dir is not None else {}
        if report_path is not None:
            write_report(report, report_path, figs)


def fit_sweep(sweep_dir: str | Path, laws: Sequence[str] | None = None, out_dir: str | Path | None = None, *,
              bootstrap: int = DEFAULT_BOOTSTRAP, holdout: int = 0, params: str = "total", flops: str = "6ND",
              at_flops: Sequence[float] = (), predict: Sequence[PredictSpec | str] = (),
              inference_tokens: float | None = None, seed: int = 0, plots: bool = True) -> FitReport:
    """Fit a sweep's completed runs; write fit.json, report.md and plots/ under out_dir (default the sweep dir).

    This is the entry point for the end-of-sweep callback: ``fit_sweep(sweep_dir).headline()``.
    """
    points = load_sweep(sweep_dir, params=params, flops=flops)
    report = fit_points(points, laws, bootstrap=bootstrap, holdout=holdout, at_flops=at_flops,
                        predict=predict, inference_tokens=inference_tokens, seed=seed)
    out = Path(out_dir) if out_dir is not None else Path(sweep_dir)
    write_outputs(report, json_path=out / "fit.json", plots_dir=(out / "plots") if plots else None,
                  report_path=out / "report.md")
    return report
