"""One run, top to bottom: config in, record out.

    harness-train data.seq_len=64 model.n_layer=2 model.d_model=64 model.n_head=2 train.tokens=200000

1. Derive the run_id (a hash of everything that changes the result, local data's content
   included: harness/records.py) and validate the config.
2. If a record with that id exists, say so and stop. Check that the results folders take files,
   and take the run's lock (a second process starting the same run stops, naming this one).
   If a checkpoint exists, resume from it; an unreadable one is moved aside and the run starts
   fresh, since a checkpoint is only a cache of work.
3. Build the token source, the model (transformers), AdamW and the schedule.
4. Train for exactly the budget's steps (the step itself: harness/run/step.py), evaluating on the
   fixed validation set, checkpointing every few seconds, and stopping as `diverged` at the first
   non-finite loss. The loss stays on the device and is read every CHECK_EVERY steps (and at every
   log, evaluation and checkpoint point), so the host never waits for the device per step.
5. Evaluate on the whole validation set and write the record atomically. If that write fails,
   the record is kept in a fallback file that the one-line error names.

Exit status of `harness-train` (one run): 0 done (or already done), 1 the run failed or its results
cannot be written, 2 invalid config, 75 (EX_TEMPFAIL) the same run is in progress in another
process, which will write its record; try again later if that process dies. In a multirun the last
two are one line each and the sweep goes on.
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import torch

from harness import records
from harness.budget import Budget, resolve_budget
from harness.config import (
    Config,
    ScheduleConfig,
    as_dict,
    validate,
)
from harness.data import TokenSource, build_data
from harness.errors import ConfigError
from harness.flops import CONVENTIONS, flops_per_token, param_counts
from harness.hardware import device_name, peak_flops, resolve_device
from harness.hardware import mfu as mfu_of
from harness.model import build_model, forward_loss, shape_of
from harness.run.branches import Fork, branch_config, plan_forks
from harness.run.step import StepTimer, TrainStep, autocast, uses_bf16
from harness.schedule import lr_factor


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


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
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                           capture_output=True, text=True, timeout=5).stdout.strip()
    return out.stdout.strip() + ("-dirty" if dirty else "")


@dataclass
class RunState:
    """Everything a checkpoint must hold for a resumed run to continue bit for bit."""

    step: int = 0  # optimizer steps done
    curve: list[dict[str, Any]] = field(default_factory=list)
    train_loss_sum: float = 0.0  # train loss summed since the last curve point
    train_loss_count: int = 0
    train_seconds: float = 0.0  # time in training steps (evaluation excluded), across restarts
    wall_seconds: float = 0.0  # whole-run time across restarts
    started_at: str = ""
    # The step this run's own training began at: 0, or for a cooldown branch its fork step (the
    # steps before it were the trunk's, whose time is the trunk's), so tokens/s counts its own steps.
    start_step: int = 0
    branch: dict[str, Any] | None = None  # a cooldown branch: its trunk and cost (harness/run/branches.py)


class Log:
    def __init__(self, quiet: bool):
        self.quiet = quiet

    def __call__(self, msg: str) -> None:
        if not self.quiet:
            print(msg, flush=True)

    def warn(self, msg: str) -> None:
        """Something the user must hear even when quiet: a file moved aside, a result kept elsewhere."""
        print(msg, file=sys.stderr, flush=True)


# Steps between reads of the training loss when no log, evaluation or checkpoint point comes
# sooner: each read waits for the device, so it is kept rare; a loss gone non-finite is found
# at most this many steps late, and the run is still recorded as diverged at the step it did.
CHECK_EVERY = 16


@torch.no_grad()
def evaluate(model: torch.nn.Module, val: torch.Tensor, batch_size: int, device: torch.device,
             precision: str) -> float:
    """Mean next-token loss over every predicted position of ``val`` (token-weighted)."""
    model.eval()
    total, count = 0.0, 0
    for i in range(0, val.shape[0], batch_size):
        chunk = val[i:i + batch_size].to(device, non_blocking=True)
        with autocast(device, precision):
            loss = forward_loss(model, chunk)
        n = chunk.shape[0] * (chunk.shape[1] - 1)
        total += float(loss) * n
        count += n
    model.train()
    return total / count


def _save_checkpoint(path: Path, model, optimizer, scheduler, state: RunState,
                     branch_states: dict[str, RunState] | None = None, lr: float | None = None) -> None:
    """Save what resumes the run bit for bit. A trunk also saves the curves of its branches not
    yet forked (``branch_states``). ``lr``: the learning rate of the next step, when the
    checkpoint is written for another run than the one training (a branch at its fork, whose
    next step is its cooldown's first, not the trunk's)."""
    # torch.save to a temporary file, then rename: a kill mid-write leaves the previous
    # checkpoint intact, never a truncated one.
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    opt_state, sched_state = optimizer.state_dict(), scheduler.state_dict()
    if lr is not None:
        # What the branch's own LambdaLR would have set after this step: base lr x its factor.
        for group in opt_state["param_groups"]:
            group["lr"] = lr
        sched_state["_last_lr"] = [lr] * len(opt_state["param_groups"])
    payload = {
        "model": model.state_dict(),
        "optimizer": opt_state,
        "scheduler": sched_state,
        "rng_cpu": torch.get_rng_state(),
        "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "state": dict(vars(state)),
        "branch_states": {k: dict(vars(v)) for k, v in (branch_states or {}).items()},
    }
    torch.save(payload, tmp)
    os.replace(tmp, path)


def _load_checkpoint(path: Path, model, optimizer, scheduler, device: torch.device,
                     branch_states: dict[str, RunState] | None = None) -> RunState:
    """Load a checkpoint into the model, optimizer and scheduler; returns the run's state and
    fills ``branch_states`` with the saved curves of branches not yet forked."""
    # The bytes are read first, so that an OSError here is the file system's (permissions, I/O)
    # and anything torch raises afterwards, OSError included (a file cut short mid-archive gives
    # "Invalid argument"), is about the content: a corrupt checkpoint.
    blob = path.read_bytes()
    try:
        # weights_only=True: a checkpoint is data, never code; everything saved above is tensors,
        # numbers, strings, lists and dicts, which the safe unpickler accepts.
        ckpt = torch.load(io.BytesIO(blob), map_location=device, weights_only=True)
    except OSError as e:
        raise ValueError(f"not a readable torch archive ({e})") from None
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    torch.set_rng_state(ckpt["rng_cpu"].cpu())
    if ckpt["rng_cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in ckpt["rng_cuda"]])
    if branch_states is not None:
        branch_states.update({k: RunState(**v) for k, v in ckpt.get("branch_states", {}).items()})
    return RunState(**ckpt["state"])


class _WandB:
    """Mirror of the record in Weights & Biases; the local record stays the source of truth."""

    def __init__(self, cfg: Config, run_id: str, extra_config: dict[str, Any]):
        self.run = None
        if cfg.logging.wandb == "disabled":
            return
        import wandb

        wandb_dir = Path(cfg.out_dir) / cfg.sweep_name
        wandb_dir.mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(
            project=cfg.logging.project, entity=cfg.logging.entity, group=cfg.sweep_name,
            name=run_id, id=run_id, resume="allow", mode=cfg.logging.wandb, dir=str(wandb_dir),
            config={**as_dict(cfg), **extra_config}, reinit="finish_previous")

    def log(self, point: dict[str, Any]) -> None:
        if self.run is not None:
            flat = {k: v for k, v in point.items() if k != "flops" and v is not None}
            flat.update({f"flops/{k}": v for k, v in point["flops"].items()})
            self.run.log(flat, step=point["step"])

    def finish(self, summary: dict[str, Any]) -> None:
        if self.run is not None:
            self.run.summary.update({k: v for k, v in summary.items() if v is not None})
            self.run.finish()


def _branch_lr(peak: float, fork: Fork, schedule: ScheduleConfig, at: int) -> float:
    """The learning rate a branch's own scheduler gives after ``at`` steps (as TrainStep.lr_at)."""
    return peak * lr_factor(at, fork.steps, fork.warmup_steps, schedule)


