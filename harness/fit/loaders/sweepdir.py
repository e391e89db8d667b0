"""Points from a sweep directory: its completed run records, with their training curves."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import FitInputError, RecordError
from harness.fit.datalabels import data_label, disambiguate
from harness.fit.loaders.curves import comparable_curve, intermediate_eval_subset, one_eval_set_per_dataset
from harness.fit.loaders.values import positive
from harness.fit.lrcurves import run_curve
from harness.fit.points import Curve, Points, common_floor
from harness.flops import CONVENTIONS as FLOP_CHOICES
from harness.flops import PARAM_CONVENTIONS as PARAM_CHOICES
from harness.records import scan_sweep


def _num(x: object) -> float:
    """A sort key that never fails: what is not a finite number sorts last (and is refused later)."""
    try:
        v = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.inf
    return v if math.isfinite(v) else math.inf


def _completed(sweep_dir: Path, params: str, flops: str) -> tuple[list[Any], list[str]]:
    """The sweep's completed records in a fixed order, and notes on the runs and files skipped."""
    if not sweep_dir.is_dir():
        raise FitInputError(f"{sweep_dir}: no such directory")
    try:
        # The fitter only looks: unreadable files stay where they are (the sweep moves them aside).
        records, bad = scan_sweep(sweep_dir, quarantine_corrupt=False)
    except RecordError as e:
        raise FitInputError(str(e)) from None
    unreadable = [f"skipped {path}: {reason}" for path, reason in bad]
    if not records:
        extra = f" ({len(unreadable)} unreadable: {unreadable[0]})" if unreadable else ""
        raise FitInputError(f"{sweep_dir}: no readable run records in {sweep_dir / 'runs'}{extra}")
    done = [r for r in records if r.status == "completed"]
    skipped = len(records) - len(done)
    if not done:
        raise FitInputError(f"{sweep_dir}: none of the {len(records)} runs completed, nothing to fit")
    # Points in an order fixed by what the runs measured, not by their file names: the bootstrap
    # draws resamples by position, so the same runs under other run ids (a migrated identity, a
    # copied record) must give the same intervals.
    done.sort(key=lambda r: (_num(r.flops.get(flops)), _num(r.params.get(params)), _num(r.tokens),
                             _num(r.val_loss), r.run_id))
    notes = [f"{skipped} run(s) not completed were skipped"] if skipped else []
    return done, notes + unreadable


def load_sweep(sweep_dir: str | Path, param_convention: str = "total", flops_convention: str = "6ND",
               use_curves: bool = True) -> Points:
    """Points from a sweep directory's run records (completed runs only; the rest are counted).

    A record file that cannot be read (truncated, not JSON, missing keys) is skipped with a note
    naming it; what a readable completed record says is checked as strictly as a CSV row.
    """
    params, flops = param_convention, flops_convention
    if params not in PARAM_CHOICES:
        raise FitInputError(f"--param-convention must be one of {', '.join(PARAM_CHOICES)}, not {params!r}")
    if flops not in FLOP_CHOICES:
        raise FitInputError(f"--flops-convention must be one of {', '.join(FLOP_CHOICES)}, not {flops!r}")
    sweep_dir = Path(sweep_dir)
    done, notes = _completed(sweep_dir, params, flops)
    n, d, c, loss, labels, keys, base, uniq = [], [], [], [], [], [], [], []
    curves: list[tuple[str, object, Curve]] = []  # (data key, evaluation set, curve)
    run_curves = []
    for r in done:
        where = f"{sweep_dir}: run {r.run_id}"
        ni = positive(r.params.get(params), f"params.{params}", where)
        di = positive(r.tokens, "tokens", where)
        ci = positive(r.flops.get(flops), f"flops.{flops}", where)
        li = positive(r.val_loss, "val_loss", where)
        n.append(ni); d.append(di); c.append(ci); loss.append(li); labels.append(r.run_id)
        data_cfg = r.config.get("data") if isinstance(r.config, dict) else None
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
    return Points(n=n, d=d, c=c, loss=loss, labels=labels, floor=common_floor(r.bayes_loss for r in done),
                  group=disambiguate(base, keys), data_keys=keys,
                  unique_tokens=np.array(uniq) if np.isfinite(uniq).any() else None,
                  curves=kept_curves or None, source=str(sweep_dir), param_convention=params,
                  flops_convention=flops, notes=notes + curve_notes, run_curves=run_curves or None)
