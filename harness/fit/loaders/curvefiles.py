"""Loss curves from anyone's trainer: a CSV of step, learning rate and loss (one curve per file, or a
folder of them), a W&B history export (``_step``) or a W&B panel export (``Step`` and one
``<run> - <metric>`` column per run), read into the same ``RunCurve`` a run record gives.

Conventions, and why:
- A loss logged at step s is the model after s optimizer updates, and the rate logged at step s is
  the rate of update s (nanoGPT's loop and this harness's records: evaluate, then step). So the
  loss at s has seen the rates of steps 0 .. s-1.
- A rate is known only at logged steps. It is rebuilt at every step by linear interpolation between
  them (``interp="previous"``: held until the next logged step, for schedules that jump), or taken
  from a schedule named on the command line (``NamedSchedule``). Before the first logged rate the
  curve is assumed to warm up linearly from 0 (curves are often logged from the end of the warmup
  on); every assumption is written into the points' notes, which the report prints.
- Rows where the loss is empty (a W&B history logs each metric at its own steps) still give their
  rate; rows where the rate is empty still give their loss.
- All curves of one input path belong to one model (one shape of the curve laws): give one path per
  model size, e.g. ``harness-fit csv_25 csv_100 csv_400 --law multipower``.
"""

from __future__ import annotations

import csv
import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from harness.config import ScheduleConfig
from harness.errors import FitInputError
from harness.fit.lrcurves import RunCurve, learning_rates
from harness.fit.points import Points

MIN_LOSS_POINTS = 3
WANDB_STEP = "_step"
PANEL_STEP = "Step"
PANEL_SEP = " - "
INTERPOLATIONS = ("linear", "previous")


@dataclass(frozen=True)
class NamedSchedule:
    """A schedule given on the command line for curves that log no rate: harness's own schedules
    (``harness.schedule``), with the peak rate, the warmup in steps and, optionally, the run's
    length in steps (default: each curve's last logged step)."""

    schedule: ScheduleConfig
    peak_lr: float
    warmup_steps: int
    steps: int | None = None

    @classmethod
    def parse(cls, text: str) -> "NamedSchedule":
        """``name=cosine,peak_lr=3e-4,warmup_steps=2160[,steps=24000][,final_lr_fraction=0.1,...]``."""
        fields = {f.name: f for f in dataclasses.fields(ScheduleConfig)}
        sched: dict[str, Any] = {}
        own: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, sep, val = part.partition("=")
            key = key.strip()
            if not sep:
                raise FitInputError(f"--lr-schedule {text!r}: write KEY=VALUE pairs, e.g. name=cosine,peak_lr=3e-4,"
                                    "warmup_steps=100")
            if key in ("peak_lr", "warmup_steps", "steps"):
                try:
                    own[key] = float(val)
                except ValueError:
                    raise FitInputError(f"--lr-schedule {text!r}: {key} {val!r} is not a number") from None
            elif key in fields and key != "branches":
                sched[key] = val.strip() if key in ("name", "decay_shape") else _number(text, key, val)
            else:
                known = sorted(k for k in fields if k != "branches") + ["peak_lr", "steps", "warmup_steps"]
                raise FitInputError(f"--lr-schedule {text!r}: unknown key {key!r} (keys: {', '.join(sorted(known))})")
        if "peak_lr" not in own or not own["peak_lr"] > 0:
            raise FitInputError(f"--lr-schedule {text!r}: give peak_lr, a positive rate")
        warm = own.get("warmup_steps", 0.0)
        steps = own.get("steps")
        if warm < 0 or warm != int(warm) or (steps is not None and (steps < 1 or steps != int(steps))):
            raise FitInputError(f"--lr-schedule {text!r}: warmup_steps and steps must be whole numbers of steps")
        cfg = ScheduleConfig(**sched)
        if cfg.name not in ("cosine", "wsd", "constant"):
            raise FitInputError(f"--lr-schedule {text!r}: name must be cosine, wsd or constant")
        return cls(schedule=cfg, peak_lr=own["peak_lr"], warmup_steps=int(warm),
                   steps=None if steps is None else int(steps))

    def rates(self, last_step: int) -> np.ndarray:
        steps = self.steps or last_step
        if steps < last_step:
            raise FitInputError(f"--lr-schedule: steps={steps} ends before the curve's last logged step {last_step}")
        return learning_rates(self.schedule, steps, min(self.warmup_steps, steps), self.peak_lr)[:last_step]


