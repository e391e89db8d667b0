"""Under-tuned flags: how much loss each run gives away by training off its tuned learning rate.

A run's tuned rate is the tuning sweep's optimum for its shape when that shape was tuned, else the
fitted law lr*(N). The penalty is the tuning parabola's a * ln(lr / lr*)^2, with a the shape's own
curvature or, for an untuned shape, the curvature interpolated in log N between tuned shapes
(held at the nearest end outside them). A parabola fitted within x4 of the optimum overstates the
penalty far outside it, so the number is an estimate for ranking and thresholding, not a loss.

A run is flagged when the penalty exceeds ``threshold`` nats or its rate is more than ``max_ratio``
off the tuned one. "No tuning behind it" (the planner's question) is a rung whose N lies outside the
tuned shapes' range (by more than ``slack``) or that is flagged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from harness.errors import SweepError, TuningError
from harness.flops import shape_label
from harness.tune.analysis import TuningResult, load_result


@dataclass
class RunFlag:
    run_id: str
    model: str
    n: float  # non-embedding parameters
    lr: float
    lr_tuned: float | None  # None: nothing to compare with (no law and an untuned shape)
    ratio: float | None  # lr / lr_tuned
    penalty: float | None  # estimated loss given away, nats
    source: str  # "shape" (the shape's own optimum), "law" (lr*(N)), or "none"
    extrapolated: bool  # N outside the tuned range: the tuned rate is an extrapolation
    flagged: bool
    why: str

    def line(self, with_run: bool = True, verdict: str = "UNDER-TUNED") -> str:
        who = f"{self.model} (run {self.run_id})" if with_run else self.model
        if self.lr_tuned is None:
            return f"{who}: no tuned rate ({self.why})"
        pen = f", est. penalty {self.penalty:+.3f} nats" if self.penalty is not None else ""
        return (f"{who}: lr {self.lr:.3g} vs tuned {self.lr_tuned:.3g} "
                f"(x{self.ratio:.2g}{pen}; {self.source}{', extrapolated' if self.extrapolated else ''})"
                + (f": {verdict} ({self.why})" if self.flagged else ""))


def _curvature_at(result: TuningResult, n: float) -> float | None:
    pts = sorted((s.n, s.curvature) for s in result.shapes if s.curvature is not None and s.edge is None)
    if not pts:
        return None
    ln = np.log([p[0] for p in pts])
    return float(np.interp(math.log(n), ln, [p[1] for p in pts]))


def judge(result: TuningResult, run_id: str, model: str, n: float, lr: float, threshold: float = 0.01,
          max_ratio: float = 2.0, slack: float = 1.5) -> RunFlag:
    shape = result.shape_for(n)
    tuned_ns = [s.n for s in result.shapes]
    extrapolated = not (min(tuned_ns) / slack <= n <= max(tuned_ns) * slack)
    if shape is not None and shape.edge is None:
        lr_t, source, a = shape.lr_opt, "shape", shape.curvature
    elif result.law is not None:
        lr_t, source, a = result.law.lr(n), "law", _curvature_at(result, n)
    elif shape is not None:  # only an edge optimum: the best grid rate is a bound, still a reference
        lr_t, source, a = shape.lr_opt, "shape (edge)", shape.curvature
    else:
        return RunFlag(run_id, model, n, lr, None, None, None, "none", True, True,
                       "untuned shape and no lr*(N) law")
    ratio = lr / lr_t
    penalty = a * math.log(ratio) ** 2 if a is not None else None
    why = []
    if penalty is not None and penalty > threshold:
        why.append(f"penalty > {threshold:g}")
    if max(ratio, 1 / ratio) > max_ratio:
        why.append(f"lr x{ratio:.2g} off, beyond x{max_ratio:g}")
    return RunFlag(run_id, model, n, lr, lr_t, ratio, penalty, source, extrapolated, bool(why), "; ".join(why))


def flag_records(result: TuningResult, recs: Sequence[Any], threshold: float = 0.01,
                 max_ratio: float = 2.0) -> list[RunFlag]:
    """One RunFlag per completed record (``config.optim.lr``, ``params.non_embedding``)."""
    out = []
    for r in recs:
        if getattr(r, "status", "completed") != "completed" or not r.config or not r.params:
            continue
        m = r.config.get("model", {})
        name = m.get("name") or shape_label(m.get("n_layer"), m.get("d_model"))
        out.append(judge(result, r.run_id, name, float(r.params["non_embedding"]), float(r.config["optim"]["lr"]),
                         threshold, max_ratio))
    return out


def summary_lines(flags: Sequence[RunFlag], source: str) -> list[str]:
    bad = [f for f in flags if f.flagged]
    lines = [f"under-tuned: {len(bad)} of {len(flags)} runs off the tuned rates of {source}"]
    lines += ["  " + f.line() for f in bad]
    return lines


def flag_planned(tuning: str, runs: Sequence[Any], threshold: float = 0.01, max_ratio: float = 2.0) -> list[str]:
    """harness-plan's ``plan.tuning=``: add the flag ``untuned`` to every planned run (a PlannedRun
    with ``info``) that has no tuning behind it, and return the summary lines. Bad input: SweepError."""
    try:
        result = load_result(tuning)
    except TuningError as e:
        raise SweepError(str(e)) from None
    judged = []
    for r in runs:
        if not r.info:
            continue
        f = judge(result, r.run_id or "-", r.info["model"]["name"] or "?", float(r.info["params"]["non_embedding"]),
                  float(r.info["lr"]), threshold, max_ratio)
        if f.extrapolated and not f.flagged:
            f.flagged, f.why = True, "N outside the tuned shapes' range"
        if f.flagged:
            r.flags.append("untuned")
        judged.append(f)
    bad = [f for f in judged if f.flagged]
    seen, lines = set(), [f"tuning: {len(bad)} of {len(judged)} runs have no tuning behind them "
                          f"(against {result.source}: lr off the tuned rate beyond x{max_ratio:g} or a penalty "
                          f"> {threshold:g} nats, or N outside the tuned range)"]
    for f in bad:
        key = (f.model, f.lr)
        if key not in seen:
            seen.add(key)
            lines.append("  " + f.line(with_run=False, verdict="NO TUNING BEHIND IT"))
    return lines
