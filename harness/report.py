"""Plots (PNG and SVG) and a markdown report from a ``FitReport``.

Kept apart from the fitting so that a fit can be rendered again, and so that matplotlib (Agg, no
display) is only imported when someone asks for figures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from harness.fit.anchors import EPOCH, HOFFMANN, KAPLAN

# Kaplan et al. 2020, section 6.1: N_opt = 1.3e9 (C / PF-day)^0.73, one PF-day = 8.64e19 FLOP.
KAPLAN_N_COEF, PF_DAY = 1.3e9, 8.64e19


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig: Any, out: Path, name: str) -> str:
    for ext in ("png", "svg"):
        fig.savefig(out / f"{name}.{ext}", dpi=130, bbox_inches="tight")
    _plt().close(fig)
    return f"{name}.png"


def write_plots(report: Any, plots_dir: str | Path) -> dict[str, str]:
    """Write the figures the fit supports; returns {figure: png file name}."""
    out = Path(plots_dir)
    out.mkdir(parents=True, exist_ok=True)
    plt = _plt()
    pts = report.points
    figs: dict[str, str] = {}
    if pts is None:
        return figs
    ch = report.fitters.get("chinchilla")
    c_max = float(pts.c.max())
    c_grid = np.geomspace(pts.c.min() / 2, c_max * 100, 200)

    fig, ax = plt.subplots(figsize=(7, 4.5))
    sc = ax.scatter(pts.c, pts.loss, c=np.log10(pts.n), cmap="viridis", s=14, label="runs")
    fig.colorbar(sc, ax=ax, label="log10 N")
    order = np.argsort(pts.c)
    front_c, front_l, best = [], [], np.inf
    for i in order:
        if pts.loss[i] < best:
            best = pts.loss[i]; front_c.append(pts.c[i]); front_l.append(pts.loss[i])
    ax.step(front_c, front_l, where="post", color="k", lw=1, label="measured frontier")
    if ch is not None:
        ax.plot(c_grid, ch.optimal_loss(c_grid), color="C3", label="approach 3: L at N_opt(C)")
        lo, hi = ch.predict_interval(ch.n_opt(c_grid), ch.d_opt(c_grid))
        if np.all(np.isfinite(lo)):
            ax.fill_between(c_grid, lo, hi, color="C3", alpha=0.2, label="95% bootstrap band")
        ax.axvline(c_max, color="grey", ls=":", lw=1)
        ax.text(c_max, ax.get_ylim()[1], " extrapolation →", va="top", fontsize=8, color="grey")
    if report.floor is not None:
        ax.axhline(report.floor, color="C2", ls="--", lw=1, label=f"exact Bayes loss {report.floor:.3f}")
    ax.set_xscale("log"); ax.set_yscale("log")
    ax.set_xlabel(f"training compute C ({pts.c_convention}, FLOP)"); ax.set_ylabel("loss")
    ax.set_title("Loss vs compute"); ax.legend(fontsize=8)
    figs["loss_vs_compute"] = _save(fig, out, "loss_vs_compute")

    iso = report.fitters.get("approach2")
    if iso is not None:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        cmap = plt.get_cmap("plasma")
        for k, prof in enumerate(iso.profiles_):
            col = cmap(k / max(len(iso.profiles_) - 1, 1))
            ax.scatter(prof.n, prof.loss, color=col, s=12)
            xs = np.geomspace(min(prof.n), max(prof.n), 50)
            label = f"C={prof.c:.2g}" + ("" if prof.inside else " (vertex outside the sizes: not used)")
            ax.plot(xs, np.polyval(prof.coef, np.log(xs)), color=col, lw=1, label=label)
            # A vertex outside the sizes tried is an extrapolation the power laws leave out: drawn hollow.
            ax.scatter([prof.n_opt], [prof.loss_opt], marker="*", s=90, zorder=3,
                       color=col if prof.inside else "none", edgecolor="k" if prof.inside else col)
        ax.set_xscale("log"); ax.set_xlabel("parameters N"); ax.set_ylabel("loss")
        ax.set_title("IsoFLOP profiles (stars: fitted minima; hollow: outside the sizes tried)")
        ax.legend(fontsize=7, ncol=2)
        figs["isoflop"] = _save(fig, out, "isoflop")

    alloc_fitters = [(law, report.fitters[law]) for law in ("chinchilla", "approach2", "approach1") if law in report.fitters]
    if alloc_fitters:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
        for law, f in alloc_fitters:
            axes[0].plot(c_grid, f.n_opt(c_grid), label=f"yours: {law}")
            axes[1].plot(c_grid, f.d_opt(c_grid), label=f"yours: {law}")
        axes[0].plot(c_grid, HOFFMANN.n_opt(c_grid), "k--", lw=1, label="Chinchilla (Hoffmann fit)")
        axes[1].plot(c_grid, HOFFMANN.d_opt(c_grid), "k--", lw=1, label="Chinchilla (Hoffmann fit)")
        axes[0].plot(c_grid, EPOCH.n_opt(c_grid), "k-.", lw=1, label="Epoch replication")
        axes[1].plot(c_grid, EPOCH.d_opt(c_grid), "k-.", lw=1, label="Epoch replication")
        kn = KAPLAN_N_COEF * (c_grid / PF_DAY) ** KAPLAN["a"]
        axes[0].plot(c_grid, kn, "k:", lw=1, label="Kaplan N ∝ C^0.73")
        axes[1].plot(c_grid, c_grid / (6 * kn), "k:", lw=1, label="Kaplan (D = C/6N)")
        for ax, what in zip(axes, ("N_opt (parameters)", "D_opt (tokens)")):
            ax.set_xscale("log"); ax.set_yscale("log"); ax.set_xlabel("compute C (FLOP)"); ax.set_ylabel(what)
            ax.axvline(c_max, color="grey", ls=":", lw=1); ax.legend(fontsize=7)
        fig.suptitle("Compute-optimal allocation")
        figs["allocation"] = _save(fig, out, "allocation")

    pred_fitters = [(law, f) for law, f in report.fitters.items() if hasattr(f, "predict_points")]
    if pred_fitters:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
        for law, f in pred_fitters:
            pred = f.predict_points(pts)
            axes[0].scatter(pts.loss, pred, s=10, label=law)
            axes[1].scatter(pts.c, (pred - pts.loss) / pts.loss * 100, s=10, label=law)
        lim = [pts.loss.min() * 0.98, pts.loss.max() * 1.02]
        axes[0].plot(lim, lim, "k--", lw=1); axes[0].set_xlabel("measured loss"); axes[0].set_ylabel("predicted loss")
        axes[1].axhline(0, color="k", lw=1); axes[1].set_xscale("log")
        axes[1].set_xlabel("compute C (FLOP)"); axes[1].set_ylabel("residual (predicted - measured), %")
        for ax in axes:
            ax.legend(fontsize=8)
        fig.suptitle("Measured vs predicted")
        figs["residuals"] = _save(fig, out, "residuals")
    return figs


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _inside(ci: list[float] | None, v: float) -> str | None:
    """'yes' or 'no': does the interval hold v? None when there is no interval."""
    if not ci or ci[0] is None:
        return None
    return "yes" if ci[0] <= v <= ci[1] else "no"


def _agreement(ci: list[float] | None, published: Any) -> str:
    """Which published values the interval holds: the plain yes/no a reader looks for first."""
    known = [(name, _inside(ci, v)) for name, v in published if v is not None]
    if not known or known[0][1] is None:
        return "–"
    return ", ".join(f"{name} {inside}" for name, inside in known)


def render_markdown(report: Any, figs: dict[str, str] | None = None, plots_rel: str = "plots") -> str:
    figs = figs or {}
    lines = ["# Scaling-law fit", "",
             f"- Source: `{report.source}`", f"- Points: {report.n_points} (N = {report.n_convention}, C = {report.c_convention})"]
    lines += [f"- {n}" for n in report.notes]
    lines += ["", "## Headline", "", "```", report.headline(), "```", ""]
    if report.floor is not None:
        lines += ["## Fitted E against the exact irreducible loss", "",
                  f"This validation set's Bayes loss is known exactly: {report.floor:.4f} nats/token. A fitted E "
                  "is the law's own extrapolation to infinite N and D, so it should land on it.", "",
                  "| law | fitted E | 95% CI | E − Bayes loss | Bayes loss inside CI |", "|---|---|---|---|---|"]
        for law, e, ci in report.e_vs_floor():
            inside = _inside(ci, report.floor) or "–"
            ci_s = f"{_fmt(ci[0])} – {_fmt(ci[1])}" if ci and ci[0] is not None else "–"
            lines.append(f"| {law} | {_fmt(e)} | {ci_s} | {e - report.floor:+.4f} | {inside} |")
        lines.append("")
    anchors = {"alpha": HOFFMANN.alpha, "beta": HOFFMANN.beta, "E": HOFFMANN.E, "A": HOFFMANN.A, "B": HOFFMANN.B,
               "a": HOFFMANN.a, "b": HOFFMANN.b}
    epoch = {**EPOCH.as_dict(), "a": EPOCH.a, "b": EPOCH.b}
    kap = {"alpha_N": KAPLAN["alpha_N"], "alpha_D": KAPLAN["alpha_D"], "alpha_C": KAPLAN["alpha_C"], "a": KAPLAN["a"], "b": KAPLAN["b"]}
    for r in report.results:
        lines += [f"## {r.law}", "", f"Points: {r.n_points}. Converged: {'yes' if r.converged else '**no**'}."
                  + (f" Objective: {r.objective:.6g}." if r.objective is not None else "")
                  + (f" Intervals: percentile bootstrap over {r.details['n_bootstrap']} resamples of the runs."
                     if r.details.get("n_bootstrap") else ""), ""]
        lines += ["| parameter | yours | 95% CI | Chinchilla (Hoffmann) | Epoch replication | Kaplan | published inside your CI |",
                  "|---|---|---|---|---|---|---|"]
        for k, v in r.params.items():
            ci = r.ci.get(k)
            ci_s = f"{_fmt(ci[0])} – {_fmt(ci[1])}" if ci else "–"
            lines.append(f"| {k} | {_fmt(v)} | {ci_s} | {_fmt(anchors.get(k))} | {_fmt(epoch.get(k))} | {_fmt(kap.get(k))} | "
                         f"{_agreement(ci, (('Hoffmann', anchors.get(k)), ('Epoch', epoch.get(k)), ('Kaplan', kap.get(k))))} |")
        if r.allocation:
            lines += ["", "| budget C | N_opt | D_opt | tokens/param |", "|---|---|---|---|"]
            for c, tpp in r.allocation.tokens_per_param.items():
                ci = r.allocation.ci.get(f"tokens_per_param@{c}")
                tpp_s = _fmt(tpp) + (f" ({_fmt(ci[0])} – {_fmt(ci[1])})" if ci else "")
                lines.append(f"| {c} | {_fmt(r.allocation.n_opt[c])} | {_fmt(r.allocation.d_opt[c])} | {tpp_s} |")
        if r.predictions:
            lines += ["", "| N | D | C | predicted loss | 95% band |", "|---|---|---|---|---|"]
            for p in r.predictions:
                band = f"{_fmt(p.lo)} – {_fmt(p.hi)}" if p.lo is not None else "–"
                lines.append(f"| {_fmt(p.n)} | {_fmt(p.d)} | {_fmt(p.c)} | {_fmt(p.loss)} | {band} |")
        if r.holdout:
            h = r.holdout
            lines += ["", f"Holdout: fitted on {h.n_fit} points, predicting the {h.k} largest-compute ones: "
                      f"mean |error| {100 * h.mean_abs_rel_error:.2f}%, max {100 * h.max_abs_rel_error:.2f}%.", "",
                      "| run | C | measured | predicted | error |", "|---|---|---|---|---|"]
            for lab, c, m, p, e in zip(h.labels, h.c, h.measured, h.predicted, h.rel_error):
                lines.append(f"| {lab} | {c:.3g} | {m:.4f} | {p:.4f} | {100 * e:+.2f}% |")
        if "inference_optimum" in r.details:
            io = r.details["inference_optimum"]
            lines += ["", f"Inference-aware optimum (Sardana & Frankle 2023) for loss {io['target_loss']:.4g} and "
                      f"{io['inference_tokens']:.3g} inference tokens: N {io['n']:.3g}, D {io['d']:.3g} "
                      f"(training-only optimum: N {io['chinchilla_n']:.3g}, D {io['chinchilla_d']:.3g}); lifetime FLOPs "
                      f"{io['total_flops']:.3g} vs {io['chinchilla_total_flops']:.3g}."]
        if r.law == "shared":
            lines += ["", f"Shared-exponent objective / sum of separate fits: "
                      f"{r.details['objective_ratio_shared_over_separate']:.4f}", "",
                      "| group | E | A | B | separate α | separate β |", "|---|---|---|---|---|---|"]
            for g, d in r.details["groups"].items():
                lines.append(f"| {g} | {_fmt(d['E'])} | {_fmt(d['A'])} | {_fmt(d['B'])} | {_fmt(d['separate_alpha'])} | {_fmt(d['separate_beta'])} |")
        if r.law == "critical_batch":
            lines += ["", "| shape | target loss | S_min | E_min | B_crit (tokens) | B_crit (sequences) | batch sizes |",
                      "|---|---|---|---|---|---|---|"]
            for g, d in r.details["shapes"].items():
                bs = ", ".join(str(rt["batch_size"]) for rt in d["runs"])
                lines.append(f"| {g} | {_fmt(d['target_loss'])} | {_fmt(d['s_min'])} | {_fmt(d['e_min'])} | "
                             f"{_fmt(d['b_crit_tokens'])} | {_fmt(d['b_crit_sequences'])} | {bs} |")
        if r.warnings:
            lines += [""] + [f"> **Warning:** {w}" for w in r.warnings]
        lines.append("")
    if report.skipped:
        lines += ["## Skipped", ""] + [f"- {law}: {why}" for law, why in report.skipped.items()] + [""]
    if figs:
        lines += ["## Figures", ""] + [f"![{name}]({plots_rel}/{png})" for name, png in figs.items()] + [""]
    lines += ["Anchors: Kaplan et al. 2020; Hoffmann et al. 2022 (eq. 10); Besiroglu et al. 2024 (Epoch AI).", ""]
    return "\n".join(lines)


def write_report(report: Any, path: str | Path, figs: dict[str, str] | None = None, plots_rel: str = "plots") -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_markdown(report, figs, plots_rel))
    return path
