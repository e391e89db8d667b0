"""A run's curves (harness/run/state.py), the loss window that feeds them (harness/run/losses.py)
and the one quick evaluation per step that every curve shares (harness/run/evaluation.py)."""

from __future__ import annotations

import math

import pytest
import torch

from harness.config import TrainConfig
from harness.flops import Shape
from harness.run import evaluation
from harness.run.evaluation import Evaluator
from harness.run.losses import CHECK_EVERY, LossWindow
from harness.run.state import Curve, RunState, every
from harness.run.step import TrainStep
from tests.helpers import make_config

PER_TOKEN = {"6ND": 6.0, "6ND_nonemb": 5.0, "kaplan": 6.0, "chinchilla": 7.0}
CPU = torch.device("cpu")


def _curve(state: RunState, steps: int = 100) -> Curve:
    return Curve(state, steps, eval_every=20, log_every=5, lr_at=lambda s: 0.5 / (s + 1), tokens_per_step=4,
                 per_token=PER_TOKEN)


def test_auto_intervals_give_the_points_asked_per_run():
    assert every(7, 1000, 20) == 7
    assert (every(0, 1000, 20), every(0, 1001, 20), every(0, 3, 20)) == (50, 51, 1)


def test_a_curve_from_the_config_takes_its_intervals():
    cfg = make_config(["train.tokens=100000", "train.eval_interval=0", "train.evals_per_run=4",
                       "logging.log_interval=3"])
    c = Curve.of(RunState(), 100, lambda s: 0.0, cfg, 256, PER_TOKEN)
    assert (c.eval_every, c.log_every, c.steps) == (25, 3, 100)


def test_a_curve_point_holds_the_mean_train_loss_since_the_last_one():
    state = RunState()
    c = _curve(state)
    assert [c.due(s) for s in (5, 7, 20, 40, 100)] == ["log", None, "eval", "eval", None]
    c.add_losses([4.0, 2.0, 3.0])
    p = c.point(5, None)
    assert p == {"step": 5, "tokens": 20, "flops": {k: v * 20 for k, v in PER_TOKEN.items()},
                 "train_loss": 3.0, "val_loss": None, "lr": 0.5 / 6}
    assert c.point(10, 2.5)["train_loss"] is None  # no loss read since the last point
    assert [q["step"] for q in state.curve] == [5, 10] and state.train_loss_count == 0


def _steps_returning(values):
    """A stand-in for the training step that returns the given losses in turn."""
    it = iter(values)
    return lambda batch: torch.tensor(next(it))


def test_the_window_reads_losses_into_every_curve_up_to_the_first_non_finite_one():
    state, other = RunState(), RunState()
    window = LossWindow(CPU)
    step = _steps_returning([1.0, 2.0, math.inf, 4.0])
    for _ in range(4):
        window.step(step, torch.zeros(1))
        state.step += 1
    assert not window.full() and CHECK_EVERY > 4
    # The third step's loss is not finite: the run ends after the two before it, as if it stopped there.
    assert window.read(state, [_curve(state), _curve(other)]) == (2, math.inf)
    assert (state.train_loss_sum, state.train_loss_count) == (3.0, 2)
    assert (other.train_loss_sum, other.train_loss_count) == (3.0, 2)
    assert state.train_seconds > 0 and window.losses == []
    assert window.read(state, [_curve(state)]) is None  # nothing left to read


def test_the_quick_evaluation_runs_once_per_step(monkeypatch):
    calls = []
    monkeypatch.setattr(evaluation, "evaluate", lambda model, val, *a: calls.append(len(val)) or float(len(calls)))
    val = torch.zeros(10, 5, dtype=torch.long)
    ev = Evaluator(torch.nn.Linear(1, 1), val, TrainConfig(eval_sequences=4), CPU)
    assert [ev.quick(5), ev.quick(5), ev.quick(10), ev.full()] == [1.0, 1.0, 2.0, 3.0]
    assert calls == [4, 4, 10]  # the quick ones on the first eval_sequences, the final one on all


@pytest.mark.parametrize("eval_sequences", [0, 20])
def test_quick_evaluations_use_the_whole_set_when_asked_or_when_it_is_smaller(eval_sequences):
    val = torch.zeros(10, 5, dtype=torch.long)
    assert len(Evaluator(torch.nn.Linear(1, 1), val, TrainConfig(eval_sequences=eval_sequences), CPU).val_quick) == 10


def test_a_window_of_real_steps_is_read_in_one_go():
    torch.manual_seed(0)
    shape = Shape("gpt2", n_layer=1, d_model=16, n_head=2, d_ff=64, n_ctx=8, seq_len=8, vocab_size=32, tied=True)
    step = TrainStep.for_shape(shape, CPU, steps=20, warmup_steps=2)
    state, window = RunState(), LossWindow(CPU)
    gen = torch.Generator().manual_seed(1)
    for _ in range(CHECK_EVERY):
        window.step(step, torch.randint(0, 32, (2, 9), generator=gen))
        state.step += 1
    assert window.full()
    assert window.read(state, [_curve(state)]) is None
    assert state.train_loss_count == CHECK_EVERY and math.isfinite(state.train_loss_sum)
