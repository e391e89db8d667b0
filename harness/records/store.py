"""The results store: where a sweep's records, checkpoints and locks live, and records written, read,
found and scanned there.

A record that cannot be read (truncated by a full disk, edited by hand, a field of the wrong type)
is moved aside to ``<name>.corrupt`` (``.corrupt.1`` and on if that exists: nothing is overwritten)
and the run counts as not done, so one bad file never stops a run or a sweep; it is kept for
inspection.
Records get the usual file mode, 0666 less the umask, so others on a shared filesystem read them
as they read any file the user writes.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Iterable, Iterator

from harness import files
from harness.errors import RecordError
from harness.records.schema import RunRecord, record_from_json, record_json


def runs_dir(out_dir: str | os.PathLike, sweep_name: str) -> Path:
    return Path(out_dir) / sweep_name / "runs"


def record_path(out_dir: str | os.PathLike, sweep_name: str, run_id: str) -> Path:
    return runs_dir(out_dir, sweep_name) / f"{run_id}.json"


def checkpoint_path(out_dir: str | os.PathLike, sweep_name: str, run_id: str) -> Path:
    return Path(out_dir) / sweep_name / "checkpoints" / f"{run_id}.pt"


def lock_path(out_dir: str | os.PathLike, sweep_name: str, run_id: str) -> Path:
    return Path(out_dir) / sweep_name / "locks" / f"{run_id}.lock"


def check_writable(out_dir: str | os.PathLike, sweep_name: str) -> None:
    """Make sure files can be created in the runs, checkpoints and locks folders, so an
    unwritable results folder stops a run before its first step rather than after its last.
    Nothing is left behind; ResultsNotWritable names the folder that refuses."""
    base = Path(out_dir) / sweep_name
    for folder in ("runs", "checkpoints", "locks"):
        files.check_writable(base / folder, is_dir=True)


def write_record(record: RunRecord, out_dir: str | os.PathLike) -> Path:
    return files.atomic_write_text(record_path(out_dir, record.sweep_name, record.run_id), record_json(record))


def read_record(path: str | os.PathLike) -> RunRecord:
    path = Path(path)
    return record_from_json(path.read_bytes(), source=str(path))


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


def scan_records(paths: Iterable[Path], quarantine_corrupt: bool = False,
                 status: str | None = None) -> tuple[list[tuple[Path, RunRecord]], list[tuple[Path, str]]]:
    """Each readable record among ``paths`` with its file (optionally only one status) and, for each
    file that cannot be read, ``(path, reason)``: a reader says what it skipped instead of stopping.

    ``quarantine_corrupt=True`` (the sweep, which reruns such runs) also moves those files aside
    and reports the new path; readers that only look (the fitter) leave them in place.
    """
    good: list[tuple[Path, RunRecord]] = []
    bad: list[tuple[Path, str]] = []
    for path in paths:
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
            good.append((path, rec))
    return good, bad


def scan_sweep(sweep_dir: str | os.PathLike, quarantine_corrupt: bool = False,
               status: str | None = None) -> tuple[list[RunRecord], list[tuple[Path, str]]]:
    """Every readable record of a sweep (optionally only one status) and, for each file that
    cannot be read, ``(path, reason)``: ``scan_records`` over the sweep's runs/ folder."""
    good, bad = scan_records(iter_record_paths(sweep_dir), quarantine_corrupt=quarantine_corrupt, status=status)
    return [rec for _, rec in good], bad
