"""Copy an event log between SQLite and PostgreSQL (either way) with the chain intact.

The stored rows are copied byte for byte, in seq order, keeping their seq numbers
(events cite global seqs, e.g. ``AlertSent.trigger_seq``), so the copy has the same
head hash as the source and ``verify`` passes on it. The source is verified first.
A target that already holds rows must be a prefix of the source (a resumed or
repeated migration): anything else is refused and nothing is written. An SQLite log
has no gaps in its seqs: a PostgreSQL source with gaps (ids burnt by rollbacks in the
eventsourcing table) cannot be copied into one and is refused at the first gap.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import msgspec

from eventlog.chain import GENESIS, row_hash, split
from eventlog.pg_backend import ChainedPostgresRecorder, redact_url
from eventlog.sqlite_backend import ChainedSQLiteRecorder, check_sqlite_file
from eventlog.store import EventStore
from eventlog.verify import verify

Row = tuple[int, str, int, str, bytes]


class MigrateError(ValueError):
    """The migration was refused (bad source, or a target that is not a prefix)."""


class MigrateResult(msgspec.Struct, kw_only=True):
    source: str
    target: str
    source_events: int
    already_there: int
    copied: int
    head_seq: int
    head_hash: str
    target_verified: bool


def open_sqlite(path: Path, *, create: bool = False, layout: str | None = None) -> EventStore:
    """The SQLite log at ``path`` (never the PostgreSQL URL from the env; created when asked)."""
    if not path.exists() and not create:
        raise FileNotFoundError(f"no event log at {path}")
    check_sqlite_file(str(path))
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
    rec = ChainedSQLiteRecorder(str(path), layout=layout)
    if create:
        rec.create_table()
    return EventStore(rec, str(path))


def is_url(where: str | Path) -> bool:
    return str(where).startswith(("postgresql://", "postgres://"))


def _open(where: str | Path, *, target: bool, layout: str | None) -> EventStore:
    if is_url(where):
        rec = ChainedPostgresRecorder(str(where), layout=layout, create=target)
        return EventStore(rec, redact_url(str(where)))
    path = Path(where)
    return open_sqlite(path / "eventlog.sqlite" if path.is_dir() else path, create=target, layout=layout)


def _insert_sqlite(rec: ChainedSQLiteRecorder, rows: list[Row]) -> None:
    """Copy chained rows verbatim into an SQLite log: they must continue its chain and its
    seqs without a gap (SQLite's row ids are ``last + 1 ...``)."""
    with rec.datastore.get_connection(commit=True) as conn:
        raw = conn._sqlite_conn
        try:
            raw.execute("BEGIN IMMEDIATE")
            keys = rec.keys(raw)
            last = rec._last(raw, keys)
            prev, last_seq = (row_hash(bytes(last[4])), int(last[0])) if last else (GENESIS, 0)
            if bytes(rows[0][4][:32]) != prev:
                raise MigrateError(f"rows starting at seq {rows[0][0]} do not continue the chain in {rec.db_path}")
            for i, r in enumerate(rows):
                if r[0] != last_seq + 1 + i:
                    raise MigrateError(f"seq {r[0]} follows seq {last_seq + i} in the source: an SQLite log has "
                                       "no gaps in its seqs, so this log cannot be copied into one")
            states = [bytes(r[4]) for r in rows]
            stored: list[tuple[object, int, object, bytes]]
            if keys is not None:
                stored = list(keys.stored(raw, [(r[1], r[2], r[3], b"") for r in rows], states, last_seq + 1))
            else:
                stored = [(r[1], r[2], r[3], st) for r, st in zip(rows, states, strict=True)]
            raw.executemany(rec.insert_events_statement, stored)
            raw.execute("COMMIT")
        except BaseException:
            if raw.in_transaction:
                raw.execute("ROLLBACK")
            raise


def _check_prefix(source: EventStore, target: EventStore, batch: int) -> tuple[int, int]:
    """Rows already in the target must equal the source's first rows: (count, last seq)."""
    n, last = 0, 0
    src_iter = (r for rows in source.rows(batch=batch) for r in rows)
    for rows in target.rows(batch=batch):
        for t in rows:
            s = next(src_iter, None)
            if s is None:
                raise MigrateError(f"target {target.location} holds more events than the source "
                                   f"(extra row at seq {t[0]}): refusing to migrate into it")
            if (s[0], s[1], s[2], s[3], bytes(s[4])) != (t[0], t[1], t[2], t[3], bytes(t[4])):
                raise MigrateError(f"target {target.location} is not a prefix of the source: rows differ "
                                   f"at source seq {s[0]} / target seq {t[0]}; refusing to migrate into it")
            n, last = n + 1, t[0]
    return n, last


def migrate(
    source_path: Path | str, target_url: str | Path, *, batch: int = 20_000,
    progress: Callable[[int], None] | None = None, layout: str | None = None,
) -> MigrateResult:
    """Copy the log at ``source_path`` into ``target_url``: an SQLite file or a PostgreSQL URL each.

    ``layout``: of a new target (``HEDGE_LOG_LAYOUT``): compact (default: ``eventlog.pg_compact``,
    ``eventlog.sqlite_keys``) or v1; a target that already holds a log keeps its own.
    """
    if str(source_path) == str(target_url):
        raise MigrateError(f"source and target are the same log ({redact_url(str(source_path))})")
    with _open(source_path, target=False, layout=None) as source:
        checked = verify(source, batch=batch)
        if not checked.ok:
            raise MigrateError(f"source log {source.location} does not verify (seq {checked.bad_seq}: "
                               f"{checked.problem}); fix or restore it before migrating")
        with _open(target_url, target=True, layout=layout) as target:
            rec = target.recorder
            already, last = _check_prefix(source, target, batch)
            if isinstance(rec, ChainedSQLiteRecorder):  # refuse a gap before writing anything
                expect = last + 1
                for rows in source.rows(last + 1, batch=batch, check=False):
                    for r in rows:
                        if r[0] != expect:
                            raise MigrateError(f"seq {r[0]} follows seq {expect - 1} in the source: an SQLite log "
                                               "has no gaps in its seqs, so this log cannot be copied into one")
                        expect += 1
            copied = 0
            prev = GENESIS if not last else row_hash(target.recorder.last_row()[4])  # type: ignore[index]
            for rows in source.rows(last + 1, batch=batch):
                for r in rows:  # the source verified, but re-check links as we copy
                    if split(bytes(r[4]))[0] != prev:
                        raise MigrateError(f"source changed during the migration at seq {r[0]}")
                    prev = row_hash(bytes(r[4]))
                if isinstance(rec, ChainedSQLiteRecorder):
                    _insert_sqlite(rec, rows)
                else:
                    rec.insert_stored_rows(rows)  # type: ignore[attr-defined]
                copied += len(rows)
                if progress:
                    progress(already + copied)
            result = verify(target, batch=batch)
            # The source may have grown meanwhile (a running engine): compare at the copy's head.
            head_seq, head = result.last_seq, result.head_hash
            src_row = next((r for rows in source.rows(head_seq, stop=head_seq, batch=1) for r in rows), None)
            same = src_row is not None and row_hash(bytes(src_row[4])).hex() == head
            if not result.ok or not same:
                raise MigrateError(f"copy does not verify: {result.problem or 'head differs from the source'}")
            return MigrateResult(
                source=source.location, target=target.location, source_events=checked.events,
                already_there=already, copied=copied, head_seq=head_seq, head_hash=head,
                target_verified=True,
            )
