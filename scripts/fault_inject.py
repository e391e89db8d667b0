#!/usr/bin/env python
"""Fault injection: tiny runs and sweeps, killed, corrupted, starved of disk and raced, then checked.

    python scripts/fault_inject.py            # every scenario, several fault points (~5-10 min, 2 cores)
    python scripts/fault_inject.py --quick    # one fault point per scenario (~2 min)
    python scripts/fault_inject.py --scenarios kill_run,twin_runs --seed 3

Every scenario works in its own temporary folder with `harness-train` started as a user would (a
subprocess, `-m` for sweeps) and fault points drawn from a seeded RNG, so a seed picks the same
faults again (where a kill lands in a run still depends on the machine's speed). Scenarios:

  kill_run            SIGKILL a single run at random points after its first checkpoint, restart it
  kill_sweep          SIGKILL a sweep (basic launcher) mid-run at random points, restart it
  kill_sweep_joblib   SIGKILL only the top process of a joblib sweep (2 workers), count the workers
                      that outlive it, restart at once (survivors would train beside the restart)
  corrupt_record      truncate / overwrite / mis-shape / empty finished records, fit, restart the sweep
  corrupt_checkpoint  kill a run, truncate / zero / overwrite / replace its checkpoint, restart
  unwritable          runs/ unwritable before a run, while a run trains (its record must be kept
                      somewhere it names), and before a sweep; then made writable and restarted
  diverged            optim.lr=1e3 optim.grad_clip=0: a `diverged` record with its curve, valid JSON
  edit_data           a local text corpus edited between two identical commands: a new run, not
                      the old record
  twin_runs           two identical runs, and two identical sweeps, started at the same moment
  bad_sweep_name      sweep_name=../x and a/b: refused, nothing written outside out_dir
  checkpoint_write    a run resumed from a good checkpoint whose checkpoint writes then fail (a
                      file-size limit, `ulimit -f`, below a checkpoint's size and above a record's),
                      killed mid-way; then (full: also run to its end under the limit) started
                      again with the limit lifted
  signal_stop         SIGTERM, then SIGINT, to a single run at random points after a checkpoint of
                      its own start, each followed by a restart (which must go on from the step
                      the stop saved), and SIGTERM to a sweep mid-run (it must start no later run)
  preempt_requeue     a sweep on hydra/launcher=local_cluster (submitit) whose jobs get SLURM's
                      signals: a time limit (SIGUSR2), a preemption (SIGTERM then SIGUSR2) and
                      (full) more time limits than submitit requeues; each job must requeue and
                      resume from the step it saved (scripts/fault_preempt.py)

After each scenario's recovery step (the restart a user would do), it counts, per planned run:

  completed   a whole record (strict JSON) in the expected status (completed; diverged where asked)
  lost        no whole record after recovery, although the run was started; or (unwritable, mid-run)
              a run that trained to its end and whose result was kept nowhere, so that only
              training it again recovers it
  duplicated  trained to its end more than once (two "run <id>: completed" lines in the logs),
              or two records for one planned run
  tracebacks  "Traceback (most recent call last)" in any process's stdout or stderr

and the scenario's own checks (a .corrupt file was set aside, the error is one line naming the
path, a worker did not outlive its sweep, ...). Goal: 0 lost, 0 duplicated, 0 tracebacks.

Root ignores file modes, so as root a folder is made unwritable with `chattr +i` (immutable: even
root gets EPERM) where the filesystem allows it, else by replacing it with a plain file; as another
user, with chmod 0555. The mechanism used is recorded.

Writes <out>/fault_inject.json and fault_inject.md (default out: results/reliability) with the
command, the machine and the table; paths inside the temporary folders are written as <tmp>.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import os
import platform
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
TRAIN = [sys.executable, "-c", "from harness.cli.train import main; main()"]
FIT = [sys.executable, "-c", "from harness.cli.fit import main; main()"]
TB = "Traceback (most recent call last)"
# The summary line a run prints when it has trained to its end and written its record; it ends
# with the record's path, <out_dir>/<sweep>/runs/<run_id>.json. The same run_id in two sweeps is
# two runs (sweep_name is not part of the id), so completions are counted per (sweep, run_id).
DONE = re.compile(r"^run ([0-9a-f]{8,}): (completed|diverged)\b(?:.*?([^/\s]+)/runs/\1\.json)?", re.M)
ALREADY = re.compile(r"^run ([0-9a-f]{8,}) is already (completed|diverged)", re.M)

# The smallest model and data that still train (as tests/sweep/test_sweep.py): about 1e5 tokens/s on
# one core, so a run's length is set by train.tokens. Checkpoints every 0.2 s give kills
# something to resume from.
TINY = ["data.seq_len=16", "data.val_sequences=16", "model.n_layer=1", "model.d_model=16", "model.n_head=2",
        "train.batch_size=8", "train.threads=1", "logging.quiet=false", "sweep.fit=false",
        "sweep.record_wait_seconds=0", "train.checkpoint_interval_seconds=0.2"]
SHORT = 24576   # tokens: a run of about a quarter of a second
LONG = 96000    # tokens: one to a few seconds, long enough to be killed mid-way


# ---------------------------------------------------------------------------------------------
# Processes


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    out: Path
    err: Path
    rc: int | None = None
    killed: bool = False

    def text(self) -> str:
        return self.out.read_text(errors="replace") + "\n" + self.err.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err.read_text(errors="replace")


def _session_members(sid: int) -> list[int]:
    """Live (non-zombie) processes of a session: what a killed launcher left behind."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # fields: state ppid pgrp session ...
        if int(fields[3]) == sid and fields[0] != "Z":
            pids.append(int(stat.parent.name))
    return pids


def _child_setup(file_size_limit: int | None) -> None:
    # In the child before exec, inherited by the command. SIGINT as a terminal's foreground job
    # has it (a shell starts background jobs, and so this script, with SIGINT ignored).
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if file_size_limit is not None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# ---------------------------------------------------------------------------------------------
# One scenario's world


@dataclass
class Result:
    scenario: str
    planned: int = 0
    completed: int = 0
    lost: int = 0
    duplicated: int = 0
    tracebacks: int = 0
    checks_failed: list[str] = field(default_factory=list)
    checks_passed: int = 0
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None


