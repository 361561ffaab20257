"""The event store: append batches, read in order, filter by session and type.

Built on the eventsourcing application recorders (``sqlite_backend`` /
``pg_backend``). Each session is one originator (its UUID) whose versions are the
session-local ``session_seq``; the recorder's notification id is the global ``seq``.
There is no update or delete path anywhere in this package.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple, Protocol
from uuid import UUID

import msgspec
from eventsourcing.persistence import StoredEvent

from eventlog.chain import GENESIS, PREFIX, row_hash
from eventlog.chaincheck import ChainBroken, check_stored, checked
from eventlog.codec import decode, encode
from eventlog.compact import decode_stored
from eventlog.events import Event, SessionEnded, SessionStarted
from eventlog.typecodes import TYPE_CODES

Row = tuple[int, str, int, str, bytes]
DEFAULT_BATCH = 5000


class Page(NamedTuple):
    """One batch of ``EventStore.pages``: the rows, and for rows of the compact SQLite layout as
    stored, the layout's keys and the function that gives a row its format-1 shape."""

    rows: list[Any]
    keys: Any  # eventlog.sqlite_keys.CompactKeys, or None: ``rows`` are format-1 rows
    to_row: Callable[[Any], Row] | None


class Recorder(Protocol):
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int]: ...
    def insert_rows(self, rows: Sequence[tuple[str, int, str, bytes]]) -> list[int]: ...
    def select_rows(
        self, start: int, limit: int, stop: int | None = None, topics: Sequence[str] = (),
        originator_id: str | None = None,
    ) -> list[Row]: ...
    def last_row(self) -> Row | None: ...
    def max_version(self, originator_id: str) -> int: ...
    def count(self) -> int: ...
    def close(self) -> None: ...


def resolve_home(home: str | os.PathLike[str] | None = None) -> Path:
    """``home`` (the CLI's ``--home``, else ``HEDGE_HOME``: ``config.settings``), else ``./logs``."""
    return Path(home or "logs")


def _read_only(d: Path) -> bool:
    """True when ``d`` (or its nearest existing parent) cannot be written (mode or read-only mount)."""
    while not d.exists() and d != d.parent:
        d = d.parent
    try:
        return bool(os.statvfs(d).f_flag & os.ST_RDONLY) or not os.access(d, os.W_OK)
    except OSError:
        return False


def describe_store(home: str | os.PathLike[str] | None = None, url: str | None = None) -> str:
    from eventlog.pg_backend import redact_url

    return redact_url(url) if url else str(resolve_home(home) / "eventlog.sqlite")


class SessionInfo(msgspec.Struct, frozen=True, kw_only=True):
    session_id: str
    first_seq: int
    started_ns: int
    mode: str
    venue: str
    symbols: list[str]
    config_hash: str
    data_source: str = ""
    account: str = "main"  # SessionStarted.account (docs/accounts.md); sessions before accounts: main
    last_seq: int | None = None
    ended_ns: int | None = None
    end_reason: str | None = None
    events: int | None = None
    summary: dict[str, Any] = {}


