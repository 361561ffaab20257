"""The compact PostgreSQL layout: a commit batch is one row (``eventlog.pg_blocks``).

::

    log_format(version)                                   -- 2; a database without it is the
                                                          -- eventsourcing table (format 1)
    log_sessions(number, session_id uuid, first_seq, last_seq, last_version)
    event_blocks(first_seq PRIMARY KEY, last_seq, events, body bytea COMPRESSION lz4)

A block holds up to ``pg_blocks.MAX_EVENTS`` consecutive events of one commit (the
writer's batch, ``EventStore.append``, a ``hedge migrate`` copy); its body is compressed by
PostgreSQL's TOAST (lz4 where the server has it, pglz otherwise). Seqs are assigned under
the ``EXCLUSIVE`` table lock as ``last_seq + 1 ...`` (commit order = seq order, no gaps:
nothing is burnt by a rollback); a copied log keeps its own seqs, gaps included.

Readers get the format-1 row shape from ``select``: the blocks overlapping a seq range are
fetched through the primary key and sliced. A session is the seq range of its
``log_sessions`` row, filtered by its number; ``max_version`` reads ``last_version``. An
insert is refused (``IntegrityError``) unless each session's ``session_seq`` keeps
increasing - the duplicate key the eventsourcing table's primary key refused.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError
from psycopg.sql import SQL, Identifier

from eventlog.chain import GENESIS, chain_states, row_hash
from eventlog.pg_blocks import BadBlock, Row, pack, split_batches, unpack

FORMAT = 2


class PgCompact:
    """The compact layout of one PostgreSQL database (``datastore``: the eventsourcing pool)."""

    def __init__(self, datastore: Any):
        self.datastore = datastore
        s = Identifier(datastore.schema)
        self.blocks = SQL("{0}.event_blocks").format(s)
        self.sessions_t = SQL("{0}.log_sessions").format(s)
        self.format_t = SQL("{0}.log_format").format(s)
        self._sessions: dict[int, tuple[str, bytes]] = {}  # number -> (hex, 16 bytes); committed only
        self._unpacked: OrderedDict[int, tuple[bytes, list[Row]]] = OrderedDict()  # first_seq -> (body, rows)
        self._head: tuple[int, int, bytes] | None = None  # (first_seq, last_seq, hash) of the last block
        # the sessions this writer committed: hex -> [number, first, last, last version]; true
        # while the log's last block is still the one this writer wrote (``_head``)
        self._state: dict[str, list[int]] = {}

    # -- schema ----------------------------------------------------------------------

    @staticmethod
    def exists(curs: Any, schema: str) -> bool:
        curs.execute("SELECT to_regclass(%s) AS t", (f"{schema}.log_format",))
        row = curs.fetchone()
        return bool(row and row["t"])

    def create(self) -> None:
        """Create the layout's tables (one creator at a time; an existing layout is left alone)."""
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            curs.execute("SELECT pg_advisory_xact_lock(7305820541)")
            if self.exists(curs, self.datastore.schema):
                return
            curs.execute("SELECT 'lz4' = ANY(enumvals) AS lz4 FROM pg_settings WHERE name = 'default_toast_compression'")
            got = curs.fetchone()
            codec = SQL(" COMPRESSION lz4") if got and got["lz4"] else SQL("")
            curs.execute(SQL("CREATE TABLE {0} (version integer NOT NULL)").format(self.format_t))
            curs.execute(SQL("INSERT INTO {0} VALUES (%s)").format(self.format_t), (FORMAT,))
            curs.execute(SQL("CREATE TABLE {0} (number serial PRIMARY KEY, session_id uuid NOT NULL UNIQUE, "
                             "first_seq bigint NOT NULL, last_seq bigint NOT NULL, last_version bigint NOT NULL)"
                             ).format(self.sessions_t))
            curs.execute(SQL("CREATE TABLE {0} (first_seq bigint PRIMARY KEY, last_seq bigint NOT NULL, "
                             "events integer NOT NULL, body bytea{1} NOT NULL)").format(self.blocks, codec))

    # -- writing ---------------------------------------------------------------------

    def insert(self, rows: Sequence[tuple[str, int, str, bytes]]) -> list[int]:
        """Chain and store (session hex, version, type, payload) rows; returns their seqs."""
        if not rows:
            return []
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            last_seq, prev, mine = self._lock_and_head(curs)
            states, _ = chain_states(prev, [r[3] for r in rows])
            seqs = list(range(last_seq + 1, last_seq + 1 + len(rows)))
            head, sessions = self._write(curs, seqs, [r[0] for r in rows], [r[1] for r in rows],
                                         [r[2] for r in rows], states, last_seq, mine)
        self._committed(head, sessions, mine)
        return seqs

    def insert_stored(self, rows: Sequence[Row], where: str) -> None:
        """Copy already-chained rows (seq, hex, version, type, state) verbatim (``hedge migrate``).

        Refused unless the first row links to the current last row and its seq is above it.
        """
        if not rows:
            return
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            last_seq, prev, mine = self._lock_and_head(curs)
            if bytes(rows[0][4][:32]) != prev or rows[0][0] <= last_seq:
                raise ValueError(f"rows starting at seq {rows[0][0]} do not continue the chain in {where}")
            seqs = [r[0] for r in rows]
            if any(b <= a for a, b in itertools.pairwise(seqs)):
                raise ValueError(f"rows starting at seq {rows[0][0]}: seqs do not increase")
            head, sessions = self._write(curs, seqs, [r[1] for r in rows], [r[2] for r in rows],
                                         [r[3] for r in rows], [bytes(r[4]) for r in rows], last_seq, mine)
        self._committed(head, sessions, mine)

    def _committed(self, head: tuple[int, int, bytes], sessions: dict[str, list[int]], mine: bool) -> None:
        """Remember what this writer just committed (only after the commit: a rolled-back
        session number may be given to another session)."""
        if not mine:
            self._state = {}
        self._state.update(sessions)
        self._head = head

    def _lock_and_head(self, curs: Any) -> tuple[int, bytes, bool]:
        """Take the write lock; (last seq, hash of the last stored row, whether this writer wrote
        it) - (0, genesis, False) when empty."""
        curs.execute(SQL("LOCK TABLE {0} IN EXCLUSIVE MODE").format(self.blocks))
        curs.execute(SQL("SELECT first_seq, last_seq FROM {0} ORDER BY first_seq DESC LIMIT 1").format(self.blocks))
        got = curs.fetchone()
        if got is None:
            return 0, GENESIS, False
        first, last = int(got["first_seq"]), int(got["last_seq"])
        if self._head is not None and self._head[:2] == (first, last):
            return last, self._head[2], True
        rows = self._block(curs, first)
        return rows[-1][0], row_hash(rows[-1][4]), False  # the seq the chain covers, not the (unchained) column

    def _write(self, curs: Any, seqs: list[int], hexes: list[str], versions: list[int], topics: list[str],
               states: list[bytes], log_last: int, mine: bool) -> tuple[tuple[int, int, bytes], dict[str, list[int]]]:
        numbers, sessions = self._register(curs, seqs, hexes, versions, log_last, mine)
        params = []
        for a, b in split_batches(len(seqs)):
            try:
                body = pack(seqs[a:b], numbers[a:b], versions[a:b], topics[a:b], states[a:b], hexes[a:b])
            except ValueError as exc:
                raise IntegrityError(str(exc)) from None
            params.append((seqs[a], seqs[b - 1], b - a, body))
        curs.executemany(SQL("INSERT INTO {0} (first_seq, last_seq, events, body) VALUES (%s, %s, %s, %s)"
                             ).format(self.blocks), params)
        return (params[-1][0], params[-1][1], row_hash(states[-1])), sessions

    def _register(self, curs: Any, seqs: list[int], hexes: list[str], versions: list[int], log_last: int,
                  mine: bool) -> tuple[list[int], dict[str, list[int]]]:
        """Each event's session number (new sessions added) and the sessions' new [number, first,
        last, last version]; refuses a version that does not increase. ``mine``: nobody wrote since
        this writer's last commit, so what it remembers of its sessions is what the table holds."""
        wanted = list(dict.fromkeys(hexes))
        seen: dict[str, list[int]] = {h: list(self._state[h]) for h in wanted if mine and h in self._state}
        if len(seen) < len(wanted):
            curs.execute(SQL("SELECT number, session_id, first_seq, last_seq, last_version FROM {0} "
                             "WHERE session_id = ANY(%s)").format(self.sessions_t),
                         ([UUID(h) for h in wanted if h not in seen],))
            seen.update({r["session_id"].hex: [r["number"], r["first_seq"], r["last_seq"], r["last_version"]]
                         for r in curs.fetchall()})
        for h, known in seen.items():
            if known[2] > log_last:  # its last rows are gone (deleted outside the store: a hand edit or an attack)
                known[1:] = self._recount(curs, h, known[1], log_last)
        out = []
        for seq, h, v in zip(seqs, hexes, versions, strict=True):
            s = seen.get(h)
            if s is None:
                curs.execute(SQL("INSERT INTO {0} (session_id, first_seq, last_seq, last_version) "
                                 "VALUES (%s, %s, %s, 0) RETURNING number").format(self.sessions_t), (UUID(h), seq, seq))
                got = curs.fetchone()
                s = seen[h] = [int(got["number"]), seq, seq, 0]
            if not isinstance(v, int) or v <= s[3]:
                raise IntegrityError(f"UNIQUE constraint failed: session {h} already has session_seq "
                                     f"{s[3]} >= {v} (a duplicate or out-of-order event)")
            s[2], s[3] = seq, v
            out.append(s[0])
        for s in seen.values():
            s[1] = min(s[1], s[2])
        curs.executemany(SQL("UPDATE {sessions} SET first_seq = %s, last_seq = %s, last_version = %s WHERE number = %s"
                             ).format(sessions=self.sessions_t), [(s[1], s[2], s[3], s[0]) for s in seen.values()])
        return out, seen

    def _recount(self, curs: Any, hexid: str, first: int, log_last: int) -> list[int]:
        """(first seq, last seq, last version) of a session from the rows still stored."""
        mine = [r for r in self.select_in(curs, first, None, log_last) if r[1] == hexid]
        if not mine:
            return [log_last + 1, 0, 0]
        return [mine[0][0], mine[-1][0], max(r[2] for r in mine)]

    # -- reading ---------------------------------------------------------------------

    def _learn_sessions(self, curs: Any) -> None:
        curs.execute(SQL("SELECT number, session_id FROM {0}").format(self.sessions_t))
        for r in curs.fetchall():
            self._sessions[int(r["number"])] = (r["session_id"].hex, r["session_id"].bytes)

    def _unpack(self, curs: Any, first: int, body: bytes) -> list[Row]:
        """A block's rows (the last few are kept unpacked: a page of a read often ends inside one)."""
        got = self._unpacked.get(first)
        if got is not None and got[0] == body:
            return got[1]
        try:
            rows = unpack(first, body, self._sessions)
        except BadBlock:
            self._learn_sessions(curs)  # a session committed by another writer since: learn it
            rows = unpack(first, body, self._sessions)
        self._unpacked[first] = (body, rows)
        while len(self._unpacked) > 4:
            self._unpacked.popitem(last=False)
        return rows

    def _block(self, curs: Any, first: int) -> list[Row]:
        curs.execute(SQL("SELECT body FROM {0} WHERE first_seq = %s").format(self.blocks), (first,))
        return self._unpack(curs, first, bytes(curs.fetchone()["body"]))

    def select(self, start: int, limit: int, stop: int | None, topics: Sequence[str],
               originator_id: str | None) -> list[Row]:
        """Rows with seq >= start (<= stop), of one session and of some types when asked, in seq order."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            if originator_id is not None:
                curs.execute(SQL("SELECT first_seq, last_seq FROM {0} WHERE session_id = %s").format(self.sessions_t),
                             (UUID(originator_id),))
                span = curs.fetchone()
                if span is None:
                    return []
                start = max(start, int(span["first_seq"]))
                stop = int(span["last_seq"]) if stop is None else min(stop, int(span["last_seq"]))
            wanted = set(topics)
            if originator_id is None and not wanted:
                return self.select_in(curs, start, limit, stop)
            return self.select_in(curs, start, limit, stop, lambda r: (
                (originator_id is None or r[1] == originator_id) and (not wanted or r[3] in wanted)))

    def select_in(self, curs: Any, start: int, limit: int | None, stop: int | None,
                  keep: Callable[[Row], bool] | None = None) -> list[Row]:
        """Up to ``limit`` rows (all when None) kept by ``keep`` from the blocks overlapping start..stop."""
        out: list[Row] = []
        pos, k = start, 4
        while (limit is None or len(out) < limit) and (stop is None or pos <= stop):
            sql = SQL("SELECT first_seq, body FROM {0} WHERE first_seq >= COALESCE("
                      "(SELECT max(first_seq) FROM {0} WHERE first_seq <= %s), 0)").format(self.blocks)
            params: list[Any] = [pos]
            if stop is not None:
                sql += SQL(" AND first_seq <= %s")
                params.append(stop)
            sql += SQL(" ORDER BY first_seq LIMIT %s")
            params.append(k)
            curs.execute(sql, params)
            got = curs.fetchall()
            for b in got:
                rows = self._unpack(curs, int(b["first_seq"]), bytes(b["body"]))
                if rows[0][0] >= pos and (stop is None or rows[-1][0] <= stop) and keep is None:
                    out += rows  # the whole block (the common case of an unfiltered read)
                else:
                    out += [r for r in rows if r[0] >= pos and (stop is None or r[0] <= stop)
                            and (keep is None or keep(r))]
                pos = max(pos, rows[-1][0] + 1)
                if limit is not None and len(out) >= limit:
                    break
            if len(got) < k:
                break
            k = min(k * 4, 1024)
        return out if limit is None else out[:limit]

    def last_row(self) -> Row | None:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(SQL("SELECT first_seq, body FROM {0} ORDER BY first_seq DESC LIMIT 1").format(self.blocks))
            got = curs.fetchone()
            return None if got is None else self._unpack(curs, int(got["first_seq"]), bytes(got["body"]))[-1]

    def max_version(self, originator_id: str) -> int:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(SQL("SELECT last_version FROM {0} WHERE session_id = %s").format(self.sessions_t),
                         (UUID(originator_id),))
            got = curs.fetchone()
        return int(got["last_version"]) if got else 0

    def count(self) -> int:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(SQL("SELECT COALESCE(sum(events), 0) AS n FROM {0}").format(self.blocks))
            got = curs.fetchone()
        return int(got["n"]) if got else 0
