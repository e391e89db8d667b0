"""The training core end to end: a run, its record, skipping, divergence, CLI errors, resume."""

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import records
from harness.errors import ConfigError
from harness.flops import param_counts
from harness.records import run_id_of
from harness.run.train import run
from tests.helpers import TINY, make_config

ROOT = Path(__file__).resolve().parents[2]


def test_a_run_writes_a_complete_record(tmp_path):
    cfg = make_config([*TINY, "train.eval_interval=20"], tmp_path)
    rec = run(cfg)
    path = records.record_path(tmp_path, "default", run_id_of(cfg))
    on_disk = records.read_record(path)
    assert on_disk.to_dict() == json.loads(json.dumps(rec.to_dict()))
    assert rec.status == "completed" and rec.run_id == run_id_of(cfg)
    assert rec.steps == 100 and rec.tokens == 100 * 8 * 32
    assert rec.params["total"] == param_counts_of(rec)
    assert set(rec.flops) == {"6ND", "6ND_nonemb", "kaplan", "chinchilla"}
    assert rec.flops["6ND"] == pytest.approx(6 * rec.params["total"] * rec.tokens)
    assert rec.flops["6ND_nonemb"] == pytest.approx(6 * rec.params["non_embedding"] * rec.tokens)
    assert rec.bayes_loss is not None and rec.bayes_loss < rec.val_loss < math.log(256)
    assert [p.step for p in rec.curve if p.val_loss is not None] == [0, 20, 40, 60, 80, 100]
    assert rec.curve[-1].val_loss == rec.val_loss and rec.curve[-1].tokens == rec.tokens
    assert rec.curve[-1].flops["6ND"] == pytest.approx(rec.flops["6ND"])
    assert rec.tokens_per_second > 0 and rec.mfu is None  # no peak table on a CPU
    assert rec.data_fingerprint and rec.torch_version and rec.started_at <= rec.ended_at
    assert not records.checkpoint_path(tmp_path, "default", rec.run_id).exists()


def param_counts_of(rec):
    from harness.flops import Shape

    return param_counts(Shape(**rec.shape)).total


def test_a_completed_run_is_not_run_again(tmp_path, capsys):
    cfg = make_config(TINY, tmp_path)
    first = run(cfg)
    mtime = records.record_path(tmp_path, "default", first.run_id).stat().st_mtime_ns
    cfg.logging.quiet = False
    again = run(cfg)
    assert "already completed" in capsys.readouterr().out
    assert again.to_dict() == first.to_dict()
    assert records.record_path(tmp_path, "default", first.run_id).stat().st_mtime_ns == mtime


def test_a_non_finite_loss_is_recorded_as_diverged(tmp_path):
    cfg = make_config([*TINY, "optim.lr=1e12", "optim.grad_clip=0", "optim.weight_decay=0",
                       "schedule.warmup_fraction=0", "schedule.name=constant"], tmp_path)
    rec = run(cfg)
    assert rec.status == "diverged" and "non-finite" in rec.reason
    assert rec.val_loss is None and rec.steps < 100


def test_a_sweep_records_an_invalid_config_as_failed_and_a_single_run_raises(tmp_path):
    cfg = make_config([*TINY, "train.tokens=10"], tmp_path)
    with pytest.raises(ConfigError, match="smaller than one step"):
        run(cfg)
    rec = run(cfg, multirun=True)
    assert rec.status == "failed" and rec.reason.startswith("invalid config: train.tokens:")
    assert records.read_record(records.record_path(tmp_path, "default", rec.run_id)).status == "failed"


def _cli(args, tmp_path, **kw):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "harness.cli.train", *args, f"out_dir={tmp_path}"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300, **kw)


@pytest.mark.slow  # a Python start-up each (about 5 s); test_config checks the same path in-process
@pytest.mark.parametrize("args, key", [
    (["model.n_head=3", "train.tokens=100000"], "model.n_head"),
    (["model.arch=rnn", "train.tokens=100000"], "model.arch"),
    (["train.tokens=10"], "train.tokens"),
    (["model.n_ctx=16", "data.seq_len=64", "train.tokens=100000"], "data.seq_len"),
])
def test_cli_invalid_config_is_one_line_exit_2_and_trains_nothing(tmp_path, args, key):
    out = _cli(args, tmp_path)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"harness-train: invalid config: {key}:"), out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    assert not (tmp_path / "default" / "runs").exists()


@pytest.mark.slow
def test_resume_after_sigkill_matches_an_uninterrupted_run(tmp_path):
    args = [*TINY, "train.tokens=76800", "train.checkpoint_interval_seconds=0", "logging.quiet=false",
            "logging.log_interval=1"]
    straight = _cli([*args, "sweep_name=straight"], tmp_path)
    assert straight.returncode == 0, straight.stderr
    ref = records.read_sweep(tmp_path / "straight")[0]

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "harness.cli.train", *args, "sweep_name=killed", f"out_dir={tmp_path}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path)
    ckpt = records.checkpoint_path(tmp_path, "killed", ref.run_id)
    deadline = time.time() + 120
    for line in proc.stdout:  # wait until training is well under way, then kill without warning
        if "step 150/" in line or time.time() > deadline:
            break
    assert ckpt.exists()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "killed" / "runs").exists() or not list((tmp_path / "killed" / "runs").glob("*.json"))

    resumed = _cli([*args, "sweep_name=killed"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from step" in resumed.stdout
    rec = records.read_sweep(tmp_path / "killed")[0]
    assert rec.status == "completed" and rec.steps == ref.steps
    assert rec.val_loss == ref.val_loss  # bit for bit: model, optimizer, schedule and data restored
    assert [p.train_loss for p in rec.curve] == [p.train_loss for p in ref.curve]
    again = _cli([*args, "sweep_name=killed"], tmp_path)
    assert again.returncode == 0 and "already completed" in again.stdout
