"""Points from a CSV file: one row per run, columns N, loss and D and/or C (names mappable)."""

from __future__ import annotations

import codecs
import csv
import math
from pathlib import Path
from typing import Sequence

import numpy as np

from harness.errors import FitInputError
from harness.fit.loaders.values import positive
from harness.fit.points import Points


def _text(path: Path) -> str:
    """The file's text. A CSV must be UTF-8 (a byte-order mark is allowed): one that is not, as a
    spreadsheet's latin-1 or cp1252 export with an "é" in a column or label, is refused naming the
    first byte that is not UTF-8, rather than read in a guessed encoding. Latin-1 decodes any
    bytes at all, so a wrong guess would misspell a column or a data-set label without a word (an
    "é" read as "Ã©") and split or merge data sets; re-saving as UTF-8 takes a moment."""
    if not path.is_file():
        raise FitInputError(f"{path}: no such file")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise FitInputError(f"{path}: cannot read: {e.strerror or e}") from None
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise FitInputError(f"{path}: UTF-16 text, not UTF-8; re-save it as UTF-8")
    if b"\0" in raw:
        raise FitInputError(f"{path}: not a text CSV file (it holds NUL bytes)")
    try:
        # utf-8-sig: a spreadsheet's byte-order mark would otherwise become part of the first
        # column's name, and "N" would be reported missing though it is there.
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise FitInputError(f"{path}: not UTF-8: byte 0x{raw[e.start]:02x} at position {e.start} (line {line}); "
                            "re-save it as UTF-8") from None


def _rows(path: Path) -> tuple[list[str], list[dict]]:
    """The header and the rows of a CSV file, or a one-line FitInputError naming the file."""
    text = _text(path)
    if not text.strip():
        raise FitInputError(f"{path}: the file is empty")
    reader = csv.DictReader(text.splitlines())
    try:
        return list(reader.fieldnames or []), list(reader)
    except csv.Error as e:  # a field beyond the csv module's size limit, ...
        # line_num counts the lines read before the one that failed.
        raise FitInputError(f"{path}: line {reader.line_num + 1}: {e}") from None


def _check_columns(path: Path, header: Sequence[str], required: Sequence[str], either: tuple[str, str],
                   optional: Sequence[str | None]) -> None:
    missing = [c for c in required if c not in header]
    if not any(c in header for c in either):
        missing.append(" or ".join(either))
    missing += [c for c in optional if c and c not in header]
    if missing:
        raise FitInputError(f"{path}: missing column(s) {', '.join(missing)} "
                            f"(columns are: {', '.join(header) or 'none'}); "
                            "map other names with --n-col/--d-col/--c-col/--loss-col")


def _d_c(row: dict, where: str, ni: float, d_col: str | None, c_col: str | None) -> tuple[float, float]:
    """D and C of one row of model size ``ni``; ``d_col`` or ``c_col`` is None where the file lacks it."""
    if d_col is not None:
        di = positive(row.get(d_col), d_col, where)
        ci = positive(row[c_col], c_col, where) if c_col is not None else 6.0 * ni * di
    else:
        ci = positive(row.get(c_col), str(c_col), where)
        di = ci / (6.0 * ni)
    return di, ci


def load_csv(path: str | Path, n_col: str = "N", d_col: str = "D", c_col: str = "C",
             loss_col: str = "loss", group_col: str | None = None,
             unique_col: str | None = None) -> Points:
    """Points from a CSV with columns N, loss and D and/or C.

    With both D and C each row keeps its own C (whatever count produced it); with D alone C = 6ND;
    with C alone D = C/(6N). The last two are said in the notes.
    """
    path = Path(path)
    header, rows = _rows(path)
    _check_columns(path, header, (n_col, loss_col), (d_col, c_col), (group_col, unique_col))
    has_d, has_c = d_col in header, c_col in header
    n, d, c, loss, labels, group, uniq = [], [], [], [], [], [], []
    for i, row in enumerate(rows, start=1):
        where = f"{path}: row {i} (line {i + 1})"
        if None in row:
            raise FitInputError(f"{where}: more fields than the header has columns")
        ni = positive(row.get(n_col), n_col, where)
        li = positive(row.get(loss_col), loss_col, where)
        di, ci = _d_c(row, where, ni, d_col if has_d else None, c_col if has_c else None)
        n.append(ni); d.append(di); c.append(ci); loss.append(li)
        labels.append(f"row{i}")
        if group_col:
            g = (row.get(group_col) or "").strip()
            if not g:
                raise FitInputError(f"{where}: {group_col} is missing")
            group.append(g)
        if unique_col:
            u = row.get(unique_col)
            uniq.append(math.nan if u is None or u.strip() == "" else positive(u, unique_col, where))
    if not loss:
        raise FitInputError(f"{path}: the file has a header but no rows")
    # Only the derived D is a note: a given C, or C = 6ND from N and D, is what flops_convention says.
    notes = [] if has_d else [f"D derived as C/(6N) from column {c_col}"]
    return Points(n=n, d=d, c=c, loss=loss, labels=labels, group=group or None,
                  unique_tokens=np.array(uniq) if unique_col else None, source=str(path),
                  param_convention=n_col, flops_convention=c_col if has_c else "6ND", notes=notes)
