"""SQLite backend: the eventsourcing SQLite application recorder, inserting in bulk.

The library's recorder inserts row by row to learn each row id. Under an immediate
(write-locked) transaction the ids of a bulk insert are ``max(rowid)+1 ...``, so we
insert with one ``executemany`` and chain the rows to the last stored hash inside
the same transaction: the chain follows commit order even with several writers.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import (
    SQLiteApplicationRecorder,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteDatastore,
)

from eventlog.chain import GENESIS, chain_states, row_hash
from eventlog.chaincheck import NotAnEventLog
from eventlog.sqlite_keys import SCHEMA, CompactKeys, is_compact
from eventlog.typecodes import TYPE_CODES

if TYPE_CHECKING:
    from eventlog.sqlite_checkpoints import BackgroundCheckpoints

Row = tuple[int, str, int, str, bytes]


class _Pool(SQLiteConnectionPool):
    """Connection pool that applies our pragmas to every connection."""

    synchronous = "NORMAL"

    def _create_connection(self) -> SQLiteConnection:
        conn = super()._create_connection()
        raw = conn._sqlite_conn
        raw.execute(f"PRAGMA synchronous={self.synchronous}")
        return conn


class ChainedSQLiteRecorder(SQLiteApplicationRecorder):
    """Application recorder with bulk inserts and the hash chain."""

    # Ids are max(rowid)+1 under the write lock and a rollback burns none: a stored log
    # has seqs 1, 2, 3, ... with no gap (PostgreSQL's sequence may skip ids).
    gapless = True

    def __init__(self, db_path: str, *, synchronous: str | None = None, readonly: bool = False,
                 layout: str | None = None):
        sync = (synchronous or "NORMAL").upper()  # HEDGE_SQLITE_SYNC, passed by the CLI
        if sync not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"HEDGE_SQLITE_SYNC must be OFF|NORMAL|FULL|EXTRA, not {sync!r}")
        # Read-only (an auditor's copy, a read-only mount): open by URI, never write.
        db_name = db_path
        if readonly:
            wal = db_path + "-wal"
            # A read-only connection never checkpoints, truncates or deletes the WAL. On a
            # read-only mount with no WAL content everything is in the main file: open it
            # immutable (no -shm needed, which such a mount could not create).
            clean = not os.path.exists(wal) or os.path.getsize(wal) == 0
            mount_ro = not os.access(os.path.dirname(os.path.abspath(db_path)), os.W_OK)
            db_name = f"file:{quote(db_path)}?" + ("immutable=1" if clean and mount_ro else "mode=ro")
        datastore = SQLiteDatastore(db_name=db_name, lock_timeout=30)
        pool = _Pool(db_name=db_name, lock_timeout=30)
        pool.synchronous = sync
        datastore.pool = pool
        super().__init__(datastore)
        self.db_path = db_path
        # (session, next id) -> lower bound of the version there, left by the previous page
        self._next_version: dict[tuple[str, int], int] = {}
        self._last_sql = f"SELECT rowid, state FROM {self.events_table_name} ORDER BY rowid DESC LIMIT 1"
        # the layout a new log gets: compact (format 2, eventlog.sqlite_keys) unless asked for
        # format 1 (HEDGE_LOG_LAYOUT=v1: the benches compare the two); an existing log keeps its own
        self.new_layout = (layout or "compact").lower()  # HEDGE_LOG_LAYOUT, passed by the CLI
        if self.new_layout not in ("compact", "v1"):
            raise ValueError(f"HEDGE_LOG_LAYOUT must be compact|v1, not {self.new_layout!r}")
        self._keys: CompactKeys | None = None
        self._layout_known = False
        self.readonly = readonly
        self._checkpoints: BackgroundCheckpoints | None = None  # a live writer's (eventlog.sqlite_checkpoints)
        _opened(db_path, +1)  # before any connection of ours locks it (check_sqlite_file)
        self._registered = True

    # -- layout ------------------------------------------------------------------

    def keys(self, conn: sqlite3.Connection) -> CompactKeys | None:
        """The compact layout's session numbers, or None for a format-1 log (found out once)."""
        if not self._layout_known:
            if is_compact(conn):
                self._keys = CompactKeys()
                self._keys.load(conn)
                self._layout_known = True
            elif conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?",
                              (self.events_table_name,)).fetchone():
                self._layout_known = True  # format 1
        return self._keys

    def create_table(self) -> None:
        """Create a new log (compact layout unless ``v1`` was asked for); an existing one is left as it is."""
        with self.datastore.get_connection(commit=True) as conn:
            raw = conn._sqlite_conn
            raw.execute("BEGIN IMMEDIATE")
            try:
                exists = raw.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?",
                                     (self.events_table_name,)).fetchone()
                if not exists and self.new_layout == "compact":
                    for stmt in SCHEMA:
                        raw.execute(stmt)
                elif not exists:
                    for stmt in self.create_table_statements:
                        raw.execute(stmt)
                raw.execute("COMMIT")
            except BaseException:
                if raw.in_transaction:
                    raw.execute("ROLLBACK")
                raise

    # -- writing -----------------------------------------------------------------

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int]:
        """The library's entry point: insert stored events (chained, in one transaction)."""
        return self.insert_rows(
            [(_oid(s.originator_id), s.originator_version, s.topic, s.state) for s in stored_events]
        )

    def insert_rows(self, rows: Sequence[tuple[str, int, str, bytes]]) -> list[int]:
        """Bulk insert (originator hex, version, topic, payload) rows; returns their ids.

        Chains the payloads to the last stored row inside a write-locked transaction,
        so the chain follows commit order and the ids are ``max(rowid)+1 ...``.
        """
        if not rows:
            return []
        with self.datastore.get_connection(commit=True) as conn:
            raw = conn._sqlite_conn
            bg = self._checkpoints
            if (bg is not None) != getattr(conn, "hedge_checkpoints_off", False):
                self._autocheckpoint(conn, off=bg is not None)
            try:
                raw.execute("BEGIN IMMEDIATE")
                cur = raw.cursor()
                cur.row_factory = None
                keys = self.keys(raw)
                row = self._last(raw, keys)
                max_id, prev = (row[0], row_hash(row[4])) if row else (0, GENESIS)
                stored: list[tuple[Any, int, Any, bytes]]
                if keys is not None:
                    stored, _ = keys.chained(raw, rows, prev, max_id + 1)
                else:
                    states, _ = chain_states(prev, [r[3] for r in rows])
                    stored = [(r[0], r[1], r[2], st) for r, st in zip(rows, states, strict=True)]
                cur.executemany(self.insert_events_statement, stored)
                raw.execute("COMMIT")
            except BaseException:
                if raw.in_transaction:
                    raw.execute("ROLLBACK")
                raise
            if bg is not None and bg.wrote(len(rows)):
                bg.inline(raw)  # the checkpoint thread cannot keep up: as SQLite would, after the commit
        return list(range(max_id + 1, max_id + 1 + len(rows)))

    # -- checkpoints -------------------------------------------------------------

    def checkpoint_in_background(self) -> BackgroundCheckpoints | None:
        """Take WAL checkpoints off the commit path (a live ``LogWriter``): this recorder's
        commits stop checkpointing and a thread does it (``eventlog.sqlite_checkpoints``).
        None for a read-only log. ``checkpoint_inline`` gives SQLite its own back."""
        if self.readonly:
            return None
        if self._checkpoints is None:
            from eventlog.sqlite_checkpoints import BackgroundCheckpoints

            self._checkpoints = BackgroundCheckpoints(self.db_path)
        return self._checkpoints

    def checkpoint_inline(self) -> None:
        """Stop the checkpoint thread; each connection gets its automatic checkpoint back at its next commit."""
        bg, self._checkpoints = self._checkpoints, None
        if bg is not None:
            bg.close()

    @staticmethod
    def _autocheckpoint(conn: SQLiteConnection, *, off: bool) -> None:
        """Switch a connection's automatic checkpoint off (remembering its size) or back on.
        Done by the thread that holds the connection, before its write."""
        raw = conn._sqlite_conn
        if off:
            conn.hedge_pages = raw.execute("PRAGMA wal_autocheckpoint").fetchone()[0]  # type: ignore[attr-defined]
            raw.execute("PRAGMA wal_autocheckpoint=0")
        else:
            raw.execute(f"PRAGMA wal_autocheckpoint={int(getattr(conn, 'hedge_pages', 1000))}")
        conn.hedge_checkpoints_off = off  # type: ignore[attr-defined]

    # -- reading -----------------------------------------------------------------

    def select_rows(
        self,
        start: int,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        originator_id: str | None = None,
    ) -> list[Row]:
        """Raw rows (id, originator_id, version, topic, state) with id >= start.

        Format 1: with ``originator_id`` (one session) the rows are walked in the primary
        key's (originator_id, originator_version) order, which is their id order within a
        session, from the version where the previous page of the same session ended:
        each page is an index range scan of ``limit`` rows instead of a scan of the
        whole session plus a sort (which made a session read quadratic). The compact
        layout (``eventlog.sqlite_keys``) returns the same row shape from a rowid range.
        """
        with self.datastore.get_connection(commit=False) as conn:
            raw = conn._sqlite_conn
            keys = self.keys(raw)
            if keys is not None:
                return self._select_compact(raw, keys, start, limit, stop, topics, originator_id)
            params: list[Any] = [start]
            if originator_id is not None:
                hint = self._next_version.get((originator_id, start), 0)
                sql = (f"SELECT rowid, originator_id, originator_version, topic, state FROM {self.events_table_name} "
                       "WHERE originator_id=? AND originator_version>=? AND rowid>=?")
                params = [originator_id, hint, start]
            else:
                sql = f"SELECT rowid, originator_id, originator_version, topic, state FROM {self.events_table_name} WHERE rowid>=?"
            if stop is not None:
                sql += " AND rowid<=?"
                params.append(stop)
            if topics:
                sql += f" AND topic IN ({','.join('?' * len(topics))})"
                params.extend(topics)
            sql += " ORDER BY originator_version LIMIT ?" if originator_id is not None else " ORDER BY rowid LIMIT ?"
            params.append(limit)
            cur = raw.cursor()
            cur.row_factory = None
            rows: list[Row] = cur.execute(sql, params).fetchall()
        if originator_id is not None and rows:
            # the session's next row has a higher id and a higher version than this page's last
            if len(self._next_version) > 64:
                self._next_version.clear()
            self._next_version[(originator_id, rows[-1][0] + 1)] = rows[-1][2] + 1
        return rows

    def select_stored(
        self, start: int, limit: int, stop: int | None = None, topics: Sequence[str] = (),
        originator_id: str | None = None,
    ) -> tuple[list[Row], CompactKeys] | None:
        """``select_rows`` of the compact layout *as stored* - (seq, session number, version, type
        code, link + payload without its preamble) - with the keys that put the preamble back
        (``CompactKeys.to_row``); None for a format-1 log. The readers that check and decode
        every row (``EventStore.pages``) do both straight from these rows, without first
        building the format-1 row of each."""
        with self.datastore.get_connection(commit=False) as conn:
            raw = conn._sqlite_conn
            keys = self.keys(raw)
            if keys is None:
                return None
            return self._select_compact_stored(raw, keys, start, limit, stop, topics, originator_id), keys

    def stored_row(self, r: Row) -> Row:
        """One row of ``select_stored`` in the format-1 shape (``CompactKeys.to_row``)."""
        keys = self._keys
        if keys is None:
            return r
        with self.datastore.get_connection(commit=False) as conn:
            return keys.to_row(conn._sqlite_conn, r)

    def _select_compact(
        self, raw: sqlite3.Connection, keys: CompactKeys, start: int, limit: int, stop: int | None,
        topics: Sequence[str], originator_id: str | None,
    ) -> list[Row]:
        """``select_rows`` on the compact layout: a rowid range scan (a session's span from log_sessions)."""
        return keys.to_rows(raw, self._select_compact_stored(raw, keys, start, limit, stop, topics, originator_id))

    def _select_compact_stored(
        self, raw: sqlite3.Connection, keys: CompactKeys, start: int, limit: int, stop: int | None,
        topics: Sequence[str], originator_id: str | None,
    ) -> list[Row]:
        params: list[Any] = [start]
        sql = f"SELECT rowid, originator_id, originator_version, topic, state FROM {self.events_table_name} WHERE rowid>=?"
        if originator_id is not None:
            span = keys.span(raw, originator_id)
            if span is None:
                return []
            params = [max(start, span[1])]
            stop = span[2] if stop is None else min(stop, span[2])
            sql += " AND originator_id=?"
            params.append(span[0])
        if stop is not None:
            sql += " AND rowid<=?"
            params.append(stop)
        if topics:
            codes = [TYPE_CODES.get(t, t) for t in topics]
            sql += f" AND topic IN ({','.join('?' * len(codes))})"
            params.extend(codes)
        sql += " ORDER BY rowid LIMIT ?"
        params.append(limit)
        cur = raw.cursor()
        cur.row_factory = None
        rows: list[Row] = cur.execute(sql, params).fetchall()
        return rows

    def _last(self, raw: sqlite3.Connection, keys: CompactKeys | None) -> Row | None:
        cur = raw.cursor()
        cur.row_factory = None
        row = cur.execute(
            f"SELECT rowid, originator_id, originator_version, topic, state FROM {self.events_table_name} "
            "ORDER BY rowid DESC LIMIT 1").fetchone()
        return keys.to_row(raw, row) if keys is not None and row is not None else row

    def last_row(self) -> Row | None:
        with self.datastore.get_connection(commit=False) as conn:
            raw = conn._sqlite_conn
            return self._last(raw, self.keys(raw))

    def max_version(self, originator_id: str) -> int:
        with self.datastore.get_connection(commit=False) as conn:
            keys = self.keys(conn._sqlite_conn)
            if keys is not None:
                return keys.last_version(conn._sqlite_conn, originator_id)
            row = conn._sqlite_conn.execute(
                f"SELECT MAX(originator_version) FROM {self.events_table_name} WHERE originator_id=?",
                (originator_id,),
            ).fetchone()
        return int(row[0] or 0)

    def count(self) -> int:
        with self.datastore.get_connection(commit=False) as conn:
            return int(conn._sqlite_conn.execute(f"SELECT COUNT(*) FROM {self.events_table_name}").fetchone()[0])

    def close(self) -> None:
        self.checkpoint_inline()
        self.datastore.close()
        if self._registered:
            self._registered = False
            _opened(self.db_path, -1)

    def wal_damage(self) -> str | None:
        """What a damaged WAL would make SQLite drop (None when it drops nothing)."""
        return wal_damage(self.db_path)

    def page_check(self) -> str | None:
        """SQLite's own structural check of every page (tables, index, free list); None when ok."""
        with self.datastore.get_connection(commit=False) as conn:
            got = [r[0] for r in conn._sqlite_conn.execute("PRAGMA quick_check(5)").fetchall()]
        return None if got == ["ok"] else "; ".join(str(g) for g in got)


