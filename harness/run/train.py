"""One run, top to bottom: config in, record out.

    harness-train data.seq_len=64 model.n_layer=2 model.d_model=64 model.n_head=2 train.tokens=200000

1. Derive the run_id (a hash of everything that changes the result, local data's content
   included: harness/records/) and validate the config.
2. If a record with that id exists, say so and stop. Check that the results folders take files,
   and take the run's lock (a second process starting the same run stops, naming this one).
3. Set the run up (data, shape, budget, device: harness/run/setup.py), build the model and its
   step (AdamW, schedule, clipping: harness/run/step.py) and resume from the run's checkpoint if it
   has one (harness/run/checkpoint.py); an unusable one is dropped and the run starts fresh.
4. Train for exactly the budget's steps, taking the curve's points (harness/run/state.py) on the
   fixed validation set (harness/run/evaluation.py), forking cooldown branches on the way
   (harness/run/forks.py), checkpointing every few seconds, and stopping as `diverged` at the first
   non-finite loss. The loss stays on the device and is read in windows (harness/run/losses.py),
   so the host never waits for the device per step. A checkpoint the file system refuses (a full
   disk, a file-size limit) is a warning: the previous one is kept and training goes on.
5. Evaluate on the whole validation set and write the record atomically (harness/run/outcome.py).
   If that write fails, the record is kept in a fallback file that the one-line error names.

From the first step to the record, SIGTERM, SIGINT and SIGUSR2 stop the run at the next step
boundary after a checkpoint (harness/run/signals.py): `RunInterrupted`, and the same command
resumes from that step; in a multirun no later run of the process starts.

Exit status of `harness-train` (one run): 0 done (or already done), 1 the run failed or its results
cannot be written, 2 invalid config, 75 (EX_TEMPFAIL) the same run is in progress in another
process, which will write its record; try again later if that process dies; 128 + the signal's
number (130 SIGINT, 143 SIGTERM, 140 SIGUSR2) a signal stopped it after its checkpoint. In a
multirun the middle two are one line each and the sweep goes on; a signal ends the sweep.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from harness import records
from harness.config import Config, validate
from harness.errors import ConfigError, RunInterrupted
from harness.model import build_model
from harness.run import outcome
from harness.run.branches import branch_config
from harness.run.checkpoint import Checkpoint, Resumed
from harness.run.evaluation import Evaluator
from harness.run.forks import Forks, unforked
from harness.run.losses import LossWindow
from harness.run.outcome import Ending
from harness.run.setup import RunSetup, describe, set_up
from harness.run.signals import StopSignals, stopped_by
from harness.run.state import Curve, Log, RunState, utc_now
from harness.run.step import TrainStep
from harness.run.wandb_mirror import WandbMirror


def run(cfg: Config, log: Log | None = None, multirun: bool = False) -> records.RunRecord:
    """Train one run to its budget (or resume it) and return its record, written to disk. A run
    with cooldown branches (``schedule.branches``) then runs each branch, which resumes from the
    checkpoint the run wrote at its fork; their records are written beside it.

    In a multirun, any error (an invalid config included) becomes a `failed` record so the sweep
    goes on and its summary can list it; a run alone raises ConfigError for an invalid config.
    Raises records.ResultsNotWritable when no record can be written where it belongs (before
    training, or after it with the record kept in a fallback file the message names),
    records.RunInProgress when another process holds the run's lock, and RunInterrupted when
    SIGTERM, SIGINT or SIGUSR2 stopped it (after its checkpoint: the same call resumes it). In a
    multirun, once a signal stopped a run of this process, every later run raises RunInterrupted
    before it starts: the scheduler that sent it is about to end the process.
    """
    log = log or Log(cfg.logging.quiet)
    if multirun and (signal_name := stopped_by()) is not None:
        run_id = records.run_id_of(cfg)
        raise RunInterrupted(run_id, signal_name, None, f"run {run_id}: not started, {signal_name} stopped this "
                                                        "sweep; start the same command again to go on")
    rec, trained = _run_one(cfg, log, multirun)
    if cfg.schedule.branches and rec.steps > 0:
        _run_branches(cfg, rec, trained, log, multirun)
    return rec


def _run_branches(cfg: Config, trunk: records.RunRecord, trained: bool, log: Log, multirun: bool) -> None:
    """Each branch of a trunk, as its own run: from its fork checkpoint, or alone if it has none
    (the trunk stopped before its fork)."""
    cfgs = [branch_config(cfg, b) for b in sorted(set(cfg.schedule.branches))]
    if not trained and trunk.status == "completed":
        # (A branch that trains alone is never forked; the fork-only pass leaves it out.)
        missing = [c for c in cfgs if unforked(c, records.run_id_of(c))]
        if missing:
            # Branches asked for after the trunk was recorded: the trunk is trained again only as
            # far as their forks, which costs less than training each of them alone.
            log(f"run {trunk.run_id}: {len(missing)} cooldown branch(es) have no record and no fork; "
                "training the trunk again as far as their forks")
            try:
                with records.run_lock(cfg.out_dir, cfg.sweep_name, trunk.run_id):
                    _train(cfg, trunk.run_id, log, fork_only=True)
            except (KeyboardInterrupt, SystemExit, records.ResultsNotWritable, RunInterrupted):
                raise
            except Exception as e:  # the branches still run, each alone from step 0
                log.warn(f"run {trunk.run_id}: could not fork the missing branches ({outcome.one_line(e)}); "
                         "they train alone")
    for c in cfgs:
        try:
            run(c, log, multirun)
        except records.RunInProgress as e:
            log.warn(f"harness-train: {e}; that process writes its record")


def _run_one(cfg: Config, log: Log, multirun: bool) -> tuple[records.RunRecord, bool]:
    """The run's record and whether this call trained it (False: it was recorded already)."""
    run_id = records.run_id_of(cfg)
    existing = outcome.already_recorded(cfg, run_id, multirun, log)
    if existing is not None:
        return existing, False
    started = utc_now()
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
        existing = outcome.already_recorded(cfg, run_id, multirun, log)
        if existing is not None:
            return existing, False
        if invalid is not None:
            return outcome.failed_record(cfg, run_id, f"invalid config: {invalid}", started, log), True
        # Read (and cached) now: the record names the code that trained, not a commit made while it ran.
        outcome.git_commit()
        try:
            rec = _train(cfg, run_id, log)
            assert rec is not None  # only a fork-only pass returns no record
            return rec, True
        except (KeyboardInterrupt, SystemExit, records.ResultsNotWritable, RunInterrupted):
            raise
        except ConfigError as e:  # found only once the data is built (a budget below one step)
            if not multirun:
                raise
            return outcome.failed_record(cfg, run_id, f"invalid config: {e}", started, log), True
        except Exception as e:
            return outcome.failed_record(cfg, run_id, outcome.one_line(e), started, log), True