class EventStore:
    """Append-only, hash-chained event log."""

    def __init__(self, recorder: Recorder, location: str):
        self.recorder = recorder
        self.location = location
        self._hexes: dict[str, str] = {}
        # unfiltered reads check the hash chain; only a reader that has already reported a
        # break and reads on to say more (``hedge replay --verify``) turns it off
        self.check_chain = True

    # -- opening -------------------------------------------------------------------

    @classmethod
    def open(
        cls, home: str | os.PathLike[str] | None = None, url: str | None = None, *,
        create: bool = True, readonly: bool = False, sync: str | None = None,
        layout: str | None = None,
    ) -> EventStore:
        """SQLite file ``<home>/eventlog.sqlite`` unless a PostgreSQL URL is given.

        ``readonly`` (``hedge verify``): never write - no schema, no checkpoint, the WAL
        left as found; an empty file or one without the events table is refused.
        ``sync``: SQLite's ``synchronous`` (``HEDGE_SQLITE_SYNC``; default NORMAL). The CLI
        passes ``home``, ``url``, ``sync`` and ``layout`` from its settings (``config.settings``).
        ``layout``: the row layout of a *new* log, SQLite or PostgreSQL (``HEDGE_LOG_LAYOUT``: compact | v1).
        """
        if url:
            from eventlog.pg_backend import ChainedPostgresRecorder, redact_url

            return cls(ChainedPostgresRecorder(url, create=create, layout=layout), redact_url(url))
        from eventlog.sqlite_backend import (
            ChainedSQLiteRecorder,
            check_sqlite_file,
            open_read_only,
            refuse_damaged_wal,
        )

        path = resolve_home(home) / "eventlog.sqlite"
        if not create and not path.exists():
            raise FileNotFoundError(f"no event log at {path}")
        if readonly:
            check_sqlite_file(str(path))
            return cls(open_read_only(str(path)), str(path))
        if not create and _read_only(path.parent):
            check_sqlite_file(str(path))
            return cls(ChainedSQLiteRecorder(str(path), readonly=True), str(path))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            check_sqlite_file(str(path))
            refuse_damaged_wal(str(path))  # a writer would let SQLite drop what it cannot replay
            rec = ChainedSQLiteRecorder(str(path), synchronous=sync, layout=layout)
            rec.create_table()
        except Exception as exc:
            if _read_only(path.parent):
                raise PermissionError(f"{path.parent} is read-only: cannot open the event log {path} "
                                      "for writing") from exc
            raise
        return cls(rec, str(path))

    def close(self) -> None:
        self.recorder.close()

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing -------------------------------------------------------------------

    def append(self, events: Sequence[Event]) -> list[int]:
        """Append events atomically, in order; returns their global seq numbers."""
        hexes = self._hexes
        rows = []
        for e in events:
            sid = e.session_id
            h = hexes.get(sid)
            if h is None:
                h = hexes[sid] = UUID(sid).hex
            rows.append((h, e.session_seq, type(e).__name__, encode(e)))
        return self.recorder.insert_rows(rows)

    def append_encoded(self, rows: Sequence[tuple[str, int, str, bytes]]) -> list[int]:
        """Append pre-encoded payloads (session_id, session_seq, type, payload)."""
        return self.recorder.insert_rows([(UUID(s).hex, v, t, p) for s, v, t, p in rows])

    # -- reading -------------------------------------------------------------------

    def rows(
        self, start: int = 1, *, stop: int | None = None, batch: int = DEFAULT_BATCH,
        session: str | None = None, types: Sequence[str] = (), check: bool = True,
    ) -> Iterator[list[Row]]:
        """Raw stored rows in seq order, in batches (gaps in seq are tolerated).

        An unfiltered read checks the hash chain as it goes (``eventlog.chaincheck``)
        and raises ``ChainBroken`` at the first row that does not link; ``check=False``
        is for ``verify``, which does its own, more detailed walk.
        """
        raw = self._rows(start, stop=stop, batch=batch, session=session, types=types)
        if not (check and self.check_chain) or session or types:
            return raw
        return checked(raw, self.link_before(max(1, start)))

    def link_before(self, seq: int) -> bytes:
        """The link row ``seq`` must carry: the hash of the last stored row before it."""
        if seq <= 1:
            return GENESIS
        span = 16
        while True:
            lo = max(1, seq - span)
            got = self.recorder.select_rows(lo, span + 1, seq - 1)
            if got:
                st = got[-1][4]
                if not isinstance(st, bytes | bytearray | memoryview):
                    raise ChainBroken(got[-1][0], f"stored payload is {type(st).__name__}, not bytes")
                return row_hash(bytes(st))
            if lo == 1:
                return GENESIS
            span *= 8

    def _rows(
        self, start: int = 1, *, stop: int | None = None, batch: int = DEFAULT_BATCH,
        session: str | None = None, types: Sequence[str] = (),
    ) -> Iterator[list[Row]]:
        pos = max(1, start)
        oid = UUID(session).hex if session else None
        while True:
            got = self.recorder.select_rows(pos, batch, stop, tuple(types), oid)
            if not got:
                return
            yield got
            pos = got[-1][0] + 1
            if len(got) < batch:
                return

    def pages(
        self, start: int = 1, *, stop: int | None = None, batch: int = DEFAULT_BATCH,
        session: str | None = None, types: Sequence[str] = (),
    ) -> Iterator[Page]:
        """``rows`` as pages for ``decode_page``: the chain is checked as in ``rows`` (every row
        of an unfiltered read, before its page is yielded).

        On the compact SQLite layout a page holds the rows as stored (``select_stored``):
        checking and decoding them needs no format-1 tuple per row (``check_stored``,
        ``compact.decode_stored``); elsewhere a page is a ``rows`` batch."""
        select: Callable[..., Any] | None = getattr(self.recorder, "select_stored", None)
        oid = UUID(session).hex if session else None
        first = select(max(1, start), batch, stop, tuple(types), oid) if select is not None else None
        if select is None or first is None:
            for rows in self.rows(start, stop=stop, batch=batch, session=session, types=types):
                yield Page(rows, None, None)
            return
        rows, keys = first
        to_row = self.recorder.stored_row  # type: ignore[attr-defined]
        prev = self.link_before(max(1, start)) if self.check_chain and not session and not types else None
        while rows:
            if prev is not None:
                prev = check_stored(rows, prev, keys.preambles, to_row)
            yield Page(rows, keys, to_row)
            if len(rows) < batch:
                return
            got = select(rows[-1][0] + 1, batch, stop, tuple(types), oid)
            rows = got[0] if got is not None else []

    def decode_page(self, page: Page) -> list[Event]:
        """The events of a page of ``pages``, ``seq`` filled in."""
        if page.keys is None:
            return [decode(memoryview(r[4])[PREFIX:], r[0]) for r in page.rows]
        to_row = page.to_row
        assert to_row is not None

        def slow(r: Row) -> Event:
            return decode(memoryview(to_row(r)[4])[PREFIX:], r[0])

        return decode_stored(page.rows, page.keys.sids, slow)

    def read_batches(
        self, start: int = 1, *, stop: int | None = None, batch: int = DEFAULT_BATCH,
        session: str | None = None, types: Sequence[str] = (),
    ) -> Iterator[list[Event]]:
        for page in self.pages(start, stop=stop, batch=batch, session=session, types=types):
            yield self.decode_page(page)

    def read(
        self, start: int = 1, *, stop: int | None = None, batch: int = DEFAULT_BATCH,
        session: str | None = None, types: Sequence[str] = (),
    ) -> Iterator[Event]:
        """Events in seq order from ``start`` (inclusive), optionally filtered."""
        for evs in self.read_batches(start, stop=stop, batch=batch, session=session, types=types):
            yield from evs

    def head(self) -> tuple[int, str]:
        """(last seq, hex hash of the last row) - the value to publish for tamper checks."""
        row = self.recorder.last_row()
        if row is None:
            return 0, "0" * 64
        return row[0], row_hash(row[4]).hex()

    def last_seq(self) -> int:
        return self.head()[0]

    def count(self) -> int:
        return self.recorder.count()

    def next_session_seq(self, session_id: str) -> int:
        return self.recorder.max_version(UUID(session_id).hex) + 1

    def sessions(self) -> list[SessionInfo]:
        """Every session in the log, oldest first, with its end if recorded."""
        found: dict[str, SessionInfo] = {}
        # every row is read (not just these two types) so the chain is checked on the way;
        # only these two types are decoded (a row's type is its name, or its code when compact)
        wanted = {"SessionStarted", "SessionEnded", TYPE_CODES["SessionStarted"], TYPE_CODES["SessionEnded"]}
        picked = (ev for page in self.pages()
                  for ev in self.decode_page(page._replace(rows=[r for r in page.rows if r[3] in wanted])))
        for ev in picked:
            if isinstance(ev, SessionStarted):
                found[ev.session_id] = SessionInfo(
                    session_id=ev.session_id, first_seq=ev.seq, started_ns=ev.ts_event_ns,
                    mode=ev.mode, venue=ev.venue, symbols=list(ev.symbols), config_hash=ev.config_hash,
                    data_source=ev.data_source, account=ev.account or "main",
                )
            elif isinstance(ev, SessionEnded) and ev.session_id in found:
                found[ev.session_id] = msgspec.structs.replace(
                    found[ev.session_id], last_seq=ev.seq, ended_ns=ev.ts_event_ns,
                    end_reason=ev.reason, events=ev.session_seq, summary=dict(ev.summary),
                )
        return list(found.values())

    def find_session(self, prefix: str) -> SessionInfo:
        """A session by id or unique id prefix (``last`` = the newest)."""
        sessions = self.sessions()
        if prefix == "last" and sessions:
            return sessions[-1]
        want = prefix.replace("-", "").lower()
        hits = [s for s in sessions if s.session_id.replace("-", "").lower().startswith(want)]
        if len(hits) != 1:
            what = "no session" if not hits else f"{len(hits)} sessions"
            raise LookupError(f"{what} match {prefix!r} in {self.location}")
        return hits[0]
