"""Stop signals (harness/run/signals.py and their use in harness/run/train.py): SIGTERM, SIGINT and
SIGUSR2 stop a run at the next step boundary after a checkpoint, a restart goes on from that very
step, a handler the program had before is called after the save, and a sweep starts nothing after.

The signals are real (os.kill of this process) and sent from inside a training step, where one from
SLURM or Ctrl-C lands too."""

from __future__ import annotations

import os
import signal

import pytest
import torch

from harness import records
from harness.cli.common import interrupted
from harness.errors import RunInterrupted
from harness.run import signals
from harness.run.losses import LossWindow
from harness.run.signals import STOP_SIGNALS, StopSignals
from harness.run.train import run
from tests.helpers import TINY, make_config
from tests.run.test_checkpoint import file_size_limit

# 20 steps of 256 tokens, a checkpoint only at the signal (the interval is longer than the run).
ARGS = [*TINY, "train.tokens=5120", "train.checkpoint_interval_seconds=3600", "logging.quiet=false"]


@pytest.fixture(autouse=True)
def no_stop_left():
    """Each test starts and ends with the process's signal state as it found it."""
    before = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    signals.forget_stop()
    yield
    signals.forget_stop()
    assert {s: signal.getsignal(s) for s in STOP_SIGNALS} == before, "a handler was left installed"


def _signal_at_step(monkeypatch, step: int, signum: int) -> None:
    """Send ``signum`` to this process from inside training step ``step`` (1-based), once."""
    real = LossWindow.step
    calls = []

    def stepping(self, train_step, batch):
        calls.append(1)
        if len(calls) == step:
            os.kill(os.getpid(), signum)
        real(self, train_step, batch)

    monkeypatch.setattr(LossWindow, "step", stepping)


def _saved(cfg, run_id: str) -> dict:
    ckpt = records.checkpoint_path(cfg.out_dir, cfg.sweep_name, run_id)
    return torch.load(ckpt, weights_only=True)["state"]


# -- the catcher alone -------------------------------------------------------------------------


def test_handlers_are_ours_only_inside_the_block_and_the_old_ones_come_back():
    mine = []

    def own(signum, frame):
        mine.append(signum)

    old = signal.signal(signal.SIGUSR2, own)
    try:
        before = {s: signal.getsignal(s) for s in STOP_SIGNALS}
        stop = StopSignals()
        with stop.catching():
            assert all(signal.getsignal(s) == stop._note for s in STOP_SIGNALS)
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGINT)  # a second one changes nothing: the first is reported
            assert stop.requested and stop.name == "SIGTERM" and mine == []
        assert {s: signal.getsignal(s) for s in STOP_SIGNALS} == before
        assert before[signal.SIGUSR2] is own and stop.previous == before
    finally:
        signal.signal(signal.SIGUSR2, old)


def test_with_no_handler_of_the_program_hand_on_raises_run_interrupted():
    stop = StopSignals()
    with stop.catching():
        os.kill(os.getpid(), signal.SIGINT)  # Python's KeyboardInterrupt handler counts as none
        with pytest.raises(RunInterrupted) as exc:
            stop.hand_on("abc123", 7)
    e = exc.value
    assert (e.run_id, e.signal_name, e.saved_step) == ("abc123", "SIGINT", 7)
    assert str(e) == ("run abc123: stopped by SIGINT (checkpoint saved at step 7); start the same command "
                      "again to resume it")
    assert not stop.requested and signals.stopped_by() == "SIGINT"


def test_a_python_handler_of_the_program_is_called_after_the_save_instead():
    calls = []
    old = signal.signal(signal.SIGUSR2, lambda signum, frame: calls.append((signum, frame)))
    try:
        stop = StopSignals()
        with stop.catching():
            os.kill(os.getpid(), signal.SIGUSR2)
            assert calls == []  # not at the signal: only once hand_on says the checkpoint is saved
            stop.hand_on("abc123", 7)
        assert calls == [(signal.SIGUSR2, None)] and signals.stopped_by() is None
    finally:
        signal.signal(signal.SIGUSR2, old)


class UncompletedJobError(RuntimeError):
    """What submitit's handler raises when a job has used up its requeues."""