class Ctx:
    def __init__(self, name: str, base: Path, rng: random.Random, quick: bool):
        self.name, self.rng, self.quick = name, rng, quick
        self.dir = base / name
        self.dir.mkdir(parents=True)
        self.out = self.dir / "out"
        self.procs: list[Proc] = []
        self.undo: list[Callable[[], None]] = []
        self.result = Result(name)
        # The repository first; a PYTHONPATH of the caller's is kept after it.
        pythonpath = os.pathsep.join(p for p in [str(ROOT), os.environ.get("PYTHONPATH", "")] if p)
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": pythonpath,
                    # Fallback records that go to the temporary folder stay inside this scenario.
                    "TMPDIR": str(self.dir), "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1",
                    "HF_DATASETS_CACHE": str(self.dir / "hf"), "HARNESS_CACHE": str(self.dir / "cache"),
                    "WANDB_MODE": "disabled", "HYDRA_FULL_ERROR": "0"}

    # -- processes ------------------------------------------------------------------------
    def args(self, sweep: str, *extra: str) -> list[str]:
        return [*TINY, f"out_dir={self.out}", f"sweep_name={sweep}", *extra]

    def start(self, args: list[str], multirun: bool = False, cmd: list[str] | None = None,
              file_size_limit: int | None = None) -> Proc:
        """Start a command; ``file_size_limit``: bytes, as `ulimit -f` (the process may make no
        file larger; its writes past that fail with EFBIG, SIGXFSZ ignored)."""
        k = len(self.procs)
        out, err = self.dir / f"p{k:02d}.out", self.dir / f"p{k:02d}.err"
        full = (cmd or TRAIN) + (["-m"] if multirun else []) + args
        with open(out, "w") as fo, open(err, "w") as fe:
            # A session of its own: what a killed launcher leaves behind can be found and counted.
            p = subprocess.Popen(full, stdout=fo, stderr=fe, cwd=self.dir, env=self.env, start_new_session=True,
                                 preexec_fn=functools.partial(_child_setup, file_size_limit))
        proc = Proc(f"p{k:02d}", p, out, err)
        self.procs.append(proc)
        return proc

    def wait(self, proc: Proc, timeout: float = 240) -> int:
        try:
            proc.rc = proc.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.note(f"{proc.name} timed out after {timeout:.0f}s and was killed")
            self.kill(proc, grace=0)
            proc.rc = proc.popen.wait()
        return proc.rc

    def run(self, args: list[str], multirun: bool = False, cmd: list[str] | None = None,
            timeout: float = 240, file_size_limit: int | None = None) -> Proc:
        proc = self.start(args, multirun, cmd, file_size_limit)
        self.wait(proc, timeout)
        return proc

    def kill(self, proc: Proc, grace: float = 3.0) -> list[int]:
        """SIGKILL the process itself (not its children, as the OOM killer or `kill -9 <pid>` do);
        returns its session's processes still alive `grace` seconds later."""
        _kill(proc.popen.pid)
        proc.killed = True
        proc.rc = proc.popen.wait()
        deadline = time.monotonic() + grace
        survivors = _session_members(proc.popen.pid)
        while survivors and time.monotonic() < deadline:
            time.sleep(0.1)
            survivors = _session_members(proc.popen.pid)
        return survivors

    def wait_for(self, cond: Callable[[], bool], timeout: float = 120, proc: Proc | None = None) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return True
            if proc is not None and proc.popen.poll() is not None:
                return cond()
            time.sleep(0.02)
        return False

    def cleanup(self) -> None:
        for proc in self.procs:
            for pid in [proc.popen.pid, *_session_members(proc.popen.pid)]:
                _kill(pid)
            if proc.popen.poll() is None:
                proc.popen.wait(10)
        for f in reversed(self.undo):
            try:
                f()
            except Exception as e:  # cleanup must go on; say what was left
                self.note(f"cleanup: {type(e).__name__}: {e}")
        self.undo.clear()

    # -- files ------------------------------------------------------------------------------
    def runs(self, sweep: str) -> Path:
        return self.out / sweep / "runs"

    def ckpts(self, sweep: str) -> list[Path]:
        d = self.out / sweep / "checkpoints"
        return sorted(d.glob("[!.]*.pt")) if d.is_dir() else []

    def record_files(self, sweep: str) -> list[Path]:
        d = self.runs(sweep)
        return sorted(d.glob("[!.]*.json")) if d.is_dir() else []

    def records(self, sweep: str) -> list[dict[str, Any]]:
        """Whole records (strict JSON: NaN or a cut file is not whole) of a sweep."""
        out = []
        for p in self.record_files(sweep):
            rec = strict_record(p)
            if rec is not None:
                out.append(rec)
        return out

    # -- verdicts ---------------------------------------------------------------------------
    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        detail = " ".join(detail.split())  # one line: it goes into a table cell
        detail = detail if len(detail) <= 240 else detail[:237] + "..."
        if ok:
            self.result.checks_passed += 1
        else:
            self.result.checks_failed.append(name + (f" ({detail})" if detail else ""))
        return ok

    def note(self, msg: str) -> None:
        self.result.notes.append(msg)

    def completions(self) -> Counter:
        """(sweep, run_id) -> how many times it trained to its end, over every process's output."""
        c: Counter = Counter()
        for proc in self.procs:
            c.update((m.group(3), m.group(1)) for m in DONE.finditer(proc.out.read_text(errors="replace")))
        return c

    def count(self, planned: dict[str, Callable[[dict], bool]], sweeps: list[str],
              expect: str = "completed", not_started: set[str] = frozenset(),
              retrained: set[str] = frozenset()) -> None:
        """Fill in completed / lost / duplicated for planned runs, each named by a predicate on a
        record. A planned run in `not_started` was never expected to train (it counts in no column);
        a run_id in `retrained` lost its record to an injected fault, so it may train twice."""
        recs = [r for s in sweeps for r in self.records(s)]
        done = self.completions()
        dup_ids: set[tuple] = {k for k, n in done.items()
                               if (k[0] in sweeps or k[0] is None) and n > (2 if k[1] in retrained else 1)}
        res = self.result
        res.planned += len(planned)
        for label, match in planned.items():
            mine = [r for r in recs if match(r)]
            if len(mine) > 1:
                dup_ids.update((r.get("sweep_name"), r["run_id"]) for r in mine)
                self.note(f"{label}: {len(mine)} records")
            if any(r.get("status") == expect for r in mine):
                res.completed += 1
            elif label not in not_started:
                res.lost += 1
                self.note(f"{label}: no whole {expect} record after recovery")
        for sweep, rid in sorted(dup_ids):
            self.note(f"run {rid} of sweep {sweep} trained to its end {done[(sweep, rid)]}x")
        res.duplicated += len(dup_ids)

    def finish(self, base: Path) -> Result:
        res = self.result
        for proc in self.procs:
            text = proc.text()
            n = text.count(TB)
            if n:
                res.tracebacks += n
                # The exception's line: the first unindented line after the traceback.
                tail = text[text.index(TB):].splitlines()[1:]
                last = next((ln for ln in tail if ln and not ln.startswith(" ")), "?")
                res.notes.append(f"{n} traceback(s) in {proc.name}: {last[:160]}")
        res.notes = [_scrub(n, base) for n in res.notes]
        res.checks_failed = [_scrub(n, base) for n in res.checks_failed]
        return res


