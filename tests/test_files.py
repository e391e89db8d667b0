"""harness/files.py: one atomic writer (a device or FIFO written into, never replaced), one
writability check, one lock between processes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from harness.errors import ResultsNotWritable
from harness.files import (
    atomic_write,
    atomic_write_bytes,
    atomic_write_text,
    check_writable,
    file_lock,
    unfinished_writes,
)

ROOT = Path(__file__).resolve().parents[1]


# -- the atomic writer ---------------------------------------------------------------------------
def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "fit.json"
    atomic_write_text(target, "old\n")

    def broken(tmp):
        tmp.write_text("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        atomic_write(target, broken)
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit.json"]


def test_every_form_fsyncs_the_new_file_before_it_replaces_the_old(tmp_path, monkeypatch):
    synced = []  # the file each fsync flushed, named by /proc while it is still the temporary one
    real_fsync = os.fsync

    def spy(fd):
        synced.append(Path(os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    text = atomic_write_text(tmp_path / "a.md", "α = 0.34\n")
    data = atomic_write_bytes(tmp_path / "b.bin", b"\x00\x01\xff")
    call = atomic_write(tmp_path / "c.pt", lambda tmp: tmp.write_bytes(b"ckpt"))
    assert (text, data, call) == (tmp_path / "a.md", tmp_path / "b.bin", tmp_path / "c.pt")
    assert [s.parent for s in synced] == [tmp_path] * 3
    assert [s.name.split(".")[1] for s in synced] == ["a", "b", "c"]
    assert all(s.name.startswith(".") and s.name.endswith(".tmp") for s in synced)
    assert text.read_bytes() == "α = 0.34\n".encode() and data.read_bytes() == b"\x00\x01\xff"
    assert call.read_bytes() == b"ckpt"


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o002])
def test_the_new_file_has_the_mode_of_a_plain_open(tmp_path, mask):
    old = os.umask(mask)
    try:
        atomic_write_text(tmp_path / "record.json", "{}\n")
        with open(tmp_path / "plain.json", "w") as f:
            f.write("{}\n")
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "record.json").stat().st_mode)
    assert mode == 0o666 & ~mask == stat.S_IMODE((tmp_path / "plain.json").stat().st_mode)


def test_missing_folders_are_made_and_an_existing_file_is_replaced_whole(tmp_path):
    target = tmp_path / "sweep" / "runs" / "abc.json"
    atomic_write_text(target, "first\n")
    atomic_write_text(target, "second, longer\n")
    assert target.read_text() == "second, longer\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["abc.json"]


def test_a_writer_killed_mid_write_leaves_a_temporary_that_unfinished_writes_finds(tmp_path):
    target = tmp_path / "abc.pt"
    atomic_write_text(target, "old\n")
    killed = ("import os, sys; from harness.files import atomic_write\n"
              "def write(tmp):\n    tmp.write_text('half'); os._exit(9)\n"
              "atomic_write(sys.argv[1], write)\n")
    out = subprocess.run([sys.executable, "-c", killed, str(target)], env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 9
    left = [p for p in tmp_path.iterdir() if p != target]
    assert len(left) == 1 and left[0].read_text() == "half" and target.read_text() == "old\n"
    # Someone else's files beside it are not its unfinished writes.
    for other in [".abc.pt.corrupt", ".abc.pt.corrupt.a1b2c3d4.tmp", ".abd.pt.a1b2c3d4.tmp", "abc.pt.a1b2c3d4.tmp"]:
        (tmp_path / other).write_text("")
    assert unfinished_writes(target) == left
    assert unfinished_writes(tmp_path / "missing" / "abc.pt") == []


def test_a_fifo_is_written_into_not_replaced_by_a_file(tmp_path):
    fifo = tmp_path / "fit.json"
    os.mkfifo(fifo)
    # A reader already there (opened without waiting for a writer), as `harness-fit --json <(cat)`.
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        assert atomic_write_text(fifo, '{"laws": {}}\n') == fifo
        assert os.read(reader, 1000) == b'{"laws": {}}\n'
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["fit.json"]  # no temporary file beside it


@pytest.fixture
def devnull_guarded(monkeypatch):
    """os.devnull as it is, and a guard that no test can replace it with a plain file (as root a
    rename over /dev/null succeeds, and would break every process on the machine)."""
    before = os.stat(os.devnull)
    if not stat.S_ISCHR(before.st_mode):
        pytest.skip(f"{os.devnull} is not a character device here")
    real_replace = os.replace

    def guarded(src, dst, *args, **kwargs):
        if os.path.realpath(dst) == os.path.realpath(os.devnull):
            raise AssertionError(f"{os.devnull} would have been replaced by {src}")
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", guarded)
    yield before
    after = os.stat(os.devnull)
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev


def test_dev_null_is_written_to_and_stays_a_device(devnull_guarded):
    assert atomic_write_text(os.devnull, "{}\n") == Path(os.devnull)
    assert atomic_write(os.devnull, lambda p: p.write_bytes(b"\x00" * 100)) == Path(os.devnull)
    assert not [p for p in Path(os.devnull).parent.glob(".null.*.tmp")]


# -- can I write here? ---------------------------------------------------------------------------
def test_a_writable_place_passes_and_nothing_is_left_behind(tmp_path):
    check_writable(tmp_path / "out" / "deeper" / "fit.json")
    check_writable(tmp_path / "plots", is_dir=True)
    assert list(tmp_path.iterdir()) == []


def test_a_file_in_the_way_is_one_line_naming_the_path(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(ResultsNotWritable) as exc:
        check_writable(blocker / "fit.json")
    assert str(exc.value) == f"cannot write to {blocker / 'fit.json'}: {blocker} is not a folder"
    assert exc.value.strerror == f"{blocker} is not a folder"
    with pytest.raises(ResultsNotWritable, match=f"cannot write to {blocker}: {blocker} is not a folder"):
        check_writable(blocker, is_dir=True)


def test_a_folder_where_a_file_should_go_is_refused(tmp_path):
    with pytest.raises(ResultsNotWritable) as exc:
        check_writable(tmp_path)
    assert str(exc.value) == f"cannot write to {tmp_path}: it is a folder, not a file"
    assert isinstance(exc.value, OSError)


def test_a_refusing_folder_is_one_line_with_the_reason(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)  # as a read-only folder answers, even to root
    with pytest.raises(ResultsNotWritable) as exc:
        check_writable(tmp_path / "runs", is_dir=True)
    assert str(exc.value) == f"cannot write to {tmp_path / 'runs'}: Permission denied"
    assert exc.value.strerror == "Permission denied"


def test_a_device_is_checked_by_its_own_permission_not_its_folders(devnull_guarded, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    # A user may not create files in /dev but may write /dev/null: no probe file there is asked for.
    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    check_writable(os.devnull)
    with pytest.raises(ResultsNotWritable, match="Permission denied"):
        check_writable(Path(os.devnull).parent / "harness-fit.json")


# -- the lock between processes ------------------------------------------------------------------
HOLDER = ("import sys; from harness.files import file_lock\n"
          "with file_lock(sys.argv[1]) as lock:\n"
          "    print('held' if lock.held else 'not held', flush=True); sys.stdin.readline()\n")


@pytest.fixture
def holder(tmp_path):
    """Another process holding the lock on tmp_path/x.lock until a line comes on its stdin."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path / "x.lock")], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    yield proc
    proc.kill()
    proc.wait()


def test_a_held_lock_is_refused_to_a_try_and_names_its_holder(tmp_path, holder):
    with file_lock(tmp_path / "x.lock", wait=False) as lock:
        assert (lock.held, lock.holder) == (False, holder.pid)
    holder.stdin.write("release\n")
    holder.stdin.flush()
    assert holder.wait(timeout=30) == 0
    with file_lock(tmp_path / "x.lock", wait=False) as lock:
        assert lock.held and (tmp_path / "x.lock").read_text() == f"{os.getpid()}\n"


def test_a_waiting_lock_says_so_once_and_gets_the_lock_when_it_is_freed(tmp_path, holder):
    waits = []

    def release():
        waits.append(holder.pid)
        holder.stdin.write("release\n")
        holder.stdin.flush()

    with file_lock(tmp_path / "x.lock", on_wait=release) as lock:
        assert lock.held and waits == [holder.pid]
    assert holder.wait(timeout=30) == 0


def test_a_killed_holder_leaves_no_stale_lock(tmp_path, holder):
    holder.kill()
    holder.wait()
    with file_lock(tmp_path / "x.lock", wait=False) as lock:
        assert lock.held