def test_a_handler_that_refuses_to_requeue_stops_the_run_resumable():
    def refuse(signum, frame):
        raise UncompletedJobError("Job 123 reached max_num_timeout 3\nmore text")

    old = signal.signal(signal.SIGUSR2, refuse)
    try:
        stop = StopSignals()
        with stop.catching():
            os.kill(os.getpid(), signal.SIGUSR2)
            with pytest.raises(RunInterrupted) as exc:
                stop.hand_on("abc123", 7)
        e = exc.value
        assert (e.signal_name, e.saved_step) == ("SIGUSR2", 7)
        assert "refused to requeue it (UncompletedJobError: Job 123 reached max_num_timeout 3)" in str(e)
        assert "\n" not in str(e)
        assert e.by_scheduler is True  # only this job ends, not the sweep (test_a_job_whose_requeue_...)
    finally:
        signal.signal(signal.SIGUSR2, old)


def test_the_command_line_says_it_in_one_line_with_128_plus_the_signal(capsys):
    assert interrupted("harness-train", RunInterrupted("abc123", "SIGTERM", 12)) == 143
    assert interrupted("harness-train", RunInterrupted("abc123", "SIGINT", None)) == 130
    assert interrupted("harness-train", RunInterrupted("abc123", "SIGUSR2", 3)) == 140
    err = capsys.readouterr().err.splitlines()
    assert err[0] == ("harness-train: run abc123: stopped by SIGTERM (checkpoint saved at step 12); start the "
                      "same command again to resume it")
    assert len(err) == 3 and "no checkpoint saved" in err[1]


# -- a run stopped by a signal -------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_saves_the_step_it_came_in_and_the_restart_loses_no_step(tmp_path, monkeypatch, capsys, signum):
    reference = run(make_config(ARGS, tmp_path / "straight"))
    cfg = make_config(ARGS, tmp_path / "stopped")
    with monkeypatch.context() as m:
        _signal_at_step(m, 13, signum)
        with pytest.raises(RunInterrupted) as exc:
            run(cfg)
    name = signal.Signals(signum).name
    assert (exc.value.signal_name, exc.value.saved_step) == (name, 13)
    assert _saved(cfg, reference.run_id)["step"] == 13  # saved at the boundary after the step it came in
    assert records.find_record(cfg.out_dir, cfg.sweep_name, reference.run_id) is None  # not `failed`
    capsys.readouterr()

    resumed = run(cfg)
    assert f"resuming from step 13/{reference.steps}" in capsys.readouterr().out
    assert resumed.status == "completed" and resumed.steps == reference.steps == 20
    # Bit for bit: no step lost or done twice, the loss window read into the curve before the save.
    assert resumed.val_loss == reference.val_loss
    assert [p.train_loss for p in resumed.curve] == [p.train_loss for p in reference.curve]
    assert not records.checkpoint_path(cfg.out_dir, cfg.sweep_name, reference.run_id).exists()


def test_a_handler_of_the_program_runs_after_the_checkpoint_and_the_run_goes_on(tmp_path, monkeypatch):
    cfg = make_config(ARGS, tmp_path)
    run_id = records.run_id_of(cfg)
    seen = []

    def requeue(signum, frame):  # as submitit's SIGUSR2 handler, which requeues the SLURM job
        seen.append((signum, frame, _saved(cfg, run_id)["step"]))

    old = signal.signal(signal.SIGUSR2, requeue)
    try:
        _signal_at_step(monkeypatch, 5, signal.SIGUSR2)
        rec = run(cfg)
        assert seen == [(signal.SIGUSR2, None, 5)]  # called once, with the checkpoint of step 5 on disk
        assert rec.status == "completed" and rec.steps == 20  # it returned: training went on
        assert signal.getsignal(signal.SIGUSR2) is requeue
    finally:
        signal.signal(signal.SIGUSR2, old)


def test_sigusr2_with_no_handler_stops_like_sigterm(tmp_path, monkeypatch):
    cfg = make_config(ARGS, tmp_path)
    _signal_at_step(monkeypatch, 3, signal.SIGUSR2)
    with pytest.raises(RunInterrupted) as exc:
        run(cfg)
    assert (exc.value.signal_name, exc.value.saved_step) == ("SIGUSR2", 3)


