"""What the commands share: an expected error ends a command as one line and an exit status."""

from __future__ import annotations

import signal
import sys
from typing import Callable

from harness.errors import RunInterrupted


def interrupted(prog: str, e: RunInterrupted) -> int:
    """Say in one line that a signal stopped a run after its checkpoint, and return the exit
    status: 128 + the signal's number (130 SIGINT, 143 SIGTERM, 140 SIGUSR2), what a shell reports
    for a process the signal ended, so a scheduler or script sees how it stopped."""
    print(f"{prog}: {e}", file=sys.stderr, flush=True)
    try:
        return 128 + signal.Signals[e.signal_name].value
    except KeyError:  # not a signal's name: still not a success
        return 1


def run_main(prog: str, run: Callable[[list[str] | None], int], argv: list[str] | None,
             errors: type[Exception] | tuple[type[Exception], ...]) -> int:
    """``run(argv)``'s exit status; one of ``errors`` is one line on stderr and status 2 (a user's
    mistake wants its message, not a traceback), Ctrl-C a line and status 130."""
    try:
        return run(argv)
    except errors as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