def _oid(originator_id: UUID | str) -> str:
    return originator_id.hex if isinstance(originator_id, UUID) else originator_id


class NotSQLite(sqlite3.DatabaseError):
    """The file is not an SQLite database at all (a usage error: the wrong file)."""


# Event logs this process has open through SQLite (real path -> recorders). POSIX advisory
# locks belong to the process, and closing *any* descriptor of a file drops all of them
# (https://sqlite.org/howtocorrupt.html#_posix_advisory_locks_canceled_by_a_separate_thread_doing_close_):
# reading the header of a log that a writer of this process holds would silently drop the
# writer's locks, and another process closing its last connection would then checkpoint
# and delete the WAL under the writer - whose later commits went into a deleted file.
_OPEN_LOGS: dict[str, int] = {}
_OPEN_LOCK = threading.Lock()


def _opened(path: str, delta: int) -> None:
    key = os.path.realpath(path)
    with _OPEN_LOCK:
        n = _OPEN_LOGS.get(key, 0) + delta
        if n > 0:
            _OPEN_LOGS[key] = n
        else:
            _OPEN_LOGS.pop(key, None)


def check_sqlite_file(path: str) -> None:
    """Refuse a file that exists but is not an SQLite database (clear error, no overwrite).

    A log this process already has open through SQLite is not read again (it was checked
    when first opened, and a descriptor of our own would drop SQLite's locks when closed)."""
    with _OPEN_LOCK:  # no recorder of this file registers (and locks it) while we read it
        if os.path.realpath(path) in _OPEN_LOGS:
            return
        if os.path.exists(path) and os.path.getsize(path) > 0:
            with open(path, "rb") as f:
                head = f.read(16)
            if head != b"SQLite format 3\x00":
                raise NotSQLite(f"{path} is not an SQLite event log (bad file header)")



