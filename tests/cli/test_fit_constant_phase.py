"""harness-fit --constant-phase: IsoFLOP points read off the stable phase of a committed wsd study's
trunks (the fitter's reading is tested in tests/fit/test_constant_phase.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli.fit import main

RESULTS = Path(__file__).resolve().parents[2] / "results"
DECADES = RESULTS / "synthetic_isoflop_decades_cpu"
A_SMOOTHED = 0.645  # approach 2 on the same 146 points read smoothed over x1.5 (0.641 at the budgets' steps)


@pytest.mark.slow  # seconds: outside the quick loop
def test_a_wsd_study_read_at_its_stable_phase(tmp_path, capsys):
    out = tmp_path / "fit.json"
    assert main([str(DECADES), "--constant-phase", "2.55e11,8.5e11,2.55e12,8.5e12,2.55e13", "--law", "approach2",
                 "--bootstrap", "0", "--json", str(out), "--report", str(tmp_path / "report.md"),
                 "--plots", str(tmp_path / "plots")]) == 0
    fit = json.loads(out.read_text())
    assert any(n.startswith("constant phase: 146 points read off 56 of 56 trajectories") for n in fit["notes"])
    (law,) = fit["laws"]
    assert law["n_points"] == 146
    # The same 111 runs' annealed final losses give 0.566 (fit.json beside them): the decay lowers a.
    assert abs(law["params"]["a"] - 0.641) < 0.005


def test_runs_that_never_hold_their_peak_rate_are_one_line(tmp_path, capsys):
    # The demo's runs decay by a cosine from the end of their warmup.
    assert main([str(RESULTS / "demo"), "--constant-phase", "1e12", "--json", str(tmp_path / "f.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "stays at its peak rate" in err[0] and "results/demo" in err[0]


@pytest.mark.slow  # seconds: outside the quick loop
def test_the_stable_phase_smoothed_over_a_window(tmp_path, capsys):
    out = tmp_path / "fit.json"
    assert main([str(DECADES), "--constant-phase", "2.55e11,8.5e11,2.55e12,8.5e12,2.55e13", "--constant-phase-window",
                 "1.5", "--law", "approach2", "--bootstrap", "0", "--json", str(out), "--report", str(tmp_path / "report.md"),
                 "--plots", str(tmp_path / "plots")]) == 0  # the report and plots too, or they land in the study
    fit = json.loads(out.read_text())
    note = next(n for n in fit["notes"] if n.startswith("constant phase: 146 points"))
    assert "a least-squares line in log step through the evaluations within x1.5 of each" in note
    assert abs(fit["laws"][0]["params"]["a"] - A_SMOOTHED) < 0.005


def test_a_window_without_budgets_is_one_line(tmp_path, capsys):
    assert main([str(RESULTS / "demo"), "--constant-phase-window", "1.5", "--json", str(tmp_path / "f.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--constant-phase-window" in err[0] and "give the budgets too" in err[0]
    assert not (tmp_path / "f.json").exists()
