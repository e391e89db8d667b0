"""The run record: one JSON file per run, the source of truth for everything downstream.

Plain data and IO only: this module knows nothing of models or training, so the fitter, the
report and the sweep tools can read records without importing torch.

Layout on disk::

    <out_dir>/<sweep_name>/runs/<run_id>.json          one record per run (written atomically)
    <out_dir>/<sweep_name>/checkpoints/<run_id>.pt     the latest checkpoint of an unfinished run
    <out_dir>/<sweep_name>/locks/<run_id>.lock         held (flock) by the process training the run

Numbers that are not finite (a diverged run's NaN or inf losses) are written as JSON ``null``, so
every record is strict JSON that any reader parses; read back, they are ``None``, the same value a
curve point has where nothing was measured.

A record or checkpoint that cannot be read (truncated by a full disk, edited by hand) is moved
aside to ``<name>.corrupt`` (``.corrupt.1`` and on if that exists: nothing is overwritten) and the
run counts as not done, so one bad file never stops a run or a sweep; it is kept for inspection.
A record that its runs/ folder refuses at the end of a run is kept in a fallback file (beside
the checkpoints, else in the system's temporary folder) that the run's next start puts in place.
Records and checkpoints get the usual file mode, 0666 less the umask, so others on a shared
filesystem read them as they read any file the user writes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import json
import math
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from harness.errors import RecordError, ResultsNotWritable, RunInProgress
from harness.files import atomic_write_text

SCHEMA_VERSION = 1
STATUSES = ("completed", "diverged", "failed")
PARAM_KINDS = ("total", "embedding", "head", "non_embedding")








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


def lock_path(out_dir: str | os.PathLike, sweep_name: str, run_id: str) -> Path:
    return Path(out_dir) / sweep_name / "locks" / f"{run_id}.lock"


# ---------------------------------------------------------------------------------------------
# The run's identity

# Keys that say where a run writes or how it reports, never what it computes: they stay out of
# the run_id so the same run found under another device or logger is still the same run.
# Where things are, not what is computed: the token cache's folder (it also differs per machine,
# $HOME or $HARNESS_CACHE) names no part of the result.
# train.compile_mode: how torch.compile runs the step on CUDA (CUDA graphs or not), which changes
# no result on the CPU; it came after runs were recorded, whose ids must not change.
# schedule.branches: a run with cooldown branches computes exactly what it would without them (the
# branches are runs of their own, each with its own record), so the trunk is the standalone run.
RUN_ID_EXCLUDED = ("schedule.branches", "out_dir", "sweep_name", "logging", "sweep", "device", "train.threads",
                   "train.checkpoint_interval_seconds", "model.name", "data.cache_dir", "train.compile_mode")


def portable_config(d: dict[str, Any]) -> dict[str, Any]:
    """The config as a record keeps it: the default cache folder under $HOME is written ``~/...``,
    so a record committed to a repository names no folder of the machine that trained it."""
    data = d.get("data")
    home = os.path.expanduser("~")
    if isinstance(data, dict) and isinstance(data.get("cache_dir"), str) and home not in ("", "/") \
            and (data["cache_dir"] == home or data["cache_dir"].startswith(home + os.sep)):
        d = {**d, "data": {**data, "cache_dir": "~" + data["cache_dir"][len(home):]}}
    return d


# Keys added after runs were recorded: at their default they leave the id what it was before the
# key existed (a linear wsd cooldown is the only one there was); any other value is a new run.
RUN_ID_OMITTED_AT_DEFAULT = {"schedule.decay_shape": "linear", "train.evals_per_run": 10}


def _get(d: dict[str, Any], key: str, default: Any) -> Any:
    node: Any = d
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def _pop(d: dict[str, Any], key: str) -> None:
    node = d
    *parents, leaf = key.split(".")
    for p in parents:
        node = node.get(p, {})
    node.pop(leaf, None)


def run_id_of(cfg: Any) -> str:
    """The run's identity: a stable hash of everything that changes what the run computes.

    That is the config (a ``Config`` dataclass or its plain dict) less ``RUN_ID_EXCLUDED``, and,
    for text read from local files, the files' content: a file edited after a run is new data,
    so a new run, never the old record. Synthetic data is fully named by its config and a hub
    dataset by its name and ``data.revision``, so their ids hash the config alone (and stay what
    they were before content was hashed).
    """
    d = dataclasses.asdict(cfg) if dataclasses.is_dataclass(cfg) else json.loads(json.dumps(cfg))
    for key in RUN_ID_EXCLUDED:
        _pop(d, key)
    for key, default in RUN_ID_OMITTED_AT_DEFAULT.items():
        if _get(d, key, default) == default:
            _pop(d, key)
    data = d.get("data") or {}
    if data.get("kind") == "text" and data.get("paths"):
        # Imported here: only runs on local text pay for the data module (and torch).
        from harness.data.text import local_content_identity

        d["data_content"] = local_content_identity(list(data["paths"]))
        # The content names the data; where the files sit ($HARNESS_SHARED_DATA, a relative
        # path) does not, so the same corpus has one id on every machine.
        data.pop("paths")
    blob = json.dumps(d, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# Writing


def finite_or_none(obj: Any) -> Any:
    """``obj`` with every non-finite float (nan, inf) replaced by None, through dicts and lists."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_or_none(v) for v in obj]
    return obj