def _auto_interval(interval: int, steps: int, per_run: int) -> int:
    return interval if interval > 0 else max(1, math.ceil(steps / per_run))


def run(cfg: Config, log: Log | None = None, multirun: bool = False) -> records.RunRecord:
    """Train one run to its budget (or resume it) and return its record, written to disk. A run
    with cooldown branches (``schedule.branches``) then runs each branch, which resumes from the
    checkpoint the run wrote at its fork; their records are written beside it.

    In a multirun, any error (an invalid config included) becomes a `failed` record so the sweep
    goes on and its summary can list it; a run alone raises ConfigError for an invalid config.
    Raises records.ResultsNotWritable when no record can be written where it belongs (before
    training, or after it with the record kept in a fallback file the message names) and
    records.RunInProgress when another process holds the run's lock.
    """
    log = log or Log(cfg.logging.quiet)
    rec, trained = _run_one(cfg, log, multirun)
    if cfg.schedule.branches and rec.steps > 0:
        _run_branches(cfg, rec, trained, log, multirun)
    return rec


def _run_branches(cfg: Config, trunk: records.RunRecord, trained: bool, log: Log, multirun: bool) -> None:
    """Each branch of a trunk, as its own run: from its fork checkpoint, or alone if it has none
    (the trunk stopped before its fork)."""
    cfgs = [branch_config(cfg, b) for b in sorted(set(cfg.schedule.branches))]
    if not trained and trunk.status == "completed":
        # (A branch that trains alone is never forked; _train's fork-only pass leaves it out.)
        missing = [c for c in cfgs if records.find_record(c.out_dir, c.sweep_name, records.run_id_of(c),
                                                          quarantine_corrupt=False) is None
                   and not records.checkpoint_path(c.out_dir, c.sweep_name, records.run_id_of(c)).exists()]
        if missing:
            # Branches asked for after the trunk was recorded: the trunk is trained again only as
            # far as their forks, which costs less than training each of them alone.
            log(f"run {trunk.run_id}: {len(missing)} cooldown branch(es) have no record and no fork; "
                "training the trunk again as far as their forks")
            try:
                with records.run_lock(cfg.out_dir, cfg.sweep_name, trunk.run_id):
                    _train(cfg, trunk.run_id, log, fork_only=True)
            except (KeyboardInterrupt, SystemExit, records.ResultsNotWritable):
                raise
            except Exception as e:  # the branches still run, each alone from step 0
                log.warn(f"run {trunk.run_id}: could not fork the missing branches ({_one_line(e)}); "
                         "they train alone")
    for c in cfgs:
        try:
            run(c, log, multirun)
        except records.RunInProgress as e:
            log.warn(f"harness-train: {e}; that process writes its record")


