"""PostgreSQL backend: the eventsourcing PostgreSQL application recorder + hash chain.

The library locks the events table in EXCLUSIVE mode for each insert so that
notification order equals commit order. We keep that lock (never the
database-function insert path, which skips it) and, inside the same transaction,
read the last stored row to chain the new rows to it. Notification ids may have
gaps after a rollback: readers never assume ``id + 1``.

A new database gets the compact layout (``eventlog.pg_compact``: a commit batch per row,
~4x fewer bytes); a database holding the eventsourcing table (format 1, or a new one made
with ``layout="v1"``) keeps it, read and appended as before. The layout is found out
once, when the recorder opens.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote, urlparse
from uuid import UUID

import psycopg
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg.sql import SQL, Identifier

from eventlog.chain import GENESIS, chain_states, row_hash
from eventlog.pg_compact import PgCompact

Row = tuple[int, str, int, str, bytes]


def parse_url(url: str) -> dict[str, Any]:
    """postgresql://user:pass@host:port/db -> connection kwargs (password never logged)."""
    u = urlparse(url)
    if u.scheme not in ("postgresql", "postgres"):
        raise ValueError(f"HEDGE_STORE_URL: scheme must be postgresql://, got {u.scheme!r}")
    if not u.path.strip("/"):
        raise ValueError("HEDGE_STORE_URL: database name missing (postgresql://user:pass@host:port/db)")
    return {
        "dbname": u.path.strip("/"),
        "host": u.hostname or "127.0.0.1",
        "port": u.port or 5432,
        "user": unquote(u.username or "postgres"),
        "password": unquote(u.password or ""),
    }


def redact_url(url: str) -> str:
    u = urlparse(url)
    if u.password:
        netloc = f"{u.username}:***@{u.hostname}" + (f":{u.port}" if u.port else "")
        return u._replace(netloc=netloc).geturl()
    return url


class StoreUnavailable(ConnectionError):
    """The PostgreSQL server cannot be reached or refuses us (message names the redacted URL)."""


def _probe(kw: dict[str, Any], url: str) -> None:
    """Connect once, directly, so a failure says why (the pool would only say 'timeout')."""
    try:
        psycopg.connect(**kw, connect_timeout=5).close()
    except psycopg.Error as exc:
        reason = " ".join(str(exc).split())  # one line; psycopg never includes the password
        raise StoreUnavailable(f"cannot connect to PostgreSQL at {redact_url(url)}: {reason}") from None


