"""Copy a SQLite event log into PostgreSQL with the chain intact.

The stored rows are copied byte for byte, in seq order, keeping their seq numbers
(events cite global seqs, e.g. ``AlertSent.trigger_seq``), so the copy has the same
head hash as the source and ``verify`` passes on it. The source is verified first.
A target that already holds rows must be a prefix of the source (a resumed or
repeated migration): anything else is refused and nothing is written.
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


def open_sqlite(path: Path) -> EventStore:
    """The SQLite log at ``path`` (never created, never the PostgreSQL URL from the env)."""
    if not path.exists():
        raise FileNotFoundError(f"no event log at {path}")
    check_sqlite_file(str(path))
    rec = ChainedSQLiteRecorder(str(path))
    return EventStore(rec, str(path))


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
    source_path: Path, target_url: str, *, batch: int = 20_000,
    progress: Callable[[int], None] | None = None, layout: str | None = None,
) -> MigrateResult:
    """Copy the SQLite log at ``source_path`` into the PostgreSQL database at ``target_url``.

    ``layout``: of a new target (``HEDGE_LOG_LAYOUT``): compact (default, ``eventlog.pg_compact``)
    or v1 (the eventsourcing table); a target that already holds a log keeps its own.
    """
    with open_sqlite(source_path) as source:
        checked = verify(source, batch=batch)
        if not checked.ok:
            raise MigrateError(f"source log {source_path} does not verify (seq {checked.bad_seq}: "
                               f"{checked.problem}); fix or restore it before migrating")
        rec = ChainedPostgresRecorder(target_url, layout=layout)
        with EventStore(rec, redact_url(target_url)) as target:
            already, last = _check_prefix(source, target, batch)
            copied = 0
            prev = GENESIS if not last else row_hash(target.recorder.last_row()[4])  # type: ignore[index]
            for rows in source.rows(last + 1, batch=batch):
                for r in rows:  # the source verified, but re-check links as we copy
                    if split(bytes(r[4]))[0] != prev:
                        raise MigrateError(f"source changed during the migration at seq {r[0]}")
                    prev = row_hash(bytes(r[4]))
                rec.insert_stored_rows(rows)
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
                source=str(source_path), target=redact_url(target_url), source_events=checked.events,
                already_there=already, copied=copied, head_seq=head_seq, head_hash=head,
                target_verified=True,
            )
