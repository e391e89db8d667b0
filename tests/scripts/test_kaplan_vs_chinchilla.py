"""scripts/kaplan_vs_chinchilla.py --decades: the factor study's switches over two decades, pair by
pair, as committed in results/kaplan_vs_chinchilla_cpu/decades.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import load_script

ROOT = Path(__file__).resolve().parents[2]
STUDY = ROOT / "results" / "kaplan_vs_chinchilla_cpu"


@pytest.mark.slow  # half a minute: every reading fitted with a bootstrap
def test_the_committed_switches_are_what_the_script_measures():
    mod = load_script("kaplan_vs_chinchilla")
    committed = json.loads((STUDY / "decades.json").read_text())
    res = mod.decades(STUDY, ROOT / "results" / "synthetic_isoflop_decades_cpu", bootstrap=20)
    assert res["budgets"] == committed["budgets"] == [3e11, 1e12, 3e12, 1e13, 3e13]
    for got, want in zip(res["readings"], committed["readings"]):
        assert "error" not in got, got
        assert got["points"] == want["points"]
        assert got["approach2"]["a"] == pytest.approx(want["approach2"]["a"], abs=1e-9)
    for got, want in zip(res["switches"], committed["switches"]):
        # The point estimates do not depend on the resamples; the committed intervals used 200.
        assert got["approach2"]["pairs"] == want["approach2"]["pairs"]
        assert got["approach2"]["diff"] == pytest.approx(want["approach2"]["diff"], abs=1e-9)
        lo, hi = want["approach2"]["ci"]
        assert lo <= want["approach2"]["diff"] <= hi
    assert mod.decades_markdown(committed) == (STUDY / "decades.md").read_text()
