"""Files: written whole or not at all, and an unwritable place said before work is spent on it.

Every file the harness writes (records, fit outputs, checkpoints, caches) goes through an atomic
write here: a temporary file beside the target, fsynced, then renamed over it, so a reader sees the
old file or the whole new one and a crash cannot leave an empty file behind. Outputs get the mode a
plain ``open(path, "w")`` would give (``file_mode``)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Callable

from harness.errors import FitInputError


def _umask() -> int:
    # Linux shows the umask in /proc without changing it; os.umask can only read it by setting
    # it, which for a moment would give files other threads create the wrong mode.
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a plain ``open(path, "w")`` gives: 0666 less the umask."""
    return 0o666 & ~_umask()


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write text so that readers see either the old file or the whole new one, never a part.

    The temporary file sits in the same directory so the final rename is atomic on POSIX; it is
    fsynced first so a crash right after the rename cannot leave an empty file behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes the file 0600 (private, for a temporary file); the result is an ordinary
        # output that others may read, so give it the mode open() would.
        os.fchmod(fd, file_mode())
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


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
