"""One engine per account: a lock held in the store for the life of the process.

* SQLite: ``fcntl.flock`` on ``eventlog.sqlite.<account>.lock`` beside the database
  file (the store is that directory); the kernel drops it when the process dies,
  however it dies.
* PostgreSQL: ``pg_try_advisory_lock`` on a dedicated connection (the server drops
  it when the connection or the process goes); who holds it is kept in the table
  ``hedge_account_holders`` (overwritten by the next holder).

A second engine is refused with ``AccountBusy`` naming the holder: pid, host,
start time.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


class AccountBusy(RuntimeError):
    """Another engine holds the account."""


def _holder() -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname(),
            "started": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}


def _busy(account: str, holder: dict[str, Any] | None) -> AccountBusy:
    who = (f"pid {holder.get('pid')} on {holder.get('host')} since {holder.get('started')}"
           if holder else "another process")
    return AccountBusy(f"account {account!r} is already being run by {who}: one engine per account. "
                       "Stop that engine first, or run this one with --account NAME")


def lock_path(store: Any, account: str) -> Path:
    """The SQLite store's lock file of an account (beside the database file)."""
    db = Path(store.location)
    return db.with_name(f"{db.name}.{account}.lock")


def is_held(store: Any, account: str) -> bool | None:
    """Whether an engine holds the account now (SQLite stores; None on PostgreSQL: unknown here)."""
    if hasattr(store.recorder, "connect_kwargs"):
        return None
    path = lock_path(store, account)
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


class AccountLock:
    """Held from ``acquire()`` until ``release()`` or process exit."""

    def __init__(self, store: Any, account: str, home: Path | None = None):
        self.store = store
        self.account = account
        self.home = home
        self._fd: int | None = None
        self._conn: Any = None

    def acquire(self) -> AccountLock:
        if hasattr(self.store.recorder, "connect_kwargs"):
            self._acquire_pg()
        else:
            self._acquire_file()
        return self

    # -- SQLite: flock beside the database file -------------------------------------------

    def _acquire_file(self) -> None:
        path = lock_path(self.store, self.account)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                holder = json.loads(os.pread(fd, 4096, 0).decode() or "null")
            except (OSError, ValueError):
                holder = None
            os.close(fd)
            raise _busy(self.account, holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(_holder()).encode(), 0)
        self._fd = fd

    # -- PostgreSQL: advisory lock on a dedicated connection ----------------------------

    def _key(self) -> int:
        return int.from_bytes(hashlib.sha256(f"hedge-account:{self.account}".encode()).digest()[:8], "big",
                              signed=True)

    def _acquire_pg(self) -> None:
        import psycopg

        conn = psycopg.connect(**self.store.recorder.connect_kwargs, autocommit=True, connect_timeout=10)
        conn.execute("CREATE TABLE IF NOT EXISTS hedge_account_holders (account text PRIMARY KEY, "
                     "holder text NOT NULL)")
        got = conn.execute("SELECT pg_try_advisory_lock(%s)", (self._key(),)).fetchone()
        if not got or not got[0]:
            row = conn.execute("SELECT holder FROM hedge_account_holders WHERE account = %s",
                               (self.account,)).fetchone()
            conn.close()
            raise _busy(self.account, json.loads(row[0]) if row else None)
        conn.execute("INSERT INTO hedge_account_holders (account, holder) VALUES (%s, %s) "
                     "ON CONFLICT (account) DO UPDATE SET holder = EXCLUDED.holder",
                     (self.account, json.dumps(_holder())))
        self._conn = conn

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                os.close(self._fd)
            self._fd = None
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()  # the advisory lock goes with the connection
            self._conn = None

    def __enter__(self) -> AccountLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
