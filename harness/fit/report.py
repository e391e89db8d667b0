"""The markdown report of a ``FitReport``: a header that says which FLOP convention every C is in,
the stdout headline, then one section per fitted law, each rendered by the law itself
(``Law.report_section``, which defaults to ``law_section`` below).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.files import atomic_write_text
from harness.fit.law import get_law
from harness.fit.section import fmt, inside
from harness.tune.fitlink import report_section


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
    if getattr(report, "tuning", None):
        lines += report_section(report.tuning)
    for r in report.results:
        lines.append(get_law(r.law).report_section(r, figs))
    if report.skipped:
        lines += ["## Skipped", ""] + [f"- {law}: {why}" for law, why in report.skipped.items()] + [""]
    if figs:
        lines += ["## Figures", ""] + [f"![{name}]({plots_rel}/{png})" for name, png in figs.items()] + [""]
    lines += ["Anchors: Kaplan et al. 2020; Hoffmann et al. 2022; Besiroglu et al. 2024 (Epoch AI); "
              "Muennighoff et al. 2023; Gadre et al. 2024.", ""]
    return "\n".join(lines)


def write_report(report: Any, path: str | Path, figs: dict[str, str] | None = None, plots_rel: str = "plots") -> Path:
    return atomic_write_text(path, render_markdown(report, figs, plots_rel))