def _number(text: str, key: str, val: str) -> float:
    try:
        return float(val)
    except ValueError:
        raise FitInputError(f"--lr-schedule {text!r}: {key} {val!r} is not a number") from None


@dataclass(frozen=True)
class CurveOptions:
    """Column names and how to rebuild the rates (the CLI's --step-col, --lr-col, --loss-col,
    --tokens-col, --lr-interp, --lr-schedule)."""

    step_col: str = "step"
    lr_col: str = "lr"
    loss_col: str = "loss"
    tokens_col: str = "tokens"
    interp: str = "linear"
    schedule: NamedSchedule | None = None


@dataclass
class RawCurve:
    name: str
    steps: np.ndarray  # of the loss points
    loss: np.ndarray
    lr_steps: np.ndarray
    lr: np.ndarray
    tokens_per_step: float


def _read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except UnicodeDecodeError as e:
        raise FitInputError(f"{path}: not UTF-8 text (byte 0x{e.object[e.start]:02x} at position {e.start}); "
                            "save it as UTF-8") from None
    except (OSError, csv.Error) as e:
        raise FitInputError(f"{path}: cannot read it as a CSV file ({e})") from None
    if not rows:
        raise FitInputError(f"{path}: empty file")
    return [h.strip() for h in rows[0]], rows[1:]