@dataclass
class Training:
    """What the loop works on: the run's setup and parts, and its state (which checkpoints keep)."""

    setup: RunSetup
    step: TrainStep  # the model, AdamW and the schedule, and the step they take
    checkpoint: Checkpoint
    state: RunState
    own: Curve  # the run's own curve (its points are also in state.curve)
    forks: Forks  # the branches still to fork, each with its curve
    evals: Evaluator
    mirror: WandbMirror
    losses: LossWindow
    log: Log
    started: float  # perf_counter() when this start began
    wall_before: float  # the wall seconds of the starts before this one
    saved_step: int | None  # the step of the run's checkpoint on disk (None: it has none)
    stop: StopSignals  # the signals that ask it to stop, caught while it trains
    unsaved: str | None = None  # why the last checkpoint write failed (None: it did not)

    def wall_seconds(self) -> float:
        """The whole run's time so far, across restarts, its setup (data, model) included."""
        return self.wall_before + time.perf_counter() - self.started


def _train(cfg: Config, run_id: str, log: Log, fork_only: bool = False) -> records.RunRecord | None:
    """Train the run (or resume it) and write its record. A run with cooldown branches forks
    them as it passes their cooldowns' starts. ``fork_only``: the run is recorded already; train
    it only as far as the last branch still to fork, and write no record (returns None)."""
    started = time.perf_counter()
    setup = set_up(cfg, run_id, log, fork_only)
    if setup is None:
        return None
    t = _start(setup, log, started)
    setup_seconds = time.perf_counter() - started
    # Not during the setup: a signal there ends it as usual, with nothing trained to save.
    with t.stop.catching():
        rec = _train_and_finish(t, fork_only, setup_seconds)
        if t.stop.requested:  # it came after the last step: the record (or the forks) is what is saved
            done = f"its record is written ({rec.status})" if rec is not None else "its branches are forked"
            t.stop.hand_on(run_id, None, f"run {run_id}: stopped by {t.stop.name} as it ended; {done}")
    return rec


