"""The one error hierarchy of the harness.

Every error a user can cause (a bad config, file, CSV, curve, record or folder) is a
``HarnessError`` whose message is one line naming the problem and, where there is one, the file.
The command-line entry points (``harness.cli``) catch ``HarnessError`` once, print the line and
exit non-zero; libraries raise, never print or exit. Each class also derives from the builtin that
callers outside the harness would expect (``ValueError`` for bad input, ``OSError`` for an
unwritable place), so ``except ValueError`` keeps working in a user's notebook.

    HarnessError
    +-- InputError (ValueError)          input that cannot be used as given
    |   +-- ConfigError                  a configuration key or value
    |   |   +-- DesignError              an IsoFLOP design (sweep.design)
    |   |   +-- SweepError               a sweep that cannot be expanded
    |   +-- DataError                    a corpus, tokenizer or token cache
    |   +-- RecordError                  a run record that is not a valid record
    |   +-- FitInputError                points, CSVs or options the fitter cannot use
    |   |   +-- InsufficientData         too few points for one law (skipped, not fatal, in a sweep)
    |   +-- TuningError                  a tuning sweep or tuning result
    |   +-- NextRunsError                input to the run proposer
    +-- ResultsNotWritable (OSError)     a results folder or output file cannot be written
    +-- RunInProgress (RuntimeError)     another process is training this run now
    +-- RunInterrupted (RuntimeError)    a signal (SIGTERM, SIGINT, a scheduler's warning) stopped a
                                         run after it saved a checkpoint: start it again to resume
"""

from __future__ import annotations


class HarnessError(Exception):
    """An error the user can act on; its message is one line."""


class InputError(HarnessError, ValueError):
    """Input that cannot be used as given."""


class ConfigError(InputError):
    """An invalid configuration; the message is one line and names the offending key."""


class DesignError(ConfigError):
    """A design that cannot be expanded; the message is one line and names the key."""


class SweepError(ConfigError):
    """A sweep that cannot be expanded (bad override, unknown preset, unsupported sweeper)."""


class DataError(InputError):
    """The text data cannot be used as configured; the message is one line naming the problem."""


class RecordError(InputError):
    """A record file that is missing keys, has wrong types, or is not JSON."""


class FitInputError(InputError):
    """Input the fitter cannot use: a bad CSV, a bad row, a folder with no runs, too few points."""


class InsufficientData(FitInputError):
    """A law that the points cannot support (e.g. no IsoFLOP groups): skipped, not fatal, in a sweep."""


class TuningError(InputError):
    """Bad input to the tuning step; the message is one line and names the file or the problem."""


class NextRunsError(InputError):
    """Bad input to the proposer: one line for the user."""


class ResultsNotWritable(HarnessError, OSError):
    """A results folder (runs, checkpoints, locks) or an output file cannot be written."""


class RunInProgress(HarnessError, RuntimeError):
    """Another process holds the run's lock: it is training this very run now."""

    def __init__(self, run_id: str, pid: int | None):
        self.run_id, self.pid = run_id, pid
        super().__init__(f"run {run_id} is in progress in another process"
                         + (f" (pid {pid})" if pid else ""))


class RunInterrupted(HarnessError, RuntimeError):
    """A signal stopped a run; its checkpoint was saved first (``saved_step`` steps), so starting
    the same command again resumes it. ``by_scheduler``: the scheduler's own handler refused to
    requeue the job (submitit past its requeues), so only this job ends, not the sweep."""

    def __init__(self, run_id: str, signal_name: str, saved_step: int | None, message: str = "",
                 by_scheduler: bool = False):
        self.run_id, self.signal_name, self.saved_step = run_id, signal_name, saved_step
        self.by_scheduler = by_scheduler
        where = f"checkpoint saved at step {saved_step}" if saved_step is not None else "no checkpoint saved"
        super().__init__(message or f"run {run_id}: stopped by {signal_name} ({where}); start the same command "
                                    "again to resume it")
