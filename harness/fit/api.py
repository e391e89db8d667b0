"""The fitter's Python API: points in, laws out, files written. The CLI and the sweep callback
both call ``fit_points`` / ``fit_sweep`` so there is one code path.

Which laws exist, what each can do and how it is reported all come from the law registry
(``harness.fit.law``); nothing here names a particular law.

A known floor (``Points.floor``, the synthetic language's exact Bayes loss): every law that can hold
its parameters fixed (a ``pin`` setting) and has an irreducible loss E is fitted twice, E free and
E pinned at the floor (the second result labelled ``E=floor``, its key ``<law>@E=floor``), each
with its residuals, so the report can set the two side by side.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from harness.errors import FitInputError, InsufficientData, ResultsNotWritable
from harness.files import atomic_write_text, check_writable
from harness.fit.anchors import anchors_json
from harness.fit.holdout import evaluate_holdout
from harness.fit.law import Law, check_law_names, get_law, registry
from harness.fit.loaders import load_sweep
from harness.fit.plots import write_plots
from harness.fit.points import Points
from harness.fit.report import residual_summary, write_report
from harness.fit.results import Allocation, LawResult, Prediction, budget_key
from harness.tune.fitlink import apply_tuning, check_weight

DEFAULT_BOOTSTRAP = 1000
# The label (``LawResult.dataset``) of a law's second fit with E pinned at the points' known floor.
FLOOR_PIN = "E=floor"


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
    param_convention: str
    flops_convention: str
    notes: list[str]
    results: list[LawResult]
    skipped: dict[str, str]
    anchors: dict[str, dict[str, float]] = field(default_factory=anchors_json)
    # Kept for the plots; not serialised. Fitters are keyed like ``result_key``.
    points: Points | None = None
    fitters: dict[str, Law] = field(default_factory=dict)
    # Under-tuned runs against a tuning result (harness/tune/fitlink.py); None without --tuning.
    tuning: dict[str, Any] | None = None

    @property
    def floor(self) -> float | None:
        """The exactly known irreducible loss of the points' validation set (``Points.floor``), if any."""
        return self.points.floor if self.points is not None else None

    def get(self, law: str, dataset: str | None = None) -> LawResult | None:
        return next((r for r in self.results if r.law == law and (dataset is None or r.dataset == dataset)), None)

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "n_points": self.n_points, "n_convention": self.param_convention,
                "c_convention": self.flops_convention,
                "c_convention_note": f"every C in this file (points, budgets, allocations, predictions) counts "
                                     f"training FLOPs as {self.flops_convention}",
                "notes": self.notes, "laws": [r.to_json() for r in self.results], "skipped": self.skipped,
                "anchors": self.anchors, "bayes_loss": self.floor,
                **({"under_tuned": self.tuning} if self.tuning is not None else {})}

    def e_vs_floor(self) -> list[tuple[str, float, list[float] | None]]:
        """(law, fitted E, its interval) for each law with an irreducible term, to set beside ``floor``."""
        return [(result_key(r), r.params["E"], r.ci.get("E")) for r in self.results
                if "E" in r.params and "E" not in r.details.get("pinned", {})]

    def headline(self) -> str:
        if self.points is not None and curves_only(self.points):
            parts = [f"fit of loss curves ({self.n_points} fitted; no model sizes or FLOPs: curve files)"]
        else:
            parts = [f"fit of {self.n_points} points (N = {self.param_convention}; every C in {self.flops_convention} FLOPs)"]
        parts += [f"note: {n}" for n in self.notes]
        for r in self.results:
            line = get_law(r.law).headline(r)
            parts.append(f"[{r.dataset}] {line}" if r.dataset else line)
        for law, why in self.skipped.items():
            parts.append(f"{law}: skipped ({why})")
        if self.floor is not None:
            es = ", ".join(f"{law} E {e:.3g}" for law, e, _ in self.e_vs_floor())
            parts.append(f"exact Bayes loss of the validation set {self.floor:.4g}" + (f" (fitted: {es})" if es else ""))
        return "\n".join(parts)


def result_key(r: LawResult) -> str:
    return r.law if r.dataset is None else f"{r.law}@{r.dataset}"


def curves_only(points: Points) -> bool:
    """Loss curves read from files: no model size, no compute, only what the curve laws fit."""
    return bool(points.run_curves) and bool(np.all(np.isnan(points.n)))


