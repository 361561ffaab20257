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

On a PostgreSQL log in the compact layout (``eventlog.pg_compact``: several events per row
of ``event_blocks``) the same calls unpack the blocks (``eventlog.pg_blocks``), change the
event(s) and write the blocks back packed - an attacker with the code at hand; ``seq`` is
still the event's seq.
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

    def blocks(self) -> bool:
        """Whether this is a PostgreSQL log in the compact (event block) layout."""
        return not self.sqlite_path and bool(self._exec("SELECT to_regclass('log_format')")[0][0])

    # -- the PostgreSQL block layout: unpack every block, change events, pack them back ---

    def _pg_sessions(self) -> dict[int, tuple[str, bytes]]:
        return {int(n): (u.hex, u.bytes) for n, u in self._exec("SELECT number, session_id FROM log_sessions")}

    def _pg_groups(self) -> list[list[list[Any]]]:
        """Every block as a list of [seq, hex, version, topic, state] (state as the chain covers it)."""
        from eventlog.pg_blocks import unpack

        sessions = self._pg_sessions()
        return [[list(r) for r in unpack(int(f), bytes(b), sessions)]
                for f, b in self._exec("SELECT first_seq, body FROM event_blocks ORDER BY first_seq")]

    def _pg_rewrite(self, groups: list[list[list[Any]]]) -> None:
        import psycopg

        from eventlog.pg_blocks import pack

        numbers = {h: n for n, (h, _) in self._pg_sessions().items()}
        params = []
        for g in groups:
            if g:
                body = pack([r[0] for r in g], [numbers[r[1]] for r in g], [r[2] for r in g],
                            [r[3] for r in g], [r[4] for r in g], [r[1] for r in g])
                params.append((g[0][0], g[-1][0], len(g), body))
        with psycopg.connect(**parse_url(self.url or "")) as con, con.cursor() as cur:
            cur.execute("DELETE FROM event_blocks")
            cur.executemany("INSERT INTO event_blocks (first_seq, last_seq, events, body) VALUES (%s, %s, %s, %s)",
                            params)

    def _pg_change(self, seq: int, change: Any) -> None:
        groups = self._pg_groups()
        for g in groups:
            for i, r in enumerate(g):
                if r[0] == seq:
                    change(g, i)
                    self._pg_rewrite(groups)
                    return
        raise KeyError(f"no event at seq {seq}")

    @staticmethod
    def _pg_stored(state: bytes) -> bytes:
        """What a block keeps of ``state``: the link and the payload without its preamble."""
        from eventlog.compact import split_preamble

        raw, rest = split_preamble(state[32:])
        return state if raw is None else state[:32] + rest

    def set_topic(self, seq: int, topic: str) -> None:
        """Store ``topic`` as the event's type key (a text name where the layout keeps a code)."""
        if self.blocks():
            def put(g: list[list[Any]], i: int) -> None:
                g[i][3] = topic

            self._pg_change(seq, put)
            return
        self._exec(f"UPDATE {TABLE} SET topic = ? WHERE {{id}} = ?", (topic, seq))

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
            q = "SELECT tablename FROM pg_tables WHERE tablename = ? OR tablename = 'event_blocks'"
        return bool(self._exec(q, (TABLE,)))

    def set_states(self, items: list[tuple[int, bytes]]) -> None:
        """Overwrite many rows' bytes in one connection: (seq, state) pairs."""
        if self.blocks():
            new = dict(items)
            groups = self._pg_groups()
            for g in groups:
                for r in g:
                    r[4] = new.get(r[0], r[4])
            self._pg_rewrite(groups)
            return
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
        if self.blocks():
            return int(self._exec("SELECT COALESCE(MAX(last_seq), 0) FROM event_blocks")[0][0])
        return int(self._exec(f"SELECT MAX({{id}}) FROM {TABLE}")[0][0] or 0)

    def seqs(self) -> list[int]:
        if self.blocks():
            return [r[0] for r in self.rows()]
        return [int(r[0]) for r in self._exec(f"SELECT {{id}} FROM {TABLE} ORDER BY {{id}}")]

    def state(self, seq: int) -> bytes:
        if self.blocks():
            return next(r[4] for r in self.rows() if r[0] == seq)
        number, st = self._exec(f"SELECT originator_id, state FROM {TABLE} WHERE {{id}} = ?", (seq,))[0]
        return bytes(self._canonical(number, st, self._sessions()) if self.compact() else st)

    def rows(self) -> list[tuple[int, str, int, str, bytes]]:
        """(seq, originator_id text, version, topic, state) in seq order (as the chain covers them)."""
        from eventlog.typecodes import TYPE_NAMES

        if self.blocks():
            return [(int(a), str(b), int(c), str(d), bytes(e)) for g in self._pg_groups() for a, b, c, d, e in g]
        sel = "originator_id" if self.sqlite_path else "originator_id::text"
        got = self._exec(f"SELECT {{id}}, {sel}, originator_version, topic, state FROM {TABLE} ORDER BY {{id}}")
        if self.compact():
            sessions = self._sessions()
            got = [(a, sessions.get(b, b), c, TYPE_NAMES.get(d, d), self._canonical(b, e, sessions))
                   for a, b, c, d, e in got]
        return [(int(a), str(b).replace("-", ""), int(c), str(d), bytes(e)) for a, b, c, d, e in got]

    def set_state(self, seq: int, state: bytes) -> None:
        if self.blocks():
            self.set_states([(seq, state)])
            return
        self._exec(f"UPDATE {TABLE} SET state = ? WHERE {{id}} = ?", (self._stored(seq, state), seq))

    def flip_byte(self, seq: int, offset: int) -> None:
        """XOR one byte of a row as stored (offset into prev-hash + stored payload)."""
        if self.blocks():
            from eventlog.compact import MARK, stored_without_preamble

            def flip(g: list[list[Any]], i: int) -> None:
                stored = self._pg_stored(g[i][4])
                b = bytearray(stored)
                b[offset % len(b)] ^= 0xFF
                had = len(stored) != len(g[i][4])
                sid = bytes.fromhex(g[i][1])
                g[i][4] = (bytes(b[:32]) + bytes((MARK,)) + sid + bytes(b[32:])
                           if had and stored_without_preamble(bytes(b[32:])) else bytes(b))

            self._pg_change(seq, flip)
            return
        s = bytearray(self._exec(f"SELECT state FROM {TABLE} WHERE {{id}} = ?", (seq,))[0][0])
        s[offset % len(s)] ^= 0xFF
        self._exec(f"UPDATE {TABLE} SET state = ? WHERE {{id}} = ?", (bytes(s), seq))

    def delete(self, seq: int) -> None:
        if self.blocks():
            self._pg_change(seq, lambda g, i: g.pop(i))
            return
        self._exec(f"DELETE FROM {TABLE} WHERE {{id}} = ?", (seq,))

    def truncate_after(self, seq: int) -> None:
        if self.blocks():
            self._pg_rewrite([[r for r in g if r[0] <= seq] for g in self._pg_groups()])
            return
        self._exec(f"DELETE FROM {TABLE} WHERE {{id}} > ?", (seq,))

    def swap(self, a: int, b: int) -> None:
        """Reorder: exchange the full rows stored at seqs ``a`` and ``b``."""
        if self.blocks():
            groups = self._pg_groups()
            flat = {r[0]: r for g in groups for r in g}
            xa, xb = list(flat[a]), list(flat[b])
            flat[a][1:], flat[b][1:] = xb[1:], xa[1:]
            self._pg_rewrite(groups)
            return
        cols = "originator_id, originator_version, topic, state"
        ra = self._exec(f"SELECT {cols} FROM {TABLE} WHERE {{id}} = ?", (a,))[0]
        rb = self._exec(f"SELECT {cols} FROM {TABLE} WHERE {{id}} = ?", (b,))[0]
        # The (originator_id, version) primary key forbids a direct swap: park one row first.
        self._exec(f"UPDATE {TABLE} SET originator_version = -1 WHERE {{id}} = ?", (a,))
        for seq, r in ((b, ra), (a, rb)):
            self._exec(f"UPDATE {TABLE} SET originator_id = ?, originator_version = ?, topic = ?, state = ? "
                       f"WHERE {{id}} = ?", (*r, seq))