def _train_and_finish(t: Training, fork_only: bool, setup_seconds: float) -> records.RunRecord | None:
    try:
        end = _train_steps(t)
        if fork_only:
            t.checkpoint.remove()
            return None
        end = _final_point(t, end)
    except (KeyboardInterrupt, SystemExit, RunInterrupted):
        # An interrupted run is not a failed one: keep the checkpoint, write no record.
        raise
    except Exception as e:  # a crash inside training becomes a `failed` record, not a lost run
        if fork_only:
            raise
        end = Ending("failed", outcome.one_line(e))
    return _finish(t, end, setup_seconds)


def _start(s: RunSetup, log: Log, started: float) -> Training:
    """Everything the loop works on, at the step the run goes on from."""
    cfg, budget = s.cfg, s.budget
    checkpoint = Checkpoint.of(cfg, s.run_id)
    step, resumed = _build(s, checkpoint, log)
    state = resumed.state if resumed else RunState(started_at=utc_now())
    describe(s, log)
    evals = Evaluator(step.model, s.data.val_tokens(), cfg.train, s.device)
    mirror = WandbMirror(cfg, s.run_id, {"params": vars(s.counts), "budget_tokens": budget.tokens,
                                         "steps": budget.steps}, enabled=not s.fork_only)
    own = Curve.of(state, budget.steps, step.lr_at, cfg, budget.tokens_per_step, s.per_token)
    forks = Forks.start(cfg, s.run_id, log, s.forks, state.step, resumed.branches if resumed else {},
                        s.shape, budget.tokens_per_step, s.per_token)
    step.model.train()
    return Training(setup=s, step=step, checkpoint=checkpoint, state=state, own=own, forks=forks, evals=evals,
                    mirror=mirror, losses=LossWindow(s.device), log=log, started=started,
                    wall_before=state.wall_seconds, saved_step=state.step if resumed else None,
                    stop=StopSignals())


