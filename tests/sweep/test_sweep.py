"""Sweeps end to end in subprocesses: resume after SIGKILL, concurrent record writers, the joblib
and submitit_local launchers, and the end-of-sweep callback (progress, summary, fit)."""

import json
import multiprocessing as mp
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import records
from harness.records import run_id_of
from harness.sweep.expand import expand

# Every test here starts sweeps or processes: seconds to tens of seconds each.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
# About a second a run on one core, most of it process and data start-up.
TINY = ["data.seq_len=16", "data.val_sequences=16", "model.n_layer=1", "model.d_model=16", "model.n_head=2",
        "train.batch_size=8", "train.threads=1", "logging.quiet=true", "sweep.fit=false",
        "sweep.record_wait_seconds=0"]


def _cmd(args):
    # The console script's way in (not `python -m harness.run.train`): joblib pickles the task function
    # by module, and a task living in __main__ cannot be found in its worker processes.
    return [sys.executable, "-c", "from harness.cli.train import main; main()", "-m", *args]


def _run(args, timeout=240):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(_cmd(args), capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)


def _planned(args):
    _, jobs = expand(args)
    return [run_id_of(j.cfg) for j in jobs]


def _record_files(out, name):
    runs = Path(out) / name / "runs"
    return sorted(p.name for p in runs.iterdir()) if runs.exists() else []


def test_a_killed_sweep_resumes_and_every_run_completes_exactly_once(tmp_path):
    args = [*TINY, f"out_dir={tmp_path}", "sweep_name=kill", "train.tokens=40960,45056,49152,53248",
            "train.checkpoint_interval_seconds=0.2", "logging.quiet=false"]
    planned = _planned(args)
    assert len(set(planned)) == 4
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    p = subprocess.Popen(_cmd(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                         cwd=ROOT, start_new_session=True)
    runs = Path(tmp_path) / "kill" / "runs"
    ckpts = Path(tmp_path) / "kill" / "checkpoints"
    deadline = time.time() + 120
    # Kill once a run has finished and the next one is mid-way (it has a checkpoint).
    while time.time() < deadline:
        done = list(runs.glob("[!.]*.json")) if runs.exists() else []
        if done and ckpts.exists() and any(ckpts.glob("*.pt")):
            break
        time.sleep(0.05)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    before = {f: (runs / f).read_text() for f in _record_files(tmp_path, "kill") if not f.startswith(".")}
    mtimes = {f: (runs / f).stat().st_mtime_ns for f in before}
    assert 1 <= len(before) < 4, "the kill should land mid-sweep"
    out = _run(args)
    assert out.returncode == 0, out.stderr[-2000:]
    files = [f for f in _record_files(tmp_path, "kill") if not f.startswith(".")]
    assert sorted(files) == sorted(f"{rid}.json" for rid in planned)  # no duplicates, nothing extra
    for f in files:  # every record whole, every run completed
        rec = records.read_record(runs / f)
        assert rec.status == "completed" and rec.val_loss is not None
    for f, text in before.items():  # runs completed before the kill were not run again
        assert (runs / f).read_text() == text and (runs / f).stat().st_mtime_ns == mtimes[f]
    assert out.stdout.count("already completed") == len(before)
    assert out.stdout.count("(recorded earlier)") == len(before)  # the progress lines say so too
    assert "resuming from step" in out.stdout  # the run killed mid-way continued from its checkpoint
    assert not any(ckpts.glob("*.pt"))
    # And a third start trains nothing.
    again = _run(args)
    assert again.returncode == 0 and again.stdout.count("already completed") == 4


def _writer(out_dir, worker, n):
    for i in range(n):
        rec = _fake_record(f"r{i:03d}" if i % 2 else f"w{worker}-{i:03d}", worker, i)
        records.write_record(rec, out_dir)


def _fake_record(run_id, worker, i):
    big = [{"step": s, "tokens": s * 100, "flops": {"6ND": 1.0 * s}, "train_loss": 5.0, "val_loss": None,
            "lr": 1e-3} for s in range(200)]  # a few tens of KB, so writes are not trivially atomic
    return records.RunRecord(
        run_id=run_id, status="completed", sweep_name="conc", config={"worker": worker, "i": i}, shape={},
        params={"total": 1}, tokens=1, steps=1, flops={"6ND": 1.0}, val_loss=1.0, bayes_loss=None,
        curve=[records.CurvePoint(**p) for p in big], wall_seconds=0.0, tokens_per_second=None, mfu=None,
        peak_flops=None, device_name="", torch_version="", git_commit=None, data_fingerprint="",
        unique_tokens=None, epochs=None, seed=0, started_at="", ended_at="")


def test_eight_processes_writing_records_at_once_leave_every_record_whole(tmp_path):
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), w, 40)) for w in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    recs = records.read_sweep(tmp_path / "conc", status=None)
    ids = [r.run_id for r in recs]
    # 20 private ids per writer, and 20 ids all eight wrote over each other
    assert len(ids) == len(set(ids)) == 8 * 20 + 20
    assert all(len(r.curve) == 200 for r in recs)
    assert not [p for p in (tmp_path / "conc" / "runs").iterdir() if p.name.startswith(".")]


