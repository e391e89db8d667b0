"""One loader for any input path: a CSV file of points or of a loss curve, a folder of curve CSVs, a
sweep directory, or an open_lm results folder."""

from __future__ import annotations

from pathlib import Path

from harness.errors import FitInputError
from harness.fit.loaders.csvfile import load_csv
from harness.fit.loaders.curvefiles import CurveOptions, curve_header, load_curve_file, load_curve_folder
from harness.fit.loaders.openlm import load_openlm
from harness.fit.loaders.sweepdir import load_records, load_sweep, record_files
from harness.fit.points import Points

CSV_OPTIONS = ("n_col", "d_col", "c_col", "loss_col", "group_col", "unique_col")


def load_any(path: str | Path, **kw: object) -> Points:
    """Dispatch on what the path is; each loader takes the options that concern it from ``kw``
    (the CSV column names, the records' N and FLOP conventions, the open_lm sets)."""
    p = Path(path)
    if record_files(p) is not None:  # one run record, or a sweep's runs/ folder (sweepdir.py)
        return load_records(p, param_convention=str(kw.get("param_convention", "total")),
                            flops_convention=str(kw.get("flops_convention", "6ND")))
    curve_opts = kw.get("curves")
    curve_opts = curve_opts if isinstance(curve_opts, CurveOptions) else CurveOptions()
    if p.is_file() and p.suffix.lower() == ".csv" and curve_header(p, curve_opts, str(kw.get("n_col") or "N")):
        return load_curve_file(p, curve_opts)
    if p.is_dir() and not (p / "runs").is_dir() and any(p.glob("*.csv")):
        return load_curve_folder(p, curve_opts)
    if p.is_file():
        return load_csv(p, **{k: v for k, v in kw.items() if k in CSV_OPTIONS and v is not None})  # type: ignore[arg-type]
    if p.is_dir() and (p / "runs").is_dir():
        return load_sweep(p, param_convention=str(kw.get("param_convention", "total")),
                          flops_convention=str(kw.get("flops_convention", "6ND")))
    if p.is_dir() and ((p / "models").is_dir() or any(p.glob("*.json"))):
        return load_openlm(p, val_set=str(kw.get("val_set") or "c4_val"),
                           train_set=kw.get("train_set") or None)  # type: ignore[arg-type]
    if p.is_dir():
        raise FitInputError(f"{p}: no runs/ folder, CSV or open_lm models/ here: no runs to fit")
    raise FitInputError(f"{p}: no such file or directory")
