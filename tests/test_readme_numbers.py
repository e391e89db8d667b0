"""The README's headline table says what the committed fit files say: every number in a study's row
is recomputed from that study's fit.json, rounded as the table writes it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ROW = re.compile(r"^\| \[[^\]]+\]\((results/[\w]+)\)")


def _rows() -> list[tuple[str, list[str]]]:
    rows = []
    for line in (ROOT / "README.md").read_text().splitlines():
        m = ROW.match(line)
        if m:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            rows.append((m.group(1), cells[1:]))
    return rows


def _law(fit: dict, name: str) -> dict:
    return next(law for law in fit["laws"] if law["law"] == name and not law.get("dataset"))


def _value(law: dict, key: str) -> str:
    lo, hi = law["ci"][key]
    return f"{law['params'][key]:.2f} [{lo:.2f}, {hi:.2f}]"


def _tokens_per_param(law: dict) -> str:
    tpp = law["allocation"]["tokens_per_param"]
    return f"{tpp[max(tpp, key=float)]:.0f}"


def test_the_headline_table_has_the_studies_rows():
    assert len(_rows()) >= 3


@pytest.mark.parametrize("study, cells", _rows(), ids=[s for s, _ in _rows()])
def test_each_headline_row_is_its_fit_file(study, cells):
    fit = json.loads((ROOT / study / "fit.json").read_text())
    a2, a3 = _law(fit, "approach2"), _law(fit, "chinchilla")
    expected = [_value(a2, "a"), _value(a3, "a"), _value(a3, "E"), f"{_tokens_per_param(a2)}; {_tokens_per_param(a3)}"]
    assert cells[:4] == expected
