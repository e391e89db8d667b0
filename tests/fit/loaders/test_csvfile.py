"""A CSV of points: one that is not UTF-8 is refused naming the byte, its place and the fix (issue 22),
where before it was "not a text CSV file"; a value is checked as strictly in every loader."""

from __future__ import annotations

import pytest

from harness.errors import FitInputError
from harness.fit.loaders import load_any, load_csv
from harness.fit.loaders.values import positive


@pytest.mark.parametrize("raw, reason", [
    # A spreadsheet's latin-1 export: "é" is the one byte 0xe9, in a column name or in a label.
    ("N,D,loss,donn\xe9es\n1e6,1e8,3.0,a\n".encode("latin-1"),
     "not UTF-8: byte 0xe9 at position 13 (line 1); re-save it as UTF-8"),
    ("N,D,loss,data\n1e6,1e8,3.0,caf\xe9\n".encode("latin-1"),
     "not UTF-8: byte 0xe9 at position 29 (line 2); re-save it as UTF-8"),
    ("N,D,loss\n1e6,1e8,3.0\n".encode("utf-16"), "UTF-16 text, not UTF-8; re-save it as UTF-8"),
    (b"N,D,loss\n1e6,1e8,3\x00\n", "not a text CSV file (it holds NUL bytes)"),
    (b"N,D,loss\n1e6,1e8,3\n1e6,1e8,\"" + b"9" * 200_000 + b"\"\n", "line 3: field larger than field limit (131072)"),
], ids=["latin-1 column", "latin-1 label", "utf-16", "nul", "huge field"])
def test_a_csv_that_cannot_be_read_as_text_is_one_line_naming_why(tmp_path, raw, reason):
    path = tmp_path / "p.csv"
    path.write_bytes(raw)
    for load in (load_csv, load_any):
        with pytest.raises(FitInputError) as e:
            load(path)
        assert str(e.value) == f"{path}: {reason}"


def test_utf8_with_or_without_a_byte_order_mark_is_read(tmp_path):
    for i, raw in enumerate(("N,D,loss,données\n1e6,1e8,3.0,café\n".encode("utf-8"),
                             "N,D,loss,données\n1e6,1e8,3.0,café\n".encode("utf-8-sig"))):
        path = tmp_path / f"p{i}.csv"
        path.write_bytes(raw)
        pts = load_csv(path, group_col="données")
        assert pts.group == ["café"] and list(pts.loss) == [3.0]


@pytest.mark.parametrize("value, problem", [
    (True, "x is True, not a number"),  # float(True) would be 1.0
    (10 ** 400, f"x {str(10 ** 400)[:37]}... is too large for a number"),
    ("1" + "0" * 400, f"x is '{('1' + '0' * 400)[:36]}..., not a finite number"),
    ("nan", "x is 'nan', not a finite number"),
    (0, "x is 0; it must be positive"),
    ([], "x [] is not a number"),
], ids=["bool", "huge int", "huge text", "nan", "zero", "list"])
def test_the_value_check_every_loader_uses(value, problem):
    with pytest.raises(FitInputError) as e:
        positive(value, "x", "f.csv: row 1")
    assert str(e.value) == f"f.csv: row 1: {problem}"
