"""From a run's budget (tokens, FLOPs or tokens per parameter) to its exact number of steps.

Shared by the training loop and the sweep planner, so a planned run and the run itself agree on
every number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from harness.config import Config, ScheduleConfig
from harness.errors import ConfigError
from harness.flops import Shape, flops_per_token, param_counts


@dataclass(frozen=True)
class Budget:
    steps: int
    tokens_per_step: int  # batch_size * seq_len (predicted tokens per optimizer step)
    tokens: int  # steps * tokens_per_step: what the run actually trains on
    warmup_steps: int
    requested: str  # the budget as the user gave it, e.g. "train.flops=1e12 (6ND)"
    warmup_capped: bool = False  # the warmup asked for was longer than the run


def resolve_budget(cfg: Config, shape: Shape) -> Budget:
    t = cfg.train
    tokens_per_step = t.batch_size * cfg.data.seq_len
    if t.tokens is not None:
        want, key, requested = float(t.tokens), "train.tokens", f"train.tokens={t.tokens:g}"
    elif t.flops is not None:
        per_token = flops_per_token(shape)[t.flops_convention]
        want, key = t.flops / per_token, "train.flops"
        requested = f"train.flops={t.flops:g} ({t.flops_convention})"
    elif t.tokens_per_param is not None:
        counts = param_counts(shape)
        n = counts.total if t.param_convention == "total" else counts.non_embedding
        want, key = t.tokens_per_param * n, "train.tokens_per_param"
        requested = f"train.tokens_per_param={t.tokens_per_param:g} ({t.param_convention} N={n:,})"
    else:  # validate() rules this out; kept so a direct caller gets a clear message too
        raise ConfigError("train.tokens: set exactly one budget: train.tokens, train.flops or train.tokens_per_param")
    if want < tokens_per_step:
        raise ConfigError(
            f"{key}: the budget is {want:,.0f} tokens, smaller than one step "
            f"(train.batch_size * data.seq_len = {tokens_per_step:,} tokens)")
    # Nearest whole step: the run's tokens differ from the request by at most half a step, and
    # the record states the tokens actually trained so every downstream number uses those.
    steps = max(1, round(want / tokens_per_step))
    warmup = uncapped_warmup_steps(cfg.schedule, steps, tokens_per_step)
    return Budget(steps=steps, tokens_per_step=tokens_per_step, tokens=steps * tokens_per_step,
                  warmup_steps=min(warmup, steps), requested=requested, warmup_capped=warmup > steps)


def uncapped_warmup_steps(schedule: ScheduleConfig, steps: int, tokens_per_step: float) -> int:
    """The warmup rule, the one definition: a warmup in tokens is a fixed number of steps whatever
    the run's length (so cooldown branches share their trunk's warmup); a fractional one follows
    the run's length. A run shorter than its warmup is all warmup (the caller caps it)."""
    if schedule.warmup_tokens is not None:
        return math.ceil(float(schedule.warmup_tokens) / tokens_per_step)
    return math.ceil(float(schedule.warmup_fraction) * steps)