def _build(s: RunSetup, checkpoint: Checkpoint, log: Log) -> tuple[TrainStep, Resumed | None]:
    """The model and its step, loaded from the run's checkpoint if there is one to go on from.

    A checkpoint that cannot be used is dropped and everything is built again from the seed: one
    that fails to load is moved aside (kept for inspection), since the load may have half filled
    the model and the RNG; one that holds no curve for a branch added since it was written is
    deleted, since only a trunk from step 0 draws that curve as the branch's standalone run would.
    """
    cfg, budget = s.cfg, s.budget
    # A start killed while it saved left its temporary file; under the run's lock it is no one's.
    checkpoint.clear_unfinished()
    while True:
        # The initial weights are the first draw from the seeded RNG (the data's streams have
        # generators of their own), so a run built again is the run it would have been.
        torch.manual_seed(cfg.seed)
        model = build_model(s.shape, init_std=cfg.model.init_std).to(s.device)
        step = TrainStep.build(model, s.device, cfg.optim, cfg.schedule, cfg.train, budget.steps,
                               budget.warmup_steps)
        if not checkpoint.exists():
            return step, None
        try:
            resumed = checkpoint.load(step)
        except OSError:  # cannot be read (permissions, I/O): not known to be corrupt, so keep it
            raise
        except Exception as e:
            moved = checkpoint.set_aside()
            log.warn(f"run {s.run_id}: checkpoint {checkpoint.path} is unreadable ({outcome.one_line(e)}); "
                     f"moved to {moved.name}, starting the run fresh")
            continue
        at = resumed.state.step
        lost = [f for f in s.forks if f.fork_step > at and f.run_id not in resumed.branches]
        if not lost:
            log(f"run {s.run_id}: resuming from step {at}/{budget.steps} ({checkpoint.path})")
            return step, resumed
        checkpoint.remove()
        log.warn(f"run {s.run_id}: the checkpoint at step {at} holds no curve for "
                 f"{len(lost)} branch(es) added since; starting the trunk again from step 0")


def _train_steps(t: Training) -> Ending:
    """The loop: train up to the setup's stop, taking the curves' points, forking branches and
    checkpointing on the way. Returns how it ended: diverged, or completed but for its final point.
    A stop signal ends it at the next step boundary, after a checkpoint (RunInterrupted)."""
    s, state = t.setup, t.state
    if state.step == 0 and not state.curve:
        _first_points(t)
    last_save = time.perf_counter()
    while state.step < s.stop:
        batch = s.data.train_batch(state.step, s.cfg.train.batch_size).to(s.device, non_blocking=True)
        t.losses.step(t.step, batch)
        state.step += 1
        at = state.step
        # Read once: a signal that comes later in this step is taken at the next boundary.
        stopping = t.stop.requested
        save_due = stopping or (at != s.budget.steps
                                and time.perf_counter() - last_save > s.cfg.train.checkpoint_interval_seconds)
        own_due = t.own.due(at)
        if _losses_wanted(t, at, save_due, own_due):
            diverged = t.losses.read(state, [t.own, *t.forks.curves()])
            if diverged is not None:
                # The steps after it ran on a diverged model and are not counted: the record ends
                # at the step whose loss was not finite, as if the run stopped there.
                state.step, value = diverged
                return Ending("diverged", f"non-finite training loss ({value}) at step {state.step}")
        t.forks.take_points(at, t.evals.quick)
        try:
            t.forks.fork(at, t.step)
        except records.ResultsNotWritable as e:
            # A branch without its fork checkpoint is not lost: it trains alone from step 0 later.
            t.log.warn(f"run {t.setup.run_id}: {e}; a branch not forked at step {at} trains alone later")
        if own_due is not None and (end := _own_point(t, at, own_due)) is not None:
            return end
        if save_due:
            _save(t, stopping)
            last_save = time.perf_counter()
        if stopping:
            _hand_on(t)
    return Ending()


def _first_points(t: Training) -> None:
    """Step 0's point on every curve: the untrained model's loss."""
    v0 = t.evals.quick(0)
    t.mirror.log(t.own.point(0, v0))
    for c in t.forks.curves():
        c.point(0, v0)


def _losses_wanted(t: Training, at: int, save_due: bool, own_due: str | None) -> bool:
    """Whether the losses are read after step ``at``: a point, a checkpoint, a fork or the end
    needs them, or the window is full."""
    s = t.setup
    return (save_due or own_due is not None or at in (s.budget.steps, s.stop) or t.losses.full()
            or t.forks.wants_losses(at))


