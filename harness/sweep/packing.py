"""Wall time of a sweep whose runs share GPUs (``sweep.runs_per_gpu``), from single-run estimates.

With n GPUs and k runs per GPU there are n*k slots (harness/run/devices.py), each taken by one
run at a time. A launcher hands out runs as slots free up; the planner models that as the
longest-processing-time-first (LPT) schedule: the longest run first, each run to the slot that
frees earliest. LPT's makespan is within 4/3 of the best possible schedule (Graham, 1969) and is
what a launcher fed longest-first achieves; fed in grid order it can only do worse.

Sharing is not free: k processes on one GPU interleave their kernels (or run them side by side
under CUDA MPS), so each is slower than alone, by anything from ~1 (tiny models that leave the GPU
idle between kernels) to ~k (a model that fills the GPU alone). The planner cannot know which
without measuring, so the slowdown of a run that shares its GPU is a stated assumption
(``plan.pack_slowdown``); scripts/gpu_check.sh measures it: slowdown = k / (aggregate tokens/s at
k runs per GPU over that at 1).
"""

from __future__ import annotations

import heapq
from typing import Sequence


def lpt_schedule(seconds: Sequence[float], slots: int) -> list[float]:
    """Busy time of each slot when runs of the given durations are placed longest first, each on
    the slot that frees earliest. The makespan (the sweep's wall time) is the maximum."""
    if slots < 1:
        raise ValueError(f"slots must be at least 1, got {slots}")
    loads = [(0.0, i) for i in range(slots)]  # (busy until, slot index): the index breaks ties
    for s in sorted(seconds, reverse=True):
        busy, i = heapq.heappop(loads)
        heapq.heappush(loads, (busy + s, i))
    return [busy for busy, _ in sorted(loads, key=lambda x: x[1])]


def packed_wall_seconds(seconds: Sequence[float], n_gpus: int, runs_per_gpu: int, slowdown: float) -> float:
    """Makespan of the runs on ``n_gpus`` GPUs with ``runs_per_gpu`` slots each, every run taking
    ``slowdown`` times its single-run time when it shares a GPU (runs_per_gpu > 1).

    The slowdown applies to every run of a packed sweep, also to the last few when fewer than
    runs_per_gpu are left on a GPU: it errs long, not short.
    """
    if n_gpus < 1 or runs_per_gpu < 1:
        raise ValueError(f"need at least one GPU and one run per GPU, got {n_gpus} and {runs_per_gpu}")
    if slowdown < 1:
        raise ValueError(f"a run sharing a GPU is not faster than alone: slowdown {slowdown} < 1")
    factor = slowdown if runs_per_gpu > 1 else 1.0
    if not seconds:
        return 0.0
    return max(lpt_schedule([s * factor for s in seconds], n_gpus * runs_per_gpu))