def curve_header(path: Path, opts: CurveOptions, n_col: str = "N") -> bool:
    """Whether a CSV file holds loss curves (a step column and a loss column, no model-size column)
    rather than points."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            head = next(csv.reader(f), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return False
    head = [h.strip() for h in head]
    if n_col in head:
        return False
    if opts.step_col in head or WANDB_STEP in head:
        return opts.loss_col in head
    return PANEL_STEP in head and any(h.endswith(PANEL_SEP + opts.loss_col) for h in head)


def _cell(path: Path, row_no: int, col: str, text: str, positive: bool) -> float | None:
    text = text.strip()
    if text == "" or text.lower() in ("nan", "null", "none"):
        return None if text == "" or text.lower() != "nan" else math.nan
    try:
        v = float(text)
    except ValueError:
        raise FitInputError(f"{path}: row {row_no}: {col} {text!r} is not a number") from None
    if not math.isfinite(v) or (v <= 0 if positive else v < 0):
        need = "a finite positive number" if positive else "a finite number, not negative"
        raise FitInputError(f"{path}: row {row_no}: {col} is {text}; it must be {need}")
    return v


def _raw_curves(path: Path, opts: CurveOptions) -> list[RawCurve]:
    head, rows = _read_rows(path)
    if opts.step_col in head or WANDB_STEP in head:
        step_col = opts.step_col if opts.step_col in head else WANDB_STEP
        cols = {"step": step_col, "loss": opts.loss_col, "lr": opts.lr_col if opts.lr_col in head else None,
                "tokens": opts.tokens_col if opts.tokens_col in head else None}
        return [_one_curve(path, head, rows, path.stem, cols)]
    if PANEL_STEP in head:
        runs = [h[: -len(PANEL_SEP + opts.loss_col)] for h in head if h.endswith(PANEL_SEP + opts.loss_col)]
        out = []
        for run in runs:
            lr = run + PANEL_SEP + opts.lr_col
            out.append(_one_curve(path, head, rows, run, {"step": PANEL_STEP, "loss": run + PANEL_SEP + opts.loss_col,
                                                          "lr": lr if lr in head else None, "tokens": None}))
        if out:
            return out
    raise FitInputError(f"{path}: no {opts.step_col!r} (or W&B's {WANDB_STEP!r}) and {opts.loss_col!r} columns "
                        f"(columns are: {', '.join(head)}); name them with --step-col and --loss-col")


def _one_curve(path: Path, head: list[str], rows: list[list[str]], name: str, cols: dict[str, str | None]) -> RawCurve:
    idx = {k: head.index(c) for k, c in cols.items() if c is not None}
    steps, loss, lr_steps, lr, tok_steps, toks = [], [], [], [], [], []
    for i, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < len(head):
            row = row + [""] * (len(head) - len(row))
        s = _cell(path, i, cols["step"] or "step", row[idx["step"]], positive=False)
        if s is None or math.isnan(s):
            raise FitInputError(f"{path}: row {i}: no step")
        if s != int(s):
            raise FitInputError(f"{path}: row {i}: step {row[idx['step']].strip()} is not a whole number")
        y = _cell(path, i, cols["loss"] or "loss", row[idx["loss"]], positive=True)
        if y is not None:
            if math.isnan(y):
                raise FitInputError(f"{path}: row {i}: {cols['loss']} is nan; it must be a finite positive number")
            steps.append(int(s)); loss.append(y)
        if "lr" in idx:
            r = _cell(path, i, cols["lr"] or "lr", row[idx["lr"]], positive=False)
            if r is not None:
                if math.isnan(r):
                    raise FitInputError(f"{path}: row {i}: {cols['lr']} is nan")
                lr_steps.append(int(s)); lr.append(r)
        if "tokens" in idx:
            t = _cell(path, i, cols["tokens"] or "tokens", row[idx["tokens"]], positive=False)
            if t is not None and t > 0 and not math.isnan(t):
                tok_steps.append(int(s)); toks.append(t)
    for what, arr in (("steps", steps), ("learning-rate steps", lr_steps)):
        a = np.asarray(arr)
        bad = np.flatnonzero(np.diff(a) <= 0) if len(a) > 1 else []
        if len(bad):
            raise FitInputError(f"{path}: {name}: {what} out of order (step {a[bad[0]]} is followed by "
                                f"{a[bad[0] + 1]}); sort the rows by step, one row per step")
    if sum(1 for s in steps if s > 0) < MIN_LOSS_POINTS:
        raise FitInputError(f"{path}: {name}: a curve too short to fit ({len(steps)} loss point(s); at least "
                            f"{MIN_LOSS_POINTS} after step 0 are needed)")
    tps = float(np.median(np.array(toks) / np.array(tok_steps))) if tok_steps and tok_steps[0] > 0 else math.nan
    return RawCurve(name=name, steps=np.array(steps, dtype=int), loss=np.array(loss), lr_steps=np.array(lr_steps, dtype=int),
                    lr=np.array(lr), tokens_per_step=tps)


def rebuild_rates(raw: RawCurve, last: int, interp: str) -> tuple[np.ndarray, list[str]]:
    """The rate of steps 0 .. last-1 from the logged (step, rate) pairs, and what was assumed."""
    notes = []
    at = np.arange(last)
    s, r = raw.lr_steps, raw.lr
    if interp == "previous":
        i = np.clip(np.searchsorted(s, at, side="right") - 1, 0, len(s) - 1)
        eta = r[i].astype(float)
    else:
        eta = np.interp(at, s, r)
    first = int(s[0])
    if first > 0:
        # Nothing logged before the first rate: a linear warmup from 0 up to it.
        head = at < first
        eta[head] = r[0] * (at[head] + 1) / (first + 1)
        notes.append(f"no rate logged before the first logged rate (step {first} or so): a linear warmup from 0 "
                     "to it assumed")
    return eta, notes


def load_curve_file(path: str | Path, opts: CurveOptions = CurveOptions(), model: str | None = None) -> Points:
    """The curves of one CSV file, all of one model (``model``, default the file's name)."""
    return _points([Path(path)], opts, model or Path(path).stem, str(path))


def load_curve_folder(path: str | Path, opts: CurveOptions = CurveOptions()) -> Points:
    """Every CSV curve in a folder (not its subfolders), one model named after the folder."""
    p = Path(path)
    files = sorted(f for f in p.glob("*.csv") if f.is_file())
    if not files:
        raise FitInputError(f"{p}: no CSV curve files here")
    return _points(files, opts, p.resolve().name, str(p))


def _points(files: Iterable[Path], opts: CurveOptions, model: str, source: str) -> Points:
    if opts.interp not in INTERPOLATIONS:
        raise FitInputError(f"--lr-interp {opts.interp!r}: choose {' or '.join(INTERPOLATIONS)}")
    curves: list[RunCurve] = []
    said: dict[str, list[str]] = {}  # one note per assumption, naming the curves it concerns
    for f in files:
        for raw in _raw_curves(f, opts):
            rc, why = _run_curve(f, raw, opts, model)
            curves.append(rc)
            for n in why:
                said.setdefault(n, []).append(raw.name)
    notes = [f"{model}: {n} ({', '.join(names) if len(names) <= 3 else f'{len(names)} curves'})"
             for n, names in said.items()]
    names = [rc.run_id for rc in curves]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise FitInputError(f"{source}: two curves named {dup[0]}: every curve of a model needs its own name")
    how = ("rates rebuilt at every step by linear interpolation between the logged rates" if opts.interp == "linear"
           else "rates rebuilt at every step by holding each logged rate until the next")
    if opts.schedule is None and any(rc.schedule.get("name") == "logged" for rc in curves):
        notes.insert(0, f"{model}: {how}")
    k = len(curves)
    pts = Points(n=np.full(k, np.nan), d=np.array([rc.steps * rc.tokens_per_step for rc in curves]), c=np.full(k, np.nan),
                 loss=np.array([rc.final_loss for rc in curves]), labels=names, source=source, notes=notes)
    pts.run_curves = curves
    return pts


def _run_curve(path: Path, raw: RawCurve, opts: CurveOptions, model: str) -> tuple[RunCurve, list[str]]:
    keep = raw.steps > 0  # the loss before any update has no rate behind it
    steps, loss = raw.steps[keep], raw.loss[keep]
    last = int(steps[-1])
    if len(raw.lr_steps):
        eta, notes = rebuild_rates(raw, last, opts.interp)
        sched = {"name": "logged"}
    elif opts.schedule is not None:
        eta, notes = opts.schedule.rates(last), []
        sched = {**dataclasses.asdict(opts.schedule.schedule), "name": opts.schedule.schedule.name}
    else:
        raise FitInputError(f"{path}: {raw.name}: no {opts.lr_col!r} column and no --lr-schedule: the curve laws need "
                            "the learning rate of every step (name the column with --lr-col, or the schedule with "
                            "--lr-schedule name=cosine,peak_lr=...,warmup_steps=...)")
    if not np.any(eta > 0):
        raise FitInputError(f"{path}: {raw.name}: every learning rate is 0")
    peak = float(eta.max())
    warm = int(np.argmax(eta >= peak * (1 - 1e-9)))
    rc = RunCurve(run_id=f"{model}/{raw.name}", shape_key=model, shape_label=model, n=math.nan, data_key="",
                  steps=last, warmup_steps=warm, peak_lr=peak, schedule=sched, tokens_per_step=raw.tokens_per_step,
                  flops_per_token=math.nan, eval_steps=steps, eval_loss=loss, eval_full=np.ones(len(steps), dtype=bool),
                  final_loss=float(loss[-1]), name=raw.name, rates=eta)
    return rc, notes
