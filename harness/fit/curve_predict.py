"""What a fitted curve law (``Law.fits_curves``: annealing, multipower) is for: predicting curves it
was not fitted on (``--fit-curves``: every other curve is predicted, point by point), another
sweep's final losses (``--predict-runs``) and IsoFLOP profiles built from predicted final losses at
any budget (``--profiles``), fitted by the ordinary laws.
"""

from __future__ import annotations

import fnmatch
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from harness.errors import FitInputError
from harness.fit.api import fit_points
from harness.fit.cooldown import cooldowns
from harness.fit.law import get_law
from harness.fit.loaders import load_sweep
from harness.fit.lrcurves import RunCurve, warmup_steps
from harness.fit.points import Points


def predicted_label(law: str) -> str:
    """The data-set label of the laws fitted on a curve law's predicted final losses."""
    return f"predicted final losses ({law} law)"


def curve_fitters(report: Any) -> list[tuple[str, Any]]:
    """(law name, fitter) of every curve law fitted in ``report`` (not on predicted points)."""
    return [(k.split("@", 1)[0], f) for k, f in report.fitters.items()
            if get_law(k.split("@", 1)[0]).fits_curves and "@" not in k]


# -- which curves are fitted -------------------------------------------------------------------
def split_curves(points: Points, names: str) -> tuple[Points, list[RunCurve]]:
    """The points with only the curves named in ``names`` (comma-separated, shell patterns, matched
    against a curve's name or run id), and every other curve, to be predicted."""
    pats = [n.strip() for n in names.split(",") if n.strip()]
    if not pats:
        raise FitInputError(f"--fit-curves {names!r}: name at least one curve")
    curves = points.run_curves or []
    if not curves:
        raise FitInputError(f"--fit-curves: {points.source or 'the input'} holds no loss curves")

    def hit(rc: RunCurve, pat: str) -> bool:
        return fnmatch.fnmatchcase(rc.label, pat) or fnmatch.fnmatchcase(rc.run_id, pat)

    unmatched = [p for p in pats if not any(hit(rc, p) for rc in curves)]
    if unmatched:
        raise FitInputError(f"--fit-curves {', '.join(unmatched)}: no curve of {points.source} has that name (curves: "
                            f"{', '.join(sorted({rc.label for rc in curves})[:12])})")
    fit_ids = {rc.run_id for rc in curves if any(hit(rc, p) for p in pats)}
    idx = [i for i, lab in enumerate(points.labels) if lab.rsplit(":", 1)[-1] in fit_ids or lab in fit_ids]
    out = points.subset(idx)
    out.run_curves = [rc for rc in curves if rc.run_id in fit_ids]
    held = [rc for rc in curves if rc.run_id not in fit_ids]
    out.notes.append(f"fitted on {len(fit_ids)} curve(s) named by --fit-curves; the other {len(held)} are predicted")
    return out, held


