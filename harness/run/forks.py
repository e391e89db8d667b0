"""The cooldown branches a trunk forks as it trains (which ones, and where: harness/run/branches.py).

Until its fork, a branch's steps are the trunk's, so the trunk keeps, beside its own curve, the
curve each branch's standalone run would draw (its own evaluation and log points, its own
schedule's learning rates). At the branch's fork step the trunk writes the checkpoint that run
would hold there, and the branch resumes from it later as the ordinary run it is."""

from __future__ import annotations

import functools
import math
from typing import Callable

from harness import records
from harness.config import Config, ScheduleConfig
from harness.flops import Shape
from harness.run.branches import Fork
from harness.run.checkpoint import Checkpoint
from harness.run.state import Curve, Log, RunState, utc_now
from harness.run.step import TrainStep
from harness.schedule import lr_factor


def unforked(cfg: Config, run_id: str) -> bool:
    """A branch still to fork: it has no record yet and no checkpoint to resume from."""
    return (records.find_record(cfg.out_dir, cfg.sweep_name, run_id, quarantine_corrupt=False) is None
            and not records.checkpoint_path(cfg.out_dir, cfg.sweep_name, run_id).exists())


def branch_lr(peak: float, fork: Fork, schedule: ScheduleConfig, at: int) -> float:
    """The learning rate a branch's own scheduler gives after ``at`` steps (as TrainStep.lr_at)."""
    return peak * lr_factor(at, fork.steps, fork.warmup_steps, schedule)


class Forks:
    """The branches a trunk has still to fork, by run id, each with its curve so far."""

    def __init__(self, cfg: Config, trunk_id: str, log: Log, pending: dict[str, tuple[Fork, Curve]]) -> None:
        self.cfg, self.trunk_id, self.log, self.pending = cfg, trunk_id, log, pending

    @classmethod
    def start(cls, cfg: Config, trunk_id: str, log: Log, forks: list[Fork], at: int, saved: dict[str, RunState],
              shape: Shape, tokens_per_step: int, per_token: dict[str, float]) -> Forks:
        """The branches of ``forks`` whose fork the trunk, now at step ``at``, has still to pass,
        each with the curve its trunk's checkpoint kept (``saved``) or a fresh one."""
        pending = {}
        for f in forks:
            if f.fork_step >= at:
                lr_at = functools.partial(branch_lr, cfg.optim.lr, f, cfg.schedule)
                state = saved.get(f.run_id) or RunState(
                    started_at=utc_now(), start_step=f.fork_step, branch=f.describe(trunk_id, shape))
                pending[f.run_id] = (f, Curve.of(state, f.steps, lr_at, cfg, tokens_per_step, per_token))
        return cls(cfg, trunk_id, log, pending)

    def curves(self) -> list[Curve]:
        return [c for _, c in self.pending.values()]

    def states(self) -> dict[str, RunState]:
        """What the trunk's checkpoint keeps of them: their curves so far."""
        return {rid: c.state for rid, (_, c) in self.pending.items()}

    def _ahead(self, at: int) -> list[tuple[Fork, Curve]]:
        # A branch forked at step ``at`` still takes its point there: the fork is its last trunk step.
        return [(f, c) for f, c in self.pending.values() if f.fork_step >= at]

    def wants_losses(self, at: int) -> bool:
        """Whether some branch takes a point or forks after step ``at``: the losses must be read."""
        return any(c.due(at) or f.fork_step == at for f, c in self._ahead(at))

    def take_points(self, at: int, quick_loss: Callable[[int], float]) -> None:
        """The points the branches' standalone runs take after step ``at``. A branch whose
        validation loss is not finite there is dropped: its standalone run stops as diverged at
        that point, and left to run alone, it will."""
        for f, c in self._ahead(at):
            kind = c.due(at)
            if kind is not None:
                p = c.point(at, quick_loss(at) if kind == "eval" else None)
                if p["val_loss"] is not None and not math.isfinite(p["val_loss"]):
                    del self.pending[f.run_id]

    def fork(self, at: int, step: TrainStep) -> None:
        """Write the checkpoint of each branch whose cooldown starts after step ``at``: the state
        its standalone run would have there, with its own schedule's next learning rate."""
        cfg = self.cfg
        for rid, (f, c) in list(self.pending.items()):
            if f.fork_step != at:
                continue
            del self.pending[rid]
            try:
                with records.run_lock(cfg.out_dir, cfg.sweep_name, rid):
                    if not unforked(cfg, rid):
                        continue
                    c.state.step = at
                    Checkpoint.of(cfg, rid).save(step, c.state, lr=c.lr_at(at))
            except records.RunInProgress:
                continue  # another process trains that branch alone and will write its record
            self.log(f"run {self.trunk_id}: forked the cooldown branch {f.budget:g} ({rid}) at step {at}")
