"""GPU assignment for a sweep on one box with several GPUs (Hydra has no such launcher).

Rule: in a multirun with ``device=auto`` and more than one visible GPU, job k prefers
``cuda:(k mod n_gpus)``, and each GPU has ``sweep.runs_per_gpu`` slots. A job takes a slot by
holding an exclusive ``flock`` on ``<out_dir>/<sweep_name>/.gpu-slots/<gpu>.<slot>.lock`` for as
long as it runs, trying its preferred GPU first, then the others, and waiting when all are busy.
The kernel drops a lock when its process dies (SIGKILL included), so a crashed run never keeps a
GPU, and the rule holds whatever the launcher: joblib with ``n_jobs = n_gpus * runs_per_gpu``
runs that many at once, one GPU per run (or ``runs_per_gpu`` tiny runs sharing a GPU).

With one GPU, no GPU, or an explicit device, nothing changes: the run uses what it was given.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Callable, Iterator

from harness.files import file_lock


def visible_gpus() -> int:
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:
        return 0


def preferred_gpu(job_num: int, n_gpus: int) -> int:
    """Round-robin by Hydra job number."""
    return job_num % n_gpus


def slot_order(job_num: int, n_gpus: int, runs_per_gpu: int) -> list[tuple[int, int]]:
    """(gpu, slot) pairs in the order a job tries them: its own GPU's slots first, then the next GPUs'."""
    first = preferred_gpu(job_num, n_gpus)
    gpus = [(first + i) % n_gpus for i in range(n_gpus)]
    return [(g, s) for g in gpus for s in range(runs_per_gpu)]


@contextlib.contextmanager
def gpu_slot(lock_dir: Path, job_num: int, n_gpus: int, runs_per_gpu: int, poll_seconds: float = 1.0,
             log: Callable[[str], None] | None = None) -> Iterator[int]:
    """Hold a (gpu, slot) lock for the duration of the block; yields the GPU index."""
    waited = False
    while True:
        for gpu, slot in slot_order(job_num, n_gpus, runs_per_gpu):
            with file_lock(lock_dir / f"{gpu}.{slot}.lock", wait=False) as lock:
                if not lock.held:
                    continue
                yield gpu
                return
        if not waited and log is not None:
            log(f"job {job_num}: all {n_gpus * runs_per_gpu} GPU slots busy; waiting for one")
        waited = True
        time.sleep(poll_seconds)


@contextlib.contextmanager
def job_device(device: str, out_dir: str, sweep_name: str, job_num: int | None, runs_per_gpu: int,
               n_gpus: int | None = None, log: Callable[[str], None] | None = None) -> Iterator[str]:
    """The device a sweep job should use: ``cuda:<k>`` from a held slot, or ``device`` unchanged."""
    n = visible_gpus() if n_gpus is None else n_gpus
    if device != "auto" or job_num is None or n < 2:
        yield device
        return
    with gpu_slot(Path(out_dir) / sweep_name / ".gpu-slots", job_num, n, runs_per_gpu, log=log) as gpu:
        yield f"cuda:{gpu}"


def current_job_num() -> int | None:
    """Hydra's job number in a multirun, else None."""
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
            return int(HydraConfig.get().job.num)
    except Exception:
        pass
    return None
