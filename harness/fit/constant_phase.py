"""IsoFLOP points read off the constant-rate phase of loss curves: Kaplan's reading of one long run.

    points = constant_phase_points(load_sweep("results/my_wsd_study"), budgets=[1e12, 3e12, 1e13])
    harness-fit results/my_wsd_study --constant-phase 1e12,3e12,1e13

A run whose rate holds at its peak after the warmup (a constant schedule, or the stable phase of a
wsd run or of its trunk) is, up to every step of that phase, the run of the shorter budget under a
constant rate: the warmup is set in tokens (harness.budget), so a shorter run's warmup is the same.
Kaplan et al. read every budget off such runs; Porian et al. show that the missing decay at the end
moves the allocation exponent. Reading both from the same runs (the annealed branches' final losses
and this) measures that move with the seeds and shapes held fixed.

For each budget C and each trajectory (the records of one shape, data, seed, peak rate and warmup:
a trunk and its cooldown branches share one), the loss at the step where the run has spent C is
read off a straight line in (log step, log loss) through the evaluations around that step. By
default the line runs through the two evaluations that bracket it (linear interpolation). With
``window`` w > 1 it is the least-squares line through every evaluation within a factor w of the
step, those two always among them: at a high constant rate the loss jitters from one evaluation to
the next by about as much as neighbouring shapes differ, and averaging over the window reads the
trajectory rather than its last jitter (Kaplan et al. and Hoffmann et al.'s approach 1 smooth their
curves before reading them). The line's bias is the curve's bend across the window: about +0.1% of
the loss for w = 1.5 on curves like these (tests/fit/test_constant_phase.py), nearly the same for
every shape of a budget, so it hardly moves a minimum. The evaluations used
lie in the constant phase, on the whole validation set, and the two around the step at most
``max_gap`` apart; nothing is extrapolated. A trajectory that cannot give a budget gives no point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from harness.errors import FitInputError
from harness.fit.lrcurves import RunCurve
from harness.fit.points import Points

# Two evaluations further apart than this factor in steps are too coarse to interpolate between.
MAX_GAP = 1.3
# Evaluations of one trajectory recorded by two of its runs agree to the last bits; this allows for JSON.
SAME_LOSS = 1e-6


@dataclass
class _Trajectory:
    """The constant-phase evaluations of one trajectory, merged over its records."""

    curve: RunCurve  # the record whose constant phase reaches furthest (its id labels the points)
    losses: dict[int, float] = field(default_factory=dict)


def constant_end(rc: RunCurve) -> int:
    """The last step s such that the rates of steps 0 .. s-1 are the warmup's and then the peak's."""
    eta = rc.eta()
    off = np.flatnonzero(~np.isclose(eta[rc.warmup_steps:], rc.peak_lr, rtol=1e-9, atol=0.0))
    return rc.warmup_steps + int(off[0]) if len(off) else len(eta)


def _key(rc: RunCurve) -> tuple:
    return (rc.shape_key, rc.data_key, rc.seed, rc.peak_lr, rc.warmup_steps, rc.tokens_per_step, rc.flops_per_token)


def _agrees(t: _Trajectory, steps: np.ndarray, losses: np.ndarray) -> bool:
    common = [(s, v) for s, v in zip(steps.tolist(), losses.tolist()) if s in t.losses]
    return all(abs(t.losses[s] - v) <= SAME_LOSS * abs(v) for s, v in common)


def trajectories(curves: Sequence[RunCurve]) -> list[_Trajectory]:
    """The constant phases of ``curves``, one per trajectory, each over the union of its records'
    evaluations (whole-set evaluations only, after the warmup). Two records with the same settings
    whose evaluations disagree are kept apart (different data orders, say)."""
    out: dict[tuple, list[_Trajectory]] = {}
    # The schedule is rebuilt step by step to find each end: once per curve.
    ends = [(constant_end(rc), i) for i, rc in enumerate(curves)]
    for end, i in sorted(ends, key=lambda e: (-e[0], e[1])):
        rc = curves[i]
        keep = rc.eval_full & (rc.eval_steps >= rc.warmup_steps) & (rc.eval_steps <= end)
        steps, losses = rc.eval_steps[keep], rc.eval_loss[keep]
        if len(steps) == 0:
            continue
        group = out.setdefault(_key(rc), [])
        t = next((t for t in group if _agrees(t, steps, losses)), None)
        if t is None:
            t = _Trajectory(curve=rc)
            group.append(t)
        t.losses.update({int(s): float(v) for s, v in zip(steps, losses)})
    return [t for group in out.values() for t in group]


def loss_at(t: _Trajectory, step: float, max_gap: float = MAX_GAP, window: float = 1.0) -> float | None:
    """The trajectory's loss at ``step`` (fractional), or None where its evaluations do not bracket it
    closely enough. ``window`` 1: the evaluation at ``step``, or the line through the two around it;
    w > 1: the least-squares line through those and every other evaluation within a factor w."""
    steps = np.array(sorted(t.losses))
    if len(steps) == 0 or step > steps[-1] or step < steps[0]:
        return None
    j = int(np.searchsorted(steps, step))
    if steps[j] == step:
        near = {int(steps[j])}
    else:
        lo, hi = int(steps[j - 1]), int(steps[j])
        if hi / lo > max_gap:
            return None
        near = {lo, hi}
    if window > 1.0:
        near |= {int(s) for s in steps if step / window <= s <= step * window}
    if len(near) == 1:
        return t.losses[near.pop()]
    if len(near) == 2:  # the line through two points, written as the interpolation it always was
        lo, hi = sorted(near)
        w = (math.log(step) - math.log(lo)) / (math.log(hi) - math.log(lo))
        return math.exp((1 - w) * math.log(t.losses[lo]) + w * math.log(t.losses[hi]))
    x = np.log(np.array(sorted(near), dtype=float)) - math.log(step)
    y = np.log([t.losses[s] for s in sorted(near)])
    # The line's value at x = 0, the step itself.
    _, intercept = np.polyfit(x, y, 1)
    return math.exp(float(intercept))


def constant_phase_points(points: Points, budgets: Sequence[float], max_gap: float = MAX_GAP,
                          window: float = 1.0) -> Points:
    """Points at ``budgets`` (in the points' FLOP convention) read off the constant-rate phase of
    every run curve of ``points`` (run records), each from the evaluations within a factor ``window``
    of its step (1: the two around it). Raises FitInputError naming the source when its records hold
    no curve or no constant phase reaches any budget."""
    if not budgets:
        raise FitInputError("--constant-phase: give one or more budgets C, e.g. 1e12,3e12,1e13")
    if not window >= 1.0:
        raise FitInputError(f"--constant-phase-window: {window:g} is below 1; give a factor in steps, e.g. 1.5")
    if not points.run_curves:
        raise FitInputError(f"--constant-phase: {points.source} holds no run records with loss curves")
    group_of = {}
    if points.group is not None and points.data_keys is not None:
        group_of = dict(zip(points.data_keys, points.group))
    rows = []
    trajs = trajectories(points.run_curves)
    for t in trajs:
        rc = t.curve
        for c in budgets:
            step = c / (rc.flops_per_token * rc.tokens_per_step)
            loss = loss_at(t, step, max_gap, window)
            if loss is not None:
                rows.append((rc, c, step, loss))
    if not rows:
        raise FitInputError(f"--constant-phase: no curve of {points.source} stays at its peak rate, evaluated on the "
                            f"whole validation set, through any of the budgets {', '.join(f'{c:g}' for c in budgets)}")
    read = len({id(rc) for rc, *_ in rows})
    notes = list(points.notes) + [
        f"constant phase: {len(rows)} points read off {read} of {len(trajs)} trajectories at the rate's peak "
        f"(budgets {', '.join(f'{c:g}' for c in budgets)}; "
        + (f"a least-squares line in log step through the evaluations within x{window:g} of each"
           if window > 1.0 else "interpolated in log step")
        + f", evaluations at most x{max_gap:g} apart): each is the run of that budget under a constant rate, not the "
        "runs' final losses"]
    keys = [rc.data_key for rc, *_ in rows]
    return Points(
        n=np.array([rc.n for rc, *_ in rows]), d=np.array([s * rc.tokens_per_step for rc, _, s, _ in rows]),
        c=np.array([c for _, c, _, _ in rows]), loss=np.array([v for *_, v in rows]),
        labels=[f"{rc.run_id}@{c:.3g}" for rc, c, _, _ in rows],
        group=[group_of.get(k, "") for k in keys] if group_of else None, data_keys=keys,
        source=points.source, param_convention=points.param_convention, flops_convention=points.flops_convention,
        notes=notes, floor=points.floor)