def record_json(record: RunRecord) -> str:
    # allow_nan=False stays as a guard: finite_or_none has already turned nan and inf into null.
    return json.dumps(finite_or_none(record.to_dict()), indent=1, allow_nan=False) + "\n"


def write_record(record: RunRecord, out_dir: str | os.PathLike) -> Path:
    path = record_path(out_dir, record.sweep_name, record.run_id)
    atomic_write_text(path, record_json(record))
    return path


def fallback_record_paths(out_dir: str | os.PathLike, sweep_name: str, run_id: str) -> list[Path]:
    """Where a record goes when runs/ refuses it, in order: beside the checkpoints, else in the
    system's temporary folder."""
    name = f"{run_id}.record.json"
    return [checkpoint_path(out_dir, sweep_name, run_id).parent / name,
            Path(tempfile.gettempdir()) / f"harness-{sweep_name}-{name}"]


def write_fallback_record(record: RunRecord, out_dir: str | os.PathLike) -> Path:
    """Keep a finished run's record where it can still be written when its runs/ folder cannot
    be (``fallback_record_paths``). Returns the file."""
    places = fallback_record_paths(out_dir, record.sweep_name, record.run_id)
    for path in places:
        try:
            atomic_write_text(path, record_json(record))
            return path
        except OSError:
            continue
    raise ResultsNotWritable(f"cannot write the record of run {record.run_id} anywhere "
                             f"(tried {', '.join(str(p) for p in places)})")


def adopt_fallback_record(out_dir: str | os.PathLike, sweep_name: str, run_id: str) -> Path | None:
    """Put a record that an earlier start kept in a fallback file where it belongs, now that
    runs/ takes it, so the run is not trained again; returns the fallback it came from."""
    for path in fallback_record_paths(out_dir, sweep_name, run_id):
        if not path.is_file():
            continue
        try:
            rec = read_record(path)
        except (RecordError, OSError):
            continue  # not ours to judge (the temporary folder is shared): leave it
        if rec.run_id != run_id or rec.sweep_name != sweep_name:
            continue
        write_record(rec, out_dir)
        with contextlib.suppress(OSError):
            path.unlink()
        return path
    return None


def check_writable(out_dir: str | os.PathLike, sweep_name: str) -> None:
    """Make sure files can be created in the runs, checkpoints and locks folders (in the nearest
    folder that exists, for those not made yet), so an unwritable results folder stops a run
    before its first step rather than after its last. Nothing is left behind."""
    base = Path(out_dir) / sweep_name
    for folder in (base / "runs", base / "checkpoints", base / "locks"):
        where = folder
        while not where.exists() and where != where.parent:
            where = where.parent
        try:
            if not where.is_dir():
                raise NotADirectoryError(errno.ENOTDIR, f"{where} is not a folder")
            fd, probe = tempfile.mkstemp(prefix=".write-test.", dir=where)
            os.close(fd)
            os.unlink(probe)
        except OSError as e:
            raise ResultsNotWritable(f"cannot write to {folder}: {e.strerror or e}") from None


# ---------------------------------------------------------------------------------------------
# Reading, and moving unreadable files aside


def read_record(path: str | os.PathLike) -> RunRecord:
    path = Path(path)
    try:
        d = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise RecordError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None
    except UnicodeDecodeError:
        raise RecordError(f"{path}: not valid JSON (not UTF-8 text)") from None
    if not isinstance(d, dict):
        raise RecordError(f"{path}: a run record must be a JSON object")
    try:
        return RunRecord.from_dict(d, source=str(path))
    except (TypeError, AttributeError) as e:  # a key of the wrong type (a curve that is not a list, ...)
        raise RecordError(f"{path}: malformed run record ({e})") from None


