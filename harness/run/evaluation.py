"""Validation losses: the quick evaluation each curve point takes and the final one on the whole
fixed validation set."""

from __future__ import annotations

import torch

from harness.config import TrainConfig
from harness.model import forward_loss
from harness.run.step import autocast


@torch.no_grad()
def evaluate(model: torch.nn.Module, val: torch.Tensor, batch_size: int, device: torch.device,
             precision: str) -> float:
    """Mean next-token loss over every predicted position of ``val`` (token-weighted)."""
    model.eval()
    total, count = 0.0, 0
    for i in range(0, val.shape[0], batch_size):
        chunk = val[i:i + batch_size].to(device, non_blocking=True)
        with autocast(device, precision):
            loss = forward_loss(model, chunk)
        n = chunk.shape[0] * (chunk.shape[1] - 1)
        total += float(loss) * n
        count += n
    model.train()
    return total / count


class Evaluator:
    """A run's evaluations of ``model``. Curve points score the first ``train.eval_sequences``
    sequences (all of them when 0); the run's final loss always scores the whole set."""

    def __init__(self, model: torch.nn.Module, val: torch.Tensor, train: TrainConfig, device: torch.device) -> None:
        self.model, self.val, self.device = model, val, device
        self.batch_size, self.precision = train.eval_batch_size, train.precision
        self.val_quick = val[:train.eval_sequences] if train.eval_sequences > 0 else val
        # (step, loss): a trunk and its branches may all take a point after the same step, and
        # the model is the same for all of them, so it is evaluated once.
        self._last: tuple[int, float] | None = None

    def quick(self, at: int) -> float:
        """The quick validation loss after step ``at``."""
        if self._last is None or self._last[0] != at:
            self._last = (at, evaluate(self.model, self.val_quick, self.batch_size, self.device, self.precision))
        return self._last[1]

    def full(self) -> float:
        return evaluate(self.model, self.val, self.batch_size, self.device, self.precision)
