"""Measured points: load them from CSV, run records or open_lm result files, and validate them.

Every law in this package fits a ``Points``: one row per run (model size N, tokens D, compute C,
final loss), with optional training curves (approach 1), unique-token counts (data-constrained
fits) and a group label (shared-exponent fits). Loading is strict: a value that is missing,
non-numeric, non-finite or non-positive is an error naming its row, because a silently dropped
or zero row bends a log-log fit without anyone noticing.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from harness.fit.errors import FitInputError

from harness.flops import CONVENTIONS as FLOP_CHOICES, PARAM_CONVENTIONS as PARAM_CHOICES


@dataclass
class Curve:
    """One run's training curve, for the lower envelope of approach 1."""

    run_id: str
    n: float
    tokens: np.ndarray
    flops: np.ndarray
    loss: np.ndarray


@dataclass
class Points:
    n: np.ndarray
    d: np.ndarray
    c: np.ndarray
    loss: np.ndarray
    labels: list[str]
    group: list[str] | None = None
    unique_tokens: np.ndarray | None = None  # NaN where a run saw fresh data
    curves: list[Curve] | None = None
    source: str = ""
    n_convention: str = "total"
    c_convention: str = "6ND"
    notes: list[str] = field(default_factory=list)
    # The loss no model can beat on this validation set, when it is known exactly (the synthetic
    # language's Bayes loss): the yardstick for a fitted E.
    floor: float | None = None

    def __post_init__(self) -> None:
        for name in ("n", "d", "c", "loss"):
            setattr(self, name, np.asarray(getattr(self, name), dtype=float))
        k = len(self.loss)
        if not (len(self.n) == len(self.d) == len(self.c) == k == len(self.labels)):
            raise FitInputError("points: N, D, C, loss and labels must have the same length")

    def __len__(self) -> int:
        return len(self.loss)

    def subset(self, idx: Sequence[int] | np.ndarray) -> "Points":
        idx = np.asarray(idx, dtype=int)
        keep = set(self.labels[i] for i in idx)
        return Points(
            n=self.n[idx], d=self.d[idx], c=self.c[idx], loss=self.loss[idx],
            labels=[self.labels[i] for i in idx],
            group=None if self.group is None else [self.group[i] for i in idx],
            unique_tokens=None if self.unique_tokens is None else self.unique_tokens[idx],
            curves=None if self.curves is None else [cv for cv in self.curves if cv.run_id in keep],
            source=self.source, n_convention=self.n_convention, c_convention=self.c_convention,
            notes=list(self.notes), floor=self.floor,
        )

    def drop_highest_loss(self, k: int) -> "Points":
        """Drop the k highest losses (the Epoch replication drops 5 outliers of Hoffmann's Fig. 4)."""
        if k <= 0:
            return self
        if k >= len(self):
            raise FitInputError(f"cannot drop {k} highest-loss points from {len(self)} points")
        keep = np.sort(np.argsort(self.loss, kind="stable")[:-k])
        out = self.subset(keep)
        out.notes.append(f"dropped the {k} highest-loss points")
        return out

    @property
    def groups(self) -> list[str]:
        return sorted(set(self.group)) if self.group else []


def _positive(value: object, what: str, where: str) -> float:
    if value is None or (isinstance(value, str) and value.strip() == ""):
        raise FitInputError(f"{where}: {what} is missing")
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise FitInputError(f"{where}: {what} {value!r} is not a number") from None
    if not math.isfinite(x):
        raise FitInputError(f"{where}: {what} is {value!r}, not a finite number")
    if x <= 0:
        raise FitInputError(f"{where}: {what} is {value!r}; it must be positive")
    return x


