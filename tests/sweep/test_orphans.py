"""Sweep jobs end with the process that launched them (harness/sweep/orphans.py): a killed joblib
sweep leaves no worker training on."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.sweep import orphans

ROOT = Path(__file__).resolve().parents[2]
linux_only = pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc")


def _alive(pid: int) -> bool:
    """Running, not a zombie (re-parented orphans may wait a while for a reaper)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except FileNotFoundError:
            pass
    return out


def _wait_dead(pids, seconds=10.0) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        left = [p for p in pids if _alive(p)]
        if not left:
            return []
        time.sleep(0.1)
    return [p for p in pids if _alive(p)]


def test_the_launching_process_is_left_alone():
    # The basic launcher runs jobs in the process the user started: it must not die with its shell.
    assert orphans.launching_parent() is None
    assert orphans.die_with_parent() == "none"


# -- a grandchild whose parent is SIGKILLed -------------------------------------------------------

def _grandchild(pid_file: str, late: bool, watchdog: bool) -> None:
    if watchdog:  # as where prctl is missing (macOS)
        orphans.set_pdeathsig = lambda sig: False
    parent = mp.parent_process().pid
    if late:  # the parent dies before the job starts: die_with_parent must notice at once
        while os.getppid() == parent:
            time.sleep(0.02)
    how = orphans.die_with_parent()
    Path(pid_file).write_text(f"{os.getpid()} {how}")
    time.sleep(60)


def _middle(pid_file: str, late: bool, watchdog: bool) -> None:
    ctx = mp.get_context("fork")
    ctx.Process(target=_grandchild, args=(pid_file, late, watchdog)).start()
    time.sleep(60)


@linux_only
@pytest.mark.parametrize("late,watchdog", [(False, False), (True, False), (False, True)],
                         ids=["parent-dies-later", "parent-already-gone", "watchdog-without-prctl"])
def test_a_job_process_dies_with_its_parent(tmp_path, late, watchdog):
    pid_file = tmp_path / "grandchild"
    middle = mp.get_context("fork").Process(target=_middle, args=(str(pid_file), late, watchdog))
    middle.start()
    try:
        grandchild = None
        deadline = time.monotonic() + 20
        while grandchild is None and time.monotonic() < deadline:
            kids = _children(middle.pid)
            grandchild = kids[0] if kids else None
            time.sleep(0.02)
        assert grandchild is not None
        if not late:
            while not pid_file.exists() and time.monotonic() < deadline:
                time.sleep(0.02)
            assert pid_file.read_text().split() == [str(grandchild), "watchdog" if watchdog else "prctl"]
        os.kill(middle.pid, signal.SIGKILL)
        middle.join(10)
        assert _wait_dead([grandchild]) == []
    finally:
        for pid in [middle.pid, *(_children(middle.pid) if _alive(middle.pid) else [])]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


# -- the real thing: harness-train -m with the joblib launcher ------------------------------------

TINY = ["data.seq_len=16", "data.val_sequences=16", "model.n_layer=1", "model.d_model=16", "model.n_head=2",
        "train.batch_size=8", "train.threads=1", "logging.quiet=true", "sweep.fit=false",
        "sweep.record_wait_seconds=0", "train.checkpoint_interval_seconds=0.2"]


@linux_only
@pytest.mark.slow
def test_a_killed_joblib_sweep_leaves_no_worker_running(tmp_path):
    # Runs long enough (millions of tokens) that they are mid-training when the sweep is killed.
    args = [*TINY, f"out_dir={tmp_path}", "sweep_name=orphans", "train.tokens=4000000,4000008",
            "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]
    cmd = [sys.executable, "-c", "from harness.cli.train import main; main()", "-m", *args]
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    ckpts = tmp_path / "orphans" / "checkpoints"
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 120
        # Both workers are training once both runs have written a checkpoint.
        while time.monotonic() < deadline and len(list(ckpts.glob("*.pt")) if ckpts.exists() else []) < 2:
            assert p.poll() is None, "the sweep ended before it could be killed"
            time.sleep(0.1)
        workers = [c for c in _children(p.pid)
                   if "LokyProcess" in Path(f"/proc/{c}/cmdline").read_text(errors="replace")]
        assert len(workers) == 2
        os.kill(p.pid, signal.SIGKILL)  # the top process only, as the OOM killer would
        p.wait(10)
        assert _wait_dead(workers) == []
        # Nothing is left writing: the checkpoints stop changing.
        before = {f.name: f.stat().st_mtime_ns for f in ckpts.glob("*.pt")}
        time.sleep(1.0)
        assert {f.name: f.stat().st_mtime_ns for f in ckpts.glob("*.pt")} == before
    finally:
        for pid in [p.pid, *workers]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
