"""scripts/gpu_check.sh --cpu runs every step end to end and leaves outputs that parse, so the
one-command GPU check cannot rot on machines without a GPU."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from harness import records

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # the whole check at small sizes: about 2-3 minutes on 2 cores
def test_gpu_check_cpu_runs_end_to_end(tmp_path):
    out = tmp_path / "check"
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh"), "--cpu", "--out", str(out)],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path,
                          env={**os.environ, "PYTHONUNBUFFERED": "1", "BENCH_SECONDS": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "gpu_check: done" in proc.stdout

    hw = json.loads((out / "hardware" / "hardware.json").read_text())
    assert hw["device"] == "cpu" and hw["torch"] and hw["peak_flops_bf16"] is None

    # 2. the benchmark: both models at both shapes, with rates
    [bench_file] = (out / "bench" / "small").glob("train_bench_*.json")
    bench = json.loads(bench_file.read_text())
    assert [(r["d_model"], r["n_layer"], r["seq_len"]) for r in bench["rows"]] == [(32, 1, 32), (64, 2, 64)]
    assert all(r["harness_tokens_per_s"] > 0 and r["plain_tokens_per_s"] > 0 for r in bench["rows"])

    # 3. packing: 4 runs at 1 and at 2 per device, every one recorded and completed
    pack = json.loads((out / "packing" / "packing.json").read_text())
    assert [r["runs_per_gpu"] for r in pack["rows"]] == [1, 2]
    for row in pack["rows"]:
        recs = records.read_sweep(out / "packing" / f"k{row['runs_per_gpu']}", status=None)
        assert row["runs"] == row["completed"] == len(recs) == 4
        assert row["tokens"] == sum(r.tokens for r in recs) == 4 * 40960
        assert row["aggregate_tokens_per_s_wall"] == pytest.approx(row["tokens"] / row["wall_seconds"], rel=0.01)
        assert row["aggregate_mfu_steps"] is None  # no peak on a CPU
    assert pack["rows"][0]["speedup_wall"] == 1.0 and pack["rows"][1]["slowdown_per_run"] > 0

    # 4. the sweep: planned with the measured slowdown, run, and fitted
    plan = (out / "sweep" / "plan.txt").read_text()
    assert "total: 9 runs" in plan and "packed on 1 GPU x 2 runs per GPU" in plan
    runs = records.read_sweep(out / "sweep" / "isoflop_tiny", status=None)
    assert len(runs) == 9 and all(r.status == "completed" for r in runs)
    fit = json.loads((out / "sweep" / "isoflop_tiny" / "fit.json").read_text())
    assert fit["n_points"] == 9

    # 5. the summary gathers all of it
    summary = json.loads((out / "summary.json").read_text())
    assert summary["device"] == "cpu" and len(summary["bench"]) == 2 and summary["sweep"]["fit_points"] == 9
    assert summary["goals"] == {"mfu_124m_at_least_0.40": None, "packed_speedup_at_least_5": None}
    assert summary["sweep"]["plan_packed_estimate"].startswith("packed on 1 GPU")
    md = (out / "summary.md").read_text()
    assert "## Packed tiny runs" in md and "n/a (no GPU)" in md
