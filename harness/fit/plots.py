"""Figures (PNG and SVG) of a ``FitReport``: the ones every fit shares (loss against compute, the
compute-optimal allocation, measured against predicted), drawn for whichever laws can draw them
(``can_predict``, ``can_allocate``), plus each law's own (``Law.plots``).

matplotlib (Agg, no display) is imported only when someone asks for figures. Each file is written
to a temporary name beside it and renamed, so a reader never sees half a figure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from harness.files import atomic_write
from harness.fit.anchors import EPOCH, HOFFMANN, KAPLAN

# Kaplan et al. 2020, section 6.1: N_opt = 1.3e9 (C / PF-day)^0.73, one PF-day = 8.64e19 FLOP.
KAPLAN_N_COEF, PF_DAY = 1.3e9, 8.64e19


def plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot
    return pyplot


def save(fig: Any, out: Path, name: str) -> str:
    for ext in ("png", "svg"):
        atomic_write(out / f"{name}.{ext}", lambda tmp, ext=ext: fig.savefig(tmp, format=ext, dpi=130, bbox_inches="tight"))
    plt().close(fig)
    return f"{name}.png"


def write_plots(report: Any, plots_dir: str | Path) -> dict[str, str]:
    """Write the figures the fit supports; returns {figure: png file name}."""
    out = Path(plots_dir)
    out.mkdir(parents=True, exist_ok=True)
    pts = report.points
    figs: dict[str, str] = {}
    if pts is None:
        return figs
    conv = report.flops_convention
    # Curves read from files have no N and C: only the curve laws' own figures apply.
    if np.all(np.isfinite(pts.c)):
        c_grid = np.geomspace(pts.c.min() / 2, float(pts.c.max()) * 100, 200)
        figs["loss_vs_compute"] = _loss_vs_compute(report, out, c_grid)
        alloc = [(k, f) for k, f in report.fitters.items() if f.can_allocate]
        if alloc:
            figs["allocation"] = _allocation(alloc, out, c_grid, float(pts.c.max()), conv)
        pred = [(k, f) for k, f in report.fitters.items() if f.can_predict or f.pools_datasets]
        if pred:
            residuals = _residuals(pred, report, out, conv)
            if residuals is not None:
                figs["residuals"] = residuals
    for key, f in report.fitters.items():
        # One data set's figures are named after it when each is fitted on its own (--by-data).
        tag = "" if "@" not in key else "_" + "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in key.split("@", 1)[1])
        figs.update(f.plots(report, out, tag))
    return figs


def _loss_vs_compute(report: Any, out: Path, c_grid: np.ndarray) -> str:
    pyplot = plt()
    pts = report.points
    c_max = float(pts.c.max())
    fig, ax = pyplot.subplots(figsize=(7, 4.5))
    sc = ax.scatter(pts.c, pts.loss, c=np.log10(pts.n), cmap="viridis", s=14, label="runs")
    fig.colorbar(sc, ax=ax, label="log10 N")
    order = np.argsort(pts.c)
    front_c, front_l, best = [], [], np.inf
    for i in order:
        if pts.loss[i] < best:
            best = pts.loss[i]; front_c.append(pts.c[i]); front_l.append(pts.loss[i])
    ax.step(front_c, front_l, where="post", color="k", lw=1, label="measured frontier")
    curves = [(k, f) for k, f in report.fitters.items() if f.can_predict and f.can_allocate]
    for j, (key, f) in enumerate(curves):
        col = f"C{3 + j}"
        ax.plot(c_grid, f.optimal_loss(c_grid), color=col, label=f"{key}: L at N_opt(C)")
        lo, hi = f.predict_interval(f.n_opt(c_grid), f.d_opt(c_grid))
        if np.all(np.isfinite(lo)):
            ax.fill_between(c_grid, lo, hi, color=col, alpha=0.2, label=f"{key}: 95% bootstrap band")
    if curves:
        ax.axvline(c_max, color="grey", ls=":", lw=1)
        ax.text(c_max, ax.get_ylim()[1], " extrapolation →", va="top", fontsize=8, color="grey")
    if report.floor is not None:
        ax.axhline(report.floor, color="C2", ls="--", lw=1, label=f"exact Bayes loss {report.floor:.3f}")
    ax.set_xscale("log"); ax.set_yscale("log")
    ax.set_xlabel(f"training compute C ({pts.flops_convention}, FLOP)"); ax.set_ylabel("loss")
    ax.set_title("Loss vs compute"); ax.legend(fontsize=8)
    return save(fig, out, "loss_vs_compute")


def _allocation(alloc: list[tuple[str, Any]], out: Path, c_grid: np.ndarray, c_max: float, conv: str) -> str:
    pyplot = plt()
    fig, axes = pyplot.subplots(1, 2, figsize=(11, 4.2))
    for key, f in alloc:
        axes[0].plot(c_grid, f.n_opt(c_grid), label=f"yours: {key}")
        axes[1].plot(c_grid, f.d_opt(c_grid), label=f"yours: {key}")
    # The published lines are in 6ND; under another convention they are drawn all the same, labelled so.
    tag = "" if conv == "6ND" else ", 6ND"
    axes[0].plot(c_grid, HOFFMANN.n_opt(c_grid), "k--", lw=1, label=f"Chinchilla (Hoffmann fit{tag})")
    axes[1].plot(c_grid, HOFFMANN.d_opt(c_grid), "k--", lw=1, label=f"Chinchilla (Hoffmann fit{tag})")
    axes[0].plot(c_grid, EPOCH.n_opt(c_grid), "k-.", lw=1, label=f"Epoch replication{tag}")
    axes[1].plot(c_grid, EPOCH.d_opt(c_grid), "k-.", lw=1, label=f"Epoch replication{tag}")
    kn = KAPLAN_N_COEF * (c_grid / PF_DAY) ** KAPLAN["a"]
    axes[0].plot(c_grid, kn, "k:", lw=1, label="Kaplan N ∝ C^0.73")
    axes[1].plot(c_grid, c_grid / (6 * kn), "k:", lw=1, label="Kaplan (D = C/6N)")
    for ax, what in zip(axes, ("N_opt (parameters)", "D_opt (tokens)")):
        ax.set_xscale("log"); ax.set_yscale("log"); ax.set_xlabel(f"compute C ({conv}, FLOP)"); ax.set_ylabel(what)
        ax.axvline(c_max, color="grey", ls=":", lw=1); ax.legend(fontsize=7)
    fig.suptitle("Compute-optimal allocation")
    return save(fig, out, "allocation")


def _residuals(pred: list[tuple[str, Any]], report: Any, out: Path, conv: str) -> str | None:
    """Measured against predicted loss for every law that predicts the measured points (None,
    and no figure, when none does: e.g. only laws fitted on the annealing law's predictions)."""
    pyplot = plt()
    fig, axes = pyplot.subplots(1, 2, figsize=(11, 4.2))
    all_pts = report.points
    drawn = 0
    for key, f in pred:
        r = report.get(*key.split("@", 1)) if "@" in key else report.get(key)
        if r is not None and r.dataset is not None and r.dataset not in all_pts.datasets():
            continue  # fitted on other points (the annealing law's predicted profiles): nothing measured to set it against
        pts = all_pts if r is None or r.dataset is None else all_pts.by_dataset()[r.dataset]
        p = f.predict_points(pts)
        drawn += 1
        axes[0].scatter(pts.loss, p, s=10, label=key)
        axes[1].scatter(pts.c, (p - pts.loss) / pts.loss * 100, s=10, label=key)
    if not drawn:
        pyplot.close(fig)
        return None
    lim = [all_pts.loss.min() * 0.98, all_pts.loss.max() * 1.02]
    axes[0].plot(lim, lim, "k--", lw=1); axes[0].set_xlabel("measured loss"); axes[0].set_ylabel("predicted loss")
    axes[1].axhline(0, color="k", lw=1); axes[1].set_xscale("log")
    axes[1].set_xlabel(f"compute C ({conv}, FLOP)"); axes[1].set_ylabel("residual (predicted - measured), %")
    for ax in axes:
        ax.legend(fontsize=8)
    fig.suptitle("Measured vs predicted")
    return save(fig, out, "residuals")


def isoflop_plot(fit: Any, out: Path, name: str = "isoflop") -> str:
    """Approach 2's IsoFLOP profiles with their fitted minima."""
    pyplot = plt()
    fig, ax = pyplot.subplots(figsize=(7, 4.5))
    cmap = pyplot.get_cmap("plasma")
    for k, prof in enumerate(fit.profiles_):
        col = cmap(k / max(len(fit.profiles_) - 1, 1))
        ax.scatter(prof.n, prof.loss, color=col, s=12)
        label = f"C={prof.c:.2g}" + ("" if prof.inside else " (vertex outside the sizes: not used)")
        ax.plot(prof.curve_n, prof.curve_loss, color=col, lw=1, label=label)
        # A vertex outside the sizes tried is an extrapolation the power laws leave out: drawn hollow.
        ax.scatter([prof.n_opt], [prof.loss_opt], marker="*", s=90, zorder=3,
                   color=col if prof.inside else "none", edgecolor="k" if prof.inside else col)
    ax.set_xscale("log"); ax.set_xlabel("parameters N"); ax.set_ylabel("loss")
    ax.set_title(f"IsoFLOP profiles, C in {fit.flops_convention_}, {fit.vertex} vertex finder\n"
                 "(stars: fitted minima; hollow: outside the sizes tried)", fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    return save(fig, Path(out), name)
