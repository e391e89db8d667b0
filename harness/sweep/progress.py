"""A sweep's progress lines: one per finished run, ``[k/n] bar label N= D= C= val_loss time status``,
where k counts the planned runs that have a record on disk (right across workers, cluster jobs
and restarts, which a count of callbacks would not be).

Who prints the line depends on where the job ran. A job whose output is the user's terminal (the
basic launcher runs jobs in the launching process; joblib's workers share its stdout) prints its
own line when it ends (``SweepCallback.on_job_end``). A submitit job (SLURM, or ``submitit_local``)
runs in a process of its own whose output goes to its log file under ``.submitit/``, so there the
launching process watches the records folder instead (``RecordWatcher``) and prints each run's
line when its record appears; the job still writes its own line into its log.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Mapping, Sequence

from harness import records
from harness.sweep.units import si

# Launchers whose jobs run in processes of their own, with their output in files (hydra.launcher._target_).
ELSEWHERE = ("hydra_plugins.hydra_submitit_launcher.",)


def jobs_print_elsewhere(launcher_target: str) -> bool:
    """Whether a job's own progress line would go to a log file rather than the user's terminal."""
    return launcher_target.startswith(ELSEWHERE)


def _fmt_si(x: float | None) -> str:
    return "-" if x is None else si(x)


def bar(k: int, n: int, width: int = 20) -> str:
    filled = round(width * k / n) if n else width
    return "#" * filled + "." * (width - filled)


def label(model: Mapping[str, Any]) -> str:
    """A run's model as the lines name it: its ladder name, else its shape (``L{n_layer}d{d_model}``)."""
    return model.get("name") or f"L{model.get('n_layer')}d{model.get('d_model')}"


def line(k: int, n: int, name: str, run_id: str, rec: records.RunRecord | None, param_convention: str,
         flops_convention: str, since: str = "") -> str:
    """The progress line of one run. ``since``: when the multirun started (ISO time); a record
    that ended before it was recorded earlier (a skipped run) and says so."""
    head = f"[{k:>{len(str(n))}}/{n}] {bar(k, n)}" if n else "[?/?]"
    if rec is None:
        return f"{head} {name}: no record (run {run_id})"
    n_params = rec.params.get(param_convention) if rec.params else None
    c = rec.flops.get(flops_convention) if rec.flops else None
    loss = f"{rec.val_loss:.4f}" if rec.val_loss is not None else "-"
    status = rec.status
    if since and rec.ended_at < since:
        status += " (recorded earlier)"
    elif rec.reason:
        status += f" ({rec.reason})"
    return (f"{head} {name} N={_fmt_si(n_params)} D={_fmt_si(rec.tokens)} C={c or 0:.3g} "
            f"val_loss {loss} {rec.wall_seconds:.1f}s {status}")


class RecordWatcher:
    """Prints the progress line of each planned run whose record appears (or is written again, as a
    retried failed run's is) while the sweep runs, from a thread of the launching process.

    ``stop()`` looks one last time, so every record that appeared before it has had its line when
    the summary follows. Records already there when the watcher starts had theirs in the
    multirun's first line (skipped runs), so they get none.
    """

    def __init__(self, out_dir: str, sweep_name: str, planned: Sequence[str], param_convention: str,
                 flops_convention: str, since: str, poll_seconds: float = 1.0,
                 emit: Callable[[str], None] = lambda s: print(s, flush=True)) -> None:
        self.out_dir, self.sweep_name, self.planned = out_dir, sweep_name, list(planned)
        self.param_convention, self.flops_convention, self.since = param_convention, flops_convention, since
        self.poll_seconds, self.emit = poll_seconds, emit
        self._seen: dict[str, str] = {}  # run_id -> ended_at of the record last reported (or found at start)
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one poll at a time: the thread's and stop()'s last one
        self._thread: threading.Thread | None = None
        for rid in self.planned:
            rec = self._find(rid)
            if rec is not None:
                self._seen[rid] = rec.ended_at

    def _find(self, run_id: str) -> records.RunRecord | None:
        # Read-only: an unreadable record is the job's or the summary's to set aside, not the watcher's.
        try:
            return records.find_record(self.out_dir, self.sweep_name, run_id, quarantine_corrupt=False)
        except (records.RecordError, OSError):
            return None

    def poll(self) -> list[str]:
        """The lines of records that appeared since the last poll, printed and returned."""
        with self._lock:
            found = {rid: rec for rid in self.planned if (rec := self._find(rid)) is not None}
            k = sum(1 for rid in found if rid in self._seen)
            out = []
            for rid, rec in found.items():
                if self._seen.get(rid) == rec.ended_at:
                    continue
                k += rid not in self._seen  # a rewritten record is no new run on disk
                self._seen[rid] = rec.ended_at
                name = label(rec.config.get("model") or {})
                out.append(line(k, len(self.planned), name, rid, rec, self.param_convention, self.flops_convention,
                                self.since))
            for s in out:
                self.emit(s)
            return out

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.poll()
            except Exception as e:  # progress is a courtesy: say so once, never fail the sweep
                self.emit(f"(progress lines unavailable: {type(e).__name__}: {e})")
                return

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="sweep-progress", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.poll()
