"""The markdown report of a ``FitReport``: a header that says which FLOP convention every C is in,
the stdout headline, then one section per fitted law, each rendered by the law itself
(``Law.report_section``, which defaults to ``law_section`` below).

When a law was also fitted with E pinned at the known floor (``fit_points``), a section sets the two
fits side by side: their parameters, their residuals, and the IsoFLOP budgets and shapes where either
misses the runs by more than the seed noise (``SEED_NOISE``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

import numpy as np

from harness.files import atomic_write_text
from harness.fit.curve_report import side_by_side
from harness.fit.law import get_law
from harness.fit.points import Points
from harness.fit.powerlaw import cluster_log
from harness.fit.results import LawResult
from harness.fit.section import fmt, inside
from harness.fit.vertex import SEED_NOISE
from harness.tune.fitlink import report_section

# A law whose mean residual over a budget's or a shape's runs exceeds SEED_NOISE misses them by more
# than retraining them would move them. Runs whose C agree within 5% are one IsoFLOP budget.
BUDGET_RTOL = 0.05
# Runs of one shape have the same N; distinct shapes of (almost) equal N are kept apart.
SHAPE_RTOL = 1e-6
# The parameters set side by side, in this order.
SIDE_BY_SIDE = ("alpha", "beta", "a", "b", "E")


def residual_summary(points: Points, predicted: np.ndarray) -> dict[str, Any]:
    """How a law's predictions miss the points: the RMS of log residuals, the largest relative
    residual, and the mean and largest relative residual of each IsoFLOP budget and each shape.
    Relative residual: (predicted - measured) / measured; every run counts once (weights aside)."""
    rel = predicted / points.loss - 1.0
    log_r = np.log(predicted / points.loss)
    return {"rms_log": float(np.sqrt(np.mean(log_r ** 2))), "max_abs_rel": float(np.max(np.abs(rel))),
            "by_budget": _groups(points.c, rel, BUDGET_RTOL, lambda c: f"C {c:.3g}"),
            "by_shape": _groups(points.n, rel, SHAPE_RTOL, lambda n: f"N {n:.3g}")}


def _groups(x: np.ndarray, rel: np.ndarray, rtol: float, name: Callable[[float], str]) -> list[dict[str, Any]]:
    labels = cluster_log(x, rtol)  # numbered in increasing x
    out = []
    for k in range(int(labels.max()) + 1):
        sel = labels == k
        out.append({"group": name(math.exp(float(np.mean(np.log(x[sel]))))), "n_points": int(sel.sum()),
                    "mean_rel": float(np.mean(rel[sel])), "max_abs_rel": float(np.max(np.abs(rel[sel])))})
    return out


def _pct(v: float) -> str:
    return f"{round(100 * v, 2) + 0.0:+.2f}%"  # + 0.0: a residual rounding to -0.00 reads +0.00


def _with_ci(r: LawResult, k: str) -> str:
    if k not in r.params:
        return "–"
    if k in r.details.get("pinned", {}):
        return f"{fmt(r.params[k])} (pinned)"
    ci = r.ci.get(k)
    return fmt(r.params[k]) + (f" ({fmt(ci[0])} – {fmt(ci[1])})" if ci and ci[0] is not None else "")


def floor_comparison(free: LawResult, pinned: LawResult) -> list[str]:
    """E free beside E pinned at the floor: parameters, residuals, and where either misses beyond the seed noise."""
    e_pin = pinned.details["pinned"]["E"]
    rf, rp = free.details["residuals"], pinned.details["residuals"]
    lines = [f"## {free.law}: E free against E pinned at the Bayes loss"
             + (f" — data set {free.dataset}" if free.dataset else ""), "",
             f"The same law fitted to the same points twice: every parameter free, and E pinned at the exact "
             f"Bayes loss {e_pin:.4f} (the other parameters refitted). Intervals: 95% bootstrap.", "",
             "| | E free | E pinned |", "|---|---|---|"]
    lines += [f"| {k} | {_with_ci(free, k)} | {_with_ci(pinned, k)} |" for k in SIDE_BY_SIDE]
    lines += [f"| RMS of log residuals | {rf['rms_log']:.3g} | {rp['rms_log']:.3g} |",
              f"| largest relative residual | {100 * rf['max_abs_rel']:.2f}% | {100 * rp['max_abs_rel']:.2f}% |", "",
              f"Mean relative residual (predicted − measured) / measured of each IsoFLOP budget (C within "
              f"{BUDGET_RTOL:.0%}) and each shape (N) of two runs or more, the largest single run's in brackets. "
              f"**Bold**: beyond the seed noise, a mean miss over {SEED_NOISE:.1%}, the documented seed-to-seed "
              "spread of one run's final loss.", ""]
    pairs = [(gf, gp) for key in ("by_budget", "by_shape") for gf, gp in zip(rf[key], rp[key]) if gf["n_points"] > 1]
    if not pairs:
        return lines + ["No budget or shape holds two runs or more.", ""]
    lines += ["| group | runs | E free | E pinned |", "|---|---|---|---|"]
    misses: dict[str, list[str]] = {"E free": [], "E pinned": []}
    for gf, gp in pairs:
        cells = []
        for fit, g in (("E free", gf), ("E pinned", gp)):
            cell = f"{_pct(g['mean_rel'])} ({100 * g['max_abs_rel']:.2f}%)"
            if abs(g["mean_rel"]) > SEED_NOISE:
                cell = f"**{cell}**"
                misses[fit].append(f"{g['group']} ({_pct(g['mean_rel'])})")
            cells.append(cell)
        lines.append(f"| {gf['group']} | {gf['n_points']} | {cells[0]} | {cells[1]} |")
    lines += ["", "Beyond the seed noise: " + "; ".join(f"{fit}: {', '.join(m) if m else 'nowhere'}"
                                                       for fit, m in misses.items()) + ".", ""]
    return lines


def floor_comparisons(report: Any) -> list[str]:
    """A side-by-side section for every fit pinned at the floor whose E-free fit is in the report."""
    lines = []
    for pinned in report.results:
        ref = pinned.details.get("compared_with")
        if not ref or "residuals" not in pinned.details:
            continue
        free = next((r for r in report.results if r is not pinned and r.law == ref["law"]
                     and r.dataset == ref["dataset"] and "residuals" in r.details), None)
        if free is not None:
            lines += floor_comparison(free, pinned)
    return lines


def render_markdown(report: Any, figs: dict[str, str] | None = None, plots_rel: str = "plots") -> str:
    figs = figs or {}
    conv = report.flops_convention
    lines = ["# Scaling-law fit", "",
             f"- Source: `{report.source}`",
             f"- Points: {report.n_points} (N = {report.param_convention}, C = {conv})",
             f"- FLOP convention: every C in this report (points, budgets, allocations, predictions, "
             f"holdout) counts training FLOPs as **{conv}**"]
    lines += [f"- Note: {n}" for n in report.notes]
    lines += ["", "## Headline", "", "```", report.headline(), "```", ""]
    if report.floor is not None:
        lines += ["## Fitted E against the exact irreducible loss", "",
                  f"This validation set's Bayes loss is known exactly: {report.floor:.4f} nats/token. A fitted E "
                  "is the law's own extrapolation to infinite N and D, so it should land on it.", "",
                  "| law | fitted E | 95% CI | E − Bayes loss | Bayes loss inside CI |", "|---|---|---|---|---|"]
        for law, e, ci in report.e_vs_floor():
            held = inside(ci, report.floor) or "–"
            ci_s = f"{fmt(ci[0])} – {fmt(ci[1])}" if ci and ci[0] is not None else "–"
            lines.append(f"| {law} | {fmt(e)} | {ci_s} | {e - report.floor:+.4f} | {held} |")
        lines.append("")
    lines += floor_comparisons(report)
    if getattr(report, "tuning", None):
        lines += report_section(report.tuning)
    for r in report.results:
        lines.append(get_law(r.law).report_section(r, figs))
    lines += side_by_side(report.results)
    if report.skipped:
        lines += ["## Skipped", ""] + [f"- {law}: {why}" for law, why in report.skipped.items()] + [""]
    if figs:
        lines += ["## Figures", ""] + [f"![{name}]({plots_rel}/{png})" for name, png in figs.items()] + [""]
    lines += ["Anchors: Kaplan et al. 2020; Hoffmann et al. 2022; Besiroglu et al. 2024 (Epoch AI); "
              "Muennighoff et al. 2023; Gadre et al. 2024.", ""]
    return "\n".join(lines)


def write_report(report: Any, path: str | Path, figs: dict[str, str] | None = None, plots_rel: str = "plots") -> Path:
    return atomic_write_text(path, render_markdown(report, figs, plots_rel))
