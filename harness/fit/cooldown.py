"""A schedule question a fitted curve law answers: for a shape and a length, which warmup-stable-decay
cooldown (its share of the run and its shape, linear or 1-sqrt) ends at the lowest loss?

Every candidate keeps the peak rate, the warmup and the final rate fraction of the shape's longest
fitted run, so only the cooldown differs; a cosine run of the same length is the yardstick.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from harness.config import ScheduleConfig
from harness.fit.lrcurves import RunCurve

FRACTIONS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0)
DECAY_SHAPES = ("linear", "1-sqrt")


def _template(fitter: Any, sf: Any) -> RunCurve:
    return max((rc for rc in fitter.run_curves_ if rc.shape_key == sf.key), key=lambda rc: rc.steps)


def cooldown_grid(fitter: Any, shape: str, steps: int | None = None) -> dict[str, Any]:
    """The law's final loss for every cooldown fraction and shape at ``steps`` (default: the shape's
    longest fitted run), the best of them, and a cosine run of the same length."""
    sf = fitter.shape(shape)
    ref = _template(fitter, sf)
    steps = int(steps or ref.steps)
    final = _final_fraction([rc for rc in fitter.run_curves_ if rc.shape_key == sf.key])
    warm = min(ref.warmup_steps, steps - 1)
    grid = []
    for shape_name in DECAY_SHAPES:
        for frac in FRACTIONS:
            cfg = ScheduleConfig(name="wsd", decay_fraction=frac, decay_shape=shape_name, final_lr_fraction=final)
            grid.append({"decay_fraction": frac, "decay_shape": shape_name,
                         "loss": fitter.predict_final(sf.key, cfg, steps, warm, ref.peak_lr)})
    cosine = fitter.predict_final(sf.key, ScheduleConfig(name="cosine", final_lr_fraction=final), steps, warm, ref.peak_lr)
    best = min(grid, key=lambda g: g["loss"])
    return {"shape": sf.label, "steps": steps, "warmup_steps": warm, "peak_lr": ref.peak_lr,
            "final_lr_fraction": final, "grid": grid, "best": best, "cosine": cosine}


def _final_fraction(runs: list[RunCurve]) -> float:
    """Where the fitted runs' decays end, as a share of the peak: the lowest end of any of them, or
    the harness's default 0.1 when none decays (a constant run says nothing about it)."""
    ends = [float(rc.eta()[-1] / rc.peak_lr) for rc in runs if rc.peak_lr > 0]
    low = min(ends, default=1.0)
    return low if low < 0.999 else ScheduleConfig().final_lr_fraction


def cooldowns(fitter: Any, budgets: Sequence[float] = ()) -> list[dict[str, Any]]:
    """The answer for every fitted shape at its longest fitted length and, for run records (whose
    FLOPs per token and tokens per step are known), at each budget C in ``budgets``."""
    out = []
    for sf in fitter.shapes_.values():
        out.append(cooldown_grid(fitter, sf.key))
        for c in budgets:
            if not (math.isfinite(sf.flops_per_token) and math.isfinite(sf.tokens_per_step)):
                continue
            steps = int(round(c / sf.flops_per_token / sf.tokens_per_step))
            if steps > _template(fitter, sf).warmup_steps + 1:
                row = cooldown_grid(fitter, sf.key, steps)
                row["budget"] = float(c)
                out.append(row)
    return out


def cooldown_lines(rows: list[dict[str, Any]]) -> list[str]:
    out = ["", "Which cooldown ends lowest, by the fitted law (warmup-stable-decay runs of the shape's longest fitted "
           "length, and of each --cooldown-budgets budget; its peak rate, warmup and final rate; the cooldown's share "
           "of the run and its shape varied):", "",
           "| shape | steps | best cooldown | its loss | linear 20% | 1-sqrt 20% | cosine | best vs cosine |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        at = {(g["decay_shape"], g["decay_fraction"]): g["loss"] for g in r["grid"]}
        b = r["best"]
        gain = b["loss"] / r["cosine"] - 1.0 if math.isfinite(r["cosine"]) else math.nan
        steps = f"{r['steps']} (C = {r['budget']:.3g})" if "budget" in r else str(r["steps"])
        out.append(f"| {r['shape']} | {steps} | {b['decay_shape']}, {b['decay_fraction']:.0%} of the run | "
                   f"{b['loss']:.4f} | {at.get(('linear', 0.2), math.nan):.4f} | {at.get(('1-sqrt', 0.2), math.nan):.4f} | "
                   f"{r['cosine']:.4f} | {100 * gain:+.2f}% |")
    return out
