"""Learning-rate schedules as a multiplier of the peak rate, a pure function of the step.

Chinchilla's point (Hoffmann et al. 2022, Appendix A): a cosine schedule must end where the run
ends; a cosine stretched past the run's budget overestimates the loss at that budget. So every
schedule here is built from the run's exact number of steps.
"""

from __future__ import annotations

import math

from harness.config import ScheduleConfig


def lr_factor(step: int, steps: int, warmup_steps: int, cfg: ScheduleConfig) -> float:
    """Multiplier of the peak lr for optimizer step ``step`` (0-based) of a ``steps``-step run."""
    if step < warmup_steps:
        # Linear warmup that reaches the peak on the last warmup step, never using lr = 0.
        return (step + 1) / warmup_steps
    final = cfg.final_lr_fraction
    if cfg.name == "constant":
        return 1.0
    if cfg.name == "cosine":
        span = max(1, steps - warmup_steps - 1)
        progress = min(1.0, (step - warmup_steps) / span)
        return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * progress))
    if cfg.name == "wsd":
        # Warmup-stable-decay (Hu et al. 2024): flat at the peak, then a cooldown over the last
        # decay_fraction of the run, so the run up to the cooldown is any longer run's too
        # (the cooldown branches of harness/run/branches.py fork there).
        decay_start = wsd_decay_start(steps, warmup_steps, cfg)
        if step < decay_start:
            return 1.0
        progress = min(1.0, (step - decay_start + 1) / max(1, steps - decay_start))
        if cfg.decay_shape == "1-sqrt":
            return final + (1.0 - final) * (1.0 - math.sqrt(progress))
        return 1.0 - (1.0 - final) * progress
    raise ValueError(f"schedule.name: unknown schedule {cfg.name!r}")


def wsd_decay_start(steps: int, warmup_steps: int, cfg: ScheduleConfig) -> int:
    """The first step of a wsd run's cooldown: every step before it runs at the peak rate (after
    the warmup), whatever the run's length."""
    decay_steps = max(1, round(cfg.decay_fraction * steps))
    return max(warmup_steps, steps - decay_steps)
