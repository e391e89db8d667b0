"""The run record: one JSON file per run, the source of truth for everything downstream.

Plain data and IO only: this module knows nothing of models or training, so the fitter, the
report and the sweep tools can read records without importing torch.

Layout on disk::

    <out_dir>/<sweep_name>/runs/<run_id>.json          one record per run (written atomically)
    <out_dir>/<sweep_name>/checkpoints/<run_id>.pt     the latest checkpoint of an unfinished run
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

SCHEMA_VERSION = 1
STATUSES = ("completed", "diverged", "failed")
PARAM_KINDS = ("total", "embedding", "head", "non_embedding")


class RecordError(ValueError):
    """A record file that is missing keys, has wrong types, or is not JSON."""


@dataclass
class CurvePoint:
    step: int
    tokens: int
    flops: dict[str, float]  # cumulative training FLOPs at this step, one entry per convention
    train_loss: float | None
    val_loss: float | None  # None on steps where no evaluation ran
    lr: float


@dataclass
class RunRecord:
    run_id: str
    status: str  # completed | diverged | failed
    sweep_name: str
    config: dict[str, Any]  # the resolved config, as a plain dict
    shape: dict[str, Any]  # arch, n_layer, d_model, n_head, d_ff, n_ctx, vocab_size, tied
    params: dict[str, int]  # total, embedding, head, non_embedding
    tokens: int  # training tokens actually seen (steps * batch_size * seq_len)
    steps: int
    flops: dict[str, float]  # total training FLOPs per convention
    val_loss: float | None  # mean over the whole validation set at the end (None if failed early)
    bayes_loss: float | None  # irreducible loss of the validation set (synthetic data only)
    curve: list[CurvePoint]
    wall_seconds: float
    tokens_per_second: float | None
    mfu: float | None  # model FLOPs utilisation (chinchilla count / peak), None where no peak is known
    peak_flops: float | None
    device_name: str
    torch_version: str
    git_commit: str | None
    data_fingerprint: str
    unique_tokens: int | None  # tokens in one pass over a finite training set; None for fresh data
    epochs: float | None  # tokens / unique_tokens: passes over the training set (may be < 1)
    seed: int
    started_at: str  # ISO 8601, UTC
    ended_at: str
    reason: str | None = None  # why a run diverged or failed
    schema_version: int = SCHEMA_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "<dict>") -> "RunRecord":
        names = {f.name for f in dataclasses.fields(cls)}
        required = {f.name for f in dataclasses.fields(cls)
                    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
        missing = sorted(required - d.keys())
        if missing:
            raise RecordError(f"{source}: run record is missing key(s) {', '.join(missing)}")
        if d["status"] not in STATUSES:
            raise RecordError(f"{source}: status {d['status']!r} is not one of {', '.join(STATUSES)}")
        try:
            curve = [CurvePoint(**p) for p in d["curve"]]
        except TypeError as e:
            raise RecordError(f"{source}: malformed curve point ({e})") from None
        kwargs = {k: v for k, v in d.items() if k in names}
        kwargs["curve"] = curve
        return cls(**kwargs)


def runs_dir(out_dir: str | os.PathLike, sweep_name: str) -> Path:
    return Path(out_dir) / sweep_name / "runs"


def record_path(out_dir: str | os.PathLike, sweep_name: str, run_id: str) -> Path:
    return runs_dir(out_dir, sweep_name) / f"{run_id}.json"


def checkpoint_path(out_dir: str | os.PathLike, sweep_name: str, run_id: str) -> Path:
    return Path(out_dir) / sweep_name / "checkpoints" / f"{run_id}.pt"


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write text so that readers see either the old file or the whole new one, never a part.

    The temporary file sits in the same directory so the final rename is atomic on POSIX; it is
    fsynced first so a crash right after the rename cannot leave an empty file behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_record(record: RunRecord, out_dir: str | os.PathLike) -> Path:
    path = record_path(out_dir, record.sweep_name, record.run_id)
    atomic_write_text(path, json.dumps(record.to_dict(), indent=1, allow_nan=False) + "\n")
    return path


def read_record(path: str | os.PathLike) -> RunRecord:
    path = Path(path)
    try:
        d = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise RecordError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(d, dict):
        raise RecordError(f"{path}: a run record must be a JSON object")
    return RunRecord.from_dict(d, source=str(path))


def find_record(out_dir: str | os.PathLike, sweep_name: str, run_id: str) -> RunRecord | None:
    path = record_path(out_dir, sweep_name, run_id)
    return read_record(path) if path.exists() else None


def iter_record_paths(sweep_dir: str | os.PathLike) -> Iterator[Path]:
    """Record files of a sweep directory (``<sweep_dir>/runs/*.json``), in a stable order."""
    sweep_dir = Path(sweep_dir)
    runs = sweep_dir / "runs"
    if not runs.is_dir():
        raise RecordError(f"{sweep_dir}: no runs/ folder here, so this is not a sweep directory")
    # Temporary files start with a dot and are skipped by the glob.
    yield from sorted(runs.glob("[!.]*.json"))


def read_sweep(sweep_dir: str | os.PathLike, status: str | None = "completed") -> list[RunRecord]:
    """All records of a sweep, optionally only those with the given status."""
    records = [read_record(p) for p in iter_record_paths(sweep_dir)]
    if status is not None:
        records = [r for r in records if r.status == status]
    return records