def load_csv(path: str | Path, n_col: str = "N", d_col: str = "D", c_col: str = "C",
             loss_col: str = "loss", group_col: str | None = None,
             unique_col: str | None = None) -> Points:
    """Points from a CSV with columns N, loss and D or C (the other is derived with C = 6ND)."""
    path = Path(path)
    if not path.is_file():
        raise FitInputError(f"{path}: no such file")
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise FitInputError(f"{path}: not a text CSV file") from None
    if not text.strip():
        raise FitInputError(f"{path}: the file is empty")
    reader = csv.DictReader(text.splitlines())
    header = reader.fieldnames or []
    missing = [c for c in (n_col, loss_col) if c not in header]
    has_d, has_c = d_col in header, c_col in header
    if not (has_d or has_c):
        missing.append(f"{d_col} or {c_col}")
    for opt in (group_col, unique_col):
        if opt and opt not in header:
            missing.append(opt)
    if missing:
        raise FitInputError(f"{path}: missing column(s) {', '.join(missing)} "
                            f"(columns are: {', '.join(header) or 'none'}); "
                            "map other names with --n-col/--d-col/--c-col/--loss-col")
    n, d, c, loss, labels, group, uniq = [], [], [], [], [], [], []
    for i, row in enumerate(reader, start=1):
        where = f"{path}: row {i} (line {i + 1})"
        if None in row:
            raise FitInputError(f"{where}: more fields than the header has columns")
        ni = _positive(row.get(n_col), n_col, where)
        li = _positive(row.get(loss_col), loss_col, where)
        if has_d:
            di = _positive(row.get(d_col), d_col, where)
            ci = _positive(row[c_col], c_col, where) if has_c else 6.0 * ni * di
        else:
            ci = _positive(row.get(c_col), c_col, where)
            di = ci / (6.0 * ni)
        n.append(ni); d.append(di); c.append(ci); loss.append(li)
        labels.append(f"row{i}")
        if group_col:
            g = (row.get(group_col) or "").strip()
            if not g:
                raise FitInputError(f"{where}: {group_col} is missing")
            group.append(g)
        if unique_col:
            u = row.get(unique_col)
            uniq.append(math.nan if u is None or u.strip() == "" else _positive(u, unique_col, where))
    if not loss:
        raise FitInputError(f"{path}: the file has a header but no rows")
    notes = [] if has_d else [f"D derived as C/(6N) from column {c_col}"]
    return Points(n=n, d=d, c=c, loss=loss, labels=labels, group=group or None,
                  unique_tokens=np.array(uniq) if unique_col else None, source=str(path),
                  n_convention=n_col, c_convention=c_col if has_c else "6ND", notes=notes)


def load_sweep(sweep_dir: str | Path, params: str = "total", flops: str = "6ND",
               use_curves: bool = True) -> Points:
    """Points from a sweep directory's run records (completed runs only; the rest are counted)."""
    # Imported here so that CSV-only use never touches the records module's IO.
    from harness.records import RecordError, read_sweep

    if params not in PARAM_CHOICES:
        raise FitInputError(f"--params must be one of {', '.join(PARAM_CHOICES)}, not {params!r}")
    if flops not in FLOP_CHOICES:
        raise FitInputError(f"--flops must be one of {', '.join(FLOP_CHOICES)}, not {flops!r}")
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise FitInputError(f"{sweep_dir}: no such directory")
    try:
        records = read_sweep(sweep_dir, status=None)
    except RecordError as e:
        raise FitInputError(str(e)) from None
    if not records:
        raise FitInputError(f"{sweep_dir}: no run records in {sweep_dir / 'runs'}")
    done = [r for r in records if r.status == "completed"]
    skipped = len(records) - len(done)
    if not done:
        raise FitInputError(f"{sweep_dir}: none of the {len(records)} runs completed, nothing to fit")
    n, d, c, loss, labels, group, uniq, curves = [], [], [], [], [], [], [], []
    for r in done:
        where = f"{sweep_dir}: run {r.run_id}"
        ni = _positive(r.params.get(params), f"params.{params}", where)
        di = _positive(r.tokens, "tokens", where)
        ci = _positive(r.flops.get(flops), f"flops.{flops}", where)
        li = _positive(r.val_loss, "val_loss", where)
        n.append(ni); d.append(di); c.append(ci); loss.append(li); labels.append(r.run_id)
        data_cfg = r.config.get("data") if isinstance(r.config, dict) else None
        group.append(_group_key(data_cfg))
        uniq.append(float(r.unique_tokens) if r.unique_tokens else math.nan)
        pts = [p for p in r.curve if p.val_loss is not None and p.tokens > 0 and p.flops.get(flops)]
        if use_curves and pts:
            curves.append(Curve(run_id=r.run_id, n=ni,
                                tokens=np.array([p.tokens for p in pts], dtype=float),
                                flops=np.array([p.flops[flops] for p in pts], dtype=float),
                                loss=np.array([p.val_loss for p in pts], dtype=float)))
    notes = [f"{skipped} run(s) not completed were skipped"] if skipped else []
    return Points(n=n, d=d, c=c, loss=loss, labels=labels, floor=_common_floor(r.bayes_loss for r in done),
                  group=group if len(set(group)) > 1 else None,
                  unique_tokens=np.array(uniq) if np.isfinite(uniq).any() else None,
                  curves=curves or None, source=str(sweep_dir), n_convention=params,
                  c_convention=flops, notes=notes)


