#!/usr/bin/env python
"""Fault injection: cluster jobs preempted and timed out, signalled as SLURM signals them (issue 22).

    python scripts/fault_preempt.py            # this scenario alone, every variant (~3-5 min, 2 cores)
    python scripts/fault_preempt.py --quick    # the time-limit variant only (~1 min)

``sc_preempt_requeue(ctx)`` is a scenario of scripts/fault_inject.py (its ``Ctx``, ``Result`` and
counters; register it there as ``"preempt_requeue": sc_preempt_requeue``). Run alone, this script
registers it for the run and drives it through fault_inject's own ``run_scenario``, printing the
table without writing the committed results/reliability files.

The sweeps run on hydra/launcher=local_cluster: submitit's local executor runs the same job
objects as SLURM, and requeues a job that exits as submitit's requeue does. What SLURM sends is
sent to each job's process (``python -m submitit.core._submit``), at a random moment once the
job is in its training loop (its first evaluation line in its log); periodic checkpoints are off
(``train.checkpoint_interval_seconds=3600``), so a run can resume from a step past 0 only from
the checkpoint it saved when signalled. Variants:

  time limit    SIGUSR2 (submitit has SLURM send it signal_delay_s before the limit)
  preemption    SIGTERM, then SIGUSR2 half a second later (submitit's SlurmJob._interrupt)
  past requeues (not --quick) SIGUSR2 to one run four times, each counting as a time limit
                (timeout_min=5), one more than submitit's 3 requeues; then the same sweep with
                the limit raised and sweep.retry_failed=true, as the summary says to rerun it

Checked, beside fault_inject's counts (completed, lost, duplicated, tracebacks in the launching
process): every signalled job was requeued, resumed from the step it saved at the signal (at or
after its last evaluation line before it) and trained to its end once; a progress line per run in
the launching process; no traceback in any job's log; no checkpoint left; (not --quick) the
resumed run's val_loss equals an uninterrupted run's; past its requeues, the run's checkpoint is
kept and the rerun resumes from it. Job logs' completions count towards ``duplicated``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fault_inject import Ctx

# Runs of a few seconds (fault_inject's LONG is 96000 tokens): long enough to be signalled mid-way.
TOKENS = [120000, 124096]
LAUNCHER = ["hydra/launcher=local_cluster", "train.checkpoint_interval_seconds=3600"]
STEP = re.compile(r"^  step (\d+)/\d+ \|", re.M)
DESCRIBED = re.compile(r"^run ([0-9a-f]{8,}): (?:gpt2|llama) ", re.M)
PROGRESS = re.compile(r"^\[\s*\d+/(\d+)\] [#.]+ ", re.M)
# submitit's own line (its logger also goes through Hydra's, which prints each message a second time).
REQUEUED = re.compile(r"^submitit INFO \(.*?\) - Requeued job", re.M)


def _fault_inject(ctx: Ctx) -> Any:
    """The fault_inject module that made ``ctx`` (``__main__`` when it is the running script): its
    regular expressions and helpers, with no import of it here that would loop back."""
    return sys.modules[type(ctx).__module__]


def _job_logs(ctx: Ctx, sweep: str) -> list[Path]:
    return sorted((ctx.out / sweep).glob("hydra/*/.submitit/*/*_0_log.out"))


def _text(path: Path) -> str:
    return path.read_text(errors="replace")


def _job_pids(ctx: Ctx, sweep: str) -> dict[int, Path]:
    """Running submitit job processes of the sweep -> their job log. A job's process is
    ``python -u -m submitit.core._submit <hydra.sweep.dir>/.submitit/%j``, its job id in its
    environment (SUBMITIT_LOCAL_JOB_ID)."""
    out = {}
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = [a.decode(errors="replace") for a in cmdline.read_bytes().split(b"\0") if a]
        except OSError:
            continue
        if "submitit.core._submit" not in argv or not argv[-1].startswith(str(ctx.out / sweep)):
            continue
        pid = int(cmdline.parent.name)
        jid = _environ(pid).get("SUBMITIT_LOCAL_JOB_ID")
        if jid:
            out[pid] = Path(argv[-1].replace("%j", jid)) / f"{jid}_0_log.out"
    return out


def _environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return {}
    return dict(kv.decode(errors="replace").split("=", 1) for kv in raw if b"=" in kv)


def _in_loop(log: Path, starts: int) -> bool:
    """Whether the job's ``starts``-th start (1: the first) has printed an evaluation line."""
    text = _text(log) if log.exists() else ""
    parts = text.split("Loading pickle")
    return len(parts) - 1 >= starts and bool(STEP.search(parts[starts]))


