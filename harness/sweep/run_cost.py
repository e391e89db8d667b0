"""What a proposed run will cost in CPU-hours on the machine that ran the sweep, from its own records.

A run's CPU-seconds are its wall seconds times its threads. Per FLOP (6ND) they fall with N at
toy scale: a tiny model's step is mostly fixed overhead, so the smallest shapes cost the most per
FLOP. The model is a line in log-log through the sweep's runs, seconds per FLOP against N, which a
proposed run's budget multiplies. A cooldown branch's record times only its cooldown, not the FLOPs
its budget names, so branches are left out; so are runs with no time recorded.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np


@dataclass(frozen=True)
class CostModel:
    """CPU-seconds per FLOP = exp(icpt) N^slope, fitted on ``n_runs`` runs of the sweep."""

    slope: float
    icpt: float
    n_runs: int

    def cpu_hours(self, n: float, flops: float) -> float:
        return flops * math.exp(self.icpt + self.slope * math.log(n)) / 3600.0


# The core count harness.machine writes at the end of a CPU's device name, e.g. "... (2 cores)".
CORES = re.compile(r"\((\d+) cores?\)\s*$")


def run_threads(record: Any) -> int | None:
    """The CPU threads a run trained with: its config's train.threads, or where it left torch's
    default, the cores its device name names (torch then takes one thread per core); None when
    neither says (not a CPU run)."""
    cfg = record.config if isinstance(record.config, dict) else {}
    train = cfg.get("train")
    n = train.get("threads") if isinstance(train, dict) else None
    if isinstance(n, int) and not isinstance(n, bool) and n > 0:
        return n
    m = CORES.search(getattr(record, "device_name", None) or "")
    return int(m.group(1)) if m else None


def record_cpu_seconds(record: Any) -> float | None:
    """A completed, standalone run's CPU-seconds (wall x threads); None for a branch or no time."""
    extra = getattr(record, "extra", None) or {}
    wall = getattr(record, "wall_seconds", None)
    if "branch" in extra or not isinstance(wall, (int, float)) or not wall > 0:
        return None
    return float(wall) * float(run_threads(record) or 1)


def fit_cost(n: Sequence[float], flops: Sequence[float], cpu_seconds: Sequence[float | None]) -> CostModel | None:
    """The line through the runs that have a time; constant in N when they are all one size; None
    when none has."""
    rows = [(a, b, s) for a, b, s in zip(n, flops, cpu_seconds) if s is not None and s > 0]
    if not rows:
        return None
    x = np.log([r[0] for r in rows])
    y = np.log([r[2] / r[1] for r in rows])
    if np.ptp(x) < 1e-9:
        return CostModel(slope=0.0, icpt=float(np.mean(y)), n_runs=len(rows))
    slope, icpt = np.polyfit(x, y, 1)
    return CostModel(slope=float(slope), icpt=float(icpt), n_runs=len(rows))
