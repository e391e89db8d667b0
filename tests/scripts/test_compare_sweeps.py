"""scripts/compare_sweeps.py on the committed cosine and cooldown-branch studies of one grid."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "compare_sweeps.py"


def _module():
    spec = importlib.util.spec_from_file_location("compare_sweeps", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_branches_are_counted_at_their_cooldown_cost():
    c = _module().compare(ROOT / "results/synthetic_isoflop_cpu", ROOT / "results/synthetic_isoflop_wsd_cpu")
    assert len(c["rows"]) == 20 and c["only_a"] == c["only_b"] == 0
    assert c["totals_a"]["flops_6ND_spent"] == pytest.approx(9.0e13, rel=1e-3)
    # 5 trunks of 1e13, 14 cooldowns of 10% and the 1e12 ladder_m run that trained alone
    assert c["totals_b"]["flops_6ND_spent"] / c["totals_a"]["flops_6ND_spent"] == pytest.approx(0.610, abs=5e-4)
    assert c["totals_b"]["flops_6ND_of_the_points"] == pytest.approx(c["totals_a"]["flops_6ND_of_the_points"], rel=1e-3)
    assert sum(r["branch_b"] for r in c["rows"]) == 14
    alone = next(r for r in c["rows"] if r["model"] == "ladder_m" and r["flops_6ND"] < 1.5e12)
    assert alone["diff_pct"] == 0.0  # the same 97 warmup steps under either schedule


def test_a_folder_without_runs_is_one_line_and_exit_2(tmp_path):
    out = subprocess.run([sys.executable, str(SCRIPT), str(ROOT / "results/synthetic_isoflop_cpu"), str(tmp_path)],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1 and out.stderr.startswith("compare_sweeps: ")
    assert "Traceback" not in out.stderr


def test_the_committed_comparison_is_what_the_script_writes(tmp_path):
    c = _module().compare(ROOT / "results/synthetic_isoflop_cpu", ROOT / "results/synthetic_isoflop_wsd_cpu")
    committed = json.loads((ROOT / "results/synthetic_isoflop_wsd_cpu/comparison.json").read_text())
    assert committed["rows"] == json.loads(json.dumps(c["rows"]))
