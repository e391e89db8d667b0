"""lr_tune end to end: a tiny tuning sweep through harness-train -m, then harness-tune."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.tune.analysis import load_result

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_tiny_lr_tune_sweep_to_a_preset(tmp_path: Path) -> None:
    # Two shapes x the preset's own five multipliers (the hp.lr_x grid), 20 steps each.
    args = ["-m", "sweep=lr_tune", f"out_dir={tmp_path}", "sweep_name=tiny", "model=ladder_3xs,ladder_2xs",
            "train.tokens=81920", "data.val_sequences=32", "train.eval_sequences=32", "hydra.launcher.n_jobs=1",
            "sweep.record_wait_seconds=0"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    p = subprocess.run([sys.executable, "-c", "from harness.cli.train import main; main()", *args], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "10 completed" in p.stdout
    t = subprocess.run([sys.executable, "-m", "harness.cli.tune", str(tmp_path / "tiny"), "--extend"], cwd=ROOT,
                       env=env, capture_output=True, text=True, timeout=120)
    assert t.returncode == 0, t.stderr
    res = load_result(tmp_path / "tiny")
    assert {s.model for s in res.shapes} == {"ladder_3xs", "ladder_2xs"}
    for s in res.shapes:
        mults = sorted(round(pt.multiplier, 2) for pt in s.points)
        assert mults == [0.25, 0.5, 1.0, 2.0, 4.0]  # the lr_mult grid, per shape
    assert (tmp_path / "tiny" / "tuning.md").is_file()
    assert (tmp_path / "tiny" / "plots" / "loss_vs_lr.png").is_file()
