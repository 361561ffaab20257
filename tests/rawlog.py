"""Direct access to a stored log, bypassing our code: the attacker's (and the auditor's) view.

Tamper tests use this to change, delete, reorder or truncate stored rows with
plain ``sqlite3``/``psycopg`` - no code path of the project can do that. Works on
the SQLite file and on a PostgreSQL database alike; ``seq`` is the row id
(``rowid`` / ``notification_id``).

On an SQLite log in the compact layout (``eventlog.sqlite_keys``) ``state``/``rows``
give what the chain covers - the row with its 17-byte payload preamble (session UUID)
put back, the session and type named - and ``set_state`` takes such bytes and stores
them as the layout does (an attacker who knows the format). ``flip_byte`` flips a byte
of the bytes as stored.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from eventlog.pg_backend import parse_url

TABLE = "stored_events"


class RawLog:
    """Raw rows of one stored log (SQLite path or PostgreSQL URL)."""

    def __init__(self, *, sqlite_path: str | Path | None = None, url: str | None = None):
        if (sqlite_path is None) == (url is None):
            raise ValueError("give exactly one of sqlite_path, url")
        self.sqlite_path = str(sqlite_path) if sqlite_path else None
        self.url = url
        self.id_col = "rowid" if self.sqlite_path else "notification_id"
        self.ph = "?" if self.sqlite_path else "%s"

    def compact(self) -> bool:
        return bool(self.sqlite_path) and bool(self._exec(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'log_format'"))

    def _sessions(self) -> dict[int, str]:
        return {int(n): str(h) for n, h in self._exec("SELECT number, session_id FROM log_sessions")}

    def _canonical(self, number: Any, state: Any, sessions: dict[int, str]) -> Any:
        from eventlog.compact import MARK, stored_without_preamble

        if isinstance(state, bytes) and number in sessions and stored_without_preamble(state[32:]):
            return state[:32] + bytes((MARK,)) + bytes.fromhex(sessions[number]) + state[32:]
        return state

    def _stored(self, seq: int, state: Any, sessions: dict[int, str] | None = None) -> Any:
        """What the compact layout stores for ``state`` (link + payload) at ``seq``: the payload
        without its preamble when that names the row's session (``sessions``: seq -> its hex)."""
        from eventlog.compact import split_preamble

        if not isinstance(state, bytes) or not self.compact():
            return state
        if sessions is None:
            sessions = self._row_sessions()
        raw, rest = split_preamble(state[32:])
        if raw is not None and sessions.get(seq) == raw.hex():
            return state[:32] + rest
        return state

    def _row_sessions(self) -> dict[int, str]:
        return {int(a): str(b) for a, b in self._exec(
            "SELECT e.rowid, s.session_id FROM stored_events e JOIN log_sessions s ON s.number = e.originator_id")}

    def _exec(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        sql = sql.replace("{id}", self.id_col).replace("?", self.ph)
        if self.sqlite_path:
            con = sqlite3.connect(self.sqlite_path, isolation_level=None)
            try:
                return con.execute(sql, params).fetchall()
            finally:
                con.close()
        import psycopg

        kw = parse_url(self.url or "")
        with psycopg.connect(**kw, autocommit=True) as con, con.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def exists(self) -> bool:
        """Whether the events table exists at all."""
        if self.sqlite_path:
            q = "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?"
        else:
            q = "SELECT tablename FROM pg_tables WHERE tablename = ?"
        return bool(self._exec(q, (TABLE,)))

    def set_states(self, items: list[tuple[int, bytes]]) -> None:
        """Overwrite many rows' bytes in one connection: (seq, state) pairs."""
        sql = f"UPDATE {TABLE} SET state = {self.ph} WHERE {self.id_col} = {self.ph}"
        sessions = self._row_sessions() if self.compact() else {}
        params = [(self._stored(seq, st, sessions), seq) for seq, st in items]
        if self.sqlite_path:
            con = sqlite3.connect(self.sqlite_path)
            with con:
                con.executemany(sql, params)
            con.close()
            return
        import psycopg

        with psycopg.connect(**parse_url(self.url or "")) as con, con.cursor() as cur:
            cur.executemany(sql, params)

    def max_seq(self) -> int:
        return int(self._exec(f"SELECT MAX({{id}}) FROM {TABLE}")[0][0] or 0)

    def seqs(self) -> list[int]:
        return [int(r[0]) for r in self._exec(f"SELECT {{id}} FROM {TABLE} ORDER BY {{id}}")]

    def state(self, seq: int) -> bytes:
        number, st = self._exec(f"SELECT originator_id, state FROM {TABLE} WHERE {{id}} = ?", (seq,))[0]
        return bytes(self._canonical(number, st, self._sessions()) if self.compact() else st)

    def rows(self) -> list[tuple[int, str, int, str, bytes]]:
        """(seq, originator_id text, version, topic, state) in seq order (as the chain covers them)."""
        from eventlog.typecodes import TYPE_NAMES

        sel = "originator_id" if self.sqlite_path else "originator_id::text"
        got = self._exec(f"SELECT {{id}}, {sel}, originator_version, topic, state FROM {TABLE} ORDER BY {{id}}")
        if self.compact():
            sessions = self._sessions()
            got = [(a, sessions.get(b, b), c, TYPE_NAMES.get(d, d), self._canonical(b, e, sessions))
                   for a, b, c, d, e in got]
        return [(int(a), str(b).replace("-", ""), int(c), str(d), bytes(e)) for a, b, c, d, e in got]

    def set_state(self, seq: int, state: bytes) -> None:
        self._exec(f"UPDATE {TABLE} SET state = ? WHERE {{id}} = ?", (self._stored(seq, state), seq))

    def flip_byte(self, seq: int, offset: int) -> None:
        """XOR one byte of a row as stored (offset into prev-hash + stored payload)."""
        s = bytearray(self._exec(f"SELECT state FROM {TABLE} WHERE {{id}} = ?", (seq,))[0][0])
        s[offset % len(s)] ^= 0xFF
        self._exec(f"UPDATE {TABLE} SET state = ? WHERE {{id}} = ?", (bytes(s), seq))

    def delete(self, seq: int) -> None:
        self._exec(f"DELETE FROM {TABLE} WHERE {{id}} = ?", (seq,))

    def truncate_after(self, seq: int) -> None:
        self._exec(f"DELETE FROM {TABLE} WHERE {{id}} > ?", (seq,))

    def swap(self, a: int, b: int) -> None:
        """Reorder: exchange the full rows stored at seqs ``a`` and ``b``."""
        cols = "originator_id, originator_version, topic, state"
        ra = self._exec(f"SELECT {cols} FROM {TABLE} WHERE {{id}} = ?", (a,))[0]
        rb = self._exec(f"SELECT {cols} FROM {TABLE} WHERE {{id}} = ?", (b,))[0]
        # The (originator_id, version) primary key forbids a direct swap: park one row first.
        self._exec(f"UPDATE {TABLE} SET originator_version = -1 WHERE {{id}} = ?", (a,))
        for seq, r in ((b, ra), (a, rb)):
            self._exec(f"UPDATE {TABLE} SET originator_id = ?, originator_version = ?, topic = ?, state = ? "
                       f"WHERE {{id}} = ?", (*r, seq))
