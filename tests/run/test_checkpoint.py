"""A run's checkpoint (harness/run/checkpoint.py): what it saves comes back bit for bit, a branch's
checkpoint carries its own schedule's rate, and an unusable file is told apart from an unreadable one."""

from __future__ import annotations

import pytest
import torch

from harness.flops import Shape
from harness.run.checkpoint import Checkpoint
from harness.run.state import RunState
from harness.run.step import TrainStep

SHAPE = Shape("gpt2", n_layer=1, d_model=16, n_head=2, d_ff=64, n_ctx=8, seq_len=8, vocab_size=32, tied=True)
CPU = torch.device("cpu")


def _step(seed: int) -> TrainStep:
    torch.manual_seed(seed)
    return TrainStep.for_shape(SHAPE, CPU, steps=20, warmup_steps=2)


def _train(step: TrainStep, n: int) -> list[float]:
    gen = torch.Generator().manual_seed(7)
    return [step(torch.randint(0, SHAPE.vocab_size, (2, SHAPE.seq_len + 1), generator=gen)).item() for _ in range(n)]


@pytest.mark.slow  # seconds: outside the quick loop
def test_a_saved_run_goes_on_bit_for_bit(tmp_path):
    straight = _step(0)
    _train(straight, 3)
    ckpt = Checkpoint(tmp_path / "checkpoints" / "abc.pt")
    trunk_state = RunState(step=3, train_loss_sum=1.5, train_loss_count=2, started_at="then")
    branch_state = RunState(step=0, start_step=5, curve=[{"step": 0, "val_loss": 3.0}])
    ckpt.save(straight, trunk_state, {"def": branch_state})
    expected = torch.rand(3)  # the RNG a resumed run continues from
    torch.manual_seed(123)

    resumed = _step(1)  # other initial weights: all of them must come from the checkpoint
    got = ckpt.load(resumed)
    assert torch.equal(torch.rand(3), expected)
    assert got.state == trunk_state and got.branches == {"def": branch_state}
    assert _train(resumed, 4) == _train(straight, 4)
    assert all(torch.equal(a, b) for a, b in zip(resumed.model.state_dict().values(),
                                                 straight.model.state_dict().values()))


def test_a_branch_checkpoint_carries_the_branch_schedule_rate(tmp_path):
    step = _step(0)
    _train(step, 2)
    ckpt = Checkpoint(tmp_path / "b.pt")
    ckpt.save(step, RunState(step=2), lr=1.25e-4)
    fresh = _step(0)
    ckpt.load(fresh)
    assert [g["lr"] for g in fresh.optimizer.param_groups] == [1.25e-4] * len(fresh.optimizer.param_groups)
    assert fresh.scheduler.get_last_lr() == [1.25e-4] * len(fresh.optimizer.param_groups)
    assert fresh.scheduler.last_epoch == 2


def test_corrupt_content_is_not_an_io_error_and_is_set_aside(tmp_path):
    ckpt = Checkpoint(tmp_path / "abc.pt")
    ckpt.path.write_bytes(b"PK\x03\x04 not a whole checkpoint")
    with pytest.raises(Exception) as exc:
        ckpt.load(_step(0))
    assert not isinstance(exc.value, OSError)
    moved = ckpt.set_aside()
    assert moved.name == "abc.pt.corrupt" and moved.read_bytes().startswith(b"PK") and not ckpt.exists()
    ckpt.remove()  # nothing there: not an error
    with pytest.raises(FileNotFoundError):  # no file at all is the file system's error
        ckpt.load(_step(0))
