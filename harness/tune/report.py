"""The tuning step's markdown report and its two figures."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from harness.tune.analysis import N_REF, TuningResult, extension


def _ci(ci: list[float | None]) -> str:
    return f"[{'–' if ci[0] is None else f'{ci[0]:.3g}'}, {'–' if ci[1] is None else f'{ci[1]:.3g}'}]"


def render(result: TuningResult, figs: dict[str, str], preset_lines: list[str]) -> str:
    ref = result.reference
    lines = [f"# Learning-rate tuning: {result.source}", "",
             "Per shape, the final validation loss against the peak learning rate; a parabola in ln(lr) "
             "through the grid points nearest the minimum (Porian et al. 2024) gives the optimum lr* and, "
             f"by a parametric bootstrap (loss noise at least {result.noise:g} nats), its 95% interval. "
             "N is the non-embedding parameter count, as the per-size rule counts it.", ""]
    if ref:
        lines += [f"Reference rule (the grid's centre): lr = {ref['lr_ref']:.3g} · (N/1e5)^{ref['lr_exp']:.3g} "
                  f"({ref.get('preset', '')}).", ""]
    lines += ["| shape | N | tokens | batch | β2 | lr* | 95% CI | loss at lr* | curvature (nats/(ln lr)²) | "
              "rule's lr | rule's penalty | edge |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in result.shapes:
        pen = f"{s.rule_penalty:+.4f}" if s.rule_penalty is not None else "–"
        lines.append(f"| {s.key} | {s.n:.3g} | {s.tokens:.3g} | {s.batch_size} | {s.beta2:g} | {s.lr_opt:.3g} | "
                     f"{_ci(s.lr_ci)} | {s.loss_opt:.4f} | {'–' if s.curvature is None else f'{s.curvature:.4f}'} | "
                     f"{'–' if s.rule_lr is None else f'{s.rule_lr:.3g}'} | {pen} | {s.edge or '–'} |")
    lines.append("")
    for s in result.shapes:
        if s.edge:
            ext = ", ".join(f"{x:.3g}" for x in extension(s))
            lines.append(f"- **{s.key}: the best rate is the grid's {s.edge} end**, so its optimum lies beyond "
                         f"it; extend with lr {ext} (`harness-tune <dir> --extend` prints the commands).")
        for n in s.notes:
            lines.append(f"- {s.key}: {n}")
    lines += [f"- {n}" for n in result.notes]
    lines.append("")
    law = result.law
    if law:
        lines += ["## lr*(N) across shapes", "",
                  f"lr*(N) = {law.c:.3g} · (N/1e5)^{law.e:.3g}, fitted on {len(law.shapes)} shapes "
                  f"(N {law.n_range[0]:.3g} – {law.n_range[1]:.3g}).", "",
                  "| | fitted | 95% CI | reference rule | reference inside CI |", "|---|---|---|---|---|"]
        if ref:
            inside_e = "yes" if law.e_ci[0] <= ref["lr_exp"] <= law.e_ci[1] else "no"
            inside_c = "yes" if law.c_ci[0] <= ref["lr_ref"] <= law.c_ci[1] else "no"
        lines += [f"| exponent e | {law.e:.3g} | [{law.e_ci[0]:.3g}, {law.e_ci[1]:.3g}] | "
                  f"{ref.get('lr_exp', float('nan')):.3g} (Porian et al.'s, as porian.yaml takes it) | "
                  f"{inside_e if ref else '–'} |",
                  f"| c = lr*(1e5) | {law.c:.3g} | [{law.c_ci[0]:.3g}, {law.c_ci[1]:.3g}] | "
                  f"{ref.get('lr_ref', float('nan')):.3g} | {inside_c if ref else '–'} |", "",
                  "The exponent's interval is the wider of the bootstrap through the shapes' redrawn optima and the "
                  "regression's own t interval.", ""]
    lines += preset_lines
    if figs:
        lines += ["## Figures", ""] + [f"![{k}](plots/{v})" for k, v in figs.items()] + [""]
    return "\n".join(lines)


def plots(result: TuningResult, plots_dir: Path) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots_dir.mkdir(parents=True, exist_ok=True)
    figs = {}
    fig, ax = plt.subplots(figsize=(7, 4.5))
    cmap = plt.get_cmap("viridis")
    for i, s in enumerate(result.shapes):
        col = cmap(i / max(1, len(result.shapes) - 1))
        ok = [p for p in s.points if p.loss is not None]
        ax.plot([p.lr for p in ok], [p.loss for p in ok], "o", color=col, label=f"{s.key} (N {s.n:.3g})")
        if s.curvature is not None and s.edge is None:
            xs = np.linspace(math.log(ok[0].lr), math.log(ok[-1].lr), 60)
            ax.plot(np.exp(xs), s.loss_opt + s.curvature * (xs - math.log(s.lr_opt)) ** 2, "-", color=col, lw=1)
            ax.plot([s.lr_opt], [s.loss_opt], "*", color=col, ms=12)
    figs["loss vs lr"] = _finish(fig, ax, plots_dir / "loss_vs_lr.png", "peak learning rate",
                                 "final validation loss (nats/token)",
                                 "loss vs lr per shape, with the fitted parabolas (★ lr*)", legend_size=7)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for s in result.shapes:
        lo, hi = s.lr_ci
        yerr = [[s.lr_opt - (lo if lo is not None else s.lr_opt)], [(hi if hi is not None else s.lr_opt) - s.lr_opt]]
        ax.errorbar([s.n], [s.lr_opt], yerr=yerr, fmt="o" if s.edge is None else "^", color="C0" if s.edge is None else "C3",
                    capsize=3)
    ns = np.geomspace(min(s.n for s in result.shapes) / 1.5, max(s.n for s in result.shapes) * 1.5, 50)
    if result.law:
        ax.plot(ns, result.law.lr(ns), "-", color="C0", label=f"fit: {result.law.c:.3g}·(N/1e5)^{result.law.e:.3g}")
    ref = result.reference
    if ref:
        ax.plot(ns, ref["lr_ref"] * (ns / N_REF) ** ref["lr_exp"], "--", color="gray",
                label=f"reference rule: {ref['lr_ref']:.3g}·(N/1e5)^{ref['lr_exp']:.3g}")
    ax.set_yscale("log")
    figs["lr* vs N"] = _finish(fig, ax, plots_dir / "lr_vs_n.png", "N (non-embedding parameters)", "lr*",
                               "tuned learning rate against size (▲ optimum at the grid's edge)", legend_size=8)
    return figs


def _finish(fig, ax, path: Path, xlabel: str, ylabel: str, title: str, legend_size: int) -> str:
    """Label a plot whose x axis is logarithmic, then save it (``_save``)."""
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=legend_size)
    return _save(fig, path)


def _save(fig, path: Path) -> str:
    """Write a figure as PNG and close it; returns its file name (for the report's links)."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path.name
