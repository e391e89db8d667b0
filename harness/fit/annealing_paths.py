"""What a fitted annealing law (harness/fit/laws/annealing.py) is for: predicting the final loss
of other runs (``predict_runs``: another sweep's completed runs of the fitted shapes), and IsoFLOP
profiles built from predicted final losses at any budget, fitted by the ordinary laws
(``fit_predicted_profiles``). Plus the law's report lines and figures.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from harness.errors import FitInputError
from harness.fit.api import fit_points
from harness.fit.loaders import load_sweep
from harness.fit.lrcurves import warmup_steps
from harness.fit.plots import plt, save
from harness.fit.points import Points

PREDICTED_LABEL = "predicted final losses (annealing law)"


def predict_runs(fitter: Any, other_dir: str | Path, param_convention: str = "total",
                 flops_convention: str = "6ND") -> dict[str, Any]:
    """Predicted against measured final val_loss for every completed run of ``other_dir`` whose
    shape was fitted; runs of another data set are an error naming the fingerprints."""

    other = load_sweep(other_dir, param_convention=param_convention, flops_convention=flops_convention)
    fitted_keys = {rc.data_key for sf in fitter.shapes_.values() for rc in fitter_runs(fitter, sf)}
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


def fitter_runs(fitter: Any, sf: Any) -> list[Any]:
    return [rc for rc in fitter.run_curves_ if rc.shape_key == sf.key]


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def predicted_points(fitter: Any, budgets: Sequence[float], schedule: str = "cosine",
                     flops_convention: str = "6ND", param_convention: str = "total") -> tuple[Any, list[dict[str, Any]]]:
    """Points (N, D, C, predicted final loss) for every fitted shape at every budget: D = C / FLOPs per
    token, steps = D / the shape's tokens per step, the warmup of its runs' rule, the named schedule
    (its other settings from the shape's longest run) and that run's peak rate."""

    rows = []
    for sf in fitter.shapes_.values():
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
                             flops_convention=flops_convention, param_convention=param_convention, source=PREDICTED_LABEL)
    pts.notes.append(f"every loss is predicted by the annealing law for a {schedule} run, not measured")
    return pts, rows


def fit_predicted_profiles(report: Any, fitter: Any, budgets: Sequence[float], schedule: str, *,
                           bootstrap: int, seed: int) -> None:
    """Fit approach2 (and chinchilla when the points allow) on predicted IsoFLOP profiles; the
    results join ``report`` labelled as fitted on predicted points."""

    pts, rows = predicted_points(fitter, budgets, schedule, report.flops_convention, report.param_convention)
    laws = ["approach2"] + (["chinchilla"] if len(pts) >= 6 else [])
    try:
        sub = fit_points(pts, laws, bootstrap=bootstrap, seed=seed)
    except FitInputError as e:
        report.skipped[f"approach2@{PREDICTED_LABEL}"] = str(e)
        sub = None
    res = report.get("annealing")
    if res is not None:
        res.details["profiles"] = {"schedule": schedule, "budgets": list(map(float, budgets)), "points": rows}
    if sub is None:
        return
    for r in sub.results:
        r.dataset = PREDICTED_LABEL
        r.warnings.insert(0, "fitted on final losses PREDICTED by the annealing law, not on measured runs")
        report.results.append(r)
    for key, f in sub.fitters.items():
        report.fitters[f"{key}@{PREDICTED_LABEL}"] = f
    for law, why in sub.skipped.items():
        report.skipped[f"{law}@{PREDICTED_LABEL}"] = why


# -- report and figures -----------------------------------------------------------------------
def report_lines(r: Any) -> list[str]:
    out = ["", "Per shape (rates divided by the shape's peak rate eta_ref; delta: offset of the evaluations "
           "on the train.eval_sequences subset against the whole validation set):", "",
           "| shape | N | curves | points | eta_ref | lambda | delta | rmse |", "|---|---|---|---|---|---|---|---|"]
    for s in r.details.get("shapes", []):
        lam = r.params.get(f"lambda[{s['label']}]")
        out.append(f"| {s['label']} | {s['n']:.4g} | {len(s['runs'])} | {s['n_points']} | {s['eta_ref']:.3g} | "
                   f"{'–' if lam is None or not math.isfinite(lam) else f'{lam:g}'} | {s['delta']:+.4f} | {s['rmse']:.4f} |")
    pr = r.details.get("predict_runs")
    if pr:
        out += ["", f"Final val_loss of the runs of `{pr['source']}`, predicted from the curves: mean |error| "
                f"{100 * pr['mean_abs_rel_error']:.2f}%, max {100 * pr['max_abs_rel_error']:.2f}% "
                f"({len(pr['runs'])} runs).", "",
                "| run | shape | schedule | steps | measured | predicted | 95% band | error |", "|---|---|---|---|---|---|---|---|"]
        for row in pr["runs"]:
            band = f"{row['lo']:.4f} – {row['hi']:.4f}" if row.get("lo") is not None else "–"
            ext = " (longer than any fitted curve)" if row["extrapolated"] else ""
            out.append(f"| {row['run_id']} | {row['shape']} | {row['schedule']} | {row['steps']}{ext} | "
                       f"{row['measured']:.4f} | {row['predicted']:.4f} | {band} | {100 * row['rel_error']:+.2f}% |")
        if pr.get("not_fitted_shapes"):
            out += ["", f"Not predicted (shape not fitted): {', '.join(pr['not_fitted_shapes'])}."]
    prof = r.details.get("profiles")
    if prof:
        out += ["", f"IsoFLOP profiles from PREDICTED final losses ({prof['schedule']} runs matched to each length); "
                f"the sections labelled '{PREDICTED_LABEL}' are fitted on them:", "",
                "| budget C | shape | steps | D | predicted loss |", "|---|---|---|---|---|"]
        for p in prof["points"]:
            ext = " (extrapolated)" if p["extrapolated"] else ""
            out.append(f"| {p['budget']:.3g} | {p['shape']} | {p['steps']}{ext} | {p['d']:.4g} | {p['loss']:.4f} |")
    return out


def annealing_plots(fitter: Any, report: Any, out_dir: Any, tag: str = "") -> dict[str, str]:
    out = Path(out_dir)
    figs: dict[str, str] = {}
    res = report.get("annealing") if hasattr(report, "get") else None
    pr = res.details.get("predict_runs") if res is not None else None
    if pr and pr.get("runs"):
        p = plt()
        fig, ax = p.subplots(figsize=(5, 5))
        m = np.array([row["measured"] for row in pr["runs"]])
        q = np.array([row["predicted"] for row in pr["runs"]])
        ax.scatter(m, q, s=18)
        lo, hi = float(min(m.min(), q.min())), float(max(m.max(), q.max()))
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_xlabel("measured final val_loss")
        ax.set_ylabel("predicted by the annealing law")
        ax.set_title(f"mean |err| {100 * pr['mean_abs_rel_error']:.2f}%, max {100 * pr['max_abs_rel_error']:.2f}%")
        figs["annealing_prediction"] = save(fig, out, f"annealing_prediction{tag}")
    figs["annealing_curves"] = _curves_plot(fitter, out, tag)
    return figs


def _curves_plot(fitter: Any, out: Path, tag: str) -> str:
    """One panel per shape (at most six): each curve's evaluations after the warmup and the fitted
    law through them, on the steps the law was fitted on (the warmup's steep start would flatten
    every detail that matters, the cooldowns' drops)."""

    p = plt()
    shapes = sorted(fitter.shapes_.values(), key=lambda sf: sf.n)[:6]
    cols = min(3, len(shapes))
    rows = -(-len(shapes) // cols)
    fig, axes = p.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    for ax in axes.flat[len(shapes):]:
        ax.set_visible(False)
    for ax, sf in zip(axes.flat, shapes):
        runs = sorted(fitter_runs(fitter, sf), key=lambda r: r.steps)
        ys = []
        for i, rc in enumerate(runs):
            color = f"C{i % 10}"
            s1, s2 = fitter.areas(sf, rc.schedule, rc.steps, rc.warmup_steps, rc.peak_lr)
            keep = np.asarray(rc.eval_steps) > rc.warmup_steps
            if not keep.any():
                continue
            first = int(np.asarray(rc.eval_steps)[keep].min())
            at = np.arange(first, rc.steps + 1)
            ax.plot(at, sf.loss_at(s1[at], s2[at]), color=color, lw=1)
            shift = np.where(rc.eval_full, 0.0, sf.delta)  # subset evaluations drawn at the whole set's level
            y = (np.asarray(rc.eval_loss) - shift)[keep]
            ax.scatter(np.asarray(rc.eval_steps)[keep], y, color=color, s=9,
                       label=f"{rc.schedule_name}, {rc.steps} steps")
            ys.extend(y.tolist())
        if ys:
            lo, hi = min(ys), max(ys)
            ax.set_ylim(lo - 0.05 * (hi - lo + 1e-3), hi + 0.05 * (hi - lo + 1e-3))
        ax.set_title(f"{sf.label} (N = {sf.n:,.0f})", fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6)
    axes.flat[0].set_ylabel("val_loss (points), fitted law (lines)", fontsize=8)
    fig.tight_layout()
    return save(fig, out, f"annealing_curves{tag}")


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


def extend_report(report: Any, *, predict_dir: str | None, profiles: Sequence[float], schedule: str,
                  param_convention: str, flops_convention: str, bootstrap: int, seed: int) -> None:
    """The annealing law's predictions and predicted profiles, added to a fitted report."""
    key = next((k for k in report.fitters if k.split("@", 1)[0] == "annealing"), None)
    if key is None:
        if predict_dir or profiles:
            raise FitInputError("--predict-runs/--profiles: the annealing law was not fitted "
                                + (f"({report.skipped['annealing']})" if "annealing" in report.skipped else ""))
        return
    fitter = report.fitters[key]
    res = report.get("annealing")
    if predict_dir:
        res.details["predict_runs"] = predict_runs(fitter, predict_dir, param_convention, flops_convention)
    if profiles:
        fit_predicted_profiles(report, fitter, profiles, schedule, bootstrap=bootstrap, seed=seed)