def _signal_jobs(ctx: Ctx, sweep: str, p: Any, names: list[str], expected: int, starts: int = 1) -> dict[Path, int]:
    """Wait until ``expected`` jobs are in their training loop (their ``starts``-th start), send
    each the signals ``names`` at a random moment; returns each signalled job's log -> the last
    step it printed before the signal."""
    def ready() -> dict[int, Path]:
        jobs = _job_pids(ctx, sweep)
        return {pid: log for pid, log in jobs.items() if _in_loop(log, starts)}

    if not ctx.wait_for(lambda: len(ready()) >= expected, timeout=240, proc=p):
        ctx.note(f"{'+'.join(names)}: {len(ready())} of {expected} jobs reached their loop before the sweep ended")
    time.sleep(ctx.rng.uniform(0.0, 0.5))
    before: dict[Path, int] = {}
    for pid, log in ready().items():
        steps = STEP.findall(_text(log).split("Loading pickle")[starts])
        for k, name in enumerate(names):
            if k:
                time.sleep(0.5)
            try:
                os.kill(pid, signal.Signals[name])
            except ProcessLookupError:
                ctx.note(f"{name}: job {log.parent.name} ended before it")
                break
        before[log] = int(steps[-1]) if steps else 0
    return before


def _check_resumed(ctx: Ctx, label: str, signalled: dict[Path, int], requeues: int = 1) -> None:
    """Each signalled job requeued ``requeues`` times, each start after the first resuming from at
    least the step it last printed before its signal, and trained to its end once."""
    fi = _fault_inject(ctx)
    for log, step in signalled.items():
        text = _text(log)
        rid = next(iter(DESCRIBED.findall(text)), "?")
        n = len(REQUEUED.findall(text))
        ctx.check(f"{label}: job of run {rid} requeued", n == requeues, f"{n} requeues")
        resumed = [int(s) for s in re.findall(rf"run {rid}: resuming from step (\d+)/", text)]
        ctx.check(f"{label}: run {rid} resumed from the step saved at the signal",
                  len(resumed) == requeues and bool(resumed) and resumed[0] >= max(step, 1),
                  f"last step printed before the signal {step}, resumed from {resumed}")
        ends = [m.group(1) for m in fi.DONE.finditer(text)]
        ctx.check(f"{label}: run {rid} trained to its end once", ends.count(rid) == 1, f"{ends.count(rid)} ends")


def _job_log_counts(ctx: Ctx, sweeps: list[str]) -> None:
    """fault_inject counts completions and tracebacks in the launching processes' output; a
    submitit job writes its own to its log."""
    fi = _fault_inject(ctx)
    done: Counter = Counter()
    for sweep in sweeps:
        for log in _job_logs(ctx, sweep):
            err = log.with_suffix(".err")
            text = _text(log) + (_text(err) if err.exists() else "")
            # The same run_id in two sweeps is two runs (sweep_name is not part of the id).
            done.update((sweep, m.group(1)) for m in fi.DONE.finditer(text))
            n = text.count(fi.TB)
            if n:
                ctx.result.tracebacks += n
                ctx.note(f"{n} traceback(s) in job log {log.name} of sweep {sweep}")
    for (sweep, rid), n in done.items():
        if n > 1:
            ctx.result.duplicated += 1
            ctx.note(f"run {rid} of sweep {sweep} trained to its end {n}x (job logs)")


