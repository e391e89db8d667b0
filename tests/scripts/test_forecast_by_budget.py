"""scripts/forecast_by_budget.py: each budget predicted from the budgets below it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.fit import Points
from tests.helpers import load_script

RESULTS = Path(__file__).resolve().parents[2] / "results"
# Hoffmann et al. (2022)'s fitted law (their eq. 10): E 1.69, A 406.4, B 410.7, alpha 0.34, beta 0.28.
# The thresholds results/synthetic_isoflop_decades_cpu/forecast.md was written with (its first line).
COMMITTED_MIN_TOKENS = "1e6,2e6,3e6,5e6"
HOFFMANN = dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)


def isoflop_points(lower_last: float = 0.0) -> Points:
    """Five budgets x six sizes on Hoffmann's law, the last budget's losses lowered by ``lower_last``."""
    n, d, c = [], [], []
    for cc in (1e18, 3e18, 1e19, 3e19, 1e20):
        for ni in np.geomspace(2e7, 6e8, 6) * (cc / 1e19) ** 0.5:
            n.append(ni), d.append(cc / (6 * ni)), c.append(cc)
    n, d, c = map(np.asarray, (n, d, c))
    h = HOFFMANN
    loss = h["E"] + h["A"] / n ** h["alpha"] + h["B"] / d ** h["beta"]
    loss[c == 1e20] *= 1.0 - lower_last
    return Points.from_arrays(n, d, loss, c, floor=h["E"], source="hoffmann")


@pytest.mark.slow  # seconds of fitting: outside the quick loop
def test_the_law_s_own_points_are_forecast_exactly():
    mod = load_script("forecast_by_budget")
    rows = mod.forecasts(isoflop_points())
    assert [r["c"] for r in rows] == pytest.approx([1e19, 3e19, 1e20])
    assert [(r["n_fit"], r["n_test"]) for r in rows] == [(12, 6), (18, 6), (24, 6)]
    assert max(r["max_abs"] for r in rows) < 1e-3


@pytest.mark.slow  # seconds of fitting: outside the quick loop
def test_a_budget_that_falls_below_the_law_is_a_one_signed_miss():
    mod = load_script("forecast_by_budget")
    rows = mod.forecasts(isoflop_points(lower_last=0.03), pin={"E": 1.69})
    assert max(rows[0]["max_abs"], rows[1]["max_abs"]) < 1e-3  # the budgets before it are untouched
    # (predicted - measured) / measured with measured 3% low: +3.09% on every run and every shape
    assert rows[2]["signed"] == pytest.approx(1 / 0.97 - 1, abs=1e-3)
    assert all(e == pytest.approx(1 / 0.97 - 1, abs=1e-3) for _, e in rows[2]["by_shape"])


@pytest.mark.slow  # seconds of fitting: outside the quick loop
def test_markdown_names_the_study_and_both_fits():
    mod = load_script("forecast_by_budget")
    text = mod.markdown(isoflop_points(), "results/x")
    assert text.startswith("# Each budget forecast from the budgets below it: results/x")
    assert "## E free" in text and "## E pinned at the floor 1.6900" in text
    assert "| 1e+20 | 24 | 6 | +0.0% |" in text


@pytest.mark.slow  # seconds of fitting: outside the quick loop
def test_leaving_out_short_runs_that_sit_off_the_law_recovers_it():
    mod = load_script("forecast_by_budget")
    points = isoflop_points()
    short = points.d < 5e9  # 7 of the 30 runs, the largest shapes of the smaller budgets
    points.loss[short] *= 1.05  # short runs 5% above the law, as warmup-bound runs would be
    text = mod.markdown(points, "results/x", min_tokens=[1.0, 5e9])
    assert "--min-tokens 1,5e+09`" in text.splitlines()[2]
    rows = [r.split(" | ") for r in text.split("## Leaving out the short runs")[1].splitlines()
            if r.startswith("| ") and "fewest" not in r]
    assert [r[:3] for r in rows] == [["| all", "E free", "30"], ["| all", "E pinned", "30"],
                                     ["| 1", "E free", "30"], ["| 1", "E pinned", "30"],
                                     ["| 5e+09", "E free", "23"], ["| 5e+09", "E pinned", "23"]]
    assert rows[2][3:] == rows[0][3:]  # a threshold below every run leaves the forecasts as they were
    assert any(not cell.startswith("0.00%") for cell in rows[1][5:])  # the short runs pull the law off
    for r in rows[4:]:  # without them: Hoffmann's E, a = beta / (alpha + beta), every forecast exact
        assert r[3:5] == ["1.690", f"{0.28 / 0.62:.3f}"]
        assert all(cell.startswith("0.00% / 0.00%") or cell.startswith("—") for cell in r[5:])


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    mod = load_script("forecast_by_budget")
    assert mod.main([str(tmp_path / "missing")]) == 2
    assert mod.main([str(RESULTS / "demo"), "--min-budgets", "3"]) == 2  # the demo has 3 budgets
    assert mod.main([str(RESULTS / "demo"), "--min-tokens", "1e6,many"]) == 2
    assert mod.main([str(RESULTS / "demo"), "--min-tokens", "-5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and "no such sweep folder" in err[0]
    assert "3 budget(s)" in err[1] and "at least 4" in err[1] and "results/demo" in err[1]
    assert all("--min-tokens" in e and "positive token counts" in e for e in err[2:])


@pytest.mark.slow  # seconds of fitting: outside the quick loop
def test_the_committed_forecast_is_the_script_s_output(monkeypatch):
    # results/synthetic_isoflop_decades_cpu/forecast.md, as its README quotes it: rerun the script
    # (the command in the file's first line) when the study's runs change.
    mod = load_script("forecast_by_budget")
    monkeypatch.chdir(RESULTS.parent)
    study = "results/synthetic_isoflop_decades_cpu"
    expected = mod.markdown(mod.load_sweep(study), study, min_tokens=mod.thresholds(COMMITTED_MIN_TOKENS))
    assert (RESULTS.parent / study / "forecast.md").read_text() == expected
