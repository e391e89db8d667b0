"""Files: written whole or not at all, locked by one process at a time, and an unwritable place said
before work is spent on it.

Every file the harness writes (records, fit outputs, checkpoints, caches) goes through
``atomic_write`` here: a temporary file beside the target, fsynced, then renamed over it, so a
reader sees the old file or the whole new one and a crash cannot leave an empty file behind. A
target that is not a regular file (``--json /dev/null``, a FIFO) is written to directly: renaming
over it would put a regular file where the device or pipe was.
Outputs get the mode a plain ``open(path, "w")`` would give (``file_mode``). Every lock between
processes (a run being trained, a token cache being built, a GPU slot) is a ``file_lock``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, Iterator

from harness.errors import ResultsNotWritable

try:
    import fcntl
except ImportError:  # Windows has no flock: there nothing is locked (see file_lock)
    fcntl = None


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


# ---------------------------------------------------------------------------------------------
# Writing whole files


def _fsync(path: Path) -> None:
    # The writer may have filled the file through a handle of its own (torch.save, savefig): any
    # descriptor of the file flushes its data to the disk.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _special(path: Path) -> bool:
    """Whether ``path`` (a link followed) is something other than a regular file or a folder: a
    character or block device, a FIFO, a socket."""
    try:
        mode = os.stat(path).st_mode
    except OSError:  # not there (or not reachable): an ordinary new file, whose write says why
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` to fill a temporary file beside ``path``, then put it in place whole.

    The temporary file sits in the same folder so the final rename is atomic on POSIX; it is
    fsynced first so a crash right after the rename cannot leave an empty file behind. If
    ``write`` fails, the old file stays as it was and the temporary file is removed. Returns
    ``path``.

    A ``path`` that is a device, a FIFO or a socket is written to directly (``write(path)``):
    only a regular file can be replaced whole, and replacing ``/dev/null`` would leave a plain
    file there (as root) that every later write fills.
    """
    path = Path(path)
    if _special(path):
        write(path)
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        # mkstemp makes the file 0600 (private, for a temporary file); the result is an ordinary
        # output that others may read, so give it the mode open() would.
        os.chmod(tmp, file_mode())
        write(tmp)
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def unfinished_writes(path: str | os.PathLike) -> list[Path]:
    """The temporary files that ``atomic_write`` made for ``path`` and never put in place: only a
    writer killed mid-write (SIGKILL, the OOM killer, a power cut) leaves one, since nothing runs
    to remove it. Only the holder of the lock that keeps other writers of ``path`` away may delete
    them (another writer's may be in use)."""
    path = Path(path)
    # mkstemp's names: the prefix and suffix given above around 8 random characters.
    name = re.compile(re.escape(f".{path.name}.") + r"[a-z0-9_]{8}\.tmp")
    try:
        return sorted(p for p in path.parent.iterdir() if name.fullmatch(p.name))
    except OSError:  # no folder: nothing was written there
        return []


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """``atomic_write`` of a text, as UTF-8."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """``atomic_write`` of bytes."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


# ---------------------------------------------------------------------------------------------
# Can I write here?


def check_writable(path: str | os.PathLike, is_dir: bool = False) -> None:
    """Make sure a file can be created as ``path`` (with ``is_dir``, inside the folder ``path``),
    so an unwritable place stops work before it is spent rather than after.

    The probe goes to the nearest folder that exists, so nothing is created or left behind.
    Raises ``ResultsNotWritable`` in one line naming ``path``; its ``strerror`` holds the reason
    alone, for a caller that words the error its own way.
    """
    p = Path(path)
    where = p if is_dir else p.parent
    try:
        if not is_dir and p.is_dir():
            raise IsADirectoryError(errno.EISDIR, "it is a folder, not a file")
        if not is_dir and _special(p):
            # Written in place (atomic_write), so the question is the device's or FIFO's own
            # permission, not its folder's: /dev takes no new file from a user, /dev/null does.
            if not os.access(p, os.W_OK):
                raise PermissionError(errno.EACCES, "Permission denied")
            return
        while not where.exists() and where != where.parent:
            where = where.parent
        if not where.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, f"{where} is not a folder")
        fd, probe = tempfile.mkstemp(prefix=".write-test.", dir=where)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        reason = e.strerror or str(e)
        err = ResultsNotWritable(f"cannot write to {p}: {reason}")
        err.strerror = reason
        raise err from None


# ---------------------------------------------------------------------------------------------
# Locks between processes


@dataclass
class FileLock:
    """A lock file as ``file_lock`` found it: held by this process, or else by ``holder`` (the pid
    that process wrote into the file; None if it wrote none yet)."""

    path: Path
    held: bool
    holder: int | None = None


def _holder(f: IO[str]) -> int | None:
    f.seek(0)
    text = f.read().strip()
    return int(text) if text.isdigit() else None


@contextlib.contextmanager
def file_lock(path: str | os.PathLike, wait: bool = True,
              on_wait: Callable[[], None] | None = None) -> Iterator[FileLock]:
    """Hold an exclusive lock on the file ``path`` for the block; the holder writes its pid there.

    ``wait=True`` blocks until the lock is free, calling ``on_wait`` first if it has to wait.
    ``wait=False`` tries once: when another process holds the lock, the block runs with
    ``held=False`` and that process's pid as ``holder``.

    An flock: the kernel releases it when the holder exits, killed or not, so a crash never
    leaves a stale lock. The file itself stays (removing it would race with a new holder).
    Without fcntl (Windows) nothing is locked and every lock counts as held.
    """
    path = Path(path)
    if fcntl is None:
        yield FileLock(path, held=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                yield FileLock(path, held=False, holder=_holder(f))
                return
            if on_wait is not None:
                on_wait()
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            f.seek(0)
            f.truncate()
            f.write(f"{os.getpid()}\n")
            f.flush()
            yield FileLock(path, held=True)
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
