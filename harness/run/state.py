"""What a run carries from step to step and what it says on the way: its state (all that a
checkpoint holds besides the tensors), its loss curves, and its log."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from harness.config import Config
from harness.flops import CONVENTIONS


def utc_now() -> str:
    """The time stamp records carry (``started_at``, ``ended_at``)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class RunState:
    """Everything a checkpoint must hold for a resumed run to continue bit for bit."""

    step: int = 0  # optimizer steps done
    curve: list[dict[str, Any]] = field(default_factory=list)
    train_loss_sum: float = 0.0  # train loss summed since the last curve point
    train_loss_count: int = 0
    train_seconds: float = 0.0  # time in training steps (evaluation excluded), across restarts
    wall_seconds: float = 0.0  # whole-run time across restarts
    started_at: str = ""
    # The step this run's own training began at: 0, or for a cooldown branch its fork step (the
    # steps before it were the trunk's, whose time is the trunk's), so tokens/s counts its own steps.
    start_step: int = 0
    branch: dict[str, Any] | None = None  # a cooldown branch: its trunk and cost (harness/run/branches.py)


def every(interval: int, steps: int, per_run: int) -> int:
    """Steps between two points: ``interval``, or where it is 0 (auto), ``per_run`` points a run."""
    return interval if interval > 0 else max(1, math.ceil(steps / per_run))


@dataclass
class Curve:
    """The loss curve of one run as its steps go by: points at its own evaluation and log
    intervals, each with the mean training loss since the previous point. A trunk keeps one for
    itself and one for each branch not yet forked, so a branch's curve up to its fork is the one
    its standalone run would have drawn."""

    state: RunState
    steps: int  # the run's whole length
    eval_every: int
    log_every: int
    lr_at: Callable[[int], float]  # the learning rate the run's schedule gives after a step
    tokens_per_step: int
    per_token: dict[str, float]  # FLOPs per token, by convention

    @classmethod
    def of(cls, state: RunState, steps: int, lr_at: Callable[[int], float], cfg: Config, tokens_per_step: int,
           per_token: dict[str, float]) -> Curve:
        """The curve a run of ``steps`` steps draws under ``cfg``'s evaluation and log intervals."""
        return cls(state, steps, every(cfg.train.eval_interval, steps, cfg.train.evals_per_run),
                   every(cfg.logging.log_interval, steps, 20), lr_at, tokens_per_step, per_token)

    def due(self, at: int) -> str | None:
        """"eval", "log" or None: the point the run takes after step ``at`` (its last step's point
        is the final evaluation, taken apart)."""
        if at >= self.steps:
            return None
        if at % self.eval_every == 0:
            return "eval"
        return "log" if at % self.log_every == 0 else None

    def add_losses(self, values: list[float]) -> None:
        for v in values:
            self.state.train_loss_sum += v
            self.state.train_loss_count += 1

    def point(self, at: int, val_loss: float | None) -> dict[str, Any]:
        st = self.state
        tokens = at * self.tokens_per_step
        mean = st.train_loss_sum / st.train_loss_count if st.train_loss_count else None
        st.train_loss_sum, st.train_loss_count = 0.0, 0
        p = {"step": at, "tokens": tokens, "flops": {k: self.per_token[k] * tokens for k in CONVENTIONS},
             "train_loss": mean, "val_loss": val_loss, "lr": self.lr_at(at)}
        st.curve.append(p)
        return p


class Log:
    """The run's voice: progress on stdout (silenced by ``logging.quiet``), warnings on stderr."""

    def __init__(self, quiet: bool):
        self.quiet = quiet

    def __call__(self, msg: str) -> None:
        if not self.quiet:
            print(msg, flush=True)

    def warn(self, msg: str) -> None:
        """Something the user must hear even when quiet: a file moved aside, a result kept elsewhere."""
        print(msg, file=sys.stderr, flush=True)