def _common_floor(floors: Iterable[float | None]) -> float | None:
    """One floor only when every point was scored against the same exactly-known validation set."""
    distinct = set(floors)
    return distinct.pop() if len(distinct) == 1 else None


def _group_key(data_cfg: object) -> str:
    """A stable label for the dataset a run trained on (the shared-exponent fit's group)."""
    if isinstance(data_cfg, dict):
        for key in ("name", "dataset", "source", "path"):
            if isinstance(data_cfg.get(key), str):
                return data_cfg[key]
        return json.dumps(data_cfg, sort_keys=True)
    return str(data_cfg)


OPENLM_VAL_SETS = ("openlm", "c4_val", "paloma_c4_en", "paloma_falcon-refinedweb", "paloma_redpajama")


def load_openlm(folder: str | Path, val_set: str = "c4_val") -> Points:
    """Points from open_lm result files (Gadre et al. 2024, ``models/*.json``).

    N is ``hyperparameters.params`` (with embeddings), D is ``hyperparameters.tokens`` and the
    loss is the one evaluated on ``val_set`` (default C4 validation, the set Gadre et al. fit
    their laws to), so every run is scored on the same data. The group is the training dataset.
    """
    folder = Path(folder)
    files = sorted((folder / "models").glob("*.json")) if (folder / "models").is_dir() else sorted(folder.glob("*.json"))
    if not files:
        raise FitInputError(f"{folder}: no open_lm result files (models/*.json)")
    n, d, loss, labels, group = [], [], [], [], []
    for f in files:
        where = f"{f}"
        try:
            obj = json.loads(f.read_text())
            hp = obj["hyperparameters"]
            results = obj["results"]
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise FitInputError(f"{where}: not an open_lm result file ({e})") from None
        match = [r for r in results if any(f"/{val_set}/" in v for v in r.get("val_data", []))]
        if len(match) != 1:
            raise FitInputError(f"{where}: expected one result on validation set {val_set!r}, found {len(match)}")
        ni = _positive(hp.get("params"), "params", where)
        di = _positive(hp.get("tokens"), "tokens", where)
        n.append(ni); d.append(di); loss.append(_positive(match[0].get("loss"), "loss", where))
        labels.append(obj.get("name", f.stem)); group.append(obj.get("dataset_name", "?"))
    n_arr, d_arr = np.array(n), np.array(d)
    return Points(n=n_arr, d=d_arr, c=6 * n_arr * d_arr, loss=loss, labels=labels, group=group,
                  source=str(folder), n_convention="params (with embeddings)", c_convention="6ND",
                  notes=[f"loss on validation set {val_set}"])


def load_any(path: str | Path, **kw: object) -> Points:
    """Dispatch on what the path is: a CSV file, a sweep directory, or an open_lm results folder."""
    p = Path(path)
    csv_keys = ("n_col", "d_col", "c_col", "loss_col", "group_col", "unique_col")
    if p.is_file():
        return load_csv(p, **{k: v for k, v in kw.items() if k in csv_keys and v is not None})  # type: ignore[arg-type]
    if p.is_dir() and (p / "runs").is_dir():
        return load_sweep(p, params=str(kw.get("params", "total")), flops=str(kw.get("flops", "6ND")))
    if p.is_dir() and ((p / "models").is_dir() or any(p.glob("*.json"))):
        return load_openlm(p, val_set=str(kw.get("val_set") or "c4_val"))
    if p.is_dir():
        raise FitInputError(f"{p}: no runs/ folder, CSV or open_lm models/ here: no runs to fit")
    raise FitInputError(f"{p}: no such file or directory")


def concat(parts: Sequence[Points]) -> Points:
    if len(parts) == 1:
        return parts[0]
    groups = [p.group or [Path(p.source).name] * len(p) for p in parts]
    uniq = None
    if any(p.unique_tokens is not None for p in parts):
        uniq = np.concatenate([p.unique_tokens if p.unique_tokens is not None else np.full(len(p), np.nan) for p in parts])
    curves = [cv for p in parts for cv in (p.curves or [])]
    return Points(
        n=np.concatenate([p.n for p in parts]), d=np.concatenate([p.d for p in parts]),
        c=np.concatenate([p.c for p in parts]), loss=np.concatenate([p.loss for p in parts]),
        labels=[f"{Path(p.source).name}:{lab}" for p in parts for lab in p.labels],
        group=[g for gs in groups for g in gs], unique_tokens=uniq, curves=curves or None,
        source=" + ".join(p.source for p in parts), n_convention=parts[0].n_convention,
        c_convention=parts[0].c_convention, notes=[n for p in parts for n in p.notes],
        floor=_common_floor(p.floor for p in parts),
    )
