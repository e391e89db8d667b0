"""scripts/planner_calibration.py's tables and files, on made-up rows (no fit: measuring the
committed studies again takes minutes; results/planner_calibration holds that run)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.helpers import load_script

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "planner_calibration.py"


def _module():
    return load_script("planner_calibration")


def _rows(m):
    return [m.Row("results/demo", "now", "", 12, 0.48, 0.45, 0.175, "", 0.0085, 0.48),
            m.Row("results/demo", "leave one out", "ladder_s at 2e+12", 11, 0.40, 0.45, 0.12, "-0.3%", 0.0085, 0.38),
            m.Row("results/demo", "leave one out", "ladder_xs at 4e+12", 11, 0.50, 0.45, 0.11, "+0.1%", 0.0085, 0.47),
            m.Row("results/synthetic_adaptive_cpu/by_hand_budget", "round",
                  "ladder_3xs at 8e+12, ladder_2xs at 8e+12", 9, 0.30, 0.75, 0.27, "-3.0%, -1.3%", 0.006, 0.28)]


def test_the_ratio_summary_and_the_verdict():
    m = _module()
    s = m.summary(_rows(m))
    added = s["runs added"]  # the rows that add runs: not "now"
    assert added.n == 3 and added.median == pytest.approx(0.40 / 0.45, rel=1e-9)
    assert added.within == 2  # 0.89 and 1.11 are within 30%, 0.40 is not
    assert s["leave one out"].n == 2 and s["round"].median == pytest.approx(0.4)
    assert s["old score, all rows"].median < 0.4
    assert s["seed noise alone, runs added"].n == 3
    assert m.verdict(added).startswith("Agrees within 30%: the median ratio of predicted to measured width is 0.89")
    assert m.verdict(m.Spread.of([0.3, 0.4])).startswith("Does not agree within 30%")


def test_the_files_it_writes_hold_the_table_and_no_absolute_path(tmp_path):
    m = _module()
    rows = _rows(m)
    out = tmp_path / "cal"
    m.write(rows, m.Settings(held_out=2), out, "python scripts/planner_calibration.py --held-out 2", 12.3, 45.6)
    readme = (out / "README.md").read_text(encoding="utf-8")
    assert "python scripts/planner_calibration.py --held-out 2" in readme
    assert ("| `results/demo` | leave one out | ladder_s at 2e+12 | 11 | -0.3% | 0.85% | 0.400 | 0.450 | **0.89** | "
            "0.380 (0.84) | 0.120 (0.27) |") in readme
    # the rows outside 30% are named, with how far their runs missed the surrogate
    assert ("Outside 30%: `results/synthetic_adaptive_cpu/by_hand_budget`, round (runs -3.0%, -1.3% off the "
            "surrogate, simulated noise 0.60%): predicted 0.300, measured 0.750.") in readme
    assert "CPU time 12 s (46 s wall)" in readme and "**Agrees within 30%" in readme
    with open(out / "calibration.csv", newline="", encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    assert [r["case"] for r in table] == ["now", "leave one out", "leave one out", "round"]
    assert float(table[1]["ratio"]) == pytest.approx(0.40 / 0.45, abs=1e-4)
    assert float(table[1]["seed_only_ratio"]) == pytest.approx(0.38 / 0.45, abs=1e-4)
    doc = json.loads((out / "calibration.json").read_text(encoding="utf-8"))
    assert doc["settings"]["held_out"] == 2 and doc["summary"]["runs added"]["n"] == 3
    for f in ("README.md", "calibration.csv", "calibration.json"):
        text = (out / f).read_text(encoding="utf-8")
        assert str(tmp_path) not in text and str(ROOT) not in text, f
    # --rewrite writes the same README again from the JSON, without fitting
    (out / "README.md").unlink()
    assert m.main(["--rewrite", "--out", str(out)]) == 0
    assert (out / "README.md").read_text(encoding="utf-8") == readme


def test_an_absolute_study_path_is_written_relative():
    m = _module()
    assert m.rel(Path.cwd() / "results" / "demo") == "results/demo"
    assert m.rel("results/demo") == "results/demo"


def test_held_out_runs_are_spread_over_budgets_and_sizes():
    m = _module()

    class _Run:
        def __init__(self, n, flops):
            self.n, self.flops = n, flops

    class _Design:
        runs = [_Run(n, c) for c in (2e12, 1e12) for n in (3, 1, 2)]  # stored out of order

    # by budget then size: 1e12 (n 1, 2, 3) is runs 4, 5, 3; 2e12 is runs 1, 2, 0: the first, the third, the last
    assert m.held_out(_Design, 3) == [0, 3, 4]
    assert m.held_out(_Design, 10) == list(range(6))
