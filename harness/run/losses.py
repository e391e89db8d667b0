"""The training losses of the last steps, kept on the device until the run needs their numbers.

Reading a loss waits for the device, so the loop reads them in windows: every CHECK_EVERY steps,
and at every point, checkpoint and fork, where it needs them anyway."""

from __future__ import annotations

import math

import torch

from harness.run.state import Curve, RunState
from harness.run.step import StepTimer, TrainStep

# Steps between reads of the training loss when no log, evaluation or checkpoint point comes
# sooner: each read waits for the device, so it is kept rare; a loss gone non-finite is found
# at most this many steps late, and the run is still recorded as diverged at the step it did.
CHECK_EVERY = 16


class LossWindow:
    """The losses of the steps since the last read, and the time those steps took."""

    def __init__(self, device: torch.device) -> None:
        self.losses: list[torch.Tensor] = []
        self.timer = StepTimer(device)

    def step(self, train_step: TrainStep, batch: torch.Tensor) -> None:
        """One training step, timed; its loss joins the window unread."""
        self.timer.start()
        self.losses.append(train_step(batch))  # forward, backward, clip, AdamW, schedule (harness/run/step.py)
        self.timer.stop()

    def full(self) -> bool:
        return len(self.losses) >= CHECK_EVERY

    def read(self, state: RunState, curves: list[Curve]) -> tuple[int, float] | None:
        """Read the window (one host sync) into every curve's running train-loss mean and the
        state's training time; returns the first step whose loss is not finite and that loss (it
        and every later one left out), or None."""
        first = state.step - len(self.losses)
        values = torch.stack(self.losses).tolist() if self.losses else []
        self.losses.clear()
        state.train_seconds += sum(self.timer.pop_seconds())
        bad = next((i for i, v in enumerate(values) if not math.isfinite(v)), None)
        for c in curves:
            c.add_losses(values[:bad])
        return None if bad is None else (first + bad, values[bad])
