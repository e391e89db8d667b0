"""Points from run records: a sweep directory's completed runs, with their training curves, or the
records named one by one (a single record file, a sweep's ``runs/`` folder itself).

A record is one file the fitter reads as a whole: a file that cannot be read (truncated, not JSON,
a field of the wrong type) or whose numbers cannot be a point (an N, D or C that is not positive, a
loss that is not a positive finite number, a curve point with a negative loss) is skipped with a
note naming it, as a sweep does with a corrupt record, so one bad file never stops a sweep's fit and
never bends it unnoticed: the note is in the headline of every fit.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from harness.errors import FitInputError, RecordError
from harness.fit.datalabels import data_label, disambiguate
from harness.fit.loaders.curves import comparable_curve, intermediate_eval_subset, one_eval_set_per_dataset
from harness.fit.loaders.values import positive, show
from harness.fit.lrcurves import run_curve
from harness.fit.points import Curve, Points, common_floor
from harness.flops import CONVENTIONS as FLOP_CHOICES
from harness.flops import PARAM_CONVENTIONS as PARAM_CHOICES
from harness.records import iter_record_paths
from harness.records.store import scan_records

# The schedule's numbers a record's config gives the curve laws (harness/fit/lrcurves.py rebuilds
# the run's learning rates from them).
SCHEDULE_NUMBERS = ("warmup_tokens", "warmup_fraction", "final_lr_fraction", "decay_fraction")


def _num(x: object) -> float:
    """A sort key that never fails: what is not a finite number sorts last (and is refused later)."""
    try:
        v = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return math.inf
    return v if math.isfinite(v) else math.inf


def _check_curve(r: Any, where: str) -> None:
    """Raise FitInputError for a curve point whose numbers no run writes (a loss that is not
    positive, negative tokens, steps, FLOPs or rate); finite they already are (records.schema)."""
    for i, p in enumerate(r.curve):
        at = f"{where}: curve point {i}"
        for what in ("train_loss", "val_loss"):
            if getattr(p, what) is not None:
                positive(getattr(p, what), what, at)
        for what, value in (("step", p.step), ("tokens", p.tokens), ("lr", p.lr),
                            *((f"flops.{k}", v) for k, v in p.flops.items())):
            if value is not None and value < 0:
                raise FitInputError(f"{at}: {what} is {value!r}; it must not be negative")


def _check_config(r: Any, where: str) -> None:
    """Raise FitInputError where the record holds what the fitter reads besides its numbers (the
    config's data section, the peak rate, schedule and evaluation sizes behind the curves, the
    recorded warmup) in a form no run writes: a string or a boolean where a number goes."""
    cfg = r.config
    for section in ("data", "optim", "schedule", "train"):
        if cfg.get(section) is not None and not isinstance(cfg[section], dict):
            raise FitInputError(f"{where}: config.{section} is {show(cfg[section])}, not an object")
    lr = (cfg.get("optim") or {}).get("lr")
    if lr is not None:
        positive(lr, "config.optim.lr", where)
    numbers = [(f"config.schedule.{k}", (cfg.get("schedule") or {}).get(k), (int, float)) for k in SCHEDULE_NUMBERS]
    numbers += [("config.train.eval_sequences", (cfg.get("train") or {}).get("eval_sequences"), (int,)),
                ("config.data.val_sequences", (cfg.get("data") or {}).get("val_sequences"), (int,)),
                ("extra.warmup_steps", r.extra.get("warmup_steps"), (int,))]
    for what, value, types in numbers:
        if value is not None and (isinstance(value, bool) or not isinstance(value, types) or value < 0):
            kind = "a whole number" if types == (int,) else "a number"
            raise FitInputError(f"{where}: {what} is {show(value)}, not {kind} >= 0")


def _row(path: Path, r: Any, params: str, flops: str) -> tuple[float, float, float, float]:
    """(N, D, C, loss) of a completed record, checked as strictly as a CSV row; FitInputError
    (naming the file) for one that cannot be a point."""
    where = str(path)
    row = (positive(r.params.get(params), f"params.{params}", where), positive(r.tokens, "tokens", where),
           positive(r.flops.get(flops), f"flops.{flops}", where), positive(r.val_loss, "val_loss", where))
    if r.bayes_loss is not None:
        positive(r.bayes_loss, "bayes_loss", where)
    if r.unique_tokens is not None:
        positive(r.unique_tokens, "unique_tokens", where)
    _check_config(r, where)
    _check_curve(r, where)
    return row


def _completed(files: Sequence[Path], source: str, none_readable: str | None, params: str,
               flops: str) -> tuple[list[tuple[Any, tuple]], list[str]]:
    """The completed records among ``files`` that make a point, each with its (N, D, C, loss), in a
    fixed order, and notes on the runs and files skipped. ``none_readable`` is the error when no
    file holds a readable record; None for a single record file, whose own problem is the error."""
    # The fitter only looks: unreadable files stay where they are (the sweep moves them aside).
    records, bad = scan_records(files, quarantine_corrupt=False)
    unreadable = [f"skipped {path}: {reason}" for path, reason in bad]
    if not records:
        if none_readable is None:
            raise FitInputError(f"{bad[0][0]}: {bad[0][1]}")
        extra = f" ({len(unreadable)} unreadable: {unreadable[0]})" if unreadable else ""
        raise FitInputError(f"{none_readable}{extra}")
    done = [(path, r) for path, r in records if r.status == "completed"]
    skipped = len(records) - len(done)
    if not done:
        if none_readable is None:
            r = records[0][1]
            raise FitInputError(f"{source}: run {r.run_id} did not complete ({r.status}), nothing to fit")
        raise FitInputError(f"{source}: none of the {len(records)} runs completed, nothing to fit")
    rows, unusable = [], []
    for path, r in done:
        try:
            rows.append((r, _row(path, r, params, flops)))
        except FitInputError as e:
            if none_readable is None:
                raise
            unusable.append(f"skipped {e}")
    if not rows:
        raise FitInputError(f"{source}: none of the {len(done)} completed runs can be fitted ({unusable[0]})")
    # Points in an order fixed by what the runs measured, not by their file names: the bootstrap
    # draws resamples by position, so the same runs under other run ids (a migrated identity, a
    # copied record) must give the same intervals.
    rows.sort(key=lambda rr: (_num(rr[0].flops.get(flops)), _num(rr[0].params.get(params)), _num(rr[0].tokens),
                              _num(rr[0].val_loss), rr[0].run_id))
    notes = [f"{skipped} run(s) not completed were skipped"] if skipped else []
    return rows, notes + unreadable + unusable


def _check_conventions(params: str, flops: str) -> None:
    if params not in PARAM_CHOICES:
        raise FitInputError(f"--param-convention must be one of {', '.join(PARAM_CHOICES)}, not {params!r}")
    if flops not in FLOP_CHOICES:
        raise FitInputError(f"--flops-convention must be one of {', '.join(FLOP_CHOICES)}, not {flops!r}")


def load_sweep(sweep_dir: str | Path, param_convention: str = "total", flops_convention: str = "6ND",
               use_curves: bool = True) -> Points:
    """Points from a sweep directory's run records (completed runs only; the rest are counted).

    A record file that cannot be read (truncated, not JSON, missing keys, a field of the wrong type)
    or that cannot be a point (see the module docstring) is skipped with a note naming it.
    """
    _check_conventions(param_convention, flops_convention)
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise FitInputError(f"{sweep_dir}: no such directory")
    try:
        files = list(iter_record_paths(sweep_dir))
    except RecordError as e:
        raise FitInputError(str(e)) from None
    return _points(files, str(sweep_dir), f"{sweep_dir}: no readable run records in {sweep_dir / 'runs'}",
                   param_convention, flops_convention, use_curves)


def _holds_run_record(path: Path) -> bool:
    try:
        d = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return False
    return isinstance(d, dict) and "run_id" in d and "curve" in d


def record_files(path: str | Path) -> list[Path] | None:
    """The run records that ``path`` names when it names them directly: a single record file (a
    .json holding a run record, or any .json in a folder called runs, readable or not), or a
    folder of them (a sweep's ``runs/`` with its .json files, or any folder whose first .json is a
    run record). None for anything else: a sweep folder, a CSV, a folder of curve CSVs, an open_lm
    folder."""
    p = Path(path)
    if p.is_file():
        return [p] if p.suffix == ".json" and (p.parent.name == "runs" or _holds_run_record(p)) else None
    if not p.is_dir() or (p / "runs").is_dir() or (p / "models").is_dir():
        return None
    files = sorted(p.glob("[!.]*.json"))
    return files if files and (p.name == "runs" or _holds_run_record(files[0])) else None


def load_records(path: str | Path, param_convention: str = "total", flops_convention: str = "6ND",
                 use_curves: bool = True) -> Points:
    """Points from the run records ``path`` names (``record_files``): one record file is one point
    (several files, e.g. ``runs/*.json``, are several), a runs/ folder is its sweep's points.

    Read as ``load_sweep`` reads a sweep, skipping what it skips; a single file that cannot be read
    or fitted is the error itself, in one line. A single record alone is one point: too few for any
    law, which the fit then says in one line.
    """
    _check_conventions(param_convention, flops_convention)
    p = Path(path)
    files = record_files(p)
    if files is None:
        raise FitInputError(f"{p}: not a run record, nor a folder of them")
    return _points(files, str(p), None if p.is_file() else f"{p}: no readable run records", param_convention,
                   flops_convention, use_curves)


def _points(files: Sequence[Path], source: str, none_readable: str | None, params: str, flops: str,
            use_curves: bool) -> Points:
    rows, notes = _completed(files, source, none_readable, params, flops)
    n, d, c, loss, labels, keys, base, uniq = [], [], [], [], [], [], [], []
    curves: list[tuple[str, object, Curve]] = []  # (data key, evaluation set, curve)
    run_curves = []
    for r, (ni, di, ci, li) in rows:
        n.append(ni); d.append(di); c.append(ci); loss.append(li); labels.append(r.run_id)
        data_cfg = r.config.get("data")
        key = r.data_fingerprint or "config:" + json.dumps(data_cfg, sort_keys=True, default=str)
        keys.append(key)
        base.append(data_label(data_cfg))
        uniq.append(float(r.unique_tokens) if r.unique_tokens else math.nan)
        if use_curves:
            cv = comparable_curve(r, ni, flops)
            if cv is not None:
                curves.append((key, cv[0], cv[1]))
            rc = run_curve(r, ni, flops, key, intermediate_eval_subset(r.config) is not None)
            if rc is not None:
                run_curves.append(rc)
    kept_curves, curve_notes = one_eval_set_per_dataset(curves)
    return Points(n=n, d=d, c=c, loss=loss, labels=labels, floor=common_floor(r.bayes_loss for r, _ in rows),
                  group=disambiguate(base, keys), data_keys=keys,
                  unique_tokens=np.array(uniq) if np.isfinite(uniq).any() else None,
                  curves=kept_curves or None, source=source, param_convention=params,
                  flops_convention=flops, notes=notes + curve_notes, run_curves=run_curves or None)