def default_laws(points: Points, by_data: bool = False) -> list[str]:
    """The laws the points support. With several data sets and no ``by_data``, only the laws that
    fit data sets jointly: a one-data-set law would pool them (see ``_left_out``). Curve files get
    the curve laws."""
    if curves_only(points):
        return [name for name, cls in registry().items() if cls.fits_curves]
    several = len(points.datasets()) > 1
    laws = []
    for name, cls in registry().items():
        if several and not cls.pools_datasets and not by_data:
            continue
        sample = points if cls.pools_datasets or not several else next(iter(points.by_dataset().values()))
        if cls.default_for(sample):
            laws.append(name)
    return laws


def _left_out(points: Points, by_data: bool) -> list[str]:
    """A note for the user when the default laws leave the one-data-set laws out."""
    if by_data or len(points.datasets()) < 2:
        return []
    return [f"one-data-set laws not fitted: the points hold {len(points.datasets())} data sets "
            f"({', '.join(points.datasets())}); fit each with --by-data, or jointly with --law shared"]


def _allocation(fitter: Law, budgets: Sequence[float]) -> Allocation:
    keys = {budget_key(c): float(c) for c in budgets}
    n_opt = {k: float(fitter.n_opt(c)) for k, c in keys.items()}
    d_opt = {k: float(fitter.d_opt(c)) for k, c in keys.items()}
    a, b, g = fitter.allocation_exponents()
    return Allocation(a=a, b=b, G=g, tokens_per_param={k: d_opt[k] / n_opt[k] for k in keys},
                      n_opt=n_opt, d_opt=d_opt, ci=fitter.allocation_ci(keys))


def _predictions(fitter: Law, specs: Sequence[PredictSpec], warnings: list[str]) -> list[Prediction]:
    out = []
    for s in specs:
        if s.c is not None:
            if not fitter.can_allocate:
                warnings.append(f"--predict C={s.c:.3g}: {fitter.name} gives no optimum at a budget, so no prediction")
                continue
            n, d, c = float(fitter.n_opt(s.c)), float(fitter.d_opt(s.c)), s.c
        else:
            n, d = s.n, s.d
            c = float(fitter.compute_for(n, d))  # in the points' convention, not 6ND
        lo_a, hi_a = fitter.predict_interval(n, d)
        lo, hi = float(lo_a), float(hi_a)
        out.append(Prediction(n=n, d=d, c=c, loss=float(fitter.predict(n, d)),
                              lo=lo if math.isfinite(lo) else None, hi=hi if math.isfinite(hi) else None))
    return out


def _check_options(points: Points, holdout: int, bootstrap: int, inference_tokens: float | None) -> None:
    if bootstrap < 0:
        raise FitInputError(f"--bootstrap must not be negative, got {bootstrap}")
    if holdout < 0 or (holdout and holdout >= len(points)):
        raise FitInputError(f"--holdout {holdout}: must be between 1 and {len(points) - 1} for {len(points)} points")
    if inference_tokens is not None and not (math.isfinite(inference_tokens) and inference_tokens >= 0):
        raise FitInputError(f"--inference-tokens must be a non-negative number of tokens, got {inference_tokens:g}")


