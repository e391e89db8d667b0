"""The moves ``harness-plan --next`` chooses from: a handful, by rule, not a search over every
shape and budget (harness/sweep/next_runs.py's docstring gives the rules and why)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from harness.sweep.runs_so_far import BUDGET_RTOL, Run, budgets, same_budget
from harness.sweep.units import ratio


@dataclass
class Move:
    runs: tuple[Run, ...]
    kind: str  # bracket | shape | budget
    why: str
    width: float | None = None  # expected width of the target's interval once added
    shrink: float | None = None  # expected shrink per run against the state before it
    cpu_hours: float | None = None  # estimated on the sweep's machine (harness.sweep.run_cost), when asked


class _Grid:
    """The ladder's rungs, and which of them ran at which budget."""

    def __init__(self, runs: Sequence[Run], rungs: list[tuple[str, float]]) -> None:
        self.runs, self.rungs = runs, rungs
        self.names = [r[0] for r in rungs]
        self.index = {name: i for i, name in enumerate(self.names)}

    def has(self, j: int, c: float) -> bool:
        return any(r.model == self.names[j] and same_budget(r.flops, c) for r in self.runs)

    def run(self, j: int, c: float) -> Run:
        return Run(self.names[j], self.rungs[j][1], c)

    def at(self, c: float) -> list[int]:
        """Indices of the runs at budget c."""
        return [k for k, r in enumerate(self.runs) if same_budget(r.flops, c)]

    def tried(self, c: float) -> list[int]:
        """The rungs run at budget c, ascending."""
        return sorted({self.index[self.runs[k].model] for k in self.at(c) if self.runs[k].model in self.index})

    def nearest(self, n: float) -> int:
        return int(np.argmin([abs(math.log(p / n)) for _, p in self.rungs]))


# A shape that would see fewer tokens than it has parameters is no point of an IsoFLOP profile worth
# running (the planner flags such runs): its loss says little but the surrogate would count it in full.
MIN_TOKENS_PER_PARAM = 1.0


def candidates(runs: Sequence[Run], losses: Sequence[float], rungs: list[tuple[str, float]],
               n_opt: Callable[[float], float], target: str, c_target: float | None, span: int = 2) -> list[Move]:
    """Rule-based moves on the current design (real runs plus runs already chosen): the
    bracketing ones first, then one more shape at a budget, then a new budget."""
    grid = _Grid(runs, rungs)
    bracket = [m for c in budgets(runs) for m in _bracket(grid, c, losses)]
    taken = {m.runs[0] for m in bracket}
    shapes = [m for c in budgets(runs) for m in _shapes(grid, c, n_opt, span, taken)]
    return bracket + shapes + _new_budgets(grid, n_opt, target, c_target)


def _bracket(grid: _Grid, c: float, losses: Sequence[float]) -> list[Move]:
    """The next rung past the edge of the sizes tried at c, when the lowest loss sits at that edge."""
    tried = grid.tried(c)
    if not tried:
        return []
    i_best = grid.index.get(grid.runs[min(grid.at(c), key=lambda k: losses[k])].model)
    if i_best is None:
        return []
    for step, edge, word in ((1, tried[-1], "largest"), (-1, tried[0], "smallest")):
        j = i_best + step
        if i_best == edge and 0 <= j < len(grid.names) and not grid.has(j, c):
            return [Move((grid.run(j, c),), "bracket",
                         f"C={c:.3g}: lowest loss at the {word} shape tried ({grid.names[i_best]}); "
                         f"{grid.names[j]} brackets the minimum")]
    return []


def _shapes(grid: _Grid, c: float, n_opt: Callable[[float], float], span: int, taken: set[Run]) -> list[Move]:
    """One more rung at c: within ``span`` rungs of the predicted N_opt(c), or the first untried
    one past either end of the sizes tried (a budget whose neighbourhood is all run still offers
    D/N variety at its edges)."""
    tried = grid.tried(c)
    if not tried:
        return []
    centre = grid.nearest(n_opt(c))
    near = set(range(max(0, centre - span), min(len(grid.names), centre + span + 1)))
    below = [j for j in range(tried[0] - 1, -1, -1) if not grid.has(j, c)]
    above = [j for j in range(tried[-1] + 1, len(grid.names)) if not grid.has(j, c)]
    near |= set(below[:1]) | set(above[:1])
    moves = []
    for j in sorted(near):
        if grid.has(j, c) or grid.run(j, c) in taken or c / (6 * grid.rungs[j][1] ** 2) < MIN_TOKENS_PER_PARAM:
            continue
        where = (f"near the predicted optimum N_opt {n_opt(c):.3g}" if abs(j - centre) <= span
                 else "past the sizes tried")
        moves.append(Move((grid.run(j, c),), "shape",
                          f"C={c:.3g}: one more shape ({grid.names[j]}, D/N {ratio(c / (6 * grid.rungs[j][1] ** 2))}) "
                          f"{where}: more D/N variety"))
    return moves


def _new_budgets(grid: _Grid, n_opt: Callable[[float], float], target: str, c_target: float | None) -> list[Move]:
    """Twice the largest budget (and the target's C when the loss there is asked and lies above),
    each with the three rungs around its predicted N_opt: bracketed by construction."""
    largest = max(r.flops for r in grid.runs)
    new_cs = [_nice(2 * largest)]
    if target == "loss" and c_target is not None and c_target > largest * (1 + BUDGET_RTOL):
        new_cs.append(c_target)
    moves = []
    for c in dict.fromkeys(new_cs):
        if any(same_budget(c, r.flops) for r in grid.runs):
            continue
        centre = min(max(grid.nearest(n_opt(c)), 1), len(grid.names) - 2)
        moves.append(Move(tuple(grid.run(j, c) for j in (centre - 1, centre, centre + 1)), "budget",
                          f"new budget C={c:.3g} above the largest ({largest:.3g}): the three rungs around its "
                          f"predicted N_opt {n_opt(c):.3g}, so its minimum is bracketed"))
    return moves


def _nice(c: float) -> float:
    """Round a budget to 1-2 significant figures, as a person would type it."""
    e = math.floor(math.log10(c))
    return round(c / 10 ** e, 1) * 10 ** e