def test_a_sweep_starts_no_run_after_a_signal_stopped_one(tmp_path, monkeypatch):
    first = make_config(ARGS, tmp_path)
    nxt = make_config([*ARGS[:-1], "train.tokens=6144", "logging.quiet=false"], tmp_path)
    _signal_at_step(monkeypatch, 4, signal.SIGTERM)
    with pytest.raises(RunInterrupted):
        run(first, multirun=True)
    with pytest.raises(RunInterrupted) as exc:
        run(nxt, multirun=True)
    nxt_id = records.run_id_of(nxt)
    assert str(exc.value) == (f"run {nxt_id}: not started, SIGTERM stopped this sweep; start the same command "
                              "again to go on")
    assert exc.value.saved_step is None
    assert records.find_record(tmp_path, "default", nxt_id) is None
    assert not records.checkpoint_path(tmp_path, "default", nxt_id).exists()
    signals.forget_stop()  # a new process (the user's restart) starts the sweep again
    assert run(nxt, multirun=True).status == "completed"


def test_a_signal_whose_checkpoint_cannot_be_written_says_so_in_its_line(tmp_path, monkeypatch, capsys):
    cfg = make_config(ARGS, tmp_path)
    rid = records.run_id_of(cfg)
    ckpt = records.checkpoint_path(tmp_path, "default", rid)
    _signal_at_step(monkeypatch, 6, signal.SIGTERM)
    with file_size_limit(20_000), pytest.raises(RunInterrupted) as exc:  # a checkpoint is some 240 kB
        run(cfg)
    assert exc.value.saved_step is None
    assert str(exc.value) == (f"run {rid}: stopped by SIGTERM; its checkpoint could not be written (File too "
                              "large), it has none; the same command started again trains it from step 0")
    assert capsys.readouterr().err == ""  # the one line is the stop's: no "training goes on" before it
    assert list(ckpt.parent.iterdir()) == []  # no temporary file, and no `failed` record either
    assert records.find_record(tmp_path, "default", rid) is None


def test_outside_the_main_thread_nothing_is_installed():
    # Only the main thread may install handlers; a run in a worker thread trains as before.
    import threading

    before = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    seen = []

    def work():
        stop = StopSignals()
        with stop.catching():
            seen.append(({s: signal.getsignal(s) for s in STOP_SIGNALS}, stop.requested))

    t = threading.Thread(target=work)
    t.start()
    t.join(30)
    assert seen == [(before, False)]


def test_a_plain_stop_is_not_the_scheduler_s():
    # No handler of the program's: the stop ends a sweep, not only its job (a refused requeue: above).
    stop = StopSignals()
    with stop.catching():
        os.kill(os.getpid(), signal.SIGTERM)
        with pytest.raises(RunInterrupted) as exc:
            stop.hand_on("abc123", 3)
    assert exc.value.by_scheduler is False


@pytest.mark.parametrize("by_scheduler, multirun, ends", [(True, True, "returns"), (True, False, 140),
                                                          (False, True, 140)])
def test_a_job_whose_requeue_was_refused_ends_alone(tmp_path, monkeypatch, capsys, by_scheduler, multirun, ends):
    # In a cluster sweep the job returns (no record; the summary lists it), so the launching
    # process does not re-raise its error with a traceback; alone, or stopped by a plain signal,
    # harness-train exits 128 + the signal as before.
    from harness.cli import train as cli_train

    def stopped(cfg, multirun=False):
        raise RunInterrupted("abc123", "SIGUSR2", 7, by_scheduler=by_scheduler)

    monkeypatch.setattr(cli_train, "run", stopped)
    monkeypatch.setattr(cli_train, "_is_multirun", lambda: multirun)
    cfg = make_config(TINY, tmp_path)
    monkeypatch.setattr(cli_train, "to_config", lambda dcfg: dcfg)
    if ends == "returns":
        assert cli_train.task(cfg) is None
    else:
        with pytest.raises(SystemExit) as exc:
            cli_train.task(cfg)
        assert exc.value.code == ends
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "stopped by SIGUSR2 (checkpoint saved at step 7)" in err[0]
