"""A run's checkpoint (harness/run/checkpoint.py): what it saves comes back bit for bit, a branch's
checkpoint carries its own schedule's rate, an unusable file is told apart from an unreadable one, and a
write the file system refuses keeps the checkpoint there was and says why in one line."""

from __future__ import annotations

import contextlib
import errno
import os
import resource

import pytest
import torch

from harness.errors import ResultsNotWritable
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


@pytest.mark.slow  # over a second: kept out of the fast loop
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


# -- a write the file system refuses -------------------------------------------------------------


@contextlib.contextmanager
def file_size_limit(nbytes: int):
    """``ulimit -f``: this process may not make a file larger than ``nbytes`` (writes past it fail
    with EFBIG; Python ignores SIGXFSZ). Only for the block: every file of the process is limited."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def _saved_step(path) -> int:
    return torch.load(path, weights_only=True)["state"]["step"]


def test_a_file_size_limit_keeps_the_old_checkpoint_and_says_why_in_one_line(tmp_path):
    step = _step(0)
    ckpt = Checkpoint(tmp_path / "abc.pt")
    ckpt.save(step, RunState(step=3))
    before = ckpt.path.read_bytes()
    with file_size_limit(len(before) // 2), pytest.raises(ResultsNotWritable) as exc:
        ckpt.save(step, RunState(step=4))
    assert str(exc.value) == f"cannot write checkpoint {ckpt.path}: File too large"
    assert exc.value.strerror == "File too large" and isinstance(exc.value, OSError)
    assert ckpt.path.read_bytes() == before and _saved_step(ckpt.path) == 3
    assert [p.name for p in tmp_path.iterdir()] == ["abc.pt"]  # no temporary file left behind


def test_a_full_disk_under_torchs_own_error_is_said_as_no_space_left(tmp_path, monkeypatch):
    step = _step(0)
    ckpt = Checkpoint(tmp_path / "abc.pt")
    ckpt.save(step, RunState(step=3))

    def full_disk(obj, f):
        # What torch.save does when its file's write fails: torch's RuntimeError, raised while
        # the OSError is being handled.
        f.write(b"PK\x03\x04 the first bytes")
        try:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534") from None

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(ResultsNotWritable, match=r"^cannot write checkpoint .*abc\.pt: No space left on device$"):
        ckpt.save(step, RunState(step=4))
    monkeypatch.undo()
    assert _saved_step(ckpt.path) == 3 and [p.name for p in tmp_path.iterdir()] == ["abc.pt"]


def test_an_error_that_is_not_the_file_systems_stays_what_it_is(tmp_path, monkeypatch):
    def device_error(obj, f):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    monkeypatch.setattr(torch, "save", device_error)
    with pytest.raises(RuntimeError, match="CUDA error") as exc:
        Checkpoint(tmp_path / "abc.pt").save(_step(0), RunState(step=1))
    assert not isinstance(exc.value, ResultsNotWritable)
    assert list(tmp_path.iterdir()) == []


def test_removing_a_checkpoint_also_removes_writes_of_it_a_kill_left(tmp_path):
    ckpt = Checkpoint(tmp_path / "abc.pt")
    ckpt.save(_step(0), RunState(step=3))
    stale = tmp_path / ".abc.pt.k1ll3d_x.tmp"  # the name atomic_write's mkstemp gives
    stale.write_bytes(b"PK\x03\x04 cut short by SIGKILL")
    other = tmp_path / "def.pt"  # another run's checkpoint stays
    other.write_bytes(b"")
    ckpt.remove()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["def.pt"]