# submitit's local launcher: hydra/launcher=local_cluster, built on it, runs a six-run sweep end to
# end in tests/sweep/test_cluster.py (records, progress, the fit), so it is not run twice here.
@pytest.mark.parametrize("launcher", ["joblib"])
def test_launchers_run_a_four_run_sweep(tmp_path, launcher):
    extra = (["hydra.launcher.n_jobs=2"] if launcher == "joblib"
             else ["hydra.launcher.timeout_min=5", "hydra.launcher.cpus_per_task=1"])
    args = [*TINY, f"out_dir={tmp_path}", "sweep_name=launch", "model.d_model=16,32", "train.tokens=4096,8192",
            f"hydra/launcher={launcher}", *extra]
    planned = _planned(args)
    out = _run(args)
    assert out.returncode == 0, out.stderr[-3000:]
    recs = {r.run_id: r for r in records.read_sweep(tmp_path / "launch", status=None)}
    assert set(recs) == set(planned) and all(r.status == "completed" for r in recs.values())
    assert "4 completed, 0 diverged, 0 failed (of 4 planned)" in out.stdout


def test_progress_lines_failed_runs_in_the_summary_and_retry(tmp_path):
    # train.tokens=10 is below one step: that run fails (recorded), the others go on.
    args = [*TINY, f"out_dir={tmp_path}", "sweep_name=prog", "train.tokens=10,4096,8192"]
    out = _run(args)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [ln for ln in out.stdout.splitlines() if re.match(r"\[\s*\d+/\d+\]", ln)]
    assert [ln.split("]")[0] for ln in lines] == ["[1/3", "[2/3", "[3/3"]
    assert "val_loss" in lines[-1] and " N=" in lines[-1] and " D=" in lines[-1] and " C=" in lines[-1]
    assert "2 completed, 0 diverged, 1 failed" in out.stdout
    assert "failed:" in out.stdout and "smaller than one step" in out.stdout
    again = _run(args)
    assert "1 failed (kept; sweep.retry_failed=true reruns them)" in again.stdout
    retried = _run([*args, "sweep.retry_failed=true"])
    assert "1 failed (retried)" in retried.stdout and "2 completed, 0 diverged, 1 failed" in retried.stdout


def test_the_callback_fits_the_sweep_at_the_end(tmp_path):
    args = [*TINY, f"out_dir={tmp_path}", "sweep_name=fit", "sweep.fit=true", "sweep.fit_bootstrap=0",
            "model.d_model=16,24,32,48", "train.flops=2e8,6e8,2e9", "hydra/launcher=joblib",
            "hydra.launcher.n_jobs=2"]
    out = _run(args, timeout=400)
    assert out.returncode == 0, out.stderr[-3000:]
    sweep = tmp_path / "fit"
    assert (sweep / "fit.json").exists() and (sweep / "report.md").exists()
    assert any((sweep / "plots").iterdir())
    fit = json.loads((sweep / "fit.json").read_text())
    assert fit["n_points"] == 12
    assert "fit of 12 runs" in out.stdout
