"""``harness-plan --next``'s proposal as a person reads it (each move and why, then the
``harness-train -m`` commands that run it, one per budget) or as a program does (JSON)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Sequence

from omegaconf import OmegaConf

from harness.config import conf_dir
from harness.sweep.candidates import Move
from harness.sweep.next_runs import Proposal
from harness.sweep.runs_so_far import Design
from harness.sweep.surrogate import INTERVAL_TEXT, LAW_TEXT
from harness.sweep.units import ratio

REPLACED = ("train.flops", "model", "out_dir", "sweep_name")  # what a proposal's command sets itself

def sweep_overrides(design: Design) -> list[str]:
    """The sweep's command-line overrides, less the grid (train.flops, model) that --next replaces.

    From the newest Hydra multirun folder under the sweep when present; else the shipped preset
    whose sweep_name is the sweep's, plus out_dir and sweep_name as the records say.
    """
    cfg = design.configs[0] if design.configs else {}
    out_dir, name = cfg.get("out_dir"), cfg.get("sweep_name")
    if design.sweep_dir is not None:  # the runs go where the sweep asked about is, whatever its records say
        out_dir, name = design.sweep_dir.parent.as_posix(), design.sweep_dir.name
        task = _hydra_task(design.sweep_dir)
        if task is not None:
            keep = [o for o in task if o.split("=", 1)[0].lstrip("+~") not in REPLACED]
            return keep + [f"out_dir={out_dir}", f"sweep_name={name}"]
    out = []
    preset = cfg.get("sweep_name")  # the records' own sweep_name names their preset, when shipped
    for p in sorted((conf_dir() / "sweep").glob("*.yaml")):
        if re.search(rf"^sweep_name:\s*{re.escape(str(preset))}\s*$", p.read_text(), re.M):
            out.append(f"sweep={p.stem}")
            break
    if out_dir:
        out.append(f"out_dir={out_dir}")
    if name:
        out.append(f"sweep_name={name}")
    return out


def _hydra_task(sweep_dir: Path) -> list[str] | None:
    """The task overrides of the newest readable Hydra multirun.yaml under the sweep, if any."""
    for mr in sorted((sweep_dir / "hydra").glob("*/multirun.yaml"), reverse=True):
        try:
            return list(OmegaConf.load(mr).hydra.overrides.task)
        except Exception:  # an unreadable Hydra file: try an older one, then the preset
            continue
    return None


def commands(design: Design, moves: Sequence[Move]) -> list[str]:
    base = " ".join(sweep_overrides(design))
    by_c: dict[float, list[str]] = {}
    for m in moves:
        for r in m.runs:
            by_c.setdefault(r.flops, []).append(r.model)
    return [f"harness-train -m {base} train.flops={c:.3g} model={','.join(models)}".replace("  ", " ")
            for c, models in sorted(by_c.items(), reverse=True)]


def render(design: Design, prop: Proposal) -> str:
    m = prop.method
    lines = [f"--next: {len(design.points)} runs so far; target {prop.target} under {LAW_TEXT[prop.law]}",
             f"widths: {m.describe()}"]
    if prop.interval_now:
        lo, hi = prop.interval_now
        now = f"[{lo:.3f}, {hi:.3f}] (width {hi - lo:.3f}, bootstrap seed {m.seed})"
    else:
        now = "none (the fit fails)"
    lines.append(f"95% interval now: {now}; expected width now {prop.width_now:.3f}")
    lines += [f"note: {n}" for n in prop.notes]
    for i, mv in enumerate(prop.moves, 1):
        runs = ", ".join(f"{r.model} at {r.flops:.3g} (D/N {ratio(r.d / r.n)})" for r in mv.runs)
        hours = "" if mv.cpu_hours is None else f", ≈{mv.cpu_hours:.2f} CPU-h"
        lines.append(f"{i}. [{mv.kind}] {runs}: expected width after {mv.width:.3f} "
                     f"({mv.shrink:+.3f} per run{hours}). {mv.why}")
    if prop.moves and all(mv.cpu_hours is not None for mv in prop.moves):
        lines.append(f"estimated cost of all {sum(len(mv.runs) for mv in prop.moves)} runs: "
                     f"≈{sum(mv.cpu_hours for mv in prop.moves):.2f} CPU-hours on the sweep's machine")
    if prop.moves:
        lines.append("commands (one per budget):")
        lines += ["  " + c for c in commands(design, prop.moves)]
    return "\n".join(lines)


def to_json(design: Design, prop: Proposal) -> dict[str, Any]:
    m = prop.method
    return {"target": prop.target, "law": prop.law, "width_now": prop.width_now, "interval_now": prop.interval_now,
            "width": {"law": LAW_TEXT[m.law], "interval": f"95% {INTERVAL_TEXT[m.law]}", "n_bootstrap": m.n_bootstrap,
                      "draws": m.draws, "bootstrap_seeds": list(range(m.seed, m.seed + m.draws)),
                      "noise_relative": m.noise.relative, "seed_noise_relative": m.noise.seed,
                      "seed_noise_from": m.noise.source, "residual_scale_relative": m.noise.misfit,
                      "text": m.describe()},
            "runs": [{"model": r.model, "n": r.n, "flops": r.flops, "kind": mv.kind, "why": mv.why,
                      "expected_width": mv.width, "move_cpu_hours": mv.cpu_hours}
                     for mv in prop.moves for r in mv.runs],
            "commands": commands(design, prop.moves), "notes": prop.notes}
