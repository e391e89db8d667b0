"""Each planned job as numbers: shape, parameters, steps, tokens and FLOPs under every convention.

The numbers come from the code a run uses (the budget, the cooldown branches, the parameter and
FLOP counts of harness/flops.py), without torch: counting parameters needs only the Shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness import records
from harness.budget import resolve_budget
from harness.config import Config, validate
from harness.errors import ConfigError
from harness.flops import CONVENTIONS, Shape, flops_per_token, param_counts
from harness.run.branches import Fork, plan_forks
from harness.sweep.expand import Job


@dataclass
class PlannedRun:
    job: Job
    run_id: str | None = None
    status: str = "new"  # new | completed | diverged | failed (what a record already says)
    # Its numbers as the jsonl output writes them; empty when the job cannot run (see error).
    info: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    shape: Shape | None = None  # what its numbers were counted on, and what the probe times
    seconds: float | None = None
    extrapolated: bool = False
    flags: list[str] = field(default_factory=list)  # why the run is (probably) wasted; see flag_runs
    branches: list[PlannedRun] = field(default_factory=list)  # its cooldown branches (harness/run/branches.py)


def describe(job: Job) -> PlannedRun:
    """Shape, params, steps, tokens and FLOPs of one job, from the same code the run uses."""
    pr = PlannedRun(job)
    cfg = job.cfg
    if cfg is None:
        pr.error = job.error
        return pr
    pr.run_id = records.run_id_of(cfg)
    pr.status = _recorded_status(cfg, pr.run_id)
    try:
        validate(cfg)
        shape = cfg.model.shape(cfg.data.vocab_size, cfg.data.seq_len)
        info = _numbers(cfg, shape)
        forks = plan_forks(cfg, shape)
    except (ConfigError, ValueError) as e:
        pr.error = f"invalid config: {e}"
        return pr
    pr.shape, pr.info = shape, info
    pr.branches = [_branch(job, f) for f in forks]
    return pr


def with_branches(runs: list[PlannedRun]) -> list[PlannedRun]:
    """Each run followed by its cooldown branches (runs of their own, planned and flagged alike)."""
    return [x for r in runs for x in (r, *r.branches)]


def _recorded_status(cfg: Config, run_id: str) -> str:
    try:
        # A plan only looks: an unreadable record counts as not done but stays where it is.
        rec = records.find_record(cfg.out_dir, cfg.sweep_name, run_id, quarantine_corrupt=False)
    except (records.RecordError, OSError):
        rec = None
    return rec.status if rec is not None else "new"


def _numbers(cfg: Config, shape: Shape) -> dict[str, Any]:
    budget = resolve_budget(cfg, shape)
    counts = param_counts(shape)
    per_token = flops_per_token(shape)
    return {
        "model": {"name": cfg.model.name, **vars(shape)},
        "params": vars(counts).copy(),
        "batch_size": cfg.train.batch_size, "seq_len": cfg.data.seq_len, "steps": budget.steps,
        "tokens": budget.tokens, "warmup_steps": budget.warmup_steps, "budget": budget.requested,
        "tokens_per_param": budget.tokens / counts.total,
        "flops": {k: per_token[k] * budget.tokens for k in CONVENTIONS},
        "lr": cfg.optim.lr, "threads": cfg.train.threads, "device": cfg.device,
        "val_tokens": cfg.data.val_sequences * cfg.data.seq_len,
        "evals": _evaluations(cfg, budget.steps),
        # The share of the run's steps it trains itself: 1, or a cooldown branch's cooldown.
        "spent_fraction": 1.0,
    }


def _evaluations(cfg: Config, steps: int) -> float:
    """Passes over the validation set: the intermediate ones (on train.eval_sequences of it, or
    the whole set) and the final one."""
    t = cfg.train
    during = min(steps, t.evals_per_run) if t.eval_interval == 0 else steps // t.eval_interval
    share = min(1.0, t.eval_sequences / cfg.data.val_sequences) if t.eval_sequences else 1.0
    return during * share + 1


def _branch(trunk: Job, fork: Fork) -> PlannedRun:
    b = describe(Job(trunk.num, [*trunk.overrides, f"(branch {fork.budget:g})"], fork.cfg))
    if b.info and not fork.alone:
        b.info["spent_fraction"] = (fork.steps - fork.fork_step) / fork.steps
        b.info["fork_step"] = fork.fork_step
    elif b.info:
        b.info["branch_alone"] = fork.alone
    return b
