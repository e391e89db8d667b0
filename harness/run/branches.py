"""Cooldown branches: several budgets from one run (Hägele et al. 2024, "Scaling Laws and
Compute-Optimal Training Beyond Fixed Training Durations").

A wsd run holds the peak learning rate until its cooldown starts, and that stretch does not depend
on the run's length once the warmup is given in tokens. So a run to the largest budget (the trunk)
passes, step for step, through the state of every shorter wsd run of the same shape just before
that run's cooldown. ``schedule.branches=[b1, b2, ...]`` makes the trunk write, at each such
step, the checkpoint the shorter run would have written there; the branch then resumes from it
as the ordinary run it is. The contract this gives: a branch's record IS the record of the
standalone run with that budget (same config, same run_id, the same numbers, bit for bit on the
CPU), so sweeps skip it, resume treats it as done and the fitter needs nothing new. Its record's
``extra.branch`` names the trunk and the FLOPs the branch really cost (its cooldown).

A constant schedule has branches too, with no cooldown: the shorter run IS the trunk at its last
step, so its branch costs one evaluation (Kaplan et al.'s reading of every budget off one long
run, with each point a record of its own).

This module plans the forks from the config; as harness/run/train.py trains the trunk,
harness/run/forks.py keeps the branches' curves and writes their checkpoints.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from harness import records
from harness.budget import resolve_budget
from harness.config import Config
from harness.errors import ConfigError
from harness.flops import CONVENTIONS, Shape, flops_per_token
from harness.schedule import wsd_decay_start

BUDGET_KEYS = ("tokens", "flops", "tokens_per_param")


def budget_key(cfg: Config) -> str:
    """The train.* key that holds the run's budget (the unit its branches are given in)."""
    for key in BUDGET_KEYS:
        if getattr(cfg.train, key) is not None:
            return key
    raise ConfigError("train.tokens: set exactly one budget: train.tokens, train.flops or train.tokens_per_param")


def branch_config(cfg: Config, budget: float) -> Config:
    """The standalone run a branch stands for: the trunk's config with the branch's budget and no
    branches of its own."""
    key = budget_key(cfg)
    out = copy.deepcopy(cfg)
    # A whole-number token budget stays an int, as a user typing train.tokens=200000 would give it.
    value = int(budget) if key == "tokens" and float(budget).is_integer() else budget
    setattr(out.train, key, value)
    out.schedule.branches = []
    return out


@dataclass(frozen=True)
class Fork:
    """One branch: the standalone run it stands for and the trunk step it leaves from."""

    budget: float  # in the unit of the trunk's budget key
    cfg: Config  # the standalone run's config
    run_id: str
    steps: int  # the branch's whole length
    fork_step: int  # its cooldown's first step: steps before it are the trunk's (0 when it trains alone)
    warmup_steps: int
    tokens_per_step: int
    # Why the branch cannot share the trunk's steps, if it cannot; it then trains alone from
    # step 0 (its record is the same standalone run's either way).
    alone: str | None = None

    def cooldown_flops(self, shape: Shape) -> dict[str, float]:
        """FLOPs the branch costs beyond the trunk (its cooldown; all of it when it trains alone)."""
        per_token = flops_per_token(shape)
        tokens = (self.steps - (0 if self.alone else self.fork_step)) * self.tokens_per_step
        return {k: per_token[k] * tokens for k in CONVENTIONS}

    def describe(self, trunk_id: str, shape: Shape) -> dict:
        """What a branch's record says about where it came from (``extra.branch``)."""
        return {"trunk": trunk_id, "fork_step": self.fork_step, "cooldown_steps": self.steps - self.fork_step,
                "flops_spent": self.cooldown_flops(shape)}


def plan_forks(cfg: Config, shape: Shape) -> list[Fork]:
    """The branches of a (validated) run, shortest first, with their fork steps.

    A branch that cannot share the trunk's steps is kept, marked ``alone`` with the reason: one
    no longer than its warmup (its warmup is cut short to its length, so it differs from the
    trunk's from the first step), or one as long as the trunk. The planner shows it at full
    cost and the trunk's run trains it from step 0 after the others.
    """
    if not cfg.schedule.branches:
        return []
    trunk = resolve_budget(cfg, shape)
    constant = cfg.schedule.name == "constant"

    def cooldown_start(steps: int, warmup_steps: int) -> int:
        return steps if constant else wsd_decay_start(steps, warmup_steps, cfg.schedule)

    trunk_decay = cooldown_start(trunk.steps, trunk.warmup_steps)
    forks: list[Fork] = []
    for b in sorted(set(float(x) for x in cfg.schedule.branches)):
        bcfg = branch_config(cfg, b)
        bb = resolve_budget(bcfg, shape)
        fork = cooldown_start(bb.steps, bb.warmup_steps)
        alone = None
        if bb.warmup_capped or bb.steps <= bb.warmup_steps:
            alone = (f"{bb.steps} steps, not longer than the warmup of {trunk.warmup_steps} steps, so its "
                     "warmup is not the trunk's")
        elif bb.steps >= trunk.steps or fork > trunk_decay:
            alone = f"{bb.steps} steps, as long as the trunk's cooldown start ({trunk_decay} steps)"
        forks.append(Fork(budget=b, cfg=bcfg, run_id=records.run_id_of(bcfg), steps=bb.steps,
                          fork_step=0 if alone else fork, warmup_steps=bb.warmup_steps,
                          tokens_per_step=bb.tokens_per_step, alone=alone))
    return forks


def flops_saved(cfg: Config, shape: Shape, convention: str = "6ND") -> tuple[float, float]:
    """(FLOPs the trunk and its branches cost, FLOPs the same runs cost trained one by one)."""
    per_token = flops_per_token(shape)[convention]
    trunk = resolve_budget(cfg, shape)
    forks = plan_forks(cfg, shape)
    spent = trunk.tokens * per_token + sum(f.cooldown_flops(shape)[convention] for f in forks)
    scratch = trunk.tokens * per_token + sum(f.steps * f.tokens_per_step * per_token for f in forks)
    return spent, scratch