def _run_one(cfg: Config, log: Log, multirun: bool) -> tuple[records.RunRecord, bool]:
    """The run's record and whether this call trained it (False: it was recorded already)."""
    run_id = records.run_id_of(cfg)
    existing = _recorded(cfg, run_id, multirun, log)
    if existing is not None:
        return existing, False
    started = _now()
    invalid = None
    try:
        validate(cfg)
    except ConfigError as e:
        if not multirun:
            raise
        invalid = e
    # Before the first step, not after the last: an unwritable folder would lose the whole run.
    records.check_writable(cfg.out_dir, cfg.sweep_name)
    with records.run_lock(cfg.out_dir, cfg.sweep_name, run_id):
        kept = records.adopt_fallback_record(cfg.out_dir, cfg.sweep_name, run_id)
        if kept is not None:
            log.warn(f"run {run_id}: recorded the result an earlier start kept in {kept}")
        # Looked at again under the lock: a process that held it may have just written the record.
        existing = _recorded(cfg, run_id, multirun, log)
        if existing is not None:
            return existing, False
        if invalid is not None:
            return _failed_record(cfg, run_id, f"invalid config: {invalid}", started, log), True
        # Read (and cached) now: the record names the code that trained, not a commit made while it ran.
        git_commit()
        try:
            rec = _train(cfg, run_id, log)
            assert rec is not None  # only a fork-only pass returns no record
            return rec, True
        except (KeyboardInterrupt, SystemExit, records.ResultsNotWritable):
            raise
        except ConfigError as e:  # found only once the data is built (a budget below one step)
            if not multirun:
                raise
            return _failed_record(cfg, run_id, f"invalid config: {e}", started, log), True
        except Exception as e:
            return _failed_record(cfg, run_id, _one_line(e), started, log), True


def _recorded(cfg: Config, run_id: str, multirun: bool, log: Log) -> records.RunRecord | None:
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


