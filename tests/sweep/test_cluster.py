"""The SLURM path rehearsed on one machine (hydra/launcher=local_cluster: submitit's local executor
runs the same job objects as on SLURM): records, progress lines in the launching process, the
end-of-sweep fit and its W&B group; a killed sweep resumed; a job signalled as SLURM signals a
preempted or timed-out one checkpoints, is requeued and resumes, with one record in the end."""

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from harness import records
from tests.sweep.test_sweep import ROOT, TINY, _cmd, _planned, _run
from tests.sweep.test_wandb_fit import offline_wandb
from tests.sweep.wandb_files import offline_runs

# Each test starts submitit jobs (a Python process each, torch imported in every one): tens of seconds.
pytestmark = pytest.mark.slow

TB = "Traceback (most recent call last)"
LONG = "train.tokens=200000"  # a run of a few seconds on one core, long enough to be signalled mid-way
PROGRESS = re.compile(r"^\[\s*(\d+)/(\d+)\] [#.]+ .*$", re.M)


def _job_logs(sweep: Path) -> list[Path]:
    """The jobs' output files (<hydra.sweep.dir>/.submitit/<job>/<job>_0_log.out), oldest sweep first."""
    return sorted(sweep.glob("hydra/*/.submitit/*/*_0_log.out"))


