"""The run record: one JSON file per run, the source of truth for everything downstream.

Plain data and IO only: this package knows nothing of models or training, so the fitter, the
report and the sweep tools can read records without importing torch. One module per job:
``schema`` (what a record holds, its JSON form), ``identity`` (the run_id), ``store`` (where
records live; writing, reading, scanning), ``fallback`` (a record its runs/ folder refused) and
``lock`` (one process per run). Callers use the names re-exported here: ``records.read_record``.

Layout on disk::

    <out_dir>/<sweep_name>/runs/<run_id>.json          one record per run (written atomically)
    <out_dir>/<sweep_name>/checkpoints/<run_id>.pt     the latest checkpoint of an unfinished run
    <out_dir>/<sweep_name>/locks/<run_id>.lock         held (flock) by the process training the run
"""

from __future__ import annotations

from harness.errors import RecordError, ResultsNotWritable, RunInProgress
from harness.records.fallback import adopt_fallback_record, fallback_record_paths, write_fallback_record
from harness.records.identity import RUN_ID_EXCLUDED, RUN_ID_OMITTED_AT_DEFAULT, run_id_of
from harness.records.lock import run_lock
from harness.records.schema import (
    PARAM_KINDS,
    SCHEMA_VERSION,
    STATUSES,
    CurvePoint,
    RunRecord,
    finite_or_none,
    portable_config,
    record_from_json,
    record_json,
)
from harness.records.store import (
    check_writable,
    checkpoint_path,
    find_record,
    iter_record_paths,
    lock_path,
    quarantine,
    read_record,
    read_sweep,
    record_path,
    runs_dir,
    scan_sweep,
    write_record,
)

__all__ = [
    "PARAM_KINDS", "RUN_ID_EXCLUDED", "RUN_ID_OMITTED_AT_DEFAULT", "SCHEMA_VERSION", "STATUSES", "CurvePoint",
    "RecordError", "ResultsNotWritable", "RunInProgress", "RunRecord", "adopt_fallback_record",
    "check_writable", "checkpoint_path", "fallback_record_paths", "find_record", "finite_or_none",
    "iter_record_paths", "lock_path", "portable_config", "quarantine", "read_record", "read_sweep",
    "record_from_json", "record_json", "record_path", "run_id_of", "run_lock", "runs_dir", "scan_sweep",
    "write_fallback_record", "write_record",
]