def quarantine(path: str | os.PathLike) -> Path:
    """Move an unreadable file aside to ``<name>.corrupt`` (``.corrupt.1``, ... when taken), never
    overwriting an earlier one; returns where it went."""
    path = Path(path)
    for i in range(1000):
        dest = path.with_name(path.name + ".corrupt" + (f".{i}" if i else ""))
        try:
            # A hard link fails if dest exists, so two processes can never overwrite each
            # other's quarantined file; the rename fallback is for filesystems without links.
            os.link(path, dest)
        except FileExistsError:
            continue
        except OSError as e:
            if isinstance(e, FileNotFoundError) or not path.exists():
                raise
            if dest.exists():
                continue
            os.replace(path, dest)
            return dest
        path.unlink()
        return dest
    raise RecordError(f"{path}: unreadable, and 1000 earlier .corrupt copies are in the way")


def _warn(msg: str) -> None:
    print(f"harness: {msg}", file=sys.stderr, flush=True)


def find_record(out_dir: str | os.PathLike, sweep_name: str, run_id: str,
                quarantine_corrupt: bool = True) -> RunRecord | None:
    """The run's record, or None if it has none. An unreadable record is moved aside (saying
    so in one line) and the run counts as not done; with ``quarantine_corrupt=False`` (read-only
    tools) it is left in place and still counts as not done."""
    path = record_path(out_dir, sweep_name, run_id)
    if not path.exists():
        return None
    try:
        return read_record(path)
    except RecordError as e:
        if not quarantine_corrupt:
            return None
        try:
            moved = quarantine(path)
        except FileNotFoundError:  # another process moved it aside first
            return None
        except OSError as oe:
            raise RecordError(f"{e}; and it cannot be moved aside ({oe.strerror or oe})") from None
        _warn(f"{e}; moved to {moved.name}, run {run_id} counts as not done")
        return None


def iter_record_paths(sweep_dir: str | os.PathLike) -> Iterator[Path]:
    """Record files of a sweep directory (``<sweep_dir>/runs/*.json``), in a stable order."""
    sweep_dir = Path(sweep_dir)
    runs = sweep_dir / "runs"
    if not runs.is_dir():
        raise RecordError(f"{sweep_dir}: no runs/ folder here, so this is not a sweep directory")
    # Temporary files start with a dot and are skipped by the glob.
    yield from sorted(runs.glob("[!.]*.json"))


def read_sweep(sweep_dir: str | os.PathLike, status: str | None = "completed") -> list[RunRecord]:
    """All records of a sweep, optionally only those with the given status; an unreadable
    record raises RecordError (``scan_sweep`` reads past them)."""
    records = [read_record(p) for p in iter_record_paths(sweep_dir)]
    if status is not None:
        records = [r for r in records if r.status == status]
    return records


def scan_sweep(sweep_dir: str | os.PathLike, quarantine_corrupt: bool = False,
               status: str | None = None) -> tuple[list[RunRecord], list[tuple[Path, str]]]:
    """Every readable record of a sweep (optionally only one status) and, for each file that
    cannot be read, ``(path, reason)``: a reader says what it skipped instead of stopping.

    ``quarantine_corrupt=True`` (the sweep, which reruns such runs) also moves those files aside
    and reports the new path; readers that only look (the fitter) leave them in place.
    """
    good: list[RunRecord] = []
    bad: list[tuple[Path, str]] = []
    for path in iter_record_paths(sweep_dir):
        try:
            rec = read_record(path)
        except OSError as e:  # unreadable for now (permissions, a vanished file): not corrupt
            bad.append((path, f"cannot read: {e.strerror or e}"))
            continue
        except RecordError as e:
            reason = str(e).removeprefix(f"{path}: ")
            if quarantine_corrupt:
                with contextlib.suppress(FileNotFoundError):
                    try:
                        moved = quarantine(path)
                        reason += f"; moved to {moved.name}"
                    except OSError as oe:
                        reason += f"; cannot be moved aside ({oe.strerror or oe})"
            bad.append((path, reason))
            continue
        if status is None or rec.status == status:
            good.append(rec)
    return good, bad


@contextlib.contextmanager
def run_lock(out_dir: str | os.PathLike, sweep_name: str, run_id: str) -> Iterator[Path]:
    """Hold the run's lock while it trains, so a second process starting the same run stops
    (``RunInProgress``, naming the holder's pid) rather than training it twice.

    An flock: the kernel releases it when the holder exits, killed or not, so a crash never
    leaves a stale lock. The file itself stays (removing it would race with a new holder).
    Without fcntl (Windows) runs are not locked.
    """
    path = lock_path(out_dir, sweep_name, run_id)
    try:
        import fcntl
    except ImportError:
        yield path
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            text = f.read().strip()
            raise RunInProgress(run_id, int(text) if text.isdigit() else None) from None
        try:
            f.seek(0)
            f.truncate()
            f.write(f"{os.getpid()}\n")
            f.flush()
            yield path
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