def fit_points(points: Points, laws: Sequence[str] | None = None, *, bootstrap: int = DEFAULT_BOOTSTRAP,
               holdout: int = 0, at_flops: Sequence[float] = (), predict: Sequence[PredictSpec | str] = (),
               inference_tokens: float | None = None, seed: int = 0, by_data: bool = False,
               law_settings: Mapping[str, Mapping[str, Any]] | None = None) -> FitReport:
    """Fit each law that the points support; a law they cannot support is skipped with a reason.

    ``law_settings``: a law's own constructor settings by law name, e.g.
    ``{"annealing": {"lambdas": (0.995,)}}`` (the CLI's --annealing-lambda), or
    ``{"chinchilla": {"pin": {"E": 1.2136}}}`` to hold parameters fixed at given values.
    With a known floor (``points.floor``), a law that can pin E is also fitted with E pinned at
    it (see the module docstring).

    Points from several data sets are never pooled by a law that fits one: a named law is refused
    (one line naming the data sets), a default one is left out with a note; ``by_data`` fits
    every law to each data set on its own (results carry ``dataset``).
    """
    if len(points) == 0:
        raise FitInputError("no points to fit")
    _check_options(points, holdout, bootstrap, inference_tokens)
    explicit = laws is not None
    notes = list(points.notes)
    if explicit:
        laws = list(laws)
        check_law_names(laws, "--law")
        point_laws = [law for law in laws if not get_law(law).fits_curves]
        if curves_only(points) and point_laws:
            raise FitInputError(f"--law {', '.join(point_laws)}: {points.source} holds loss curves without model sizes; "
                                f"they fit the curve laws ({', '.join(n for n, c in registry().items() if c.fits_curves)})")
    else:
        laws = default_laws(points, by_data)
        notes += _left_out(points, by_data)
    several = len(points.datasets()) > 1
    if several and not by_data:
        for law in laws:
            if not get_law(law).pools_datasets:
                points.require_one_dataset(law)
    specs = [PredictSpec.parse(s) if isinstance(s, str) else s for s in predict]
    subsets: list[tuple[str | None, Points]] = [(None, points)]
    if by_data and several:
        subsets = list(points.by_dataset().items())
    results, skipped, fitters = [], {}, {}

    def fit(cls: type[Law], pts: Points, label: str | None, strict: bool) -> None:
        settings = (law_settings or {}).get(cls.name, {})
        common = dict(bootstrap=bootstrap, holdout=holdout, at_flops=at_flops, specs=specs,
                      inference_tokens=inference_tokens, seed=seed, results=results, skipped=skipped, fitters=fitters)
        free = _fit_one(cls, pts, label, settings=settings, strict=strict, **common)
        if free is not None:
            _fit_at_floor(cls, pts, label, free, settings, **common)

    for label, pts in subsets:
        for law in laws:
            cls = get_law(law)
            if label is not None and cls.pools_datasets:
                continue  # a joint law is fitted once, on every data set, below
            fit(cls, pts, label, strict=explicit and len(laws) == 1)
    if by_data and several:
        for law in laws:
            if get_law(law).pools_datasets:
                fit(get_law(law), points, None, strict=False)
    if not results:
        raise FitInputError("no law could be fitted: " + "; ".join(f"{k}: {v}" for k, v in skipped.items()))
    return FitReport(source=points.source, n_points=len(points), param_convention=points.param_convention,
                     flops_convention=points.flops_convention, notes=notes, results=results,
                     skipped=skipped, points=points, fitters=fitters)


def _fit_at_floor(cls: type[Law], pts: Points, label: str | None, free: tuple[LawResult, Law],
                  settings: Mapping[str, Any], **common: Any) -> None:
    """With a known floor, fit a law that can pin E once more with E held at the floor, and give both
    fits their residuals. Not when the user pinned E already (that fit is the pinned one)."""
    pin = dict(settings.get("pin") or {})
    if pts.floor is None or not cls.can_pin or "E" not in free[0].params or "E" in pin:
        return
    tag = FLOOR_PIN if label is None else f"{label}, {FLOOR_PIN}"
    pinned = _fit_one(cls, pts, tag, settings={**settings, "pin": {**pin, "E": pts.floor}}, strict=False, **common)
    if pinned is None:
        return
    pinned[0].details["compared_with"] = {"law": free[0].law, "dataset": free[0].dataset}
    for res, fitter in (free, pinned) if cls.can_predict else ():
        res.details["residuals"] = residual_summary(pts, np.asarray(fitter.predict_points(pts), dtype=float))


def _fit_one(cls: type[Law], pts: Points, label: str | None, *, bootstrap: int, holdout: int,
             at_flops: Sequence[float], specs: Sequence[PredictSpec], inference_tokens: float | None, seed: int,
             strict: bool, results: list[LawResult], skipped: dict[str, str], fitters: dict[str, Law],
             settings: Mapping[str, Any] | None = None) -> tuple[LawResult, Law] | None:
    """Fit one law and add its result (or why it was skipped); the result and its fitter, or None if skipped."""
    key = cls.name if label is None else f"{cls.name}@{label}"
    settings = dict(settings or {})
    try:
        fitter = cls(n_bootstrap=bootstrap, seed=seed, **settings).fit(pts)
    except FitInputError as e:  # InsufficientData included: a law the points cannot support
        if strict and not isinstance(e, InsufficientData):
            raise
        skipped[key] = str(e)
        return None
    res = fitter.result()
    res.dataset = label
    if cls.can_allocate:
        res.allocation = _allocation(fitter, sorted({float(np.max(pts.c)), *map(float, at_flops)}))
    if cls.can_predict:
        res.predictions = _predictions(fitter, specs, res.warnings)
    elif specs:
        res.warnings.append(f"--predict ignored: {cls.name} does not predict a loss at (N, D)")
    if holdout:
        if not (cls.can_predict or cls.pools_datasets):
            res.warnings.append(f"--holdout not evaluated: {cls.name} does not predict losses")
        elif holdout >= len(pts):
            res.warnings.append(f"--holdout {holdout} not evaluated: this fit has only {len(pts)} points")
        else:
            try:
                # With the law's own settings: a pinned law's holdout is the pinned law's.
                res.holdout = evaluate_holdout(lambda: cls(n_bootstrap=0, seed=seed, **settings), pts, holdout)
            except (InsufficientData, FitInputError) as e:
                res.warnings.append(f"holdout not evaluated: {e}")
    if inference_tokens is not None:
        io = fitter.inference_optimum(float(np.max(pts.c)), inference_tokens)
        if io is None:
            res.warnings.append(f"--inference-tokens ignored: {cls.name} has no inference-aware optimum")
        else:
            res.details["inference_optimum"] = io
    results.append(res)
    fitters[key] = fitter
    return res, fitter