def _write(rec: records.RunRecord, cfg: Config) -> Path:
    """Write the record; if its folder refuses, keep it in a fallback file and raise, naming it."""
    try:
        return records.write_record(rec, cfg.out_dir)
    except OSError as e:
        dest = records.record_path(cfg.out_dir, cfg.sweep_name, rec.run_id)
        kept = records.write_fallback_record(rec, cfg.out_dir)
        raise records.ResultsNotWritable(
            f"cannot write {dest} ({e.strerror or e}); run {rec.run_id} ({rec.status}) is kept in {kept}, "
            f"which the run's next start records once the folder takes files (or move it there)") from None


def _one_line(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0]}" if text else type(e).__name__


def _failed_record(cfg: Config, run_id: str, reason: str, started: str, log: Log) -> records.RunRecord:
    """A run that failed before training started: what is known, and why it failed."""
    rec = records.RunRecord(
        run_id=run_id, status="failed", reason=reason, sweep_name=cfg.sweep_name, config=records.portable_config(as_dict(cfg)),
        shape={}, params={}, tokens=0, steps=0, flops={}, val_loss=None, bayes_loss=None, curve=[],
        wall_seconds=0.0, tokens_per_second=None, mfu=None, peak_flops=None, device_name="",
        torch_version=torch.__version__, git_commit=git_commit(), data_fingerprint="",
        unique_tokens=None, epochs=None, seed=cfg.seed, started_at=started, ended_at=_now())
    path = _write(rec, cfg)
    log(f"run {run_id}: failed ({reason}) | {path}")
    return rec


class Curve:
    """The loss curve of one run as its steps go by: points at its own evaluation and log
    intervals, each with the mean training loss since the previous point. A trunk keeps one for
    itself and one for each branch not yet forked, so a branch's curve up to its fork is the one
    its standalone run would have drawn."""

    def __init__(self, state: RunState, steps: int, eval_every: int, log_every: int, lr_at: Callable[[int], float],
                 tokens_per_step: int, per_token: dict[str, float]) -> None:
        self.state, self.steps, self.eval_every, self.log_every = state, steps, eval_every, log_every
        self.lr_at, self.tokens_per_step, self.per_token = lr_at, tokens_per_step, per_token

    def due(self, at: int) -> str | None:
        """"eval", "log" or None: the point the run takes after step ``at`` (its last step's point
        is the final evaluation, taken apart)."""
        if at >= self.steps:
            return None
        if at % self.eval_every == 0:
            return "eval"
        return "log" if at % self.log_every == 0 else None

    def add_losses(self, values: list[float]) -> None:
        for v in values:
            self.state.train_loss_sum += v
            self.state.train_loss_count += 1

    def point(self, at: int, val_loss: float | None) -> dict[str, Any]:
        st = self.state
        tokens = at * self.tokens_per_step
        mean = st.train_loss_sum / st.train_loss_count if st.train_loss_count else None
        st.train_loss_sum, st.train_loss_count = 0.0, 0
        p = {"step": at, "tokens": tokens, "flops": {k: self.per_token[k] * tokens for k in CONVENTIONS},
             "train_loss": mean, "val_loss": val_loss, "lr": self.lr_at(at)}
        st.curve.append(p)
        return p


def _needs_fork(cfg: Config, fork: Fork) -> bool:
    """A branch the trunk must fork: no record yet and no checkpoint to resume from."""
    return (records.find_record(cfg.out_dir, cfg.sweep_name, fork.run_id, quarantine_corrupt=False) is None
            and not records.checkpoint_path(cfg.out_dir, cfg.sweep_name, fork.run_id).exists())


