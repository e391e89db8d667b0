"""Reading what an offline W&B run wrote, as W&B's servers would receive it on `wandb sync`.

wandb 0.31 ships no Python reader of its ``.wandb`` transaction log (the old
``wandb.sdk.internal.datastore`` went with the move of the internal process to Go), so this reads
the format itself: a 7-byte header (``:W&B``, magic 0xBEE1, version 0), then LevelDB log records in
32 KiB blocks (each a 7-byte header: CRC, little-endian length, type FULL/FIRST/MIDDLE/LAST; a
block's tail shorter than a header is padding), each payload one ``wandb_internal_pb2.Record``.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BLOCK = 32 * 1024
HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def read_records(path: Path) -> list[Any]:
    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B transaction log"
    out, pos, buf = [], HEADER, b""
    while pos + HEADER <= len(data):
        left = BLOCK - pos % BLOCK
        if left < HEADER:
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + HEADER])
        chunk = data[pos + HEADER:pos + HEADER + length]
        pos += HEADER + length
        if kind == FULL:
            buf = chunk
        elif kind == FIRST:
            buf = chunk
            continue
        elif kind == MIDDLE:
            buf += chunk
            continue
        elif kind == LAST:
            buf += chunk
        else:  # zero padding at the end of a block
            continue
        rec = pb.Record()
        rec.ParseFromString(buf)
        out.append(rec)
    return out


@dataclass
class OfflineRun:
    """One offline run: its run record, defined metrics, history rows, files and artifacts."""

    folder: Path
    run: Any = None
    metrics: dict[str, str] = field(default_factory=dict)  # metric -> its step_metric ("" for none)
    history: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    artifacts: list[Any] = field(default_factory=list)

    @property
    def group(self) -> str:
        return self.run.run_group

    @property
    def job_type(self) -> str:
        return self.run.job_type

    def file(self, rel: str) -> Path:
        return self.folder / "files" / rel


def _put(into: dict[str, Any], item: Any) -> None:
    """A history or summary item into a dict: a key W&B split (a table's ``nrows``, ``path``, ...)
    becomes a nested dict; a metric named with slashes (``flops/6ND``) stays one key."""
    keys = list(item.nested_key) or [item.key]
    for k in keys[:-1]:
        into = into.setdefault(k, {})
    into[keys[-1]] = json.loads(item.value_json)


def read_run(wandb_file: Path) -> OfflineRun:
    r = OfflineRun(folder=wandb_file.parent)
    for rec in read_records(wandb_file):
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            r.run = rec.run
        elif kind == "metric" and rec.metric.name:
            r.metrics[rec.metric.name] = rec.metric.step_metric
        elif kind == "history":
            row: dict[str, Any] = {}
            for item in rec.history.item:
                _put(row, item)
            r.history.append(row)
        elif kind == "summary":
            for item in rec.summary.update:
                _put(r.summary, item)
        elif kind == "files":
            r.files += [f.path for f in rec.files.files]
        elif kind == "artifact":
            r.artifacts.append(rec.artifact)
    return r


def offline_runs(root: Path) -> list[OfflineRun]:
    """Every offline run written under ``root``, oldest first."""
    return [read_run(p) for p in sorted(Path(root).rglob("offline-run-*/run-*.wandb"))]
