"""Where a path a user gives points, and how a record names it without naming the machine.

A path in a config means the folder the command was started from (Hydra may chdir into its own
output folder), ``~`` means the home folder, and a path that starts with ``$HARNESS_SHARED_DATA/``
means the shared data folder: the public corpora kept beside the project, ``$HARNESS_SHARED_DATA``
when it is set, else ``../shared/data`` from the starting folder (as ``conf/data/eltec.yaml`` says).

A record is written with ``portable_path``: a file in the shared data folder as
``$HARNESS_SHARED_DATA/<path inside it>`` and one under the home folder as ``~/<path>``, so a
record committed to a repository names no folder outside it, and ``resolve_path`` finds the same
file again on any machine that has the folder.
"""

from __future__ import annotations

import os
from pathlib import Path

SHARED_DATA_VAR = "HARNESS_SHARED_DATA"
SHARED_DATA_DEFAULT = os.path.join("..", "shared", "data")
SHARED_DATA_PREFIX = "$" + SHARED_DATA_VAR + "/"


def original_cwd() -> Path:
    """The folder the command was started from, where Hydra has moved away from it."""
    try:
        from hydra.utils import get_original_cwd

        return Path(get_original_cwd())
    except (ImportError, ValueError):  # no Hydra, or not inside a Hydra job
        return Path.cwd()


def shared_data_root() -> Path:
    """The shared data folder on this machine (it need not exist)."""
    root = Path(os.path.expanduser(os.environ.get(SHARED_DATA_VAR) or SHARED_DATA_DEFAULT))
    return root if root.is_absolute() else original_cwd() / root


def resolve_path(p: str) -> Path:
    """The file a config's path names: the shared data folder's prefix and ``~`` expanded, and a
    relative path taken from the starting folder."""
    if p.startswith(SHARED_DATA_PREFIX):
        return shared_data_root() / p[len(SHARED_DATA_PREFIX):]
    path = Path(os.path.expanduser(p))
    return path if path.is_absolute() else original_cwd() / path


def _relative(path: Path, folder: Path) -> Path | None:
    """``path`` relative to ``folder`` (``.`` for the folder itself), or None when it lies outside."""
    try:
        return path.relative_to(folder)
    except ValueError:
        return None


def portable_path(p: str) -> str:
    """How a record names ``p``: inside the shared data folder, ``$HARNESS_SHARED_DATA/...``;
    under the home folder, ``~/...``; anything else as given. Folders are compared resolved
    (links and ``..`` followed), so ``../shared/data/x`` and the same file named absolutely agree."""
    if p.startswith(SHARED_DATA_PREFIX):
        return p
    shared = _relative(resolve_path(p).resolve(), shared_data_root().resolve())
    if shared is not None and shared != Path("."):
        return SHARED_DATA_PREFIX + shared.as_posix()
    home = os.path.expanduser("~")
    if home not in ("", "/") and os.path.isabs(p):
        rel = _relative(Path(p), Path(home))
        if rel is not None:
            return "~" if rel == Path(".") else "~/" + rel.as_posix()
    return p