def _own_point(t: Training, at: int, kind: str) -> Ending | None:
    """The run's own point after step ``at``; the ending if its validation loss is not finite."""
    if kind == "log":
        t.mirror.log(t.own.point(at, None))
        return None
    p = t.own.point(at, t.evals.quick(at))
    t.mirror.log(p)
    if not math.isfinite(p["val_loss"]):  # kept in the curve (written as null)
        return Ending("diverged", f"non-finite validation loss ({p['val_loss']}) at step {at}")
    budget = t.setup.budget
    t.log(f"  step {at}/{budget.steps} | train {p['train_loss']:.4f} | val {p['val_loss']:.4f} "
          f"| lr {p['lr']:.2e} | {at * budget.tokens_per_step / max(t.state.train_seconds, 1e-9):,.0f} tok/s")
    return None


def _save(t: Training, stopping: bool = False) -> None:
    """Write the run's checkpoint. One the file system refuses (a full disk, a file-size limit)
    is a warning, not the run's end: the previous checkpoint stays, training goes on, and the
    record, a few kB where the checkpoint holds the model and AdamW's moments, is written at the
    end (to a fallback file if runs/ refuses it too). Stopping instead would throw away every
    step since that checkpoint and leave the run to wait for someone to free the space.
    ``stopping``: the save a stop signal asked for, whose failure the stop's own line says."""
    t.state.wall_seconds = t.wall_seconds()
    try:
        t.checkpoint.save(t.step, t.state, t.forks.states())
    except records.ResultsNotWritable as e:
        # Said once per reason, not at every interval; a write that works again is said too.
        if e.strerror != t.unsaved and not stopping:
            kept = (f"the checkpoint at step {t.saved_step} is kept" if t.saved_step is not None
                    else "it has no checkpoint to resume from")
            t.log.warn(f"run {t.setup.run_id}: {e}; training goes on, {kept}")
        t.unsaved = e.strerror
        return
    if t.unsaved is not None:
        t.log.warn(f"run {t.setup.run_id}: checkpoint written again at step {t.state.step} ({t.checkpoint.path})")
    t.unsaved = None
    t.saved_step = t.state.step


def _hand_on(t: Training) -> None:
    """The checkpoint is saved (or could not be): pass the stop signal on (signals.hand_on)."""
    run_id, name, at = t.setup.run_id, t.stop.name, t.saved_step
    message = ""
    if t.saved_step != t.state.step:  # the write at the signal failed
        then = (f"the one at step {at} is kept; start the same command again to resume from there" if at is not None
                else "it has none; the same command started again trains it from step 0")
        message = f"run {run_id}: stopped by {name}; its checkpoint could not be written ({t.unsaved}), {then}"
    t.stop.hand_on(run_id, at, message)


def _final_point(t: Training, end: Ending) -> Ending:
    """The curve's last point: a completed run's loss on the whole validation set; a diverged
    run's curve ends at the step it stopped."""
    state = t.state
    if end.status != "completed":
        if not state.curve or state.curve[-1]["step"] != state.step:
            t.mirror.log(t.own.point(state.step, None))
        return end
    val_loss = t.evals.full()
    t.mirror.log(t.own.point(state.step, val_loss))
    if not math.isfinite(val_loss):
        return Ending("diverged", f"non-finite validation loss ({val_loss}) at the end")
    return Ending(val_loss=val_loss)


def _finish(t: Training, end: Ending, setup_seconds: float) -> records.RunRecord:
    """Write the run's record, then drop its checkpoint; close the mirror and say how it ended."""
    t.state.wall_seconds = t.wall_seconds()
    rec = outcome.trained_record(t.setup, t.state, end, setup_seconds)
    path = outcome.write(rec, t.setup.cfg)
    # The record is written first: a kill between the two leaves a finished record and a stale
    # checkpoint, which the next start ignores because the record says the run is done.
    t.checkpoint.remove()
    t.mirror.finish({"val_loss": rec.val_loss, "bayes_loss": rec.bayes_loss, "status": rec.status,
                     "tokens_per_second": rec.tokens_per_second, "mfu": rec.mfu})
    t.log(outcome.summary(rec, t.state.wall_seconds, path))
    return rec
