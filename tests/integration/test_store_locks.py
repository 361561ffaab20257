"""A second store on a log this process is writing keeps the writer's SQLite locks.

POSIX advisory locks belong to the process: closing any descriptor of a file drops every
lock the process holds on it. ``EventStore.open`` used to read the file's header with a
descriptor of its own - so the projection follower opening its store inside ``hedge run``
silently dropped the writer's locks, and the next process to close a connection to the
log (a reader, ``hedge verify``) took itself for the last one, checkpointed and deleted the
WAL under the writer: every later commit went into a deleted file (seen as lost events and
"database disk image is malformed"). The locks are probed from another process, the way
that process's SQLite sees them.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path

from eventlog.events import MarketTick
from eventlog.store import EventStore
from eventlog.writer import LogWriter

_PROBE = """
import fcntl, os, struct, sys
fd = os.open(sys.argv[1], os.O_RDWR)
# would a write lock on SQLite's shared-lock range conflict with a lock another process holds?
got = fcntl.fcntl(fd, fcntl.F_GETLK, struct.pack("hhqqi", fcntl.F_WRLCK, 0, 1073741826, 510, 0))
print("held" if struct.unpack("hhqqi", got)[0] != fcntl.F_UNLCK else "free")
"""


def _locked(path: Path) -> bool:
    out = subprocess.run([sys.executable, "-c", _PROBE, str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip() == "held"


def test_opening_a_second_store_keeps_the_writers_locks(tmp_path: Path) -> None:
    store = EventStore.open(tmp_path)
    writer = LogWriter(store, str(uuid.uuid4()), clock_ns=time.time_ns)
    try:
        writer.emit(MarketTick, stream="market.BTCUSDT", ts_event_ns=1, symbol="BTCUSDT", bid=1.0, ask=2.0)
        writer.flush()
        log = tmp_path / "eventlog.sqlite"
        assert _locked(log)  # the writer's connection holds its shared lock (WAL mode keeps it)
        follower = EventStore.open(tmp_path, create=False)  # as the projection follower does in ``hedge run``
        try:
            assert _locked(log), "opening a second store dropped the writer's locks"
            for i in range(2, 50):
                writer.emit(MarketTick, stream="market.BTCUSDT", ts_event_ns=i, symbol="BTCUSDT", bid=1.0, ask=2.0)
            writer.flush()
            assert follower.last_seq() == 49
        finally:
            follower.close()
        assert _locked(log)  # and closing it leaves them too
    finally:
        writer.close()
        store.close()


def test_a_file_that_is_not_sqlite_is_still_refused(tmp_path: Path) -> None:
    import pytest

    from eventlog.sqlite_backend import NotSQLite

    (tmp_path / "eventlog.sqlite").write_bytes(b"not a database at all, just text\n" * 4)
    with pytest.raises(NotSQLite, match="bad file header"):
        EventStore.open(tmp_path)