def _job_pids(folder: Path) -> list[int]:
    """The processes running a submitit job (python -m submitit.core._submit <folder under ours>)."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"submitit.core._submit" in argv and any(str(folder).encode() in a for a in argv):
            pids.append(int(cmdline.parent.name))
    return pids


def _wait_for(cond, timeout=180, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        assert proc is None or proc.poll() is None, "the sweep ended before the test could act"
        time.sleep(0.05)
    return False


def _start(args):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # A session of its own: the launcher, submitit's controller and the job share its process group.
    return subprocess.Popen(_cmd(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            cwd=ROOT, start_new_session=True)


def test_a_cluster_rehearsal_records_prints_progress_fits_and_logs_to_one_wandb_group(tmp_path, monkeypatch):
    # Three sizes at two budgets: the fewest runs the end-of-sweep fit fits a law to.
    args = [*TINY, f"out_dir={tmp_path}", "sweep_name=rehearsal", "model.d_model=16,24,32", "train.flops=2e8,6e8",
            "hydra/launcher=local_cluster", "sweep.fit=true", "sweep.fit_bootstrap=0", "logging.wandb=offline"]
    planned = _planned(args)
    offline_wandb(monkeypatch, tmp_path)  # the jobs inherit it
    out = _run(args, timeout=480)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    sweep = tmp_path / "rehearsal"
    recs = {r.run_id: r for r in records.read_sweep(sweep, status=None)}
    assert set(recs) == set(planned) and all(r.status == "completed" for r in recs.values())
    assert len(_job_logs(sweep)) == 6  # each run was a submitit job of its own
    # The launching process printed every run's line as its record appeared, counting up to 6.
    lines = PROGRESS.findall(out.stdout)
    assert [(int(k), int(n)) for k, n in lines] == [(k, 6) for k in range(1, 7)]
    assert "6 completed, 0 diverged, 0 failed (of 6 planned)" in out.stdout
    assert out.stdout.index("[6/6]") < out.stdout.index("sweep rehearsal finished")
    # The end-of-sweep fit ran in the launching process once the jobs had ended.
    assert "fit of 6 runs" in out.stdout and (sweep / "fit.json").exists() and (sweep / "report.md").exists()
    assert TB not in out.stdout + out.stderr
    # W&B: the six runs and the fit in one group.
    runs = offline_runs(sweep)
    assert {r.group for r in runs} == {"rehearsal"}
    assert sorted(r.run.run_id for r in runs if r.job_type == "train") == sorted(planned)
    [fit] = [r for r in runs if r.job_type == "fit"]
    assert fit.history[0]["fit/parameters"]["nrows"] > 0
    assert f"wandb: logged the fit to group rehearsal (run {fit.run.run_id}" in out.stdout


def test_a_killed_cluster_sweep_resumes_its_job_from_the_checkpoint(tmp_path):
    args = [*TINY, f"out_dir={tmp_path}", "sweep_name=killed", LONG, "train.checkpoint_interval_seconds=0.2",
            "logging.quiet=false", "hydra/launcher=local_cluster"]
    [rid] = _planned(args)
    sweep = tmp_path / "killed"
    p = _start(args)
    assert _wait_for(lambda: records.checkpoint_path(tmp_path, "killed", rid).exists(), proc=p)
    os.killpg(p.pid, signal.SIGKILL)  # the launcher, submitit's controller and the job alike
    p.wait()
    assert not records.record_path(tmp_path, "killed", rid).exists()
    out = _run(args)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    rec = records.read_record(records.record_path(tmp_path, "killed", rid))
    assert rec.status == "completed" and rec.steps == 1562
    second = _job_logs(sweep)[-1].read_text()
    assert re.search(rf"run {rid}: resuming from step [1-9]\d*/1562", second)
    assert second.count(f"run {rid}: completed") == 1
    assert len(PROGRESS.findall(out.stdout)) == 1 and "1 completed, 0 diverged, 0 failed" in out.stdout
    assert not records.checkpoint_path(tmp_path, "killed", rid).exists()
    assert TB not in out.stdout + out.stderr


# A preemption (SIGTERM, then SIGUSR2) includes the time limit's SIGUSR2, which requeues the job;
# scripts/fault_preempt.py signals the time-limit variant alone (python scripts/fault_inject.py).
@pytest.mark.parametrize("signals", [["SIGTERM", "SIGUSR2"]], ids=["preemption"])
def test_a_signalled_job_checkpoints_is_requeued_and_resumes_to_one_record(tmp_path, signals):
    # What SLURM sends: SIGUSR2 signal_delay_s before the time limit; at a preemption SIGTERM, then
    # SIGUSR2 (submitit's own SlurmJob._interrupt). Checkpoints on a timer are off, so the run can
    # resume from a later step than 0 only if it saved one when signalled.
    args = [*TINY, f"out_dir={tmp_path}", "sweep_name=sig", LONG, "train.checkpoint_interval_seconds=3600",
            "logging.quiet=false", "hydra/launcher=local_cluster"]
    [rid] = _planned(args)
    sweep = tmp_path / "sig"
    p = _start(args)
    # The job's first evaluation line: it is in its training loop.
    assert _wait_for(lambda: any(re.search(r"^  step \d+/", f.read_text(), re.M) for f in _job_logs(sweep))
                     and _job_pids(sweep), proc=p)
    [log] = _job_logs(sweep)
    first_step = int(re.search(r"^  step (\d+)/", log.read_text(), re.M).group(1))
    [pid] = _job_pids(sweep)
    for name in signals:
        os.kill(pid, getattr(signal, name))
        time.sleep(0.5)
    stdout, _ = p.communicate(timeout=300)
    assert p.returncode == 0, stdout[-3000:]
    text = log.read_text()  # the requeued job appends to the same log
    assert "Requeued job" in text
    resumed = re.search(rf"run {rid}: resuming from step (\d+)/1562", text)
    assert resumed and int(resumed.group(1)) >= first_step, text[-3000:]
    assert text.count(f"run {rid}: completed") == 1
    assert [r.run_id for r in records.read_sweep(sweep, status=None)] == [rid]
    rec = records.read_record(records.record_path(tmp_path, "sig", rid))
    assert rec.status == "completed" and rec.steps == 1562 and rec.val_loss is not None
    assert len(PROGRESS.findall(stdout)) == 1 and "1 completed, 0 diverged, 0 failed (of 1 planned)" in stdout
    assert not records.checkpoint_path(tmp_path, "sig", rid).exists()
    assert TB not in stdout and TB not in text
