"""The plan as a person reads it (a table and its totals) or as a program does (one JSON object a run)."""

from __future__ import annotations

from typing import Any

from harness.machine import peak_flops
from harness.sweep.describe import PlannedRun
from harness.sweep.flags import DEFAULT_SPAN, design_of
from harness.sweep.packing import packed_wall_seconds
from harness.sweep.plan_options import PlanOptions
from harness.sweep.units import duration, si

# The GPU the *_gpu presets were sized for: the plan's last line gives their time on it.
H100_NAME = "NVIDIA H100 80GB HBM3"
COLUMNS = ["#", "model", "L", "d", "N", "N_nonemb", "batch", "steps", "tokens", "D/N",
           "C_6ND", "C_6ND_ne", "C_kaplan", "C_chin", "est", "state", "flags"]
FLOP_KEYS = ("6ND", "6ND_nonemb", "kaplan", "chinchilla")


def header(master: Any, n_runs: int) -> str:
    """The table's first lines: the sweep, its launcher and its IsoFLOP design, if any."""
    launcher = str(master.hydra.launcher._target_).rsplit(".", 1)[-1]
    text = f"sweep {master.get('sweep_name')}: {n_runs} runs, launcher {launcher}\n"
    design = design_of(master)
    if design:
        text += (f"IsoFLOP design: {len(design['budgets'])} budgets, dense-ladder shapes within "
                 f"x{design.get('span', DEFAULT_SPAN):g} of each prior's N_opt(C) (sweep.design)\n")
    return text


def render_table(runs: list[PlannedRun], opts: PlanOptions, device: str, packing: tuple[int, int] = (0, 1)) -> str:
    """One row a run, then the totals: runs, tokens, FLOPs and the time estimates."""
    rows = [_row(r) for r in runs]
    widths = [max(len(c), *(len(row[i]) for row in rows)) if rows else len(c) for i, c in enumerate(COLUMNS)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(COLUMNS, widths)).rstrip()]
    lines += ["  ".join(v.rjust(w) for v, w in zip(row, widths)).rstrip() for row in rows]
    lines.append("")
    return "\n".join(lines + _totals(runs, opts, device, packing))


def to_json(r: PlannedRun) -> dict[str, Any]:
    return {"num": r.job.num, "overrides": r.job.overrides, "run_id": r.run_id, "state": r.status,
            "error": r.error, **r.info, "est_seconds": r.seconds, "est_extrapolated": r.extrapolated,
            "flags": r.flags}


def h100_seconds(runs: list[PlannedRun], mfu: float) -> float:
    """Time of the runs still to train on one H100 at the given MFU (chinchilla FLOPs)."""
    return sum(r.info["flops"]["chinchilla"] * r.info["spent_fraction"]
               for r in runs if r.info and r.status == "new") / (mfu * peak_flops(H100_NAME, "bf16"))


def packed_line(runs: list[PlannedRun], opts: PlanOptions, device: str, n_gpus: int, runs_per_gpu: int) -> str | None:
    """The totals line for runs sharing GPUs (None without GPUs or without estimates)."""
    secs = [r.seconds for r in runs if r.info and r.status == "new" and r.seconds is not None]
    if n_gpus < 1 or not secs:
        return None
    wall = packed_wall_seconds(secs, n_gpus, runs_per_gpu, opts.pack_slowdown)
    line = (f"packed on {n_gpus} GPU{'s' if n_gpus > 1 else ''} x {runs_per_gpu} run{'s' if runs_per_gpu > 1 else ''}"
            f" per GPU (sweep.runs_per_gpu), longest run first to the first free slot: {duration(wall)}")
    if runs_per_gpu > 1:
        line += (f", assuming each run sharing a GPU takes x{opts.pack_slowdown:g} its time alone "
                 "(plan.pack_slowdown: an assumption, not a measurement; scripts/gpu_check.sh measures it)")
    if "cuda" not in device.lower() and "nvidia" not in device.lower():
        line += f"; per-run estimates timed on {device}, not on the GPUs"
    return line


def _row(r: PlannedRun) -> list[str]:
    if not r.info:
        return [str(r.job.num), " ".join(r.job.overrides)[:40], *[""] * 13, f"ERROR: {r.error}", ""]
    m, p, f = r.info["model"], r.info["params"], r.info["flops"]
    # b: a cooldown branch forked off the run above it; a: a branch that trains alone.
    num = str(r.job.num) + ("b" if r.info["spent_fraction"] < 1 else "a" if "branch_alone" in r.info else "")
    return [num, m["name"] or m["arch"], str(m["n_layer"]), str(m["d_model"]), si(p["total"]),
            si(p["non_embedding"]), str(r.info["batch_size"]), str(r.info["steps"]), si(r.info["tokens"]),
            f"{r.info['tokens_per_param']:.3g}", f"{f['6ND']:.2e}", f"{f['6ND_nonemb']:.2e}",
            f"{f['kaplan']:.2e}", f"{f['chinchilla']:.2e}",
            ("~" if r.extrapolated else "") + duration(r.seconds), r.status, ",".join(r.flags) or "-"]


def _totals(runs: list[PlannedRun], opts: PlanOptions, device: str, packing: tuple[int, int]) -> list[str]:
    ok = [r for r in runs if r.info]
    new = [r for r in ok if r.status == "new"]
    tot_f = {k: sum(r.info["flops"][k] for r in ok) for k in FLOP_KEYS}
    lines = _branch_lines(ok, tot_f["6ND"])
    lines.append(f"total: {len(runs)} runs ({len(new)} to train, {len(ok) - len(new)} already recorded, "
                 f"{len(runs) - len(ok)} invalid) | tokens {si(sum(r.info['tokens'] for r in ok))} | FLOPs "
                 + ", ".join(f"{k} {v:.3g}" for k, v in tot_f.items()))
    secs = [r.seconds for r in new if r.seconds is not None]
    if secs:
        lines.append(f"estimated wall time on {device}, one run at a time: {duration(sum(secs))} for the runs to train"
                     + (" (~ marks extrapolated shapes)" if any(r.extrapolated for r in new) else "")
                     + "; with hydra/launcher=joblib n_jobs=k, roughly that divided by k (if cores allow)")
    packed = packed_line(runs, opts, device, *packing)
    if packed:
        lines.append(packed)
    lines.append(f"on one H100 at {opts.mfu:.0%} MFU (bf16 dense peak, chinchilla FLOPs): "
                 f"{duration(h100_seconds(runs, opts.mfu))}")
    return lines


def _branch_lines(ok: list[PlannedRun], scratch_6nd: float) -> list[str]:
    """Cooldown branches: what the sweep spends (trunks whole, branches their cooldown only)
    against the same runs each trained from scratch."""
    if not any(r.info["spent_fraction"] < 1 for r in ok):
        return []
    lines = []
    spent = sum(r.info["flops"]["6ND"] * r.info["spent_fraction"] for r in ok)
    alone = [r for r in ok if "branch_alone" in r.info]
    if alone:
        lines.append(f"{len(alone)} branch(es) (#a) cannot fork and train alone at full cost: "
                     + "; ".join(f"{r.info['model']['name'] or ''} {r.info['budget']}: {r.info['branch_alone']}"
                                 for r in alone))
    lines.append(f"branches (#b: forked off the run above them, training only their cooldown, none under a "
                 f"constant schedule): "
                 f"{sum(r.info['spent_fraction'] < 1 for r in ok)} branches; FLOPs spent (6ND) {spent:.3g} "
                 f"against {scratch_6nd:.3g} for the same runs from scratch ({spent / scratch_6nd:.0%})")
    return lines