def strict_record(path: Path) -> dict[str, Any] | None:
    def no_constants(c: str) -> Any:
        raise ValueError(f"non-standard JSON constant {c}")
    try:
        d = json.loads(path.read_text(), parse_constant=no_constants)
    except (ValueError, OSError):
        return None
    return d if isinstance(d, dict) and "run_id" in d and "status" in d else None


def _scrub(text: str, base: Path) -> str:
    """No machine paths in what is written: the temporary folder is <tmp>, the repository `.`,
    any other absolute path (a traceback's site-packages) <path>."""
    text = text.replace(str(base), "<tmp>").replace(str(ROOT), ".")
    return re.sub(r"(?<![\w.<])/(?:tmp|work|root|home|usr|opt|var)/[^\s'\")]*", "<path>", text)


def tokens_is(n: int) -> Callable[[dict], bool]:
    return lambda r: (r.get("config") or {}).get("train", {}).get("tokens") == n


def _one_line_error(proc: Proc, must_name: str) -> tuple[bool, str]:
    err = [ln for ln in proc.stderr().splitlines() if ln.strip() and "warn" not in ln.lower()]
    named = any(must_name in ln for ln in err)
    return (named and TB not in proc.stderr(), f"stderr: {' | '.join(err[-3:])[:300]}")


# ---------------------------------------------------------------------------------------------
# Making a folder unwritable, even for root


def _probe_chattr(where: Path) -> bool:
    if shutil.which("chattr") is None:
        return False
    probe = where / ".chattr-probe"
    probe.mkdir()
    try:
        if subprocess.run(["chattr", "+i", str(probe)], capture_output=True).returncode != 0:
            return False
        try:
            (probe / "x").touch()
            return False
        except OSError:
            return True
    finally:
        subprocess.run(["chattr", "-i", str(probe)], capture_output=True)
        shutil.rmtree(probe, ignore_errors=True)


