"""One projector per home: an exclusive, non-blocking ``flock`` on ``projections/lock``."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class ProjectionError(RuntimeError):
    """The projections cannot go on (corrupt checkpoint, foreign log, already running)."""


class Lock:
    """An exclusive, non-blocking ``flock`` so only one projector writes a home.

    The descriptor is close-on-exec (Python's default), so a child process never
    inherits the lock; the kernel drops it when this process dies, however it dies.
    """

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            raise ProjectionError(f"projections for {path.parent.parent} are already running "
                                  "in another process (hedge run or hedge project)") from None

    def release(self) -> None:
        if self.fd >= 0:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = -1
