"""The fault-injection script (scripts/fault_inject.py) in its quick mode on a few scenarios: corrupt
records must lose no run, train none twice and print no traceback. Its newer scenarios' wiring (a file-size limit on a command, the line
a signal's stop is read from) is checked without training."""

from __future__ import annotations

import json
import random
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import RunInterrupted
from tests.helpers import load_script

ROOT = Path(__file__).resolve().parents[2]
# twin_runs and unwritable folders are tested on their own in tests/run/test_reliability.py.
SCENARIOS = ["corrupt_record"]


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


def test_the_new_scenarios_are_listed_and_a_file_size_limit_reaches_only_the_command(tmp_path):
    fi = load_script("fault_inject")
    for name in ("checkpoint_write", "signal_stop", "preempt_requeue"):
        assert name in fi.SCENARIOS and f"\n  {name} " in fi.__doc__
    before = resource.getrlimit(resource.RLIMIT_FSIZE)
    ctx = fi.Ctx("limit", tmp_path, random.Random(0), quick=True)
    write = "import sys\nwith open(sys.argv[1], 'wb') as f: f.write(bytes(5000))"
    limited = ctx.run([str(tmp_path / "big")], cmd=[sys.executable, "-c", write], file_size_limit=1000)
    assert limited.rc == 1 and "OSError: [Errno 27] File too large" in limited.stderr()
    assert (tmp_path / "big").stat().st_size == 1000
    free = ctx.run([str(tmp_path / "free")], cmd=[sys.executable, "-c", write])
    assert free.rc == 0 and (tmp_path / "free").stat().st_size == 5000
    assert resource.getrlimit(resource.RLIMIT_FSIZE) == before  # the limit was the child's alone


def test_the_stop_line_is_read_from_the_message_the_run_raises():
    fi = load_script("fault_inject")
    m = fi.STOPPED.search("harness-train: " + str(RunInterrupted("98e55491a8633067", "SIGTERM", 89)))
    assert m is not None and m.groups() == ("SIGTERM", "89")
