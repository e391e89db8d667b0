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

With --decades, the switches again over two decades of compute, each measured pair by pair on the
same trunks (harness.fit.paired): the wsd study --decades (the tuned rule's rates) and the study's
kvc_one_lr_decades_cpu (one rate for every size) and kvc_warmup_one_lr_decades_cpu (one rate and
Kaplan's fixed warmup), each read two ways: the annealed branches' final losses, and the trunks'
stable phase at 0.75 of each budget (harness.fit.constant_phase; --stable-fraction), the latter
under 6ND of total N and under Kaplan's count. The stable phase is read twice: at the budget's step
(the two evaluations around it) and smoothed (a line through the evaluations within x1.5 of it);
each switch that reads it is measured both ways. Writes <study>/decades.json and decades.md
(--out names others).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.errors import FitInputError, InsufficientData
from harness.files import atomic_write_text
from harness.fit.anchors import PORIAN_SRC, PORIAN_STEPS
from harness.fit.api import fit_points
from harness.fit.constant_phase import constant_phase_points
from harness.fit.loaders import load_sweep
from harness.fit.paired import paired_difference
from harness.fit.points import Points
from harness.fit.powerlaw import log_clusters


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


# --- two decades, paired ------------------------------------------------------------------------

# The stable phase is read at this fraction of each budget. A trunk decays after 0.9 of the largest,
# and is evaluated only every ~5% of it, so a reading needs an evaluation on each side of its step
# before 0.9. Kaplan's count is 2-6% below 6ND of total N on these shapes, which puts its step for a
# budget that much later: at 0.85 it fell past the last stable evaluation of four of the six shapes
# at 3e13, and the accounting switch compared four budgets, not five. At 0.75 both counts read every
# trajectory at every budget (tests/scripts/test_kaplan_vs_chinchilla.py checks it).
STABLE = 0.75
# The smoothed reading's window, in steps: wide enough to hold 3-4 evaluations of a trunk evaluated
# 20 times, narrow enough that the curve's bend costs under 0.1% (harness.fit.constant_phase).
SMOOTH = 1.5


@dataclass(frozen=True)
class Reading:
    key: str
    title: str
    sweep: str  # "decades" (the --decades study), or "one_lr" / "fixed_warmup" (under the study)
    stable: bool  # read off the stable phase, else the runs' annealed final losses
    kaplan: bool  # Kaplan's FLOPs and non-embedding N, else 6ND of total N


READINGS = (
    Reading("kaplan", "Kaplan's setup: fixed warmup, one lr, constant rate, Kaplan's count", "fixed_warmup", True, True),
    Reading("fixed_warmup_constant", "fixed warmup, one lr, constant rate", "fixed_warmup", True, False),
    Reading("fixed_warmup_annealed", "fixed warmup, one lr, annealed to 0", "fixed_warmup", False, False),
    Reading("one_lr_kaplan", "one lr, constant rate, Kaplan's count", "one_lr", True, True),
    Reading("one_lr_constant", "one lr, constant rate", "one_lr", True, False),
    Reading("one_lr_annealed", "one lr, annealed to 0", "one_lr", False, False),
    Reading("tuned_kaplan", "per-size lr, constant rate, Kaplan's count", "decades", True, True),
    Reading("tuned_constant", "per-size lr, constant rate", "decades", True, False),
    Reading("tuned_annealed", "per-size lr, annealed to 0", "decades", False, False),
)
# (switch, before, after, Porian et al.'s steps whose difference is the same switch, or None)
SWITCHES = (
    ("warmup (Kaplan's fixed 1M tokens -> about N), one lr, constant rate", "fixed_warmup_constant", "one_lr_constant",
     ("last_layer_flops", "warmup")),
    ("warmup, one lr, annealed", "fixed_warmup_annealed", "one_lr_annealed", None),
    ("accounting (Kaplan's count -> 6ND of total N)", "one_lr_kaplan", "one_lr_constant", ("kaplan", "last_layer_flops")),
    ("accounting, per-size lr", "tuned_kaplan", "tuned_constant", ("kaplan", "last_layer_flops")),
    ("per-size lr (one -> the tuned rule), constant rate", "one_lr_constant", "tuned_constant", ("warmup", "tuning")),
    ("per-size lr, annealed", "one_lr_annealed", "tuned_annealed", None),
    ("the schedule's end (constant -> annealed to 0), one lr", "one_lr_constant", "one_lr_annealed", ("warmup", "cosine")),
    ("the schedule's end, per-size lr", "tuned_constant", "tuned_annealed", ("warmup", "cosine")),
    # Porian et al.'s last step tunes each size at a constant rate: their whole path is this one.
    ("accounting, warmup and per-size lr together (Kaplan's setup -> Porian's, constant rate)", "kaplan",
     "tuned_constant", ("kaplan", "tuning")),
)


def _read(r: Reading, sweep: Path, budgets: list[float], windows: tuple[float, ...],
          stable: float = STABLE) -> list[tuple[Points, list]]:
    """The reading's points and each one's pairing key (shape, seed, budget rank), from one load of
    the sweep: a stable-phase reading once per window (each point off the evaluations within it), an
    annealed one once."""
    params, flops = ("non_embedding", "kaplan") if r.kaplan else ("total", "6ND")
    runs = load_sweep(sweep, param_convention=params, flops_convention=flops)
    curves = {rc.run_id: rc for rc in runs.run_curves or []}
    scale = stable if r.stable else 1.0
    out = []
    for window in windows if r.stable else windows[:1]:
        pts = constant_phase_points(runs, [stable * b for b in budgets], window=window) if r.stable else runs
        keys = []
        for label, c in zip(pts.labels, pts.c):
            rc = curves[label.split("@")[0]]
            keys.append((rc.shape_key, rc.seed, int(np.argmin(np.abs(np.log(np.array(budgets) * scale / c))))))
        out.append((pts, keys))
    return out


def _paired(read: dict[str, tuple[Points, list]], before: str, after: str, bootstrap: int) -> dict:
    if before not in read or after not in read:
        return {"error": "a reading is missing"}
    (pa, ka), (pb, kb) = read[before], read[after]
    try:
        return paired_difference(pa, pb, ka, kb, law="approach2", n_bootstrap=bootstrap).to_json()
    except (FitInputError, InsufficientData) as e:
        return {"error": str(e)}


def trunk_sets(study: Path, decades_dir: Path) -> dict[str, Path]:
    """The sweep folder of each ``Reading.sweep``: the per-size decades study and the study's two
    one-rate trunk sets."""
    return {"decades": decades_dir, "one_lr": study / "kvc_one_lr_decades_cpu",
            "fixed_warmup": study / "kvc_warmup_one_lr_decades_cpu"}


def decades(study: Path, decades_dir: Path, bootstrap: int, laws: tuple[str, ...] = LAWS,
            smooth: float = SMOOTH, stable: float = STABLE) -> dict:
    """Each reading's a (``laws``: approach 2 and 3, own intervals; a stable-phase reading also
    smoothed, approach 2) and each switch's paired change of a (approach 2, both ways where a side
    reads the stable phase)."""
    c = load_sweep(decades_dir).c
    budgets = sorted(float(f"{np.median(c[g]):.2g}") for g in log_clusters(c, 0.05))
    sweeps = trunk_sets(study, decades_dir)
    read: dict[str, tuple[Points, list]] = {}
    smoothed: dict[str, tuple[Points, list]] = {}  # the stable readings smoothed; the others as read
    out: dict = {"budgets": budgets, "stable_fraction": stable, "smooth_window": smooth, "readings": [], "switches": []}
    for r in READINGS:
        row: dict = {"key": r.key, "title": r.title, "sweep": sweeps[r.sweep].name}
        try:
            got = _read(r, sweeps[r.sweep], budgets, (1.0, smooth), stable)
        except FitInputError as e:
            row["error"] = str(e)
            out["readings"].append(row)
            continue
        read[r.key], smoothed[r.key] = got[0], got[-1]
        pts = read[r.key][0]
        row["points"] = len(pts)
        rep = fit_points(pts, list(laws), bootstrap=bootstrap, seed=0)
        for law in laws:
            res = rep.get(law)
            row[law] = ({"error": rep.skipped.get(law, "not fitted")} if res is None else
                        {"a": res.params.get("a"), "a_ci": res.ci.get("a"), "E": res.params.get("E")})
        out["readings"].append(row)
        if r.stable:
            res = fit_points(smoothed[r.key][0], ["approach2"], bootstrap=bootstrap, seed=0).get("approach2")
            row["approach2_smoothed"] = ({"error": "not fitted"} if res is None else
                                         {"a": res.params.get("a"), "a_ci": res.ci.get("a")})
        print(f"{r.key}: {len(pts)} points, " + ", ".join(f"{law} {_fmt(row[law])}" for law in laws)
              + (f", approach2 smoothed {_fmt(row['approach2_smoothed'])}" if r.stable else ""), flush=True)
    stable = {r.key for r in READINGS if r.stable}
    for title, before, after, porian in SWITCHES:
        row = {"switch": title, "before": before, "after": after}
        if porian:
            row["porian"] = {ds: PORIAN_STEPS[porian[1]][ds].value - PORIAN_STEPS[porian[0]][ds].value
                             for ds in ("RefinedWeb", "OpenWebText2")}
            row["porian_steps"] = list(porian)
        row["approach2"] = _paired(read, before, after, bootstrap)
        if {before, after} & stable:
            row["approach2_smoothed"] = _paired(smoothed, before, after, bootstrap)
        out["switches"].append(row)
    return out


def _verdict(d: dict, porian: dict | None) -> str:
    lo, hi = d["ci"]
    verdict = "moves a" if lo > 0 or hi < 0 else "no move beyond the interval"
    if porian:
        inside = [lo <= v <= hi for v in porian.values()]
        verdict += ("; theirs inside" if all(inside) else "; theirs excluded" if not any(inside)
                    else "; one of theirs inside")
    return verdict


def _change(d: dict | None) -> str:
    if d is None:
        return "(reads no stable phase)"
    if "error" in d:
        return f"not measured ({d['error'][:100]})"
    lo, hi = d["ci"]
    return f"{d['diff']:+.3f} [{lo:+.3f}, {hi:+.3f}]"


def decades_markdown(res: dict) -> str:
    w = res["smooth_window"]
    lines = [f"Budgets {', '.join(f'{b:g}' for b in res['budgets'])} (6ND); stable phase read at "
             f"{res['stable_fraction']:g} of each, at the budget's step and smoothed over the evaluations within "
             f"x{w:g} of it. 95% intervals.", "",
             f"| reading | points | a, approach 2 | a, approach 2, stable phase smoothed x{w:g} | a, approach 3 | "
             "E, approach 3 |", "|---|---|---|---|---|---|"]
    for r in res["readings"]:
        if "error" in r:
            lines.append(f"| {r['title']} | - | not read ({r['error'][:100]}) | | | |")
            continue
        e = (r.get("chinchilla") or {}).get("E")
        smooth = _fmt(r["approach2_smoothed"]) if "approach2_smoothed" in r else "as read"
        lines.append(f"| {r['title']} | {r['points']} | {_fmt(r.get('approach2'))} | {smooth} | {_fmt(r.get('chinchilla'))} | "
                     f"{'' if e is None else f'{e:.3f}'} |")
    lines += ["", "| switch | pairs | change of a, approach 2 (paired) | resolved; Porian et al.'s change against the "
                  f"interval | change, stable phase smoothed x{w:g} | resolved, smoothed | Porian et al.: change, "
                  "RefinedWeb / OpenWebText2 |", "|---|---|---|---|---|---|---|"]
    for s in res["switches"]:
        d = s["approach2"]
        theirs = (f"{s['porian']['RefinedWeb']:+.3f} / {s['porian']['OpenWebText2']:+.3f} ({s['porian_steps'][0]} -> "
                  f"{s['porian_steps'][1]})" if s.get("porian") else "not run")
        ds = s.get("approach2_smoothed")
        cells = [s["switch"], str(d.get("pairs", "-")), _change(d), "" if "error" in d else _verdict(d, s.get("porian")),
                 _change(ds), "" if ds is None or "error" in ds else _verdict(ds, s.get("porian"))]
        lines.append("| " + " | ".join(cells + [theirs]) + " |")
    lines += ["", "Porian et al.'s change is the difference of their steps' bootstrap medians (their intervals are "
                  "per step, not paired)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("study", type=Path, help="the study folder (holds kvc_kaplan_cpu/, kvc_accounting_cpu/, kvc_warmup_cpu/, kvc_tuned_cpu/)")
    ap.add_argument("--chinchilla", type=Path, required=True, help="the sweep of cosine runs matched to each budget")
    ap.add_argument("--max-flops", type=float, default=None, help="keep the --chinchilla runs up to this C (6ND)")
    ap.add_argument("--bootstrap", type=int, default=200)
    ap.add_argument("--decades", type=Path, default=None,
                    help="the two-decade wsd study (per-size rates) that kvc_one_lr_decades_cpu pairs with: "
                         "write decades.json and decades.md instead of the steps")
    ap.add_argument("--smooth", type=float, default=SMOOTH, metavar="W",
                    help=f"with --decades: the window (a factor in steps) of the smoothed stable-phase reading "
                         f"(default {SMOOTH:g})")
    ap.add_argument("--stable-fraction", type=float, default=STABLE, metavar="F",
                    help=f"with --decades: read the stable phase at this fraction of each budget (default {STABLE:g})")
    ap.add_argument("--laws", default=",".join(LAWS), help="with --decades: the laws fitted to each reading")
    ap.add_argument("--out", default="decades", metavar="NAME",
                    help="with --decades: write <study>/NAME.json and NAME.md (default decades)")
    args = ap.parse_args(argv)
    if not args.study.is_dir():
        print(f"kaplan_vs_chinchilla: {args.study}: no such study folder", file=sys.stderr)
        return 2
    if args.decades is not None:
        try:
            if not 0.0 < args.stable_fraction < 1.0:
                raise FitInputError(f"--stable-fraction {args.stable_fraction:g}: give a fraction of each budget between 0 and 1")
            res = decades(args.study, args.decades, args.bootstrap, tuple(args.laws.split(",")), args.smooth,
                          args.stable_fraction)
        except FitInputError as e:
            print(f"kaplan_vs_chinchilla: {e}", file=sys.stderr)
            return 2
        atomic_write_text(args.study / f"{args.out}.json", json.dumps(res, indent=1, default=float) + "\n")
        atomic_write_text(args.study / f"{args.out}.md", decades_markdown(res))
        return 0
    rows = []
    for step in STEPS:
        sweep = args.study / step.folder if step.folder else args.chinchilla
        rows.append(fit_step(step, sweep, args.max_flops if not step.folder else None, args.bootstrap))
        print(f"{step.key}: approach 2 {_fmt(rows[-1].get('approach2'))}, approach 3 {_fmt(rows[-1].get('chinchilla'))}",
              flush=True)
    atomic_write_text(args.study / "steps.json", json.dumps(rows, indent=1, default=float) + "\n")
    atomic_write_text(args.study / "steps.md", to_markdown(rows))
    plot(rows, args.study / "plots" / "steps.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
