"""What a run record holds, and its JSON form: the fields, their check on reading, and the config as a
record keeps it.

Numbers that are not finite (a diverged run's NaN or inf losses) are written as JSON ``null``, so
every record is strict JSON that any reader parses; read back, they are ``None``, the same value a
curve point has where nothing was measured.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

from harness.errors import RecordError

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


def record_from_json(raw: bytes, source: str) -> RunRecord:
    """The record in ``raw`` (the bytes of a record file), or a one-line RecordError naming ``source``."""
    try:
        d = json.loads(raw.decode("utf-8"))
    except json.JSONDecodeError as e:
        raise RecordError(f"{source}: not valid JSON ({e.msg} at line {e.lineno})") from None
    except UnicodeDecodeError:
        raise RecordError(f"{source}: not valid JSON (not UTF-8 text)") from None
    if not isinstance(d, dict):
        raise RecordError(f"{source}: a run record must be a JSON object")
    try:
        return RunRecord.from_dict(d, source=source)
    except (TypeError, AttributeError) as e:  # a key of the wrong type (a curve that is not a list, ...)
        raise RecordError(f"{source}: malformed run record ({e})") from None


def portable_config(d: dict[str, Any]) -> dict[str, Any]:
    """The config as a record keeps it: the default cache folder under $HOME is written ``~/...``,
    so a record committed to a repository names no folder of the machine that trained it."""
    data = d.get("data")
    home = os.path.expanduser("~")
    if isinstance(data, dict) and isinstance(data.get("cache_dir"), str) and home not in ("", "/") \
            and (data["cache_dir"] == home or data["cache_dir"].startswith(home + os.sep)):
        d = {**d, "data": {**data, "cache_dir": "~" + data["cache_dir"][len(home):]}}
    return d
