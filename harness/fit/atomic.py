"""Writing the fitter's outputs so that a reader never sees half a file, and an unwritable path
is said before a fit runs rather than after it. The file mode is the records' own
(``harness.records.file_mode``: plain data and IO, which the fitter already reads records with)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

from harness.fit.errors import FitInputError
from harness.records import file_mode


def check_writable(path: str | Path, is_dir: bool = False) -> None:
    """One-line FitInputError if ``path`` (a file, or with is_dir a folder) cannot be written."""
    p = Path(path)
    folder = p if is_dir else p.parent
    if not is_dir and p.is_dir():
        raise FitInputError(f"{p}: is a directory, not a file to write")
    if is_dir and p.exists() and not p.is_dir():
        raise FitInputError(f"{p}: exists and is not a directory")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".probe-")
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        raise FitInputError(f"{p}: cannot write here ({e.strerror or e})") from None


def write_atomic(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it over ``path``."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=p.suffix)
    os.close(fd)
    try:
        os.chmod(tmp, file_mode())  # mkstemp makes it 0600; the output should read like any file
        write(Path(tmp))
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p


def write_text_atomic(path: str | Path, text: str) -> Path:
    return write_atomic(path, lambda tmp: tmp.write_text(text))
