"""The fault-injection script (scripts/fault_inject.py) in its quick mode on a few scenarios: corrupt
records, an unwritable results folder and two identical runs at once must lose no run, train none
twice and print no traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ["corrupt_record", "unwritable", "twin_runs"]


@pytest.mark.slow
def test_quick_fault_injection_loses_and_duplicates_nothing(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "fault_inject.py"), "--quick", "--seed", "0",
                          "--scenarios", ",".join(SCENARIOS), "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=600, cwd=ROOT)
    doc = json.loads((tmp_path / "fault_inject.json").read_text())
    rows = {s["scenario"]: s for s in doc["scenarios"]}
    assert list(rows) == SCENARIOS
    for name, row in rows.items():
        assert row["error"] is None, f"{name}: the injector itself failed: {row['error']}"
        assert row["planned"] > 0 and row["completed"] == row["planned"], (name, row["notes"])
        assert (row["lost"], row["duplicated"], row["tracebacks"]) == (0, 0, 0), (name, row["notes"])
    assert doc["goal_met"] and out.returncode == 0, out.stdout[-3000:]
    # What is written names no machine path.
    text = (tmp_path / "fault_inject.md").read_text() + (tmp_path / "fault_inject.json").read_text()
    assert "/tmp/" not in text and str(ROOT) not in text
