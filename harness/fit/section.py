"""The default markdown section of one fitted law in report.md: its parameters beside the
published values (and whether each published value lies inside the interval), its allocation,
predictions, holdout and warnings. A law renders itself with ``Law.report_section``, which defaults
to ``law_section`` here; the report (harness/fit/report.py) puts the sections together."""

from __future__ import annotations

from typing import Any

from harness.fit.results import LawResult


def fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def inside(ci: list[float] | None, v: float) -> str | None:
    """'yes' or 'no': does the interval hold v? None when there is no interval."""
    if not ci or ci[0] is None:
        return None
    return "yes" if ci[0] <= v <= ci[1] else "no"


def _agreement(ci: list[float] | None, published: list[tuple[str, Any]]) -> str:
    """Which published values the interval holds: the plain yes/no a reader looks for first."""
    known = [(name, inside(ci, v)) for name, v in published if v is not None]
    if not known or known[0][1] is None:
        return "–"
    return ", ".join(f"{name} {inside}" for name, inside in known)


def law_section(cls: Any, r: LawResult, figs: dict[str, str]) -> str:
    """The default section: parameters beside the published values, allocation, predictions,
    holdout, inference optimum, the law's own extra lines, and every warning."""
    conv = r.flops_convention
    heading = cls.title or cls.name
    lines = [f"## {cls.name}" + (f" — data set {r.dataset}" if r.dataset else ""), "", f"*{heading}*", "",
             f"Points: {r.n_points}. Converged: {'yes' if r.converged else '**no**'}."
             + (f" Objective: {r.objective:.6g}." if r.objective is not None else "")
             + (f" Intervals: percentile bootstrap over {r.details['n_bootstrap']} resamples of the runs."
                if r.details.get("n_bootstrap") else ""), ""]
    under = [w for w in r.warnings if w.startswith(("UNDER-DETERMINED", "NOT CONVERGED"))]
    lines += [f"> **{w}**" for w in under] + ([""] if under else [])
    pub = cls.published()  # {short name: (column heading, {param: value})}
    lines += ["| parameter | yours | 95% CI | " + " | ".join(h for h, _ in pub.values())
              + (" | published inside your CI |" if pub else ""),
              "|---|---|---|" + "---|" * len(pub) + ("---|" if pub else "")]
    for k, v in r.params.items():
        ci = r.ci.get(k)
        ci_s = f"{fmt(ci[0])} – {fmt(ci[1])}" if ci else "–"
        row = f"| {cls.param_labels.get(k, k)} | {fmt(v)} | {ci_s} |"
        if pub:
            row += "".join(f" {fmt(vals.get(k))} |" for _, vals in pub.values())
            row += f" {_agreement(ci, [(name, vals.get(k)) for name, (_, vals) in pub.items()])} |"
        lines.append(row)
    if r.allocation:
        lines += ["", f"Compute-optimal allocation, C in {conv} FLOPs (N_opt, D_opt and C agree in that count):", "",
                  f"| budget C ({conv}) | N_opt | D_opt | tokens/param |", "|---|---|---|---|"]
        for c, tpp in r.allocation.tokens_per_param.items():
            ci = r.allocation.ci.get(f"tokens_per_param@{c}")
            tpp_s = fmt(tpp) + (f" ({fmt(ci[0])} – {fmt(ci[1])})" if ci else "")
            lines.append(f"| {c} | {fmt(r.allocation.n_opt[c])} | {fmt(r.allocation.d_opt[c])} | {tpp_s} |")
    if r.predictions:
        lines += ["", f"| N | D | C ({conv}) | predicted loss | 95% band |", "|---|---|---|---|---|"]
        for p in r.predictions:
            band = f"{fmt(p.lo)} – {fmt(p.hi)}" if p.lo is not None else "–"
            lines.append(f"| {fmt(p.n)} | {fmt(p.d)} | {fmt(p.c)} | {fmt(p.loss)} | {band} |")
    if r.holdout:
        h = r.holdout
        lines += ["", f"Holdout: fitted on {h.n_fit} points, predicting the {h.k} largest-compute ones: "
                  f"mean |error| {100 * h.mean_abs_rel_error:.2f}%, max {100 * h.max_abs_rel_error:.2f}%.", "",
                  f"| run | C ({conv}) | measured | predicted | error |", "|---|---|---|---|---|"]
        for lab, c, m, p, e in zip(h.labels, h.c, h.measured, h.predicted, h.rel_error):
            lines.append(f"| {lab} | {c:.3g} | {m:.4f} | {p:.4f} | {100 * e:+.2f}% |")
    if "inference_optimum" in r.details:
        io = r.details["inference_optimum"]
        lines += ["", f"Inference-aware optimum (Sardana & Frankle 2023) for loss {io['target_loss']:.4g} and "
                  f"{io['inference_tokens']:.3g} inference tokens: N {io['n']:.3g}, D {io['d']:.3g} "
                  f"(training-only optimum: N {io['chinchilla_n']:.3g}, D {io['chinchilla_d']:.3g}); lifetime FLOPs "
                  f"({conv} training + 2N per inference token) {io['total_flops']:.3g} vs {io['chinchilla_total_flops']:.3g}."]
    lines += cls.extra_section(r)
    rest = [w for w in r.warnings if w not in under]
    if rest:
        lines += [""] + [f"> **Warning:** {w}" for w in rest]
    lines.append("")
    return "\n".join(lines)