def _variant(ctx: Ctx, sweep: str, names: list[str]) -> None:
    fi = _fault_inject(ctx)
    args = ctx.args(sweep, "train.tokens=" + ",".join(map(str, TOKENS)), *LAUNCHER)
    p = ctx.start(args, multirun=True)
    signalled = _signal_jobs(ctx, sweep, p, names, expected=len(TOKENS))
    ctx.wait(p, timeout=480)
    label = "+".join(names)
    ctx.check(f"{label}: the sweep ends cleanly", p.rc == 0, f"rc {p.rc}; {p.stderr().strip()[-300:]}")
    _check_resumed(ctx, label, signalled)
    lines = PROGRESS.findall(p.out.read_text(errors="replace"))
    ctx.check(f"{label}: one progress line per run in the launching process", len(lines) == len(TOKENS),
              f"{len(lines)} lines")
    ctx.check(f"{label}: no checkpoint left", not ctx.ckpts(sweep), ", ".join(c.name for c in ctx.ckpts(sweep)))
    if not ctx.quick:  # resumed from the signal's checkpoint, it ends as the run that never stopped
        ref = ctx.run(ctx.args(f"{sweep}_ref", f"train.tokens={TOKENS[0]}"))
        got = [r.get("val_loss") for r in ctx.records(sweep) if fi.tokens_is(TOKENS[0])(r)]
        want = [r.get("val_loss") for r in ctx.records(f"{sweep}_ref")]
        ctx.check(f"{label}: the resumed run's val_loss equals an uninterrupted run's",
                  ref.rc == 0 and got == want and bool(want), f"{got} vs {want}")
    ctx.count({f"{label} tokens={t}": fi.tokens_is(t) for t in TOKENS}, [sweep])


def _past_requeues(ctx: Ctx, sweep: str) -> None:
    """One run signalled once more than submitit requeues a timed-out job; then the sweep again
    with a longer limit and the failed runs retried, as the summary line says."""
    fi = _fault_inject(ctx)
    t = TOKENS[0] * 3  # four starts need room for four signals
    # timeout_min=5: submitit counts any signal before min(0.8 x limit, limit - 10 min) as a time limit.
    args = ctx.args(sweep, f"train.tokens={t}", *LAUNCHER)
    p = ctx.start([*args, "hydra.launcher.timeout_min=5"], multirun=True)
    saved = 0
    for start in range(1, 5):
        before = _signal_jobs(ctx, sweep, p, ["SIGUSR2"], expected=1, starts=start)
        saved = max(before.values(), default=saved)
    ctx.wait(p, timeout=480)
    ctx.check("past requeues: the sweep ends cleanly", p.rc == 0, f"rc {p.rc}; {p.stderr().strip()[-300:]}")
    failed = [r for r in ctx.records(sweep) if r.get("status") == "failed"]
    ctx.check("past requeues: the run's checkpoint is kept, not dropped with a failed record",
              bool(ctx.ckpts(sweep)) and not failed,
              f"{len(ctx.ckpts(sweep))} checkpoint(s); " + "; ".join(str(r.get("reason")) for r in failed))
    again = ctx.run([*args, "sweep.retry_failed=true"], multirun=True, timeout=480)
    ctx.check("past requeues: the rerun with a longer limit ends cleanly", again.rc == 0, f"rc {again.rc}")
    logs = _job_logs(ctx, sweep)
    resumed = re.findall(r"resuming from step (\d+)/", _text(logs[-1])) if len(logs) > 1 else []
    ctx.check("past requeues: the rerun resumes from the last signal's checkpoint",
              bool(resumed) and int(resumed[0]) >= max(saved, 1), f"last step before it {saved}, resumed {resumed}")
    ctx.count({f"past requeues tokens={t}": fi.tokens_is(t)}, [sweep])


def sc_preempt_requeue(ctx: Ctx) -> None:
    variants = {"pt": ["SIGUSR2"], "pp": ["SIGTERM", "SIGUSR2"]}
    if ctx.quick:
        variants.pop("pp")
    for sweep, names in variants.items():
        _variant(ctx, sweep, names)
    sweeps = list(variants)
    if not ctx.quick:
        _past_requeues(ctx, "px")
        sweeps.append("px")
    _job_log_counts(ctx, sweeps)


def main(argv: list[str] | None = None) -> int:
    import fault_inject as fi

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="the time-limit variant only")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (its path is printed)")
    a = ap.parse_args(argv)
    fi.SCENARIOS.setdefault("preempt_requeue", sc_preempt_requeue)
    base = Path(tempfile.mkdtemp(prefix="fault_preempt."))
    try:
        r = fi.run_scenario("preempt_requeue", base, a.seed, a.quick)
    finally:
        if a.keep:
            print(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
    print(fi.table([r]))
    for msg in r.checks_failed:
        print(f"FAILED: {msg}")
    for msg in r.notes:
        print(f"note: {msg}")
    if r.error:
        print(f"injector error: {r.error}")
    goal = r.lost == 0 and r.duplicated == 0 and r.tracebacks == 0 and r.error is None
    return 0 if goal and not r.checks_failed else 1


if __name__ == "__main__":
    sys.exit(main())
