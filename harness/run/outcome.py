"""What a run leaves behind: its record, written where it belongs or else kept in a fallback file
that the error names; a `failed` record for a run that could not train; and the line that says
how it ended."""

from __future__ import annotations

import functools
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import torch

from harness import records
from harness.config import Config, as_dict
from harness.flops import CONVENTIONS
from harness.machine import mfu as mfu_of
from harness.run.setup import RunSetup
from harness.run.state import Log, RunState, utc_now


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of the harness source tree (not of the working directory), if it is a checkout."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    # GIT_OPTIONAL_LOCKS=0: status must not refresh the index as a side effect. That takes
    # .git/index.lock, and a run under a file-size limit (or killed mid-write) left the lock behind,
    # blocking every later git command in the checkout.
    try:
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                                capture_output=True, text=True, timeout=5, env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"})
    except (OSError, subprocess.TimeoutExpired):
        return out.stdout.strip() + "-unchecked"  # the commit is known, whether the tree is clean is not
    return out.stdout.strip() + ("-dirty" if status.stdout.strip() else "")


def one_line(e: BaseException) -> str:
    """An error as a record's ``reason`` or a warning's cause: its type and first line."""
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0]}" if text else type(e).__name__


@dataclass
class Ending:
    """How training ended: ``completed`` (with the final validation loss), ``diverged`` or ``failed``."""

    status: str = "completed"
    reason: str | None = None
    val_loss: float | None = None


def already_recorded(cfg: Config, run_id: str, multirun: bool, log: Log) -> records.RunRecord | None:
    """The run's record if there is nothing left to do (an unreadable one is moved aside and the
    run counts as not done)."""
    existing = records.find_record(cfg.out_dir, cfg.sweep_name, run_id)
    # A sweep skips failed runs unless asked to retry them; a run started alone is always retried,
    # since the user asked for exactly that run.
    retry = existing is not None and existing.status == "failed" and (cfg.sweep.retry_failed or not multirun)
    if existing is None or retry:
        return None
    log(f"run {run_id} is already {existing.status} (val_loss {existing.val_loss}); nothing to do. "
        f"Record: {records.record_path(cfg.out_dir, cfg.sweep_name, run_id)}"
        + ("  (sweep.retry_failed=true reruns it)" if existing.status == "failed" else ""))
    return existing


def write(rec: records.RunRecord, cfg: Config) -> Path:
    """Write the record; if its folder refuses, keep it in a fallback file and raise, naming it."""
    try:
        return records.write_record(rec, cfg.out_dir)
    except OSError as e:
        dest = records.record_path(cfg.out_dir, cfg.sweep_name, rec.run_id)
        kept = records.write_fallback_record(rec, cfg.out_dir)
        raise records.ResultsNotWritable(
            f"cannot write {dest} ({e.strerror or e}); run {rec.run_id} ({rec.status}) is kept in {kept}, "
            f"which the run's next start records once the folder takes files (or move it there)") from None


def failed_record(cfg: Config, run_id: str, reason: str, started: str, log: Log) -> records.RunRecord:
    """Write the record of a run that failed before training started: what is known, and why."""
    rec = records.RunRecord(
        run_id=run_id, status="failed", reason=reason, sweep_name=cfg.sweep_name,
        config=records.portable_config(as_dict(cfg)), shape={}, params={}, tokens=0, steps=0, flops={},
        val_loss=None, bayes_loss=None, curve=[],
        wall_seconds=0.0, tokens_per_second=None, mfu=None, peak_flops=None, device_name="",
        torch_version=torch.__version__, git_commit=git_commit(), data_fingerprint="",
        unique_tokens=None, epochs=None, seed=cfg.seed, started_at=started, ended_at=utc_now())
    path = write(rec, cfg)
    log(f"run {run_id}: failed ({reason}) | {path}")
    return rec


def trained_record(s: RunSetup, state: RunState, end: Ending, setup_seconds: float) -> records.RunRecord:
    """The record of a run that trained, however it ended."""
    cfg, data, budget, per_token = s.cfg, s.data, s.budget, s.per_token
    tokens_done = state.step * budget.tokens_per_step
    own_tokens = (state.step - state.start_step) * budget.tokens_per_step
    tps = own_tokens / state.train_seconds if state.train_seconds > 0 else None
    return records.RunRecord(
        run_id=s.run_id, status=end.status, reason=end.reason, sweep_name=cfg.sweep_name,
        config=records.portable_config(as_dict(cfg)), shape=vars(s.shape).copy(), params=vars(s.counts).copy(),
        tokens=tokens_done, steps=state.step, flops={k: per_token[k] * tokens_done for k in CONVENTIONS},
        val_loss=end.val_loss, bayes_loss=data.bayes_loss, curve=[records.CurvePoint(**p) for p in state.curve],
        wall_seconds=round(state.wall_seconds, 3), tokens_per_second=tps,
        mfu=mfu_of(tps, per_token["chinchilla"], s.peak), peak_flops=s.peak, device_name=s.device_name,
        torch_version=torch.__version__, git_commit=git_commit(), data_fingerprint=data.fingerprint,
        # A finite corpus (text, or a capped synthetic set) records its size and the epochs run,
        # so data-constrained fits and repeated-data warnings need nothing else.
        unique_tokens=data.epoch_tokens,
        epochs=(tokens_done / data.epoch_tokens) if data.epoch_tokens else None,
        seed=cfg.seed, started_at=state.started_at, ended_at=utc_now(),
        extra={"budget": budget.requested, "warmup_steps": budget.warmup_steps,
               "flops_per_token": per_token, "setup_seconds": round(setup_seconds, 3),
               "precision": s.precision, "compiled": bool(cfg.train.compile and s.device.type == "cuda"),
               **({"branch": state.branch} if state.branch else {}),
               **({"branches": [{"budget": f.budget, "run_id": f.run_id, "fork_step": f.fork_step,
                                 **({"alone": f.alone} if f.alone else {})}
                                for f in s.planned]} if cfg.schedule.branches else {})})


def summary(rec: records.RunRecord, wall_seconds: float, path: Path) -> str:
    """The run's last line: how it ended, its tokens and time, and where its record is."""
    line = (f"run {rec.run_id}: {rec.status} | val_loss {rec.val_loss:.4f}" if rec.val_loss is not None
            else f"run {rec.run_id}: {rec.status} ({rec.reason})")
    if rec.bayes_loss is not None and rec.val_loss is not None:
        line += f" (bayes {rec.bayes_loss:.4f})"
    line += f" | {rec.tokens:,} tokens in {wall_seconds:.1f}s"
    tps = rec.tokens_per_second
    return line + (f" ({tps:,.0f} tok/s)" if tps else "") + f" | {path}"
