"""The report lines and figures of the curve laws (annealing, multipower): each law's per-shape
table, then what both share: held-out curves predicted point by point, another sweep's final
losses, predicted IsoFLOP profiles, and the two laws side by side when both were fitted."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from harness.fit.cooldown import cooldown_lines
from harness.fit.plots import plt, save


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def annealing_shape_lines(r: Any) -> list[str]:
    out = ["", "Per shape (rates divided by the shape's peak rate eta_ref; delta: offset of the evaluations "
           "on the train.eval_sequences subset against the whole validation set):", "",
           "| shape | N | curves | points | eta_ref | lambda | delta | rmse |", "|---|---|---|---|---|---|---|---|"]
    for s in r.details.get("shapes", []):
        lam = r.params.get(f"lambda[{s['label']}]")
        n = f"{s['n']:.4g}" if s["n"] is not None and math.isfinite(s["n"]) else "–"
        out.append(f"| {s['label']} | {n} | {len(s['runs'])} | {s['n_points']} | {s['eta_ref']:.3g} | "
                   f"{'–' if lam is None or not math.isfinite(lam) else f'{lam:g}'} | {s['delta']:+.4f} | {s['rmse']:.4f} |")
    return out


def multipower_shape_lines(r: Any, reference: dict[str, dict[str, float]], reference_source: str) -> list[str]:
    names = ("L0", "A", "alpha", "B", "C", "beta", "gamma")
    out = ["", "Per shape, in the curves' own learning-rate units (Huber loss on log loss, delta "
           f"{r.details.get('huber_delta', 1e-3):g}):", "",
           "| shape | N | curves | points | " + " | ".join(names) + " | rms error |",
           "|---|---|---|---|" + "---|" * len(names) + "---|"]
    for s in r.details.get("shapes", []):
        lab = s["label"]
        cells = []
        for k in names:
            v, ci = r.params.get(f"{k}[{lab}]"), r.ci.get(f"{k}[{lab}]")
            cell = f"{v:.4g}" if v is not None else "–"
            if ci and ci[0] is not None and ci[1] is not None:
                cell += f" [{ci[0]:.3g}, {ci[1]:.3g}]"
            cells.append(cell)
        n = f"{s['n']:.4g}" if s["n"] is not None and math.isfinite(s["n"]) else "–"
        out.append(f"| {lab} | {n} | {len(s['runs'])} | {s['n_points']} | " + " | ".join(cells)
                   + f" | {_pct(s['rmse_rel'])} |")
    out += ["", f"For scale, {reference_source} fitted at 25M–400M parameters (peak rate 3e-4):", "",
            "| model | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for model, p in reference.items():
        out.append(f"| {model} | " + " | ".join(f"{p[k]:.4g}" for k in names) + " |")
    return out


def shared_lines(r: Any) -> list[str]:
    out: list[str] = []
    rows = getattr(r, "curve_predictions", None)
    if rows:
        s = r.details.get("curve_prediction_summary", {})
        out += ["", f"Curves not fitted, predicted point by point after the warmup ({s['curves']} curves): PredE (mean "
                f"over curves of each curve's mean relative error) {_pct(s['pred_e'])}, WorstE (mean over curves of each "
                f"curve's worst point, Luo et al.'s definition) {_pct(s['worst_e'])}; the worst point of any curve "
                f"{_pct(s['worst_point'])}; mean |error| of the final losses {_pct(s['mean_abs_final_rel_error'])}.", "",
                "| curve | shape | steps | points | mean error | worst point | final loss error |", "|---|---|---|---|---|---|---|"]
        for row in rows:
            ext = " (longer than any fitted curve)" if row["extrapolated"] else ""
            out.append(f"| {row['curve']} | {row['shape']} | {row['steps']}{ext} | {row['points']} | "
                       f"{_pct(row['mean_rel_error'])} | {_pct(row['max_rel_error'])} | {100 * row['final_rel_error']:+.2f}% |")
    pr = r.details.get("predict_runs")
    if pr:
        out += ["", f"Final val_loss of the runs of `{pr['source']}`, predicted from the curves: mean |error| "
                f"{_pct(pr['mean_abs_rel_error'])}, max {_pct(pr['max_abs_rel_error'])} ({len(pr['runs'])} runs).", "",
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
                f"the sections labelled 'predicted final losses ({r.law} law)' are fitted on them:", "",
                "| budget C | shape | steps | D | predicted loss |", "|---|---|---|---|---|"]
        for p in prof["points"]:
            ext = " (extrapolated)" if p["extrapolated"] else ""
            out.append(f"| {p['budget']:.3g} | {p['shape']} | {p['steps']}{ext} | {p['d']:.4g} | {p['loss']:.4f} |")
    cd = r.details.get("cooldown")
    if cd:
        out += cooldown_lines(cd)
    return out


def side_by_side(results: Sequence[Any]) -> list[str]:
    """The curve laws' held-out predictions in one table, when two or more predicted the same curves."""
    withp = [r for r in results if getattr(r, "curve_predictions", None) and r.dataset is None]
    if len(withp) < 2:
        return []
    names = [r.law for r in withp]
    lines = ["## Curve laws side by side", "",
             "Each held-out curve's mean relative error (worst point in brackets) under each law:", "",
             "| curve | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    by = [{row["curve"] + "@" + row["shape"]: row for row in r.curve_predictions} for r in withp]
    for key in by[0]:
        cells = [f"{_pct(b[key]['mean_rel_error'])} ({_pct(b[key]['max_rel_error'])})" if key in b else "–" for b in by]
        lines.append(f"| {key.split('@')[0]} ({key.split('@')[1]}) | " + " | ".join(cells) + " |")
    sums = [r.details.get("curve_prediction_summary", {}) for r in withp]
    lines.append("| **PredE (WorstE)**, means over the curves | "
                 + " | ".join(f"**{_pct(s['pred_e'])} ({_pct(s['worst_e'])})**" for s in sums) + " |")
    return lines + [""]


# -- figures ------------------------------------------------------------------------------------
def curve_plots(fitter: Any, report: Any, out_dir: Any, tag: str = "") -> dict[str, str]:
    out = Path(out_dir)
    figs: dict[str, str] = {}
    name = fitter.name
    res = report.get(name) if hasattr(report, "get") else None
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
        ax.set_ylabel(f"predicted by the {name} law")
        ax.set_title(f"mean |err| {_pct(pr['mean_abs_rel_error'])}, max {_pct(pr['max_abs_rel_error'])}")
        figs[f"{name}_prediction"] = save(fig, out, f"{name}_prediction{tag}")
    figs[f"{name}_curves"] = _fitted_curves(fitter, out, tag)
    arrays = getattr(fitter, "curve_arrays_", None)
    if arrays:
        figs[f"{name}_held_out"] = _held_out(fitter, arrays, out, tag)
    return figs


def _panels(k: int) -> tuple[Any, Any, Any]:
    p = plt()
    cols = min(3, k)
    rows = -(-k // cols)
    fig, axes = p.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    for ax in axes.flat[k:]:
        ax.set_visible(False)
    return p, fig, axes


def _fitted_curves(fitter: Any, out: Path, tag: str) -> str:
    """One panel per shape (at most six): each fitted curve's evaluations after the warmup and the
    law through them (the warmup's steep start would flatten what matters, the cooldowns' drops)."""
    shapes = sorted(fitter.shapes_.values(), key=lambda sf: (sf.n if math.isfinite(sf.n) else 0, sf.label))[:6]
    _, fig, axes = _panels(len(shapes))
    for ax, sf in zip(axes.flat, shapes):
        runs = sorted((rc for rc in fitter.run_curves_ if rc.shape_key == sf.key), key=lambda r: r.steps)
        ys = []
        for i, rc in enumerate(runs):
            color = f"C{i % 10}"
            keep = (np.asarray(rc.eval_steps) > rc.warmup_steps) & rc.eval_full
            if not keep.any():
                continue
            first = int(np.asarray(rc.eval_steps)[keep].min())
            at = np.unique(np.linspace(first, rc.steps, 300).astype(int))
            ax.plot(at, fitter.predict_rates(sf.key, rc.eta(), at), color=color, lw=1)
            y = np.asarray(rc.eval_loss)[keep]
            ax.scatter(np.asarray(rc.eval_steps)[keep], y, color=color, s=9, label=f"{rc.label[:28]}")
            ys.extend(y.tolist())
        _frame(ax, ys, f"{sf.label}" + (f" (N = {sf.n:,.0f})" if math.isfinite(sf.n) else ""))
    axes.flat[0].set_ylabel("loss (points), fitted law (lines)", fontsize=8)
    fig.tight_layout()
    return save(fig, out, f"{fitter.name}_curves{tag}")


def _held_out(fitter: Any, arrays: dict[str, Any], out: Path, tag: str) -> str:
    """Held-out curves, measured (points) against predicted (lines), one panel per shape."""
    shapes = sorted({a["shape"] for a in arrays.values()})[:6]
    _, fig, axes = _panels(len(shapes))
    for ax, shape in zip(axes.flat, shapes):
        ys = []
        for i, a in enumerate(v for v in arrays.values() if v["shape"] == shape):
            color = f"C{i % 10}"
            ax.plot(a["at"], a["predicted"], color=color, lw=1)
            ax.scatter(a["at"], a["measured"], color=color, s=6, label=a["label"][:28])
            ys.extend(np.asarray(a["measured"]).tolist())
        _frame(ax, ys, f"{shape}: held-out curves")
    axes.flat[0].set_ylabel(f"measured (points), predicted by {fitter.name} (lines)", fontsize=8)
    fig.tight_layout()
    return save(fig, out, f"{fitter.name}_held_out{tag}")


def _frame(ax: Any, ys: list[float], title: str) -> None:
    if ys:
        lo, hi = min(ys), max(ys)
        ax.set_ylim(lo - 0.05 * (hi - lo + 1e-3), hi + 0.05 * (hi - lo + 1e-3))
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("step", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=6)
