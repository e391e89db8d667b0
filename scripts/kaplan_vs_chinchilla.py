"""Kaplan's allocation exponent to Chinchilla's, one factor at a time (Porian et al. 2024, at toy scale).

    python scripts/kaplan_vs_chinchilla.py results/kaplan_vs_chinchilla_cpu \
        --chinchilla results/synthetic_isoflop_cpu --max-flops 5e12

Fits the allocation exponent a (N_opt ∝ C^a) after each switch of the study's presets
(conf/sweep/kvc_*_cpu.yaml), with approach 2 (IsoFLOP minima) and approach 3 (the parametric
L(N, D)), 95% bootstrap intervals:

  0 kaplan      kvc_kaplan_cpu: Kaplan's FLOPs and non-embedding N, one lr, 1M-token warmup, constant lr
  1 accounting  kvc_accounting_cpu: 6ND of total N (embeddings and head counted)
  2 warmup      kvc_warmup_cpu: warmup ~N tokens
  3 tuned       kvc_tuned_cpu: the per-size rule's learning rates (the cosine runs' rule)
  4 chinchilla  --chinchilla's cosine runs (schedule matched to each budget), up to --max-flops

Writes <study>/steps.json, <study>/steps.md and <study>/plots/steps.png. A step whose sweep folder
is missing or whose fit fails is reported as such (the others still run).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.errors import FitInputError, InsufficientData
from harness.fit.anchors import PORIAN_SRC, PORIAN_STEPS
from harness.fit.api import fit_points
from harness.fit.loaders import load_sweep


@dataclass(frozen=True)
class Step:
    key: str
    title: str  # what this step switched
    folder: str  # under the study folder ("" = the --chinchilla sweep)
    params: str
    flops: str
    # Porian et al.'s step with the same settings (harness.fit.anchors.PORIAN_STEPS), if they ran one.
    porian: str | None


STEPS = (
    Step("kaplan", "Kaplan's setup: Kaplan FLOPs, non-embedding N, one lr, 1M-token warmup, constant lr", "kvc_kaplan_cpu",
         "non_embedding", "kaplan", "kaplan"),
    Step("accounting", "+ FLOPs as 6ND of total N (embeddings and head counted)", "kvc_accounting_cpu", "total", "6ND",
         "last_layer_flops"),
    Step("warmup", "+ warmup of about N tokens", "kvc_warmup_cpu", "total", "6ND", "warmup"),
    # Per-size rates with a constant schedule: Porian's last setting, "optimizer tuning (no decay)".
    Step("tuned", "+ per-size learning rates (the porian rule, as in step 4)", "kvc_tuned_cpu", "total",
         "6ND", "tuning"),
    # Tuned and cosine together: Porian ran cosine only untuned (their "cosine decay", before tuning).
    Step("chinchilla", "+ cosine schedule matched to each budget (Chinchilla's setup)", "", "total", "6ND", None),
)
LAWS = ("approach2", "chinchilla")


def fit_step(step: Step, sweep: Path, max_flops: float | None, bootstrap: int) -> dict:
    out: dict = {"step": step.key, "title": step.title, "sweep": sweep.name, "params": step.params,
                 "flops": step.flops, "porian": _porian(step)}
    if not (sweep / "runs").is_dir():
        out["error"] = f"no runs in {sweep}"
        return out
    points = load_sweep(sweep, param_convention=step.params, flops_convention=step.flops)
    if max_flops is not None:
        # The reference sweep goes past the study's budgets: keep the same budgets (6ND, 1% slack).
        keep = np.flatnonzero(points.c <= max_flops * 1.01)
        points = points.subset(keep)
    out["runs"] = len(points)
    for law in LAWS:
        try:
            rep = fit_points(points, [law], bootstrap=bootstrap, seed=0)
        except (FitInputError, InsufficientData) as e:
            out[law] = {"error": str(e)}
            continue
        r = rep.get(law)
        res = {"a": r.params.get("a"), "a_ci": r.ci.get("a"), "warnings": r.warnings}
        if law == "approach2":
            prof = r.details.get("profiles") or []
            res["minima_inside"] = sum(bool(p.get("inside")) for p in prof) if prof else None
            res["budgets"] = len(prof) if prof else None
        if law == "chinchilla":
            res.update({k: r.params.get(k) for k in ("alpha", "beta", "E")})
        out[law] = res
    return out


def _porian(step: Step) -> dict | None:
    if step.porian is None:
        return None
    return {ds: {"a": a.value, "a_ci": list(a.interval)} for ds, a in PORIAN_STEPS[step.porian].items()}


def _fmt(res: dict | None) -> str:
    if not res:
        return "-"
    if "error" in res:
        return f"not fitted ({res['error'][:90]})"
    ci = res.get("a_ci")
    return f"{res['a']:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else f"{res['a']:.2f}"


def to_markdown(rows: list[dict]) -> str:
    lines = ["| step | what switched | runs | a, approach 2 (IsoFLOP minima) | a, approach 3 (L(N, D)) | "
             "Porian et al., RefinedWeb | Porian et al., OpenWebText2 |",
             "|---|---|---|---|---|---|---|"]
    for i, r in enumerate(rows):
        p = r.get("porian") or {}
        theirs = f"{_fmt(p.get('RefinedWeb')) if p else '(not run)'} | {_fmt(p.get('OpenWebText2')) if p else ''}"
        if "error" in r:
            lines.append(f"| {i} {r['step']} | {r['title']} | - | {r['error']} | | {theirs} |")
            continue
        a2 = r.get("approach2", {})
        inside = (f" ({a2['minima_inside']} of {a2['budgets']} minima inside)"
                  if a2 and a2.get("budgets") else "")
        lines.append(f"| {i} {r['step']} | {r['title']} | {r['runs']} | {_fmt(a2)}{inside} | {_fmt(r.get('chinchilla'))} "
                     f"| {theirs} |")
    cos = PORIAN_STEPS["cosine"]
    lines += ["", f"Porian et al. (5M-900M parameters; {PORIAN_SRC}): a per step, bootstrap median [95%]. Their "
                  "order differs after the warmup: they switched to a cosine decay untuned "
                  f"({cos['RefinedWeb'].value:.2f} {list(cos['RefinedWeb'].interval)} on RefinedWeb, "
                  f"{cos['OpenWebText2'].value:.2f} {list(cos['OpenWebText2'].interval)} on OpenWebText2), then tuned "
                  "per size with a constant rate, the settings of step 3 here; they ran no tuned cosine step."]
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for j, (law, label, dx) in enumerate((("approach2", "approach 2", -0.08), ("chinchilla", "approach 3", 0.08))):
        xs, ys, lo, hi = [], [], [], []
        for i, r in enumerate(rows):
            res = r.get(law) or {}
            if res.get("a") is None or "error" in res:
                continue
            ci = res.get("a_ci") or [res["a"], res["a"]]
            xs.append(i + dx); ys.append(res["a"]); lo.append(res["a"] - ci[0]); hi.append(ci[1] - res["a"])
        ax.errorbar(xs, ys, yerr=[lo, hi], fmt="o", capsize=3, label=label, color=f"C{j}")
    theirs = [(i, r["porian"]["RefinedWeb"]) for i, r in enumerate(rows) if r.get("porian")]
    if theirs:
        ax.errorbar([i for i, _ in theirs], [p["a"] for _, p in theirs],
                    yerr=[[p["a"] - p["a_ci"][0] for _, p in theirs], [p["a_ci"][1] - p["a"] for _, p in theirs]],
                    fmt="s", capsize=3, color="0.5", label="Porian et al., RefinedWeb")
    ax.axhline(0.73, color="k", ls=":", lw=1, label="Kaplan 0.73")
    ax.axhline(0.5, color="k", ls="--", lw=1, label="Chinchilla 0.5")
    ax.set_xticks(range(len(rows)), [f"{i} {r['step']}" for i, r in enumerate(rows)], fontsize=8)
    ax.set_ylabel("a in N_opt ∝ C^a (95% interval)")
    ax.set_title("Kaplan's setup to Chinchilla's, one factor at a time (synthetic language, CPU)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("study", type=Path, help="the study folder (holds kvc_kaplan_cpu/, kvc_accounting_cpu/, kvc_warmup_cpu/, kvc_tuned_cpu/)")
    ap.add_argument("--chinchilla", type=Path, required=True, help="the sweep of cosine runs matched to each budget")
    ap.add_argument("--max-flops", type=float, default=None, help="keep the --chinchilla runs up to this C (6ND)")
    ap.add_argument("--bootstrap", type=int, default=200)
    args = ap.parse_args(argv)
    if not args.study.is_dir():
        print(f"kaplan_vs_chinchilla: {args.study}: no such study folder", file=sys.stderr)
        return 2
    rows = []
    for step in STEPS:
        sweep = args.study / step.folder if step.folder else args.chinchilla
        rows.append(fit_step(step, sweep, args.max_flops if not step.folder else None, args.bootstrap))
        print(f"{step.key}: approach 2 {_fmt(rows[-1].get('approach2'))}, approach 3 {_fmt(rows[-1].get('chinchilla'))}",
              flush=True)
    (args.study / "steps.json").write_text(json.dumps(rows, indent=1, default=float) + "\n")
    (args.study / "steps.md").write_text(to_markdown(rows))
    plot(rows, args.study / "plots" / "steps.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