def curve_predictions(fitter: Any, curves: Sequence[RunCurve]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Each held-out curve of a fitted shape predicted at every point the law would fit (after the
    warmup and the law's ``fit_from`` of the shape's longest fitted run, on the whole validation
    set): relative errors as fractions, their mean over the points (PredE), the worst point
    (WorstE) and the last point; plus the curves themselves for the plots."""
    fitted = {sf.key: sf for sf in fitter.shapes_.values()}
    rows, arrays = [], {}
    for rc in curves:
        sf = fitted.get(rc.shape_key)
        if sf is None:
            continue
        keep = (rc.eval_steps > max(rc.warmup_steps, fitter.fit_from * sf.max_steps)) & rc.eval_full
        if not keep.any():
            continue
        at, y = rc.eval_steps[keep], rc.eval_loss[keep]
        pred = fitter.predict_rates(sf.key, rc.eta(), at)
        rel = pred / y - 1.0
        rows.append({"curve": rc.label, "shape": sf.label, "points": int(len(at)), "steps": int(rc.steps),
                     "mean_rel_error": float(np.mean(np.abs(rel))), "max_rel_error": float(np.max(np.abs(rel))),
                     "final_rel_error": float(rel[-1]), "extrapolated": bool(rc.steps > sf.max_steps)})
        arrays[rc.run_id] = {"label": rc.label, "shape": sf.label, "at": at, "measured": y, "predicted": pred}
    return rows, arrays


def prediction_summary(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Over the predicted curves, as Luo et al. report them: PredE, the mean of each curve's mean
    relative error, and WorstE, the mean of each curve's worst point (their released evaluation
    averages the per-curve worst points; it reproduces their table exactly). Also the single worst
    point of any curve, and the mean |error| of the final losses."""
    if not rows:
        return {}
    return {"curves": len(rows), "pred_e": float(np.mean([r["mean_rel_error"] for r in rows])),
            "worst_e": float(np.mean([r["max_rel_error"] for r in rows])),
            "worst_point": float(max(r["max_rel_error"] for r in rows)),
            "mean_abs_final_rel_error": float(np.mean([abs(r["final_rel_error"]) for r in rows]))}


# -- another sweep's final losses ----------------------------------------------------------------
def predict_runs(fitter: Any, other_dir: str | Path, param_convention: str = "total",
                 flops_convention: str = "6ND") -> dict[str, Any]:
    """Predicted against measured final val_loss for every completed run of ``other_dir`` whose
    shape was fitted; runs of another data set are an error naming the fingerprints."""

    other = load_sweep(other_dir, param_convention=param_convention, flops_convention=flops_convention)
    fitted_keys = {rc.data_key for rc in fitter.run_curves_ if rc.shape_key in fitter.shapes_}
    foreign = sorted({k for k in (other.data_keys or []) if k not in fitted_keys})
    if foreign:
        raise FitInputError(f"--predict-runs {other_dir}: its runs are of another data set (data_fingerprint "
                            f"{', '.join(foreign)}) than the fitted runs ({', '.join(sorted(fitted_keys))})")
    if not other.run_curves:
        raise FitInputError(f"--predict-runs {other_dir}: no run there has a curve with its schedule")
    fitted = {sf.key: sf for sf in fitter.shapes_.values()}
    rows, unmatched = [], []
    for rc in other.run_curves:
        sf = fitted.get(rc.shape_key)
        if sf is None:
            unmatched.append(rc.run_id)
            continue
        pred = fitter.predict_final(sf.key, rc.schedule, rc.steps, rc.warmup_steps, rc.peak_lr)
        lo, hi = fitter.predict_final_interval(sf.key, rc.schedule, rc.steps, rc.warmup_steps, rc.peak_lr)
        rows.append({"run_id": rc.run_id, "shape": sf.label, "schedule": rc.schedule_name, "steps": rc.steps,
                     "measured": rc.final_loss, "predicted": pred, "lo": _finite(lo), "hi": _finite(hi),
                     "rel_error": pred / rc.final_loss - 1.0, "extrapolated": rc.steps > sf.max_steps})
    if not rows:
        raise FitInputError(f"--predict-runs {other_dir}: none of its runs has a fitted shape "
                            f"(fitted: {', '.join(sf.label for sf in fitted.values())})")
    err = np.abs([r["rel_error"] for r in rows])
    return {"source": str(other_dir), "runs": rows, "mean_abs_rel_error": float(err.mean()),
            "max_abs_rel_error": float(err.max()), "not_fitted_shapes": unmatched}


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


# -- IsoFLOP profiles of predicted final losses ------------------------------------------------------
def predicted_points(fitter: Any, budgets: Sequence[float], schedule: str = "cosine",
                     flops_convention: str = "6ND", param_convention: str = "total") -> tuple[Points, list[dict[str, Any]]]:
    """Points (N, D, C, predicted final loss) for every fitted shape at every budget: D = C / FLOPs per
    token, steps = D / the shape's tokens per step, the warmup of its runs' rule, the named schedule
    (its other settings from the shape's longest run) and that run's peak rate."""

    rows = []
    for sf in fitter.shapes_.values():
        if not (math.isfinite(sf.n) and math.isfinite(sf.flops_per_token) and math.isfinite(sf.tokens_per_step)):
            raise FitInputError(f"--profiles: shape {sf.label} has no model size or tokens per step (curves read "
                                "from files): IsoFLOP profiles need run records")
        for c in budgets:
            steps = int(round(c / sf.flops_per_token / sf.tokens_per_step))
            sched = {**sf.schedule, "name": schedule}
            warm = warmup_steps(sched, steps, sf.tokens_per_step)
            if steps < 2 or warm >= steps:
                continue  # a budget below a step or inside the warmup has no curve to speak of
            loss = fitter.predict_final(sf.key, sched, steps, warm, sf.peak_lr)
            tokens = steps * sf.tokens_per_step
            rows.append({"shape": sf.label, "n": sf.n, "budget": float(c), "steps": steps, "d": tokens,
                         "c": sf.flops_per_token * tokens, "loss": loss, "extrapolated": steps > sf.max_steps})
    if not rows:
        raise FitInputError("--profiles: no budget gives any fitted shape more steps than its warmup")
    bad = [r for r in rows if not (math.isfinite(r["loss"]) and r["loss"] > 0)]
    if bad:
        raise FitInputError(f"--profiles: the law predicts a non-positive loss for {bad[0]['shape']} at "
                            f"C={bad[0]['budget']:.3g}")
    pts = Points.from_arrays([r["n"] for r in rows], [r["d"] for r in rows], [r["loss"] for r in rows],
                             [r["c"] for r in rows], labels=[f"{r['shape']}@{r['budget']:.3g}" for r in rows],
                             flops_convention=flops_convention, param_convention=param_convention,
                             source=predicted_label(fitter.name))
    pts.notes.append(f"every loss is predicted by the {fitter.name} law for a {schedule} run, not measured")
    return pts, rows


def fit_predicted_profiles(report: Any, fitter: Any, budgets: Sequence[float], schedule: str, *,
                           bootstrap: int, seed: int) -> None:
    """Fit approach2 (and chinchilla when the points allow) on predicted IsoFLOP profiles; the
    results join ``report`` labelled as fitted on predicted points."""

    label = predicted_label(fitter.name)
    pts, rows = predicted_points(fitter, budgets, schedule, report.flops_convention, report.param_convention)
    laws = ["approach2"] + (["chinchilla"] if len(pts) >= 6 else [])
    try:
        sub = fit_points(pts, laws, bootstrap=bootstrap, seed=seed)
    except FitInputError as e:
        report.skipped[f"approach2@{label}"] = str(e)
        sub = None
    res = report.get(fitter.name)
    if res is not None:
        res.details["profiles"] = {"schedule": schedule, "budgets": list(map(float, budgets)), "points": rows}
    if sub is None:
        return
    for r in sub.results:
        r.dataset = label
        r.warnings.insert(0, f"fitted on final losses PREDICTED by the {fitter.name} law, not on measured runs")
        report.results.append(r)
    for key, f in sub.fitters.items():
        report.fitters[f"{key}@{label}"] = f
    for law, why in sub.skipped.items():
        report.skipped[f"{law}@{label}"] = why


# -- the CLI's entry points ---------------------------------------------------------------------
def keep_schedules(points: Any, names: str) -> Any:
    """Only the runs whose schedule is one of ``names`` (comma-separated), for every law fitted."""
    want = {n.strip() for n in names.split(",") if n.strip()}
    known = {"cosine", "wsd", "constant"}
    if not want or want - known:
        raise FitInputError(f"--fit-schedules {names!r}: schedules are {', '.join(sorted(known))}")
    if not points.run_curves:
        raise FitInputError(f"--fit-schedules: {points.source} holds no run curves with their schedules")
    ids = {rc.run_id for rc in points.run_curves if rc.schedule_name in want}
    idx = [i for i, lab in enumerate(points.labels) if lab.rsplit(":", 1)[-1] in ids]
    if not idx:
        found = sorted({rc.schedule_name for rc in points.run_curves})
        raise FitInputError(f"--fit-schedules {names}: no run of {points.source} has such a schedule "
                            f"(they have: {', '.join(found)})")
    out = points.subset(idx)
    out.notes.append(f"kept the {len(idx)} of {len(points)} runs whose schedule is {', '.join(sorted(want))}")
    return out


def extend_report(report: Any, *, held_out: Sequence[RunCurve] = (), predict_dir: str | None = None,
                  profiles: Sequence[float] = (), schedule: str = "cosine", param_convention: str = "total",
                  flops_convention: str = "6ND", bootstrap: int = 0, seed: int = 0,
                  cooldown_budgets: Sequence[float] = ()) -> None:
    """Every fitted curve law's predictions (held-out curves, another sweep's runs, predicted
    profiles), added to a fitted report."""
    fitters = curve_fitters(report)
    if not fitters:
        if predict_dir or profiles or held_out:
            why = "; ".join(f"{k}: {v}" for k, v in report.skipped.items() if get_law(k.split("@")[0]).fits_curves)
            raise FitInputError("--fit-curves/--predict-runs/--profiles: no curve law was fitted" + (f" ({why})" if why else ""))
        return
    for name, fitter in fitters:
        res = report.get(name)
        res.details["cooldown"] = cooldowns(fitter, cooldown_budgets)
        if held_out:
            rows, arrays = curve_predictions(fitter, held_out)
            res.curve_predictions = rows
            res.details["curve_prediction_summary"] = prediction_summary(rows)
            fitter.curve_arrays_ = arrays
        if predict_dir:
            res.details["predict_runs"] = predict_runs(fitter, predict_dir, param_convention, flops_convention)
        if profiles:
            fit_predicted_profiles(report, fitter, profiles, schedule, bootstrap=bootstrap, seed=seed)