class ChainedPostgresRecorder(PostgresApplicationRecorder):
    """Application recorder that chains rows under the library's table lock."""

    def __init__(self, url: str, *, pool_size: int = 2, create: bool = True, layout: str | None = None):
        kw = parse_url(url)
        _probe(kw, url)
        datastore = PostgresDatastore(
            kw["dbname"], kw["host"], kw["port"], kw["user"], kw["password"],
            pool_size=pool_size, max_overflow=2, lock_timeout=30, enable_db_functions=False,
        )
        super().__init__(datastore)
        new_layout = (layout or "compact").lower()  # HEDGE_LOG_LAYOUT, passed by the CLI
        if new_layout not in ("compact", "v1"):
            datastore.close()
            raise ValueError(f"HEDGE_LOG_LAYOUT must be compact|v1, not {new_layout!r}")
        # Only create what is missing: a read-only database (an auditor's replica, a
        # database turned read-only) refuses even CREATE ... IF NOT EXISTS.
        self.compact: PgCompact | None = None
        if self._compact_exists():
            self.compact = PgCompact(datastore)
        elif not self._table_exists():
            if not create:
                datastore.close()
                raise FileNotFoundError(f"no event log in {redact_url(url)}")
            if new_layout == "compact":
                self.compact = PgCompact(datastore)
                self.compact.create()
            else:
                self.create_table()
        t = SQL("{0}.{1}").format(Identifier(datastore.schema), Identifier(self.events_table_name))
        self._t = t
        self._last_sql = SQL(
            "SELECT notification_id, originator_id::text, originator_version, topic, state FROM {0} "
            "ORDER BY notification_id DESC LIMIT 1"
        ).format(t)
        self.url = redact_url(url)
        self.connect_kwargs = kw  # for side connections (the account lock); never printed

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int]:
        """The library's entry point: insert stored events (chained, in one transaction)."""
        return self.insert_rows(
            [(_oid(s.originator_id).hex, s.originator_version, s.topic, s.state) for s in stored_events]
        )

    def insert_rows(self, rows: Sequence[tuple[str, int, str, bytes]]) -> list[int]:
        """Bulk insert (originator hex, version, topic, payload) rows under the table lock."""
        if self.compact is not None:
            return self.compact.insert(rows)
        if not rows:
            return []
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            self._lock_table(curs)
            self._notify_channel(curs)
            curs.execute(self._last_sql)
            row = curs.fetchone()
            prev = row_hash(bytes(row["state"])) if row else GENESIS
            states, _ = chain_states(prev, [r[3] for r in rows])
            pg_events = [
                self.construct_pg_stored_event(UUID(r[0]), r[1], r[2], st)
                for r, st in zip(rows, states, strict=True)
            ]
            curs.execute(self.insert_events_statement, (pg_events,))
            ids = [r["notification_id"] for r in curs.fetchall()]
        if ids != sorted(ids):
            raise RuntimeError("PostgreSQL returned notification ids out of insert order")
        return ids

    def insert_stored_rows(self, rows: Sequence[Row]) -> None:
        """Copy already-chained rows (seq, originator hex, version, topic, state) verbatim.

        For ``hedge migrate``: the seqs and stored bytes are kept exactly. Refused unless
        the first row links to the current last row (or genesis on an empty table) and
        its seq is above the current last seq - so the chain stays one unbroken chain.
        """
        if self.compact is not None:
            self.compact.insert_stored(rows, self.url)
            return
        if not rows:
            return
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            self._lock_table(curs)
            self._notify_channel(curs)
            curs.execute(self._last_sql)
            last = curs.fetchone()
            prev = row_hash(bytes(last["state"])) if last else GENESIS
            last_seq = int(last["notification_id"]) if last else 0
            if bytes(rows[0][4][:32]) != prev or rows[0][0] <= last_seq:
                raise ValueError(f"rows starting at seq {rows[0][0]} do not continue the chain in {self.url}")
            curs.execute(
                SQL("INSERT INTO {0} (notification_id, originator_id, originator_version, topic, state) "
                    "SELECT * FROM unnest(%s::bigint[], %s::uuid[], %s::bigint[], %s::text[], %s::bytea[])"
                    ).format(self._t),
                ([r[0] for r in rows], [UUID(r[1]) for r in rows], [r[2] for r in rows],
                 [r[3] for r in rows], [bytes(r[4]) for r in rows]),
            )
            # New appends continue after the copied seqs.
            curs.execute(
                SQL("SELECT setval(pg_get_serial_sequence(%s, 'notification_id'), %s)"),
                (f"{self.datastore.schema}.{self.events_table_name}", rows[-1][0]),
            )

    def _compact_exists(self) -> bool:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            return PgCompact.exists(curs, self.datastore.schema)

    def _table_exists(self) -> bool:
        name = f"{self.datastore.schema}.{self.events_table_name}"
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute("SELECT to_regclass(%s) AS t", (name,))
            row = curs.fetchone()
        return bool(row and row["t"])

    def _rows(self, sql: Any, params: Sequence[Any]) -> list[Row]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(sql, params)
            return [
                (r["notification_id"], r["originator_id"].replace("-", ""), r["originator_version"], r["topic"], bytes(r["state"]))
                for r in curs.fetchall()
            ]

    def select_rows(
        self,
        start: int,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        originator_id: str | None = None,
    ) -> list[Row]:
        if self.compact is not None:
            return self.compact.select(start, limit, stop, topics, originator_id)
        sql = SQL(
            "SELECT notification_id, originator_id::text AS originator_id, originator_version, topic, state "
            "FROM {0} WHERE notification_id >= %s"
        ).format(self._t)
        params: list[Any] = [start]
        if stop is not None:
            sql += SQL(" AND notification_id <= %s")
            params.append(stop)
        if originator_id is not None:
            sql += SQL(" AND originator_id = %s")
            params.append(UUID(originator_id))
        if topics:
            sql += SQL(" AND topic = ANY(%s)")
            params.append(list(topics))
        sql += SQL(" ORDER BY notification_id LIMIT %s")
        params.append(limit)
        return self._rows(sql, params)

    def last_row(self) -> Row | None:
        if self.compact is not None:
            return self.compact.last_row()
        rows = self._rows(self._last_sql, ())
        return rows[0] if rows else None

    def max_version(self, originator_id: str) -> int:
        if self.compact is not None:
            return self.compact.max_version(originator_id)
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(
                SQL("SELECT MAX(originator_version) AS m FROM {0} WHERE originator_id = %s").format(self._t),
                (UUID(originator_id),),
            )
            row = curs.fetchone()
        return int((row or {}).get("m") or 0)

    def count(self) -> int:
        if self.compact is not None:
            return self.compact.count()
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(SQL("SELECT COUNT(*) AS n FROM {0}").format(self._t))
            row = curs.fetchone()
        return int((row or {}).get("n") or 0)

    def close(self) -> None:
        self.datastore.close()


def _oid(originator_id: UUID | str) -> UUID:
    return originator_id if isinstance(originator_id, UUID) else UUID(originator_id)
