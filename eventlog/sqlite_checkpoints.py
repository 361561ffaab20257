"""WAL checkpoints off the commit path: a thread of their own for the log writer's SQLite file.

SQLite copies the write-ahead log back into the database file (a *checkpoint*) inside the
commit that takes the WAL past ``wal_autocheckpoint`` pages (1,000 by default): that commit
returns only after the copy and an ``fsync`` of the database file, 7-30 ms on this machine
against ~0.1 ms for a commit - the tail of the tick -> durable decision latency. A live
writer's connections get ``wal_autocheckpoint=0`` instead and this thread checkpoints, on a
connection of its own, after about as many pages were written; a ``PASSIVE`` checkpoint
waits for no writer, so no commit waits for it.

A passive checkpoint can only let the next writer start the WAL over when no commit landed
while it ran. A writer that never pauses (a max-speed run) would grow the WAL without end
(measured: 232 MB of WAL for a 190 MB log in 8 s), so once a checkpoint found more than
``INLINE_FRAMES`` frames in the WAL the writer's next commit checkpoints itself, right after
it commits - SQLite's own automatic checkpoint, only when the thread cannot keep up. Never a
``RESTART`` or ``TRUNCATE``: those hold new commits back while they wait for readers, and a
reader (a projection follower, ``hedge rebuild``) may read for seconds.

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
INLINE_FRAMES = 16 * PAGES


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
        self.inline_checkpoints = 0
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="hedge-wal-checkpoints", daemon=True)
        self._thread.start()

    def wrote(self, rows: int) -> bool:
        """After a commit of ``rows`` rows (the committing thread; a few operations, no lock).
        True: the WAL outgrew what the thread can copy - checkpoint inline now (``inline``)."""
        self._pages += COMMIT_PAGES + rows * (ROW_BYTES / PAGE_BYTES)
        if self._pages >= PAGES:
            self._pages = 0.0
            self._wake.set()
        return self._frames >= INLINE_FRAMES

    def inline(self, conn: sqlite3.Connection) -> None:
        """A passive checkpoint on the committing connection, between its commits (nothing is
        appended while it copies, so it completes and the next commit starts the WAL over)."""
        try:
            busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:
            self.error = exc
            return
        self.inline_checkpoints += 1
        self._frames = 0 if not busy and copied == frames else frames

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._closing:
                return
            self.checkpoint()

    def checkpoint(self) -> tuple[int, int, int] | None:
        """One passive checkpoint now, on this thread's connection: SQLite's (busy, frames in
        the WAL, frames copied), or None if it failed."""
        try:
            busy, frames, copied = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:
            self.error = exc
            return None
        self.checkpoints += 1
        self._frames = frames
        return busy, frames, copied

    def close(self) -> None:
        """Stop the thread (the WAL is left as it is: the last connection's close checkpoints it)."""
        self._closing = True
        self._wake.set()
        self._thread.join(timeout=60)
        self._conn.close()
