"""What a run record holds, and its JSON form: the fields, their check on reading, and the config as a
record keeps it.

Numbers that are not finite (a diverged run's NaN or inf losses) are written as JSON ``null``, so
every record is strict JSON that any reader parses; read back, they are ``None``, the same value a
curve point has where nothing was measured. Reading checks every field against its declared type
(``checked``): a record edited by hand or written by another tool with a field of the wrong type is
a one-line RecordError naming the file and the field, as a truncated one is.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

from harness.errors import RecordError
from harness.paths import portable_path

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
        """The record a JSON object holds, every field of the type it is declared with (``checked``);
        anything else is a one-line RecordError naming ``source`` and the field."""
        names = {f.name for f in dataclasses.fields(cls)}
        required = {f.name for f in dataclasses.fields(cls)
                    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
        missing = sorted(required - d.keys())
        if missing:
            raise RecordError(f"{source}: run record is missing key(s) {', '.join(missing)}")
        kwargs = checked(cls, {k: v for k, v in d.items() if k in names}, f"{source}: ")
        if kwargs["status"] not in STATUSES:
            raise RecordError(f"{source}: status {kwargs['status']!r} is not one of {', '.join(STATUSES)}")
        curve = []
        for i, p in enumerate(kwargs["curve"]):
            where = f"{source}: curve point {i}: "
            if not isinstance(p, dict):
                raise RecordError(f"{where}{_show(p)} is not an object")
            absent = sorted({f.name for f in dataclasses.fields(CurvePoint)} - p.keys())
            unknown = sorted(p.keys() - {f.name for f in dataclasses.fields(CurvePoint)})
            if absent or unknown:
                raise RecordError(f"{where}" + (f"missing key(s) {', '.join(absent)}" if absent
                                                else f"unknown key(s) {', '.join(map(str, unknown))}"))
            curve.append(CurvePoint(**checked(CurvePoint, p, where)))
        kwargs["curve"] = curve
        return cls(**kwargs)


# Checking a record's JSON: each field must hold what its annotation declares, so a record that says
# "tokens": "abc", "curve": 5 or "flops": [] is as unreadable as a truncated one (named, skipped by
# readers, moved aside by a sweep) instead of a traceback wherever the value is first used. JSON's
# true and false are not numbers here (Python would take True as 1), nor is an integer beyond 64 bits
# (a count no run reaches; as a float it would overflow). A number that is not finite (a NaN or
# Infinity literal, 1e999) reads as null where null is allowed, as the writer writes it.
INT_LIMIT = 2 ** 63


def _show(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_int(v: Any) -> bool:
    return type(v) is int and abs(v) < INT_LIMIT


def _number(v: Any) -> float | None:
    """``v`` as a float when it is a JSON number (not a boolean) a float can hold, else None."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    try:
        return float(v)
    except OverflowError:
        return None


def _value(kind: str, v: Any, optional: bool, what: str, where: str) -> Any:
    """``v`` checked against ``kind`` (int, float, str, dict[...], list[...]), or a RecordError
    ``where`` + what is wrong with it."""
    if v is None and optional:
        return None
    if kind == "int":
        if _is_int(v):
            return v
        raise RecordError(f"{where}{what} is {_show(v)}, "
                          + ("beyond a 64-bit integer" if type(v) is int else "not an integer"))
    if kind == "float":
        x = _number(v)
        if x is None:
            raise RecordError(f"{where}{what} is {_show(v)}, "
                              + ("too large for a number" if type(v) is int else "not a number"))
        if not math.isfinite(x):
            if optional:
                return None
            raise RecordError(f"{where}{what} is {_show(v)}, not a finite number")
        return v
    if kind == "str":
        if isinstance(v, str):
            return v
        raise RecordError(f"{where}{what} is {_show(v)}, not a string")
    if kind.startswith("dict["):
        if not isinstance(v, dict):
            raise RecordError(f"{where}{what} is {_show(v)}, not an object")
        inner = kind[len("dict[str, "):-1]
        if inner == "Any":
            return v
        # A count per convention: a value the writer turned into null (not finite) stays null.
        return {k: _value(inner, x, inner == "float", f"{what}.{k}", where) for k, x in v.items()}
    if kind.startswith("list["):
        if not isinstance(v, list):
            raise RecordError(f"{where}{what} is {_show(v)}, not a list")
        return v
    raise AssertionError(f"no check for a field of type {kind}")


def checked(cls: type, d: dict[str, Any], where: str) -> dict[str, Any]:
    """The fields of dataclass ``cls`` found in ``d``, each checked against its annotation
    (``int``, ``float | None``, ``dict[str, float]``, ...); a RecordError prefixed by ``where``."""
    out = {}
    for f in dataclasses.fields(cls):
        if f.name in d:
            ann = str(f.type).replace(" ", "")
            kind = ann.removesuffix("|None").replace(",", ", ")
            out[f.name] = _value(kind, d[f.name], ann.endswith("|None"), f.name, where)
    return out


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
    return RunRecord.from_dict(d, source=source)


def portable_config(d: dict[str, Any]) -> dict[str, Any]:
    """The config as a record keeps it, naming no folder of the machine that trained it: the cache
    folder and local data files under $HOME as ``~/...``, data files in the shared data folder as
    ``$HARNESS_SHARED_DATA/...`` (``harness.paths``), so a record committed to a repository names
    no path outside it and still finds its data on another machine."""
    data = d.get("data")
    if not isinstance(data, dict):
        return d
    data = dict(data)
    if isinstance(data.get("cache_dir"), str):
        data["cache_dir"] = portable_path(data["cache_dir"])
    if isinstance(data.get("paths"), list):
        data["paths"] = [portable_path(p) if isinstance(p, str) else p for p in data["paths"]]
    return {**d, "data": data}