def make_unwritable(ctx: Ctx, folder: Path) -> str:
    """Make `folder` refuse new files; returns the mechanism. Undone by ctx.cleanup or `restore`."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        folder.chmod(0o555)
        ctx.undo.append(lambda: folder.chmod(0o755))
        return "chmod 0555"
    if _probe_chattr(ctx.dir):
        subprocess.run(["chattr", "+i", str(folder)], check=True)
        ctx.undo.append(lambda: subprocess.run(["chattr", "-i", str(folder)], capture_output=True))
        return "chattr +i (root ignores modes)"
    # Root without chattr: a plain file where the folder should be refuses every write under it.
    aside = folder.with_name(folder.name + ".aside")
    folder.rename(aside)
    folder.write_text("not a folder\n")

    def back():
        if folder.is_file():
            folder.unlink()
        if aside.exists() and not folder.exists():
            aside.rename(folder)
    ctx.undo.append(back)
    return "folder replaced by a file (root, no chattr)"


def restore(ctx: Ctx) -> None:
    for f in reversed(ctx.undo):
        f()
    ctx.undo.clear()


# ---------------------------------------------------------------------------------------------
# Scenarios


def sc_kill_run(ctx: Ctx) -> None:
    kills = 1 if ctx.quick else 3
    args = ctx.args("kr", f"train.tokens={LONG}")
    resumed_possible = 0
    for i in range(kills):
        p = ctx.start(args)
        if not ctx.wait_for(lambda: bool(ctx.ckpts("kr")) or ctx.record_files("kr"), proc=p):
            ctx.note(f"kill {i}: no checkpoint appeared")
        time.sleep(ctx.rng.uniform(0.0, 0.8))
        if p.popen.poll() is None:
            ctx.kill(p, grace=0)
            resumed_possible += bool(ctx.ckpts("kr"))
        else:
            ctx.note(f"kill {i}: the run had ended before the kill")
    final = ctx.run(args)
    ctx.check("finishes after the kills", final.rc == 0, f"rc {final.rc}")
    if resumed_possible:
        ctx.check("resumes from its checkpoint", "resuming from step" in final.text())
    if not ctx.quick:
        again = ctx.run(args)
        ctx.check("a further start trains nothing", ALREADY.search(again.text()) is not None)
    ctx.check("no checkpoint left behind", not ctx.ckpts("kr"))
    umask = os.umask(0)
    os.umask(umask)
    modes = {oct(f.stat().st_mode & 0o777) for f in ctx.record_files("kr")}
    # Others on a shared filesystem read records as they read any file the user writes.
    ctx.check("the record's mode follows the umask", modes == {oct(0o666 & ~umask)}, f"modes {modes}")
    if resumed_possible and not ctx.quick:
        # The same run, never killed, in a sweep of its own: resuming must not change the result.
        ctx.run(ctx.args("kr_ref", f"train.tokens={LONG}"))
        got = [r.get("val_loss") for r in ctx.records("kr")]
        ref = [r.get("val_loss") for r in ctx.records("kr_ref")]
        ctx.check("the resumed run's val_loss equals an uninterrupted run's", got == ref and bool(ref),
                  f"{got} vs {ref}")
    ctx.count({f"tokens={LONG}": tokens_is(LONG)}, ["kr"])


def _kill_sweep(ctx: Ctx, sweep: str, launcher: list[str]) -> None:
    kills = 1 if ctx.quick else 2
    # Quick: one run per joblib worker (each worker's start-up costs a torch import).
    toks = [LONG // 2 + 4096 * i for i in range(2 if ctx.quick and launcher else 4)]
    args = ctx.args(sweep, "train.tokens=" + ",".join(map(str, toks)), *launcher)
    orphans_seen = 0
    for i in range(kills):
        target = ctx.rng.randint(0, len(toks) // 2)  # records finished before the kill
        p = ctx.start(args, multirun=True)
        ctx.wait_for(lambda: len(ctx.record_files(sweep)) >= target and bool(ctx.ckpts(sweep)), proc=p)
        time.sleep(ctx.rng.uniform(0.0, 0.5))
        if p.popen.poll() is not None:
            ctx.note(f"kill {i}: the sweep had ended before the kill")
            continue
        survivors = ctx.kill(p)
        orphans_seen += len(survivors)
        if survivors:
            ctx.note(f"kill {i}: {len(survivors)} process(es) outlived the killed sweep")
    before = {f.name: f.stat().st_mtime_ns for f in ctx.record_files(sweep)}
    # Restarted at once, as a user would: anything that outlived the kill is still running.
    final = ctx.run(args, multirun=True)
    ctx.check("the restart ends cleanly", final.rc == 0, f"rc {final.rc}")
    ctx.check("no process outlives a killed sweep", orphans_seen == 0, f"{orphans_seen} survivors")
    after = {f.name: f.stat().st_mtime_ns for f in ctx.record_files(sweep)}
    ctx.check("records finished before a kill are not rewritten",
              all(after.get(k) == v for k, v in before.items()))
    if not ctx.quick:
        again = ctx.run(args, multirun=True)
        ctx.check("a third start trains nothing", len(ALREADY.findall(again.text())) == len(toks),
                  f"{len(ALREADY.findall(again.text()))} of {len(toks)} already done")
    ctx.count({f"tokens={t}": tokens_is(t) for t in toks}, [sweep])


def sc_kill_sweep(ctx: Ctx) -> None:
    _kill_sweep(ctx, "ks", [])


def sc_kill_sweep_joblib(ctx: Ctx) -> None:
    _kill_sweep(ctx, "kj", ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"])


def sc_corrupt_record(ctx: Ctx) -> None:
    toks = [SHORT + 2048 * i for i in range(4)]
    args = ctx.args("cr", "train.tokens=" + ",".join(map(str, toks)))
    first = ctx.run(args, multirun=True)
    ctx.check("the first sweep completes", first.rc == 0 and len(ctx.record_files("cr")) == 4)
    faults = ["truncated", "garbage bytes", "wrong shape", "empty"]
    if ctx.quick:
        faults = ctx.rng.sample(faults[:2], 2)
    files = ctx.rng.sample(ctx.record_files("cr"), len(faults))
    for fault, f in zip(faults, files):
        data = f.read_bytes()
        if fault == "truncated":
            f.write_bytes(data[:ctx.rng.randint(1, len(data) - 2)])
        elif fault == "garbage bytes":
            f.write_bytes(bytes(ctx.rng.randrange(256) for _ in range(len(data))))
        elif fault == "wrong shape":
            f.write_text(json.dumps({"run_id": f.stem, "status": "completed", "curve": 7, "params": "x"}))
        else:
            f.write_bytes(b"")
    ctx.note("corrupted: " + ", ".join(faults))
    fit = ctx.run([str(ctx.out / "cr"), "--bootstrap", "0"], cmd=FIT)
    ctx.check("harness-fit names the unreadable records it skipped, without a traceback",
              any(f.name in fit.text() for f in files) and TB not in fit.text(), _one_line_error(fit, "")[1])
    again = ctx.run(args, multirun=True)
    ctx.check("the restart ends cleanly", again.rc == 0, f"rc {again.rc}")
    corrupt = list(ctx.runs("cr").glob("*.corrupt*"))
    ctx.check("each corrupt record is moved aside", len(corrupt) == len(faults),
              f"{len(corrupt)} .corrupt files for {len(faults)} faults")
    ctx.check("only the corrupt runs train again", len(ALREADY.findall(again.text())) == 4 - len(faults),
              f"{len(ALREADY.findall(again.text()))} skipped")
    # A corrupted run trains twice by design: its first record was destroyed.
    ctx.count({f"tokens={t}": tokens_is(t) for t in toks}, ["cr"], retrained={f.stem for f in files})


def sc_corrupt_checkpoint(ctx: Ctx) -> None:
    faults = ["truncated", "zero bytes", "garbage bytes", "not a checkpoint"]
    if ctx.quick:
        faults = [ctx.rng.choice(faults[:3])]
    planned = {}
    for i, fault in enumerate(faults):
        t = LONG + 4096 * i
        args = ctx.args("cc", f"train.tokens={t}")
        planned[f"{fault} (tokens={t})"] = tokens_is(t)
        earlier = set(ctx.ckpts("cc"))  # a variant whose run failed may have left its own
        p = ctx.start(args)
        got = ctx.wait_for(lambda: bool(set(ctx.ckpts("cc")) - earlier), proc=p)
        time.sleep(ctx.rng.uniform(0.0, 0.4))
        if p.popen.poll() is None:
            ctx.kill(p, grace=0)
        ck = sorted(set(ctx.ckpts("cc")) - earlier)
        if not (got and ck):
            ctx.note(f"{fault}: no checkpoint to corrupt (the run ended first)")
            ctx.run(args)
            continue
        ck = ck[0]
        data = ck.read_bytes()
        if fault == "truncated":
            ck.write_bytes(data[:ctx.rng.randint(1, len(data) - 1)])
        elif fault == "zero bytes":
            ck.write_bytes(b"")
        elif fault == "garbage bytes":
            ck.write_bytes(bytes(ctx.rng.randrange(256) for _ in range(len(data))))
        else:  # a whole torch file, but not one of ours
            subprocess.run([sys.executable, "-c", f"import torch; torch.save({{'x': 1}}, {str(ck)!r})"],
                           check=True, env=ctx.env)
        again = ctx.run(args)
        ok, detail = _one_line_error(again, ck.name)
        ctx.check(f"{fault}: restarted fresh, saying which file", again.rc == 0 and ok, f"rc {again.rc}; {detail}")
        aside = list(ck.parent.glob(ck.name + ".corrupt*"))
        ctx.check(f"{fault}: the checkpoint is moved aside", len(aside) == 1)
        for f in aside:  # the next variant must find only its own
            f.unlink()
    ctx.count(planned, ["cc"])


def sc_unwritable(ctx: Ctx) -> None:
    # (a) unwritable before the run: one line, no training.
    runs = ctx.runs("ub")
    how = make_unwritable(ctx, runs)
    ctx.note(f"mechanism: {how}")
    p = ctx.run(ctx.args("ub", f"train.tokens={SHORT}"))
    ok, detail = _one_line_error(p, "runs")
    ctx.check("before: refused in one line naming the folder", p.rc != 0 and ok, f"rc {p.rc}; {detail}")
    ctx.check("before: nothing trained", "step " not in p.text() and not DONE.search(p.text()))
    restore(ctx)
    p = ctx.run(ctx.args("ub", f"train.tokens={SHORT}"))
    ctx.check("before: runs once writable again", p.rc == 0)
    ctx.count({"before": tokens_is(SHORT)}, ["ub"])

    # (b) unwritable while the run trains: the finished result is kept in a file the error names.
    args = ctx.args("um", f"train.tokens={LONG}")
    p = ctx.start(args)
    ctx.wait_for(lambda: bool(ctx.ckpts("um")), proc=p)
    make_unwritable(ctx, ctx.runs("um"))
    ctx.wait(p)
    err = p.stderr()
    kept = [Path(m) for m in re.findall(r"kept in (\S+?\.json)\b", err)]
    whole: list[Path] = []
    if DONE.search(p.text()) and ctx.record_files("um"):
        ctx.note("mid-run: the run ended before the folder was made unwritable")
    else:
        ctx.check("mid-run: exits non-zero in one line naming where the result is",
                  p.rc != 0 and TB not in err and bool(kept), f"rc {p.rc}; {err.strip()[-300:]}")
        whole = [k for k in kept if k.exists() and (strict_record(k) or {}).get("status") == "completed"]
        ctx.check("mid-run: that file holds the whole completed record", bool(whole))
        if not whole and not ctx.record_files("um"):
            # The run trained to its end and its result is nowhere: the restart can only train it
            # again, so the finished work is lost even though a record appears after recovery.
            ctx.result.lost += 1
            ctx.note("mid-run: the finished run's result was discarded (only retraining recovers it)")
    restore(ctx)
    # The user's recovery: do what the message says (an older one asked for the file to be moved
    # into runs/ by hand), then start the same run again. A kept result is recorded, not retrained.
    if "move it to" in err:
        for k in whole:
            shutil.move(str(k), str(ctx.runs("um") / f"{strict_record(k)['run_id']}.json"))
    again = ctx.run(args)
    retrained = DONE.search(again.text()) is not None
    if retrained and whole:
        ctx.result.duplicated += 1
        ctx.note("mid-run: the restart trained the run again although its result was kept")
    ctx.check("mid-run: the restart records it without training", not retrained and bool(ctx.record_files("um")),
              again.stderr().strip()[-200:])
    ctx.count({"mid-run": tokens_is(LONG)}, ["um"])

    if not ctx.quick:  # (c) a sweep into an unwritable folder: one line per job, no traceback
        toks = [SHORT, SHORT + 2048]
        args = ctx.args("us", "train.tokens=" + ",".join(map(str, toks)))
        make_unwritable(ctx, ctx.runs("us"))
        p = ctx.run(args, multirun=True)
        ok, detail = _one_line_error(p, "runs")
        ctx.check("sweep: each job refused in one line", ok, detail)
        restore(ctx)
        p = ctx.run(args, multirun=True)
        ctx.check("sweep: completes once writable", p.rc == 0)
        ctx.count({f"sweep tokens={t}": tokens_is(t) for t in toks}, ["us"])


def sc_diverged(ctx: Ctx) -> None:
    # lr=100 with an evaluation every 2 steps makes an intermediate validation loss NaN while the
    # training loss is still finite (the path that once made the record write fail); lr=1e3 (the
    # issue's command) diverges in the training loss first.
    variants = {"lr=100 eval every 2": ["optim.lr=100", "train.eval_interval=2", "train.tokens=50000"],
                "lr=1e3": ["optim.lr=1e3", "train.tokens=50000"]}
    if ctx.quick:
        variants.pop("lr=1e3")
    planned = {}
    for i, (label, extra) in enumerate(variants.items()):
        sweep = f"dv{i}"
        p = ctx.run(ctx.args(sweep, "optim.grad_clip=0", *extra))
        files = ctx.record_files(sweep)
        raw = files[0].read_text() if files else ""
        rec = strict_record(files[0]) if files else None
        ctx.check(f"{label}: the record is strict JSON", rec is not None, "NaN in the file" if "NaN" in raw else "")
        if rec is not None:
            ctx.check(f"{label}: status diverged", rec["status"] == "diverged", f"{rec['status']}: {rec.get('reason')}")
            ctx.check(f"{label}: its curve is kept", len(rec.get("curve") or []) > 0,
                      f"{len(rec.get('curve') or [])} points")
        ctx.check(f"{label}: exit 0", p.rc == 0, f"rc {p.rc}")
        planned[label] = lambda r, s=sweep: r.get("sweep_name") == s
    ctx.count(planned, [f"dv{i}" for i in range(len(variants))], expect="diverged")


def _corpus(rng: random.Random, n: int) -> str:
    words = "the a cat dog sat ran on under mat home red blue small big old new one two and then".split()
    paras = [" ".join(rng.choice(words) for _ in range(rng.randint(8, 30))) + "." for _ in range(n)]
    return "\n\n".join(paras) + "\n"


def sc_edit_data(ctx: Ctx) -> None:
    corpus = ctx.dir / "corpus.txt"
    corpus.write_text(_corpus(ctx.rng, 300))
    args = ctx.args("ed", "data=text_files", "data.paths=[corpus.txt]", "data.vocab_size=300",
                    "data.val_fraction=0.1", f"data.cache_dir={ctx.dir / 'cache'}", f"train.tokens={SHORT}")
    p1 = ctx.run(args)
    ctx.check("the first run completes", p1.rc == 0 and len(ctx.records("ed")) == 1, f"rc {p1.rc}")
    fp1 = {r.get("data_fingerprint") for r in ctx.records("ed")}
    # The edit: some paragraphs rewritten in place, as a user fixing a corpus would.
    paras = corpus.read_text().split("\n\n")
    for i in ctx.rng.sample(range(len(paras)), 10):
        paras[i] = _corpus(ctx.rng, 1).strip()
    corpus.write_text("\n\n".join(paras))
    p2 = ctx.run(args)
    stale = ALREADY.search(p2.text()) is not None
    ctx.check("edited data is a new run, not the old record", not stale and len(ctx.records("ed")) == 2,
              "said already completed" if stale else f"{len(ctx.records('ed'))} records")
    p3 = ctx.run(args)
    ctx.check("the same data again trains nothing", ALREADY.search(p3.text()) is not None)
    fps = {r.get("data_fingerprint") for r in ctx.records("ed")}
    ctx.check("two data fingerprints, one per version", len(fps) == 2)
    new_fp = fps - fp1
    ctx.count({"before the edit": lambda r: r.get("data_fingerprint") in fp1,
               "after the edit": lambda r: r.get("data_fingerprint") in new_fp}, ["ed"],
              not_started={"after the edit"} if stale else set())


def sc_twin_runs(ctx: Ctx) -> None:
    args = ctx.args("tw", f"train.tokens={LONG}")
    a, b = ctx.start(args), ctx.start(args)
    ctx.wait(a), ctx.wait(b)
    n_done = len(DONE.findall(a.text() + b.text()))
    ctx.check("one of two identical runs trains", n_done == 1, f"{n_done} trained to the end")
    other = b if DONE.search(a.text()) else a
    ctx.check("the other one says the run is in progress or done",
              bool(re.search(r"in progress|already completed|held by|being trained", other.text())),
              other.stderr().strip()[-200:])
    ctx.count({"twin run": tokens_is(LONG)}, ["tw"])
    if not ctx.quick:
        toks = [LONG // 2 + 4096 * i for i in range(3)]
        sargs = ctx.args("ts", "train.tokens=" + ",".join(map(str, toks)))
        a, b = ctx.start(sargs, multirun=True), ctx.start(sargs, multirun=True)
        ctx.wait(a), ctx.wait(b)
        ctx.check("two identical sweeps end cleanly", a.rc == 0 and b.rc == 0, f"rc {a.rc}, {b.rc}")
        c = ctx.run(sargs, multirun=True)  # the recovery: whatever one skipped, a restart finishes
        ctx.check("a restart finishes both", c.rc == 0)
        ctx.count({f"twin sweep tokens={t}": tokens_is(t) for t in toks}, ["ts"])


def sc_bad_sweep_name(ctx: Ctx) -> None:
    for name in ["../escape", "a/b"]:
        p = ctx.run(ctx.args(name, f"train.tokens={SHORT}"))
        ok, detail = _one_line_error(p, "sweep_name")
        ctx.check(f"sweep_name={name} refused in one line", p.rc != 0 and ok, f"rc {p.rc}; {detail}")
    ctx.check("nothing written outside out_dir", not (ctx.dir / "escape").exists())
    ctx.check("nothing written to a nested sweep", not (ctx.out / "a").exists())


def _tmp_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.tmp")) if folder.is_dir() else []  # (pathlib's glob takes dot files too)


def sc_checkpoint_write(ctx: Ctx) -> None:
    args = ctx.args("cw", f"train.tokens={LONG}")
    ckdir = ctx.out / "cw" / "checkpoints"
    # A good checkpoint first: the run killed after its first one.
    p = ctx.start(args)
    ctx.wait_for(lambda: bool(ctx.ckpts("cw")), proc=p)
    time.sleep(ctx.rng.uniform(0.0, 0.4))
    if p.popen.poll() is None:
        ctx.kill(p, grace=0)
    if not ctx.ckpts("cw"):
        ctx.note("the run ended before its first checkpoint; nothing to refuse")
        ctx.count({f"tokens={LONG}": tokens_is(LONG)}, ["cw"])
        return
    ck = ctx.ckpts("cw")[0]
    good = ck.read_bytes()
    # Half a checkpoint: every checkpoint write fails, while the record and the logs still fit.
    limit = len(good) // 2
    ctx.note(f"file-size limit {limit} bytes (a checkpoint is {len(good)})")

    # A start under the limit, killed at a random point once a refused write was said.
    p = ctx.start(args, file_size_limit=limit)
    said = ctx.wait_for(lambda: "cannot write checkpoint" in p.stderr(), proc=p)
    time.sleep(ctx.rng.uniform(0.0, 0.5))
    if p.popen.poll() is None:
        ctx.kill(p, grace=0)
    else:
        ctx.note(f"the limited start ended by itself (rc {ctx.wait(p)})")
    err = [ln for ln in p.stderr().splitlines() if "cannot write checkpoint" in ln]
    ctx.check("limited: the refused write is said in one line naming the file and the reason",
              said and len(err) == 1 and str(ck) in err[0] and "File too large" in err[0]
              and TB not in p.text(), p.stderr().strip()[-300:])
    kept = re.search(r"the checkpoint at step (\d+) is kept", err[0]) if err else None
    ctx.check("limited: the good checkpoint is kept as it was", ck.exists() and ck.read_bytes() == good)
    # A refused write removes its temporary file; the kill may still land mid-write and leave
    # one (nothing runs at a SIGKILL), which the next start must remove.
    if _tmp_files(ckdir):
        ctx.note("the kill landed during a checkpoint write: its temporary file is left to the restart")
    ctx.check("limited: no `failed` record that would block a rerun",
              all(r.get("status") != "failed" for r in ctx.records("cw")))

    if not ctx.quick:  # left to its end under the same limit, it completes: the record is small
        p = ctx.run(args, file_size_limit=limit)
        ctx.check("limited to the end: completes", p.rc == 0 and bool(DONE.search(p.text())),
                  f"rc {p.rc}; {p.stderr().strip()[-200:]}")
        ctx.check("limited to the end: no temporary file left", not _tmp_files(ckdir),
                  ", ".join(f.name for f in _tmp_files(ckdir)))

    # The limit lifted (space freed): the same command resumes from the kept checkpoint.
    again = ctx.run(args)
    ctx.check("lifted: the restart ends cleanly", again.rc == 0, f"rc {again.rc}; {again.stderr().strip()[-200:]}")
    if ctx.quick:
        resumed = re.search(r"resuming from step (\d+)/", again.text())
        ctx.check("lifted: it resumes from the kept checkpoint",
                  bool(kept and resumed and kept.group(1) == resumed.group(1)),
                  f"kept {kept and kept.group(1)}, resumed {resumed and resumed.group(1)}")
    else:
        ctx.check("lifted: nothing left to do", ALREADY.search(again.text()) is not None)
    ctx.check("no checkpoint or temporary file left behind", not ctx.ckpts("cw") and not _tmp_files(ckdir),
              ", ".join(f.name for f in ctx.ckpts("cw") + _tmp_files(ckdir)))
    # The record names the harness's commit; reading it must not write into the checkout (a git
    # status under the limit used to leave .git/index.lock behind, blocking every git command).
    lock = ROOT / ".git" / "index.lock"
    ctx.check("the checkout's git index is not left locked", not lock.exists(), str(lock))
    ctx.count({f"tokens={LONG}": tokens_is(LONG)}, ["cw"])


STOPPED = re.compile(r"stopped by (SIG\w+) \(checkpoint saved at step (\d+)\)")
STARTED = re.compile(r"^run ([0-9a-f]{8,}): (?:gpt2|llama) ", re.M)


def _signal_after_checkpoint(ctx: Ctx, sweep: str, args: list[str], sig: signal.Signals,
                             multirun: bool = False) -> Proc:
    """Start the command, wait until this start has written a checkpoint of its own (so it
    trains), wait a random moment, send ``sig`` to the process and wait for its end."""
    before = {c: c.stat().st_mtime_ns for c in ctx.ckpts(sweep)}
    p = ctx.start(args, multirun=multirun)

    def wrote_one() -> bool:
        return any(before.get(c) != _mtime(c) for c in ctx.ckpts(sweep))

    if not ctx.wait_for(wrote_one, proc=p):
        ctx.note(f"{sig.name}: the start wrote no checkpoint (it ended first)")
    time.sleep(ctx.rng.uniform(0.0, 0.5))
    if p.popen.poll() is None:
        os.kill(p.popen.pid, sig)
    else:
        ctx.note(f"{sig.name}: the run had ended before the signal")
    ctx.wait(p)
    return p


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def _stop_line(ctx: Ctx, p: Proc, sig: signal.Signals, label: str) -> int | None:
    """Check that ``sig`` ended ``p`` in one line and status 128 + its number; returns the saved step."""
    err = [ln for ln in p.stderr().splitlines() if ln.strip()]
    m = STOPPED.search(p.stderr())
    ctx.check(f"{label}: one line, exit {128 + sig.value}, naming the step saved",
              p.rc == 128 + sig.value and len(err) == 1 and bool(m) and m.group(1) == sig.name and TB not in p.text(),
              f"rc {p.rc}; {' | '.join(err[-3:])[:300]}")
    return int(m.group(2)) if m else None


def sc_signal_stop(ctx: Ctx) -> None:
    # A single run: SIGTERM, restart, SIGINT, restart to the end. Each restart must go on from the
    # very step the stop saved.
    args = ctx.args("ss", f"train.tokens={LONG}")
    saved: int | None = None
    for sig in (signal.SIGTERM, signal.SIGINT):
        p = _signal_after_checkpoint(ctx, "ss", args, sig)
        if saved is not None:
            m = re.search(r"resuming from step (\d+)/", p.text())
            ctx.check(f"{sig.name}: the start before it went on from the step saved", bool(m) and int(m.group(1)) == saved,
                      f"saved {saved}, resumed {m and m.group(1)}")
        if p.rc == 0:
            ctx.note(f"{sig.name}: the run completed before the signal")
            saved = None
            break
        saved = _stop_line(ctx, p, sig, sig.name)
    final = ctx.run(args)
    ctx.check("the last restart completes", final.rc == 0, f"rc {final.rc}; {final.stderr().strip()[-200:]}")
    if saved is not None:
        m = re.search(r"resuming from step (\d+)/", final.text())
        ctx.check("the last restart goes on from the step saved", bool(m) and int(m.group(1)) == saved,
                  f"saved {saved}, resumed {m and m.group(1)}")
    if not ctx.quick:  # stopped twice, it ends as the run that never stopped
        ctx.run(ctx.args("ss_ref", f"train.tokens={LONG}"))
        got = [r.get("val_loss") for r in ctx.records("ss")]
        ref = [r.get("val_loss") for r in ctx.records("ss_ref")]
        ctx.check("the stopped run's val_loss equals an uninterrupted run's", got == ref and bool(ref), f"{got} vs {ref}")
    ctx.count({f"tokens={LONG}": tokens_is(LONG)}, ["ss"])

    # A sweep: SIGTERM during a run saves it and starts no later run.
    toks = [LONG, LONG + 4096] + ([LONG + 8192] if not ctx.quick else [])
    sargs = ctx.args("sw", "train.tokens=" + ",".join(map(str, toks)))
    p = _signal_after_checkpoint(ctx, "sw", sargs, signal.SIGTERM, multirun=True)
    if p.rc == 0:
        ctx.note("sweep: it completed before the signal")
    else:
        _stop_line(ctx, p, signal.SIGTERM, "sweep")
        started = set(STARTED.findall(p.out.read_text(errors="replace")))
        ctx.check("sweep: no run started after the stopped one", len(started) == len(ctx.records("sw")) + 1,
                  f"{len(started)} started, {len(ctx.records('sw'))} recorded")
        ctx.check("sweep: the stopped run's checkpoint is kept", len(ctx.ckpts("sw")) == 1)
    again = ctx.run(sargs, multirun=True)
    ctx.check("sweep: the restart completes it", again.rc == 0, f"rc {again.rc}; {again.stderr().strip()[-200:]}")
    ctx.count({f"sweep tokens={t}": tokens_is(t) for t in toks}, ["sw"])


def sc_preempt_requeue(ctx: Ctx) -> None:
    """Cluster jobs preempted and timed out, through submitit's local executor: the scenario lives
    in scripts/fault_preempt.py (loaded from beside this file: the scripts folder is no package)."""
    spec = importlib.util.spec_from_file_location("fault_preempt", Path(__file__).with_name("fault_preempt.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.sc_preempt_requeue(ctx)


SCENARIOS: dict[str, Callable[[Ctx], None]] = {
    "kill_run": sc_kill_run, "kill_sweep": sc_kill_sweep, "kill_sweep_joblib": sc_kill_sweep_joblib,
    "corrupt_record": sc_corrupt_record, "corrupt_checkpoint": sc_corrupt_checkpoint,
    "unwritable": sc_unwritable, "diverged": sc_diverged, "edit_data": sc_edit_data,
    "twin_runs": sc_twin_runs, "bad_sweep_name": sc_bad_sweep_name,
    "checkpoint_write": sc_checkpoint_write, "signal_stop": sc_signal_stop,
    "preempt_requeue": sc_preempt_requeue,
}


# ---------------------------------------------------------------------------------------------
# Driver and report


def run_scenario(name: str, base: Path, seed: int, quick: bool) -> Result:
    # Each scenario has its own RNG, so a subset (--scenarios) draws the same faults as a full run.
    rng = random.Random(f"{seed}:{name}")
    ctx = Ctx(name, base, rng, quick)
    t0 = time.perf_counter()
    try:
        SCENARIOS[name](ctx)
    except Exception as e:  # a bug in the injector (or a hang) is reported, not hidden
        ctx.result.error = f"{type(e).__name__}: {e}"
    finally:
        ctx.cleanup()
    ctx.result.seconds = round(time.perf_counter() - t0, 1)
    return ctx.finish(base)


def machine() -> dict[str, Any]:
    def git(*a: str) -> str:
        r = subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 else "?"
    try:
        import torch
        tv = torch.__version__
    except ImportError:
        tv = None
    commit = git("rev-parse", "--short", "HEAD")
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "harness")
    tree = ("unknown (not a git checkout)" if commit == "?" else
            "modified (uncommitted changes under harness/)" if dirty else "clean")
    return {"platform": platform.platform(), "python": platform.python_version(), "torch": tv,
            "cpus": os.cpu_count(), "root": os.geteuid() == 0, "git_commit": commit, "harness_tree": tree}


def table(results: list[Result]) -> str:
    head = "| scenario | planned | completed | lost | duplicated | tracebacks | checks failed | s |"
    rows = [head, "|" + "---|" * 8]
    for r in results:
        failed = "; ".join(r.checks_failed).replace("|", "/") if r.checks_failed else "-"
        if r.error:
            failed = f"INJECTOR ERROR {r.error}; " + failed
        rows.append(f"| {r.scenario} | {r.planned} | {r.completed} | {r.lost} | {r.duplicated} | "
                     f"{r.tracebacks} | {failed} | {r.seconds:.0f} |")
    t = totals(results)
    rows.append(f"| **total** | {t['planned']} | {t['completed']} | {t['lost']} | {t['duplicated']} | "
                f"{t['tracebacks']} | {t['checks_failed']} of {t['checks']} | {t['seconds']:.0f} |")
    return "\n".join(rows)


def totals(results: list[Result]) -> dict[str, Any]:
    return {k: sum(getattr(r, k) for r in results) for k in ("planned", "completed", "lost", "duplicated",
                                                             "tracebacks", "seconds")} | {
        "checks_failed": sum(len(r.checks_failed) for r in results),
        "checks": sum(len(r.checks_failed) + r.checks_passed for r in results),
        "injector_errors": sum(1 for r in results if r.error)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="one fault point per scenario (~2 min)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scenarios", default="", help=f"comma-separated subset of {', '.join(SCENARIOS)}")
    ap.add_argument("--out", default=str(ROOT / "results" / "reliability"), help="where the .json/.md go")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folders (their path is printed)")
    ap.add_argument("--note", default="", help="a line recorded with the figures (e.g. which tree was tested)")
    a = ap.parse_args(argv)
    names = [s for s in a.scenarios.split(",") if s] or list(SCENARIOS)
    unknown = [s for s in names if s not in SCENARIOS]
    if unknown:
        ap.error(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    base = Path(tempfile.mkdtemp(prefix="fault_inject."))
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    results = []
    try:
        for name in names:
            print(f"== {name} ...", flush=True)
            r = run_scenario(name, base, a.seed, a.quick)
            print(f"   {r.completed}/{r.planned} completed, {r.lost} lost, {r.duplicated} duplicated, "
                  f"{r.tracebacks} tracebacks, {len(r.checks_failed)} checks failed ({r.seconds:.0f}s)"
                  + (f"; injector error: {r.error}" if r.error else ""), flush=True)
            for msg in r.checks_failed:
                print(f"   FAILED: {msg}", flush=True)
            for msg in r.notes:
                print(f"   note: {msg}", flush=True)
            results.append(r)
    finally:
        if a.keep:
            print(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
    t = totals(results)
    cmd = "python scripts/fault_inject.py" + (" --quick" if a.quick else "") + (f" --seed {a.seed}" if a.seed else "") \
        + (f" --scenarios {a.scenarios}" if a.scenarios else "")
    print("\n" + table(results))
    goal = t["lost"] == 0 and t["duplicated"] == 0 and t["tracebacks"] == 0 and t["injector_errors"] == 0
    print(f"\nsummary: {t['completed']}/{t['planned']} runs completed, {t['lost']} lost, {t['duplicated']} duplicated, "
          f"{t['tracebacks']} tracebacks; {t['checks_failed']} of {t['checks']} checks failed "
          f"({t['seconds']:.0f}s) -> goal {'met' if goal else 'NOT met'}")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    doc = {"command": cmd, "note": a.note, "started_at": started, "machine": machine(), "quick": a.quick,
           "seed": a.seed,
           "totals": t, "goal_met": goal,
           "scenarios": [vars(r) for r in results]}
    (out / "fault_inject.json").write_text(json.dumps(doc, indent=1) + "\n")
    m = doc["machine"]
    notes = "\n".join(f"- **{r.scenario}**: " + "; ".join(r.notes) for r in results if r.notes)
    (out / "fault_inject.md").write_text(
        f"# Fault injection\n\n`{cmd}` (started {started}; {m['platform']}, {m['cpus']} CPUs, Python {m['python']}, "
        f"torch {m['torch']}, {'as root' if m['root'] else 'not root'}; commit {m['git_commit']}, harness/ "
        f"{m['harness_tree']}).\n\n" + (f"{a.note}\n\n" if a.note else "") +
        "Definitions and scenarios: the docstring of scripts/fault_inject.py. Goal: 0 lost, 0 duplicated, "
        "0 tracebacks.\n\n" + table(results) + "\n\n"
        f"**Summary:** {t['completed']}/{t['planned']} runs completed, {t['lost']} lost, {t['duplicated']} "
        f"duplicated, {t['tracebacks']} tracebacks; {t['checks_failed']} of {t['checks']} scenario checks failed. "
        f"Goal {'met' if goal else 'not met'}.\n\n" + (f"## Notes\n\n{notes}\n" if notes else ""))
    return 0 if goal else 1


if __name__ == "__main__":
    sys.exit(main())