def _train(cfg: Config, run_id: str, log: Log, fork_only: bool = False) -> records.RunRecord | None:
    """Train the run (or resume it) and write its record. A run with cooldown branches forks
    them as it passes their cooldowns' starts. ``fork_only``: the run is recorded already; train
    it only as far as the last branch still to fork, and write no record (returns None)."""
    t_start = time.perf_counter()
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    torch.manual_seed(cfg.seed)
    device = resolve_device(cfg.device)
    data: TokenSource = build_data(cfg.data, cfg.seed)
    shape = shape_of(cfg.model, data.vocab_size, cfg.data.seq_len)
    counts = param_counts(shape)
    budget: Budget = resolve_budget(cfg, shape)
    per_token = flops_per_token(shape)
    planned = plan_forks(cfg, shape)
    for f in planned:
        if f.alone and not fork_only:
            log.warn(f"run {run_id}: the cooldown branch {f.budget:g} cannot fork off this run ({f.alone}); "
                     "it trains alone after it")
    forks = [f for f in planned if not f.alone and _needs_fork(cfg, f)]
    stop = max((f.fork_step for f in forks), default=0) if fork_only else budget.steps
    if fork_only and not forks:
        return None

    model = build_model(shape, init_std=cfg.model.init_std).to(device)
    # AdamW, the schedule, clipping, precision and compile: harness/run/step.py
    step = TrainStep.build(model, device, cfg.optim, cfg.schedule, cfg.train, budget.steps, budget.warmup_steps)
    optimizer, scheduler = step.optimizer, step.scheduler

    ckpt_path = records.checkpoint_path(cfg.out_dir, cfg.sweep_name, run_id)
    state = RunState(started_at=_now())
    saved_branches: dict[str, RunState] = {}
    if ckpt_path.exists():
        try:
            state = _load_checkpoint(ckpt_path, model, optimizer, scheduler, device, saved_branches)
        except OSError:  # cannot be read (permissions, I/O): not known to be corrupt, so keep it
            raise
        except Exception as e:
            # A checkpoint is only a cache of work: set it aside (kept for inspection) and start
            # over from scratch. The load may have half-filled the model and the RNG, so set
            # everything up again rather than reuse them; the fresh run is the one it would be.
            moved = records.quarantine(ckpt_path)
            log.warn(f"run {run_id}: checkpoint {ckpt_path} is unreadable ({_one_line(e)}); "
                     f"moved to {moved.name}, starting the run fresh")
            return _train(cfg, run_id, log, fork_only)
        lost = [f for f in forks if f.fork_step > state.step and f.run_id not in saved_branches]
        if lost:
            # Branches added since the checkpoint: their curves before it were never kept, so
            # only a trunk from step 0 draws them as their standalone runs would.
            ckpt_path.unlink()
            log.warn(f"run {run_id}: the checkpoint at step {state.step} holds no curve for "
                     f"{len(lost)} branch(es) added since; starting the trunk again from step 0")
            return _train(cfg, run_id, log, fork_only)
        log(f"run {run_id}: resuming from step {state.step}/{budget.steps} ({ckpt_path})")

    dev_name = device_name(device)
    # The precision the step really ran in (train.precision=auto resolves per device): the record
    # says it, since MFU is only comparable against the peak of that precision.
    precision = "bf16" if uses_bf16(device, cfg.train.precision) else "fp32"
    peak = peak_flops(dev_name, precision)
    log(f"run {run_id}: {shape.arch} L={shape.n_layer} d={shape.d_model} h={shape.n_head} | "
        f"N={counts.total:,} (non-emb {counts.non_embedding:,}) | {budget.steps} steps x "
        f"{budget.tokens_per_step} = {budget.tokens:,} tokens ({budget.requested}) | "
        f"C(6ND)={per_token['6ND'] * budget.tokens:.3g} | {dev_name}"
        + (f" | {len(forks)} cooldown branch(es) to fork" if forks else "")
        + (f" | only to step {stop}, to fork them (the run is recorded)" if fork_only else ""))
    if budget.warmup_capped:
        log(f"run {run_id}: warning: the warmup asked for is longer than the run; it is capped at {budget.steps} steps")

    val = data.val_tokens()
    val_quick = val[:cfg.train.eval_sequences] if cfg.train.eval_sequences > 0 else val
    wandb = _WandB(cfg, run_id, {"params": vars(counts), "budget_tokens": budget.tokens, "steps": budget.steps}) \
        if not fork_only else _WandB(replace(cfg, logging=replace(cfg.logging, wandb="disabled")), run_id, {})

    def curve_of(st: RunState, steps: int, lr_at: Callable[[int], float]) -> Curve:
        return Curve(st, steps, _auto_interval(cfg.train.eval_interval, steps, cfg.train.evals_per_run),
                     _auto_interval(cfg.logging.log_interval, steps, 20), lr_at, budget.tokens_per_step, per_token)

    own = curve_of(state, budget.steps, step.lr_at)
    # The curves of the branches still to fork, each as its standalone run draws it.
    branch_curves: dict[str, tuple[Fork, Curve]] = {}
    for f in forks:
        if f.fork_step >= state.step:
            lr_at = functools.partial(_branch_lr, cfg.optim.lr, f, cfg.schedule)
            bstate = saved_branches.get(f.run_id) or RunState(
                started_at=_now(), start_step=f.fork_step, branch=f.describe(run_id, shape))
            branch_curves[f.run_id] = (f, curve_of(bstate, f.steps, lr_at))

    losses: list[torch.Tensor] = []  # the training losses on the device, since the last read
    timer = StepTimer(device)

    def read_losses() -> tuple[int, float] | None:
        """Read the losses of the steps since the last read (one host sync) into every curve's
        running train-loss mean; returns the first step whose loss is not finite and that loss
        (it and every later one left out), or None."""
        first = state.step - len(losses)
        values = torch.stack(losses).tolist() if losses else []
        losses.clear()
        state.train_seconds += sum(timer.pop_seconds())
        bad = next((i for i, v in enumerate(values) if not math.isfinite(v)), None)
        for _, c in [(None, own), *branch_curves.values()]:
            c.add_losses(values[:bad])
        return None if bad is None else (first + bad, values[bad])

    def evaluate_quick() -> float:
        return evaluate(model, val_quick, cfg.train.eval_batch_size, device, cfg.train.precision)

    last_quick: list = [None, None]  # (step, loss): one evaluation per step, whichever curves take it

    def quick_loss(at: int) -> float:
        if last_quick[0] != at:
            last_quick[:] = [at, evaluate_quick()]
        return last_quick[1]

    def fork_branches(at: int) -> None:
        """Write the checkpoint each branch whose cooldown starts after step ``at`` would hold
        there; the branch resumes from it as its own run (after the trunk's record)."""
        for rid, (f, c) in list(branch_curves.items()):
            if f.fork_step != at:
                continue
            del branch_curves[rid]
            try:
                with records.run_lock(cfg.out_dir, cfg.sweep_name, rid):
                    if not _needs_fork(cfg, f):
                        continue
                    c.state.step = at
                    _save_checkpoint(records.checkpoint_path(cfg.out_dir, cfg.sweep_name, rid), model, optimizer,
                                     scheduler, c.state, lr=c.lr_at(at))
            except records.RunInProgress:
                continue  # another process trains that branch alone and will write its record
            log(f"run {run_id}: forked the cooldown branch {f.budget:g} ({rid}) at step {at}")

    status, reason = "completed", None
    last_ckpt = time.perf_counter()
    setup_seconds = time.perf_counter() - t_start
    wall_before = state.wall_seconds
    model.train()
    try:
        if state.step == 0 and not state.curve:
            v0 = evaluate_quick()
            wandb.log(own.point(0, v0))
            for _, c in branch_curves.values():
                c.point(0, v0)
        while state.step < stop:
            batch = data.train_batch(state.step, cfg.train.batch_size).to(device, non_blocking=True)
            timer.start()
            losses.append(step(batch))  # forward, backward, clip, AdamW, schedule (harness/run/step.py)
            timer.stop()
            state.step += 1

            at = state.step
            last = at == budget.steps
            checkpoint_due = time.perf_counter() - last_ckpt > cfg.train.checkpoint_interval_seconds and not last
            own_due = own.due(at)
            branch_due = [(f, c, c.due(at)) for f, c in branch_curves.values() if f.fork_step >= at]
            if (last or checkpoint_due or len(losses) >= CHECK_EVERY or own_due or at == stop
                    or any(kind or f.fork_step == at for f, _, kind in branch_due)):
                bad = read_losses()
                if bad is not None:
                    # The steps after it ran on a diverged model and are not counted: the record
                    # ends at the step whose loss was not finite, as if the run stopped there.
                    state.step, value = bad
                    status, reason = "diverged", f"non-finite training loss ({value}) at step {state.step}"
                    break
            for f, c, kind in branch_due:
                if kind is not None:
                    p = c.point(at, quick_loss(at) if kind == "eval" else None)
                    if p["val_loss"] is not None and not math.isfinite(p["val_loss"]):
                        # Its standalone run stops here as diverged: left to run alone, it will.
                        del branch_curves[f.run_id]
            fork_branches(at)
            if own_due == "eval":
                p = own.point(at, quick_loss(at))
                wandb.log(p)
                if not math.isfinite(p["val_loss"]):  # kept in the curve (written as null)
                    status, reason = "diverged", f"non-finite validation loss ({p['val_loss']}) at step {state.step}"
                    break
                log(f"  step {state.step}/{budget.steps} | train {p['train_loss']:.4f} | val {p['val_loss']:.4f} "
                    f"| lr {p['lr']:.2e} | {state.step * budget.tokens_per_step / max(state.train_seconds, 1e-9):,.0f} tok/s")
            elif own_due == "log":
                wandb.log(own.point(at, None))
            if checkpoint_due:
                state.wall_seconds = wall_before + time.perf_counter() - t_start  # setup (data, model) included
                _save_checkpoint(ckpt_path, model, optimizer, scheduler, state,
                                 {rid: c.state for rid, (_, c) in branch_curves.items()})
                last_ckpt = time.perf_counter()
        if fork_only:
            with contextlib.suppress(FileNotFoundError):
                ckpt_path.unlink()
            return None
        val_loss = None
        if status == "completed":
            val_loss = evaluate(model, val, cfg.train.eval_batch_size, device, cfg.train.precision)
            wandb.log(own.point(state.step, val_loss))
            if not math.isfinite(val_loss):
                status, reason = "diverged", f"non-finite validation loss ({val_loss}) at the end"
                val_loss = None
        elif not state.curve or state.curve[-1]["step"] != state.step:
            wandb.log(own.point(state.step, None))
    except (KeyboardInterrupt, SystemExit):
        # An interrupted run is not a failed one: keep the checkpoint, write no record.
        raise
    except Exception as e:  # a crash inside training becomes a `failed` record, not a lost run
        if fork_only:
            raise
        status, reason, val_loss = "failed", _one_line(e), None

    state.wall_seconds = wall_before + time.perf_counter() - t_start  # setup (data, model) included
    tokens_done = state.step * budget.tokens_per_step
    own_tokens = (state.step - state.start_step) * budget.tokens_per_step
    tps = own_tokens / state.train_seconds if state.train_seconds > 0 else None
    mfu = mfu_of(tps, per_token["chinchilla"], peak)
    rec = records.RunRecord(
        run_id=run_id, status=status, reason=reason, sweep_name=cfg.sweep_name, config=records.portable_config(as_dict(cfg)),
        shape=vars(shape).copy(), params=vars(counts).copy(), tokens=tokens_done, steps=state.step,
        flops={k: per_token[k] * tokens_done for k in CONVENTIONS}, val_loss=val_loss,
        bayes_loss=data.bayes_loss, curve=[records.CurvePoint(**p) for p in state.curve],
        wall_seconds=round(state.wall_seconds, 3),
        tokens_per_second=tps, mfu=mfu, peak_flops=peak, device_name=dev_name,
        torch_version=torch.__version__, git_commit=git_commit(), data_fingerprint=data.fingerprint,
        # A finite corpus (text, or a capped synthetic set) records its size and the epochs run,
        # so data-constrained fits and repeated-data warnings need nothing else.
        unique_tokens=data.epoch_tokens,
        epochs=(tokens_done / data.epoch_tokens) if data.epoch_tokens else None,
        seed=cfg.seed, started_at=state.started_at, ended_at=_now(),
        extra={"budget": budget.requested, "warmup_steps": budget.warmup_steps,
               "flops_per_token": per_token, "setup_seconds": round(setup_seconds, 3),
               "precision": precision, "compiled": bool(cfg.train.compile and device.type == "cuda"),
               **({"branch": state.branch} if state.branch else {}),
               **({"branches": [{"budget": f.budget, "run_id": f.run_id, "fork_step": f.fork_step,
                                 **({"alone": f.alone} if f.alone else {})}
                                for f in planned]} if cfg.schedule.branches else {})})
    path = _write(rec, cfg)
    # The record is written first: a kill between the two leaves a finished record and a stale
    # checkpoint, which the next start ignores because the record says the run is done.
    with contextlib.suppress(FileNotFoundError):
        ckpt_path.unlink()
    wandb.finish({"val_loss": val_loss, "bayes_loss": data.bayes_loss, "status": status,
                  "tokens_per_second": tps, "mfu": mfu})
    summary = (f"run {run_id}: {status} | val_loss {val_loss:.4f}" if val_loss is not None
               else f"run {run_id}: {status} ({reason})")
    if data.bayes_loss is not None and val_loss is not None:
        summary += f" (bayes {data.bayes_loss:.4f})"
    log(summary + f" | {tokens_done:,} tokens in {state.wall_seconds:.1f}s"
        + (f" ({tps:,.0f} tok/s)" if tps else "") + f" | {path}")
    return rec
