"""The compact SQLite layout (format 2): small integer row keys, the payload preamble in the key.

A log created by this version has, beside ``stored_events``, two small tables::

    log_format(version)                      -- 2
    log_sessions(number INTEGER PRIMARY KEY, session_id TEXT UNIQUE,
                 first_seq, last_seq, last_version)

and its ``stored_events`` rows hold ``originator_id`` = the session's ``number``,
``topic`` = the type's permanent code (``eventlog.typecodes``) and ``state`` = the 32-byte
chain link followed by the payload *without* its 17-byte preamble (``0xC1`` + session
UUID, ``eventlog.compact``) when it is a compact payload. There is no index on
(session, session_seq): per-session reads walk the rowid range ``first_seq..last_seq``
of ``log_sessions``, ``max_version`` reads ``last_version``, and an insert is refused
unless each session's versions keep increasing (a duplicate key, as the primary key
refused it in format 1).

Readers never see the difference: ``to_row`` gives the format-1 row shape
``(seq, session hex, session_seq, type name, state)`` with the preamble put back, so the
hash chain is the SHA-256 of the same self-describing bytes, and the link, every
header field and the session id stay covered. A log without ``log_format`` is format 1
and is read and appended exactly as before.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from hashlib import sha256
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from eventlog.compact import ARRAY_START, MARK, PREAMBLE, split_preamble, stored_without_preamble
from eventlog.typecodes import TYPE_CODES, TYPE_NAMES

FORMAT = 2
SCHEMA = (
    "CREATE TABLE log_format (version INTEGER NOT NULL)",
    f"INSERT INTO log_format VALUES ({FORMAT})",
    "CREATE TABLE log_sessions (number INTEGER PRIMARY KEY, session_id TEXT NOT NULL UNIQUE, "
    "first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL, last_version INTEGER NOT NULL)",
    # no NOT NULL: a damaged row must still be readable so that verify can name it
    "CREATE TABLE stored_events (originator_id INTEGER, originator_version INTEGER, topic INTEGER, state BLOB)",
)

Row = tuple[int, Any, Any, Any, Any]


def is_compact(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='log_format'").fetchone() is not None


class CompactKeys:
    """Session numbers of one compact log (a cache of ``log_sessions``; rows are never changed)."""

    def __init__(self) -> None:
        self.by_number: dict[int, tuple[str, bytes]] = {}  # number -> (hex, 16 bytes)
        self.by_hex: dict[str, int] = {}
        self.preambles: dict[int, bytes] = {}  # number -> 0xC1 + its 16 UUID bytes
        self.sids: dict[int, tuple[str, str]] = {}  # number -> (str(UUID), UUID.hex): the two spellings

    def load(self, conn: sqlite3.Connection) -> None:
        for number, hexid in conn.execute("SELECT number, session_id FROM log_sessions"):
            self._learn(number, hexid)

    def _learn(self, number: int, hexid: str) -> None:
        try:
            raw = UUID(hexid).bytes
        except (ValueError, AttributeError, TypeError):
            return  # a damaged log_sessions row: its rows stay unresolved and verify names them
        self.by_number[number] = (UUID(bytes=raw).hex, raw)
        self.by_hex[UUID(bytes=raw).hex] = number
        self.preambles[number] = bytes((MARK,)) + raw
        self.sids[number] = (str(UUID(bytes=raw)), UUID(bytes=raw).hex)

    def number(self, conn: sqlite3.Connection, hexid: str) -> int | None:
        n = self.by_hex.get(hexid)
        if n is None:
            self.load(conn)
            n = self.by_hex.get(hexid)
        return n

    def span(self, conn: sqlite3.Connection, hexid: str) -> tuple[int, int, int] | None:
        """(number, first_seq, last_seq) of a session, or None when it has no rows."""
        got = conn.execute("SELECT number, first_seq, last_seq FROM log_sessions WHERE session_id=?",
                           (hexid,)).fetchone()
        return None if got is None else (int(got[0]), int(got[1]), int(got[2]))

    def last_version(self, conn: sqlite3.Connection, hexid: str) -> int:
        got = conn.execute("SELECT last_version FROM log_sessions WHERE session_id=?", (hexid,)).fetchone()
        return int(got[0]) if got else 0

    # -- writing (inside the caller's write transaction) ---------------------------------------

    def chained(self, conn: sqlite3.Connection, rows: Sequence[tuple[str, int, str, bytes]], prev: bytes,
                first_id: int) -> tuple[list[tuple[int, int, Any, bytes]], bytes]:
        """The stored rows of ``rows`` chained after ``prev`` (the hash of the last stored row),
        sessions registered; returns them and the new head.

        One pass does what ``chain.chain_states`` and the preamble split would do in two: each
        row's hash is the SHA-256 of ``link + self-describing payload`` (the preamble in), its
        stored state the link and the payload without the preamble. Refuses
        (``IntegrityError``) a version that does not exceed the session's last one, and a
        compact payload whose session is not the row's. This runs once per event of every
        commit: the common row (a compact payload of the row's own session) takes one slice
        comparison and two concatenations.
        """
        out: list[tuple[int, int, Any, bytes]] = []
        append = out.append
        seen: dict[str, list[Any]] = {}  # hex -> [number, first, last, last_version, preamble]
        codes = TYPE_CODES
        h = prev
        cur: str | None = None
        s: list[Any] = []
        pre: bytes | None = None
        i = first_id
        for hexid, version, topic, p in rows:
            if hexid != cur:
                got = seen.get(hexid)
                if got is None:
                    got = seen[hexid] = self._session(conn, hexid, i)
                s, cur, pre = got, hexid, got[4]
                if s[1] > i:
                    s[1] = i
            if not isinstance(version, int) or version <= s[3]:
                _refuse(hexid, s[3], version)
            s[2], s[3] = i, version
            if pre is not None and p[:PREAMBLE] == pre and len(p) > PREAMBLE:
                body = h + p[PREAMBLE:]
            else:
                body = _body(h, p, hexid)
            append((s[0], version, codes.get(topic, topic), body))
            h = sha256(h + p).digest()
            i += 1
        conn.executemany("UPDATE log_sessions SET first_seq=?, last_seq=?, last_version=? WHERE number=?",
                         [(s[1], s[2], s[3], s[0]) for s in seen.values()])
        # (nothing is cached here: a rolled-back number could be given to another session;
        # readers learn committed numbers from the table on their first miss)
        return out, h

    def stored(self, conn: sqlite3.Connection, rows: Sequence[tuple[str, int, str, bytes]], states: list[bytes],
               first_id: int) -> list[tuple[int, int, Any, bytes]]:
        """The stored rows of already chained ``states`` (link + self-describing payload, copied
        verbatim: ``hedge migrate``), sessions registered; the same refusals as ``chained``."""
        out: list[tuple[int, int, Any, bytes]] = []
        seen: dict[str, list[Any]] = {}
        for i, (r, st) in enumerate(zip(rows, states, strict=True)):
            hexid, version = r[0], r[1]
            s = seen.get(hexid)
            if s is None:
                s = seen[hexid] = self._session(conn, hexid, first_id + i)
            if not isinstance(version, int) or version <= s[3]:
                _refuse(hexid, s[3], version)
            s[2], s[3] = first_id + i, version
            if s[1] > s[2]:
                s[1] = s[2]
            out.append((s[0], version, TYPE_CODES.get(r[2], r[2]), _body(st[:32], st[32:], hexid)))
        conn.executemany("UPDATE log_sessions SET first_seq=?, last_seq=?, last_version=? WHERE number=?",
                         [(s[1], s[2], s[3], s[0]) for s in seen.values()])
        return out

    def _session(self, conn: sqlite3.Connection, hexid: str, row_id: int) -> list[Any]:
        """[number, first, last, last_version, preamble] of the session a row at ``row_id`` belongs to,
        registered in ``log_sessions`` if new (preamble None: a session id a compact payload cannot carry)."""
        got = conn.execute("SELECT number, first_seq, last_seq, last_version FROM log_sessions "
                           "WHERE session_id=?", (hexid,)).fetchone()
        if got is not None and got[2] >= row_id:
            got = self._recount(conn, got[0], row_id)  # its tail rows were deleted by hand
        if got is None:
            cur = conn.execute("INSERT INTO log_sessions (session_id, first_seq, last_seq, last_version) "
                               "VALUES (?, ?, ?, 0)", (hexid, row_id, row_id))
            got = (cur.lastrowid, row_id, row_id, 0)
        return [*got, _preamble(hexid)]

    @staticmethod
    def _recount(conn: sqlite3.Connection, number: int, next_id: int) -> tuple[int, int, int, int]:
        """A session's (number, first, last, last version) from its rows: ``log_sessions`` names a
        last row that is gone (rows deleted outside the store - only a hand edit or an attack does)."""
        lo, hi, top = conn.execute("SELECT min(rowid), max(rowid), max(originator_version) FROM stored_events "
                                   "WHERE originator_id=?", (number,)).fetchone()
        if lo is None:
            return number, next_id, next_id, 0
        return number, int(lo), int(hi), int(top or 0)

    # -- reading ---------------------------------------------------------------------------------

    def to_rows(self, conn: sqlite3.Connection, rows: list[Row]) -> list[Row]:
        """``to_row`` of a page of rows (the common case - a known session, a stored compact
        payload - inlined: this runs once per row of every read)."""
        by_number, names, pre = self.by_number, TYPE_NAMES, self.preambles
        out: list[Row] = []
        append = out.append
        for r in rows:
            seq, number, version, code, state = r
            p = pre.get(number)
            if p is None or type(state) is not bytes or len(state) <= 32 or state[32] not in ARRAY_START:
                append(self.to_row(conn, r))
                continue
            append((seq, by_number[number][0], version, names.get(code, code) if type(code) is int else code,
                    state[:32] + p + state[32:]))
        return out

    def to_row(self, conn: sqlite3.Connection, r: Row) -> Row:
        """A stored row in the format-1 shape, the payload preamble put back (damage left as found)."""
        seq, number, version, code, state = r
        key = self.by_number.get(number) if isinstance(number, int) else None
        if key is None and isinstance(number, int):
            self.load(conn)
            key = self.by_number.get(number)
        topic = TYPE_NAMES.get(code, str(code)) if isinstance(code, int) else code
        if key is None:
            return seq, number, version, topic, state
        if isinstance(state, bytes) and len(state) > 32 and stored_without_preamble(state[32:]):
            state = state[:32] + bytes((MARK,)) + key[1] + state[32:]
        return seq, key[0], version, topic, state


def _preamble(hexid: str) -> bytes | None:
    """The preamble a compact payload of session ``hexid`` starts with (None: no compact payload
    can belong to that spelling, e.g. not 32 lower-case hex digits)."""
    try:
        raw = bytes.fromhex(hexid)
    except (ValueError, TypeError):
        return None
    return bytes((MARK,)) + raw if len(raw) == 16 and raw.hex() == hexid else None


def _refuse(hexid: str, last: int, version: Any) -> None:
    raise IntegrityError(f"UNIQUE constraint failed: session {hexid} already has session_seq "
                         f"{last} >= {version} (a duplicate or out-of-order event)")


def _body(link: bytes, payload: bytes, hexid: str) -> bytes:
    """The stored state of a payload that is not a compact payload of its row's session: a
    compact payload of another session is refused, a format-1 map kept whole."""
    raw, rest = split_preamble(payload)
    if raw is not None:
        if raw.hex() != hexid:
            raise IntegrityError(f"payload of session {UUID(bytes=raw)} stored under session {hexid}")
        return link + rest
    if stored_without_preamble(payload):
        raise ValueError("a bare msgpack array is not an event payload")
    return link + payload
