"""The run lock: one process trains a run at a time."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

from harness.errors import RunInProgress
from harness.files import file_lock
from harness.records.store import lock_path


@contextlib.contextmanager
def run_lock(out_dir: str | os.PathLike, sweep_name: str, run_id: str) -> Iterator[Path]:
    """Hold the run's lock while it trains, so a second process starting the same run stops
    (``RunInProgress``, naming the holder's pid) rather than training it twice. A killed holder
    leaves no stale lock (``harness.files.file_lock``)."""
    with file_lock(lock_path(out_dir, sweep_name, run_id), wait=False) as lock:
        if not lock.held:
            raise RunInProgress(run_id, lock.holder)
        yield lock.path
