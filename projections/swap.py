"""Swapping a freshly built set of projections into a home, so a killed rebuild harms nothing.

``hedge rebuild`` folds into a scratch home (``projections/rebuild-<pid>.tmp``, same
filesystem) while the previous projections stay in place and readable. ``swap_in``
then moves the new outputs over the old ones in the runner's commit order -
audit tables, veto lines, state files, and the checkpoint last (the commit point):

* a directory is exchanged with ``renameat2(RENAME_EXCHANGE)`` (one atomic step;
  readers see the whole old or the whole new directory), falling back to two
  renames where the filesystem cannot exchange;
* a file is replaced with ``os.replace``.

A kill between two steps leaves newer outputs beside an older checkpoint - the
same situation as a crash of the runner between its output writes and its
checkpoint, which the runner resumes from (it redoes events after the checkpoint
and rewrites the same bytes). The old outputs end in the scratch home, which is
deleted afterwards (or by the next rebuild: ``clear_scratch``).
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
from pathlib import Path

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_libc = ctypes.CDLL(None, use_errno=True)
_renameat2 = getattr(_libc, "renameat2", None)


def scratch_home(home: Path) -> Path:
    return Path(home) / "projections" / f"rebuild-{os.getpid()}.tmp"


def clear_scratch(home: Path) -> None:
    """Remove scratch homes left by killed rebuilds (call with the projections lock held)."""
    d = Path(home) / "projections"
    if d.is_dir():
        for p in d.glob("rebuild-*.tmp"):
            shutil.rmtree(p, ignore_errors=True)


def exchange(a: Path, b: Path) -> None:
    """Atomically swap two existing paths (directories or files)."""
    if _renameat2 is not None:
        rc = _renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
        if rc == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
            raise OSError(err, os.strerror(err), str(a))
    tmp = a.with_name(a.name + ".swap")
    os.rename(b, tmp)
    os.rename(a, b)
    os.rename(tmp, a)


def _move(new: Path, live: Path) -> None:
    """Put ``new`` at ``live``; the previous ``live`` (if any) ends up at ``new``."""
    if not new.exists():
        if live.exists():  # the complete rebuild has no such output: the old one goes too
            new.parent.mkdir(parents=True, exist_ok=True)
            os.rename(live, new)
        return
    live.parent.mkdir(parents=True, exist_ok=True)
    if new.is_dir():
        if live.exists():
            exchange(new, live)
        else:
            os.rename(new, live)
    else:
        os.replace(new, live)


def _fsync_dir(d: Path) -> None:
    fd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def swap_in(scratch: Path, home: Path, order: list[str]) -> None:
    """Move each relative path of ``order`` from ``scratch`` into ``home``, in that order."""
    for rel in order:
        _move(scratch / rel, home / rel)
        if (home / rel).parent.is_dir():
            _fsync_dir((home / rel).parent)
    shutil.rmtree(scratch, ignore_errors=True)
