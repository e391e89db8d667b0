"""Catching the signals that ask a training run to stop, so that it stops after a checkpoint.

SLURM sends SIGTERM some seconds before it kills a job (and, asked to, SIGUSR2 earlier as a
warning); Ctrl-C is SIGINT. Left to their defaults they end the process at once and lose the steps
since the last checkpoint (up to ``train.checkpoint_interval_seconds``), and SIGINT prints a
traceback. While a run trains, ``StopSignals.catching`` installs a handler for each that only
notes the signal; the loop looks at ``requested`` at each step boundary, saves its checkpoint and
calls ``hand_on``, which passes the signal to the handler that was there before if that was a
Python function (submitit's SIGUSR2 handler requeues the SLURM job), and otherwise raises
``RunInterrupted``. The handler itself never saves: a signal can arrive in the middle of a step or
of a write, and nothing the loop holds is consistent there.

Python's own SIGINT handler (``signal.default_int_handler``, which raises KeyboardInterrupt
wherever the program is) counts as no handler: Ctrl-C raises ``RunInterrupted`` like SIGTERM.

A run that a signal stopped this way is remembered for the rest of the process (``stopped_by``):
a sweep that runs its jobs in this process starts none after it (harness/run/train.py).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from types import FrameType
from typing import Any, Iterator

from harness.errors import RunInterrupted

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR2)

# The signal that last stopped a run of this process with RunInterrupted (its name), if any.
_stopped_by: str | None = None


def stopped_by() -> str | None:
    """The name of the signal that stopped a run of this process, or None."""
    return _stopped_by


def forget_stop() -> None:
    """Let this process start runs in a sweep again after a signal stopped one (a notebook or a
    test that goes on)."""
    global _stopped_by
    _stopped_by = None


def _passes_on(handler: Any) -> bool:
    """Whether ``handler``, found installed before ours, is one to call after the checkpoint: a
    Python function of the program's own, not a default (SIG_DFL, SIG_IGN, one set outside Python
    (None), or Python's KeyboardInterrupt)."""
    return callable(handler) and handler is not signal.default_int_handler


class StopSignals:
    """The stop signals of one run: which one came (``received``), and the handlers that were
    installed before ours (``previous``), restored when the run stops training."""

    def __init__(self) -> None:
        self.previous: dict[int, Any] = {}
        self.received: int | None = None

    @property
    def requested(self) -> bool:
        """Whether a stop signal came that the loop has not handed on yet."""
        return self.received is not None

    @property
    def name(self) -> str | None:
        return signal.Signals(self.received).name if self.received is not None else None

    def _note(self, signum: int, frame: FrameType | None) -> None:
        # Only a note: the loop acts on it at the next step boundary. A second signal before then
        # changes nothing (the first one's name is the one reported).
        if self.received is None:
            self.received = signum

    @contextlib.contextmanager
    def catching(self) -> Iterator[StopSignals]:
        """Install the handlers for the block, and put the previous ones back after it, however it
        ends. Only the main thread may install handlers: elsewhere (a run in a worker thread) the
        block runs with the signals left as they are, and ``requested`` stays False."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        self.previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
        try:
            for s in STOP_SIGNALS:
                signal.signal(s, self._note)
            yield self
        finally:
            for s, handler in self.previous.items():
                # None: a handler installed outside Python, which Python cannot put back.
                signal.signal(s, signal.SIG_DFL if handler is None else handler)

    def hand_on(self, run_id: str, saved_step: int | None, message: str = "") -> None:
        """Act on the signal that came, now that the run's checkpoint is saved (at ``saved_step``):
        call the handler that was installed before ours, with (signum, None), if it was a Python
        function of the program's (if it returns, so does this, and the run goes on); otherwise
        raise RunInterrupted (``message``: its line, where the default one does not fit)."""
        signum, self.received = self.received, None
        if signum is None:
            return
        previous = self.previous.get(signum)
        name = signal.Signals(signum).name
        refused = False
        if _passes_on(previous):
            try:
                previous(signum, None)
                return
            except (SystemExit, KeyboardInterrupt):
                raise  # the program's handler ends the process on purpose (submitit after a requeue)
            except Exception as e:
                refused = True
                # The handler refused (submitit: no requeue left after too many time limits). The
                # checkpoint is saved: stop resumable, never let the run be recorded failed.
                message = message or (f"run {run_id}: stopped by {name} (checkpoint saved at step {saved_step}); "
                                      f"the scheduler's handler refused to requeue it ({type(e).__name__}: "
                                      f"{str(e).splitlines()[0] if str(e) else 'no reason given'}); start the same "
                                      "command again to resume it")
        global _stopped_by
        _stopped_by = name
        raise RunInterrupted(run_id, name, saved_step, message, by_scheduler=refused)
