"""What the commands share: an expected error ends a command as one line and an exit status."""

from __future__ import annotations

import sys
from typing import Callable


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