def open_read_only(path: str) -> ChainedSQLiteRecorder:
    """A read-only recorder, refusing an empty file or one without the events table."""
    if os.path.getsize(path) == 0:
        raise NotAnEventLog(f"{path} is empty (0 bytes): not an event log")
    rec = ChainedSQLiteRecorder(path, readonly=True)
    try:
        with rec.datastore.get_connection(commit=False) as conn:
            found = conn._sqlite_conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (rec.events_table_name,)).fetchone()
    except BaseException:
        rec.close()
        raise
    if not found:
        rec.close()
        raise NotAnEventLog(f"{path} has no events table: not an event log, or its table was dropped")
    return rec


def wal_damage(db_path: str) -> str | None:
    """What a damaged WAL beside ``db_path`` would make SQLite drop (None when nothing)."""
    from eventlog.sqlite_wal import scan

    wal = db_path + "-wal"
    found = scan(wal)
    if found is not None and scan(wal) != found:
        return None  # a live writer reset the WAL while it was read: not damage
    if found is None:
        return None
    lost = "every frame" if found.lost_commits < 0 else f"{found.lost_commits} committed transactions"
    return (f"the write-ahead log {wal} is damaged at frame {found.frame} (byte {found.offset}): {lost} "
            f"after it ({found.lost_frames} frames) cannot be read and SQLite would drop them on the "
            "next write; keep the -wal file as evidence")


def refuse_damaged_wal(db_path: str) -> None:
    """``ChainBroken`` (at the first seq SQLite would lose) before anything opens a damaged log
    for writing: the first write would checkpoint the WAL and make the loss final."""
    wal = db_path + "-wal"
    try:
        if os.path.getsize(wal) == 0:
            return
    except OSError:
        return
    problem = wal_damage(db_path)
    if problem is None:
        return
    from eventlog.chaincheck import ChainBroken

    con = sqlite3.connect(f"file:{quote(db_path)}?mode=ro", uri=True)
    try:
        last = int(con.execute("SELECT COALESCE(MAX(rowid), 0) FROM stored_events").fetchone()[0])
    except sqlite3.Error:
        last = 0
    finally:
        con.close()
    raise ChainBroken(last + 1, problem + "; nothing was opened for writing")