def output_paths(out_dir: str | Path | None, json_path: str | Path | None = None, plots_dir: str | Path | None = None,
                 report_path: str | Path | None = None) -> tuple[Path | None, Path | None, Path | None]:
    """Fill in fit.json, plots/ and report.md under out_dir where a path is not given."""
    if out_dir is not None:
        out = Path(out_dir)
        json_path = json_path or out / "fit.json"
        plots_dir = plots_dir or out / "plots"
        report_path = report_path or out / "report.md"
    return (None if json_path is None else Path(json_path), None if plots_dir is None else Path(plots_dir),
            None if report_path is None else Path(report_path))


def check_outputs(json_path: str | Path | None = None, plots_dir: str | Path | None = None,
                  report_path: str | Path | None = None) -> None:
    """Refuse, in one line, an output path that cannot be written: before a fit runs, not after."""
    for p, is_dir in ((json_path, False), (report_path, False), (plots_dir, True)):
        if p is None:
            continue
        try:
            check_writable(p, is_dir=is_dir)
        except ResultsNotWritable as e:
            # The fitter's commands report their bad inputs and outputs alike (FitInputError).
            raise FitInputError(f"{p}: cannot write here ({e.strerror})") from None


def write_outputs(report: FitReport, json_path: str | Path | None = None, plots_dir: str | Path | None = None,
                  report_path: str | Path | None = None) -> None:
    """Write fit.json, plots and report.md, each atomically (a reader never sees half a file)."""
    if json_path is not None:
        atomic_write_text(json_path, json.dumps(report.to_json(), indent=1, allow_nan=False) + "\n")
    if plots_dir is not None or report_path is not None:
        figs = write_plots(report, plots_dir) if plots_dir is not None else {}
        if report_path is not None:
            rel = "plots"
            if plots_dir is not None:
                rel = Path(os.path.relpath(Path(plots_dir), Path(report_path).parent)).as_posix()
            write_report(report, report_path, figs, plots_rel=rel)


def fit_sweep(sweep_dir: str | Path, laws: Sequence[str] | None = None, out_dir: str | Path | None = None, *,
              bootstrap: int = DEFAULT_BOOTSTRAP, holdout: int = 0, param_convention: str = "total", flops_convention: str = "6ND",
              at_flops: Sequence[float] = (), predict: Sequence[PredictSpec | str] = (),
              inference_tokens: float | None = None, seed: int = 0, plots: bool = True,
              by_data: bool = False, tuning: str | Path | None = None,
              undertuned_weight: float | None = None) -> FitReport:
    """Fit a sweep's completed runs; write fit.json, report.md and plots/ under out_dir (default the sweep dir).

    This is the entry point for the end-of-sweep callback: ``fit_sweep(sweep_dir).headline()``.
    ``tuning`` (a tuning sweep folder or its tuning.json, harness-tune): the report flags the runs
    that trained off their tuned learning rate (``report.tuning``), as ``harness-fit --tuning`` does;
    ``undertuned_weight`` gives them that weight, as ``--downweight-undertuned``.
    """
    json_path, plots_dir, report_path = output_paths(out_dir if out_dir is not None else sweep_dir)
    plots_dir = plots_dir if plots else None
    check_outputs(json_path, plots_dir, report_path)
    points = load_sweep(sweep_dir, param_convention=param_convention, flops_convention=flops_convention)
    entry = None
    if tuning is not None or undertuned_weight is not None:
        check_weight(undertuned_weight, tuning, "sweep.fit_undertuned_weight")
        points, entry, _ = apply_tuning(str(tuning), [str(sweep_dir)], points, weight=undertuned_weight)
    report = fit_points(points, laws, bootstrap=bootstrap, holdout=holdout, at_flops=at_flops,
                        predict=predict, inference_tokens=inference_tokens, seed=seed, by_data=by_data)
    report.tuning = entry
    write_outputs(report, json_path=json_path, plots_dir=plots_dir, report_path=report_path)
    return report
