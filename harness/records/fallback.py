"""Fallback records: a finished run's record that its runs/ folder refused, kept where it can be
written (beside the checkpoints, else in the system's temporary folder) until the run's next start
puts it in place, so the work is not lost and the run is not trained again."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from harness import files
from harness.errors import RecordError, ResultsNotWritable
from harness.records.schema import RunRecord, record_json
from harness.records.store import checkpoint_path, read_record, write_record


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
            return files.atomic_write_text(path, record_json(record))
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
