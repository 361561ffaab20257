"""WAL checkpoints off the commit path: a thread of their own for the log writer's SQLite file.

SQLite copies the write-ahead log back into the database file (a *checkpoint*) inside the
commit that takes the WAL past ``wal_autocheckpoint`` pages (1,000 by default): that commit
returns only after the copy and an ``fsync`` of the database file, 7-30 ms on this machine
against ~0.1 ms for a commit - the tail of the tick -> durable decision latency. A live
writer's connections get ``wal_autocheckpoint=0`` instead and this thread checkpoints, on a
connection of its own, after about as many pages were written; a ``PASSIVE`` checkpoint
waits for no writer, so no commit waits for it.

A passive checkpoint can only let the next writer start the WAL over when no commit landed
while it ran. A writer that never pauses (a max-speed run) would grow the WAL without end,
so once it holds ``RESTART_FRAMES`` frames after a checkpoint the next one is a
``RESTART``: it waits for the commit in progress, holds the next one back until it has
copied everything, and the WAL starts over - what SQLite's own checkpoint costs a commit,
but once per ~64 MB instead of every 4 MB, and never while the loop is live (commits far
apart leave the passive checkpoints room to finish).

Durability is unchanged: a commit is durable in the WAL (``synchronous=NORMAL``: after a
process crash; ``FULL``: after power loss) whether or not it was checkpointed, and SQLite
replays a WAL on the next open. A failed checkpoint is kept in ``error`` and retried with
the next one; it loses nothing (the frames stay in the WAL).
"""

from __future__ import annotations

import sqlite3
import threading

PAGES = 1000  # SQLite's default wal_autocheckpoint
PAGE_BYTES = 4096
ROW_BYTES = 160  # a stored event, on average (link, payload, key; docs/storage.md: ~147)
COMMIT_PAGES = 2  # a commit rewrites at least the last table page and its session's row
RESTART_FRAMES = 16 * PAGES


class BackgroundCheckpoints:
    """Checkpoints of ``db_path`` on their own thread, requested by ``wrote`` after each commit."""

    def __init__(self, db_path: str, *, busy_timeout_s: float = 30.0):
        self.db_path = db_path
        self._conn = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False, timeout=busy_timeout_s)
        self._pages = 0.0  # written since the last request (an estimate: SQLite does not tell)
        self._frames = 0  # frames in the WAL at the last checkpoint
        self._wake = threading.Event()
        self._closing = False
        self.checkpoints = 0
        self.restarts = 0
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="hedge-wal-checkpoints", daemon=True)
        self._thread.start()

    def wrote(self, rows: int) -> None:
        """After a commit of ``rows`` rows (the committing thread; a few operations, no lock)."""
        self._pages += COMMIT_PAGES + rows * (ROW_BYTES / PAGE_BYTES)
        if self._pages >= PAGES:
            self._pages = 0.0
            self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._closing:
                return
            self.checkpoint()

    def checkpoint(self) -> tuple[int, int, int] | None:
        """One checkpoint now (passive, or a restart once the WAL outgrew ``RESTART_FRAMES``):
        SQLite's (busy, frames in the WAL, frames copied), or None if it failed."""
        mode = "RESTART" if self._frames >= RESTART_FRAMES else "PASSIVE"
        try:
            busy, frames, copied = self._conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        except sqlite3.Error as exc:
            self.error = exc
            return None
        self.checkpoints += 1
        if mode == "RESTART" and not busy:
            self.restarts += 1
            frames = 0
        self._frames = frames
        return busy, frames, copied

    def close(self) -> None:
        """Stop the thread (the WAL is left as it is: the last connection's close checkpoints it)."""
        self._closing = True
        self._wake.set()
        self._thread.join(timeout=60)
        self._conn.close()
