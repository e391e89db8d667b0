"""Sweep jobs that end with the process that launched them.

The joblib launcher runs each job in a loky worker, a child process of ``harness-train -m``. When that
process is killed (SIGKILL, an OOM kill, a closed terminal), loky has no chance to stop its workers:
they are re-parented to init and go on training, writing checkpoints and records while the user
restarts the sweep, so the same run trains twice at once. A worker blocked in a long run reads its
task queue only after the run, so it does not notice the broken pipe before then.

``die_with_parent`` is called by the sweep callback when a job starts (``on_job_start``). In a process
that multiprocessing started (loky workers are; ``multiprocessing.parent_process()`` names the
process that created them) it asks the kernel to SIGKILL this process when its parent dies
(Linux ``PR_SET_PDEATHSIG``), and exits at once if the parent is already gone. SIGKILL rather than
SIGTERM: some job environments (submitit) trap SIGTERM and keep running, and checkpoints and records
are written by rename, so a kill at any point leaves the previous whole file.

Where prctl is unavailable (macOS), a daemon thread polls the parent pid instead, as PyTorch's
DataLoader workers do. Processes that were not started by multiprocessing are left alone: the basic
launcher runs jobs in the launching process itself (which must survive e.g. its shell under nohup),
and SLURM/submitit jobs are meant to outlive the process that submitted them.

The kernel sends the signal when the *thread* that forked the child ends. Loky starts workers from
the thread that submits work (Hydra's main thread) or from its executor-manager thread, both alive as
long as the executor, so the signal does not come early.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

_watchdog: threading.Thread | None = None


def launching_parent() -> int | None:
    """The pid of the process that started this one through multiprocessing (loky included), else None."""
    parent = multiprocessing.parent_process()
    return parent.pid if parent is not None else None


def set_pdeathsig(sig: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent: int, sig: int, poll_seconds: float) -> None:
    while os.getppid() == parent:
        time.sleep(poll_seconds)
    os.kill(os.getpid(), sig)


def die_with_parent(sig: int = signal.SIGKILL, poll_seconds: float = 0.5) -> str:
    """Make this process end when the process that launched it ends.

    Returns how: ``"prctl"``, ``"watchdog"``, or ``"none"`` when this is not a multiprocessing child.
    Safe to call once per job in the same worker.
    """
    global _watchdog
    parent = launching_parent()
    if parent is None:
        return "none"
    if set_pdeathsig(sig):
        how = "prctl"
    else:
        if _watchdog is None or not _watchdog.is_alive():
            _watchdog = threading.Thread(target=_watch, args=(parent, sig, poll_seconds), daemon=True,
                                         name="harness-parent-watchdog")
            _watchdog.start()
        how = "watchdog"
    # A parent that died before the prctl call sends no signal: it is re-parented already.
    if os.getppid() != parent:
        os.kill(os.getpid(), sig)
    return how
