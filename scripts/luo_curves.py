#!/usr/bin/env python
"""Luo et al.'s released loss curves with the learning rate of every step, for harness-fit.

    git clone https://github.com/thu-yao-01-luo/MultiPowerLaw
    python scripts/luo_curves.py MultiPowerLaw/loss_curve_repo/csv_400 luo_exact/csv_400 --check 400M

Their CSVs (step, lr, loss every 128 steps, from the end of the 2,160-step warmup on) log the rate
only where they log the loss. harness-fit rebuilds the rates between logged steps by interpolation,
which places the two-stage schedules' drop (at step 8,000) somewhere between two logged steps. This
script writes each curve with the rate of every step instead, from the schedule its file name
names (the paper's section 4 and their repository's schedule definitions: peak 3e-4, a linear
warmup from 0 over 2,160 steps, cosine and WSD ends at 3e-5, WSD's cooldown from step 20,000
exponential ("wsd") or linear ("wsdld"), two-stage "wsdcon_X" at 3e-4 to step 8,000 then X*1e-5 to
step 16,000), so that the fit sees exactly the schedules the curves were trained with.

Step convention: their loss logged at step s follows the update of step s (s + 1 updates); in
harness-fit's curve files a loss at step s follows s updates, so each loss is written at s + 1.
Nothing here is committed data: the output folder is the user's.

``--check MODEL`` also evaluates the law at Luo et al.'s published constants for that model
(harness.fit.laws.multipower.LUO_CONSTANTS) on the six curves they predict, with the rates rebuilt
from the logged ones (as harness-fit reads their files) and with every step's rate (the files
written here), and prints PredE and WorstE as their evaluation computes them.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

from harness.fit.curve_predict import prediction_summary
from harness.fit.laws.multipower import LUO_CONSTANTS, multipower_loss
from harness.fit.loaders.curvefiles import load_curve_folder

FITTED = ("cosine_24000", "constant_24000", "wsdcon_9")  # their train set; the other six are predicted
PEAK, END, WARMUP = 3e-4, 3e-5, 2160


def warmup() -> np.ndarray:
    return np.linspace(0.0, PEAK, WARMUP)


def cosine(total: int) -> np.ndarray:
    s = np.arange(WARMUP, total)
    return np.r_[warmup(), END + 0.5 * (PEAK - END) * (1 + np.cos(np.pi * (s - WARMUP) / (total - WARMUP)))]


def constant(total: int) -> np.ndarray:
    return np.r_[warmup(), np.full(total - WARMUP, PEAK)]


def two_stage(second: float, total: int = 16_000, switch: int = 8_000) -> np.ndarray:
    return np.r_[warmup(), np.full(switch - WARMUP, PEAK), np.full(total - switch, second)]


def wsd(decay: int, total: int, linear: bool) -> np.ndarray:
    s = np.arange(decay, total)
    f = (s - decay) / (total - decay)
    tail = PEAK * (1 - f) + END * f if linear else PEAK ** (1 - f) * END ** f
    return np.r_[warmup(), np.full(decay - WARMUP, PEAK), tail]


def rates_for(name: str) -> np.ndarray:
    """The schedule a curve's file name names (cosine_24000, wsd_20000_24000, wsdcon_9, ...)."""
    parts = name.split("_")
    if parts[0] == "cosine":
        return cosine(int(parts[1]))
    if parts[0] == "constant":
        return constant(int(parts[1]))
    if parts[0] == "wsdcon":
        return two_stage(int(parts[1]) * 1e-5)
    if parts[0] in ("wsd", "wsdld"):
        return wsd(int(parts[1]), int(parts[2]), linear=parts[0] == "wsdld")
    raise ValueError(f"{name}: not one of Luo et al.'s schedules (cosine_T, constant_T, wsdcon_X, wsd_D_T, wsdld_D_T)")


def convert(src: Path, dst: Path) -> int:
    dst.mkdir(parents=True, exist_ok=True)
    files = sorted(src.glob("*.csv"))
    if not files:
        raise ValueError(f"{src}: no CSV files")
    for f in files:
        with open(f, newline="") as fh:
            rows = [(int(float(r["step"])), float(r["loss"])) for r in csv.DictReader(fh)]
        eta = rates_for(f.stem)
        loss_at = {s + 1: y for s, y in rows if s + 1 <= len(eta)}
        last = max(loss_at)
        with open(dst / f.name, "w", newline="") as out:
            w = csv.writer(out)
            w.writerow(["step", "lr", "loss"])
            for s in range(last + 1):
                w.writerow([s, repr(float(eta[s])) if s < len(eta) else "", loss_at.get(s, "")])
    return len(files)


def check(folder: Path, model: str) -> dict[str, float]:
    """PredE, WorstE and the worst point of the law at the published constants on the predicted curves."""
    rows = []
    for rc in load_curve_folder(folder).run_curves:
        if rc.name in FITTED:
            continue
        keep = rc.eval_steps > rc.warmup_steps
        rel = np.abs(multipower_loss(LUO_CONSTANTS[model], rc.eta(), rc.eval_steps[keep]) / rc.eval_loss[keep] - 1)
        rows.append({"mean_rel_error": rel.mean(), "max_rel_error": rel.max(), "final_rel_error": rel[-1]})
    return prediction_summary(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", type=Path, help="one model size's folder of their CSVs (loss_curve_repo/csv_400)")
    ap.add_argument("dst", type=Path, help="where to write the curves with every step's rate")
    ap.add_argument("--check", choices=sorted(LUO_CONSTANTS), default=None,
                    help="evaluate the law at this model's published constants on both versions of the curves")
    args = ap.parse_args(argv)
    try:
        n = convert(args.src, args.dst)
        print(f"{n} curves written to {args.dst}")
        if args.check:
            print("| model | rates | PredE | WorstE | worst point |\n|---|---|---|---|---|")
            for what, folder in (("logged, interpolated", args.src), ("every step", args.dst)):
                s = check(folder, args.check)
                print(f"| {args.check} | {what} | {100 * s['pred_e']:.3f}% | {100 * s['worst_e']:.3f}% | "
                      f"{100 * s['worst_point']:.2f}% |")
    except (OSError, ValueError, KeyError) as e:
        print(f"luo_curves: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
