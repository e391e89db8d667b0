"""An IsoFLOP sweep's runs so far as ``harness-plan --next`` sees them: points to fit, and which
ladder rung ran at which requested budget.

Shapes are the named ladder's (harness/shapes/ladder.py), counted at the sweep's vocabulary and
context as its runs count them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from harness.errors import FitInputError, NextRunsError
from harness.fit.loaders import load_sweep
from harness.fit.points import Points
from harness.records import scan_sweep
from harness.shapes.design import shape_counts
from harness.shapes.ladder import LADDER
from harness.sweep.run_cost import record_cpu_seconds

BUDGET_RTOL = 0.05  # runs within 5% of compute are one budget, as approach 2 groups them


@dataclass(frozen=True)
class Run:
    model: str  # a ladder rung's config name, e.g. ladder_xs
    n: float  # total parameters
    flops: float  # the requested budget (train.flops, 6ND)

    @property
    def d(self) -> float:
        return self.flops / (6.0 * self.n)


@dataclass
class Design:
    """The runs so far as the proposer sees them: points, and which rung ran at which budget."""

    points: Points
    runs: list[Run]  # one per point, same order; model may be '' for a non-ladder shape
    vocab_size: int
    seq_len: int
    configs: list[dict[str, Any]] = field(default_factory=list)
    sweep_dir: Path | None = None
    # Each run's CPU-seconds where the record says them as a standalone run (harness.sweep.run_cost).
    cpu_seconds: list[float | None] = field(default_factory=list)


def rung_params(vocab_size: int, seq_len: int) -> list[tuple[str, float]]:
    """(config name, total parameters) of every ladder rung, as the runs would count them."""
    return [(r.name, float(shape_counts(r, "gpt2", vocab_size, seq_len).total)) for r in LADDER]


def budgets(runs: Sequence[Run]) -> list[float]:
    """The distinct budgets of the runs, ascending, runs within BUDGET_RTOL counted as one."""
    out: list[float] = []
    for c in sorted({r.flops for r in runs}):
        if not out or c > out[-1] * (1 + BUDGET_RTOL):
            out.append(c)
    return out


def same_budget(a: float, b: float) -> bool:
    return abs(math.log(a / b)) <= math.log1p(BUDGET_RTOL)


def load_design(sweep_dir: str | Path) -> Design:
    """The completed runs of a sweep folder, with each run's rung and requested budget."""
    sweep_dir = Path(sweep_dir)
    try:
        points = load_sweep(sweep_dir)
    except FitInputError as e:
        raise NextRunsError(str(e)) from None
    records, _ = scan_sweep(sweep_dir, quarantine_corrupt=False, status="completed")
    by_id = {r.run_id: r for r in records}
    runs, configs, cpu = [], [], []
    vocab = seq = None
    for i, rid in enumerate(points.labels):
        cfg = by_id[rid].config if isinstance(by_id[rid].config, dict) else {}
        configs.append(cfg)
        data = cfg.get("data") or {}
        vocab, seq = vocab or data.get("vocab_size"), seq or data.get("seq_len")
        flops = (cfg.get("train") or {}).get("flops")
        if not flops or (cfg.get("train") or {}).get("flops_convention") != "6ND":
            raise NextRunsError(f"{sweep_dir}: run {rid} was not sized by train.flops under 6ND; "
                                "--next proposes IsoFLOP runs only")
        runs.append(Run(model=str((cfg.get("model") or {}).get("name") or ""), n=float(points.n[i]),
                        flops=float(flops)))
        cpu.append(record_cpu_seconds(by_id[rid]))
    if not vocab or not seq:
        raise NextRunsError(f"{sweep_dir}: the records do not say the data's vocab_size and seq_len")
    return Design(points=points, runs=runs, vocab_size=int(vocab), seq_len=int(seq), configs=configs,
                  sweep_dir=sweep_dir, cpu_seconds=cpu)


def design_from_arrays(n: Sequence[float], flops: Sequence[float], loss: Sequence[float],
                       models: Sequence[str] | None = None, vocab_size: int = 128, seq_len: int = 64) -> Design:
    """A design from plain numbers (tests, notebooks): D = C / 6N."""
    n_a, c_a = np.asarray(n, float), np.asarray(flops, float)
    pts = Points.from_arrays(n_a, c_a / (6 * n_a), loss, c_a, labels=[f"run{i}" for i in range(len(n_a))])
    if models is None:
        names = dict((round(p), name) for name, p in rung_params(vocab_size, seq_len))
        models = [names.get(round(x), "") for x in n_a]
    return Design(points=pts, runs=[Run(m, float(x), float(c)) for m, x, c in zip(models, n_a, c_a)],
                  vocab_size=vocab_size, seq_len=seq_len)
