"""Walk the log and prove the chain: every row links to its predecessor and decodes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NamedTuple
from uuid import UUID

import msgspec

from eventlog.chain import GENESIS, row_hash, split
from eventlog.codec import DecodeError, decode, type_name
from eventlog.store import EventStore, Row


class VerifyResult(msgspec.Struct, kw_only=True):
    ok: bool
    events: int
    first_seq: int = 0
    last_seq: int = 0
    head_hash: str = ""
    sessions: int = 0
    bad_seq: int | None = None
    problem: str | None = None


def parse_head(published_head: str | None) -> tuple[int | None, str | None]:
    """``HASH`` or ``SEQ:HASH`` -> (seq or None, lower-case hex hash or None)."""
    if not published_head:
        return None, None
    seq_s, _, h = published_head.strip().rpartition(":")
    h = h.lower()
    if len(h) != 64 or any(c not in "0123456789abcdef" for c in h):
        raise ValueError(f"--head: expected a 64-hex-digit hash or SEQ:HASH, got {published_head[:80]!r}")
    if seq_s and not seq_s.isdigit():
        raise ValueError(f"--head: SEQ must be a number, got {seq_s[:20]!r}")
    return (int(seq_s) if seq_s else None), h


def _blame_link(store: EventStore, prev_seq: int, seq: int, state: bytes, head_hash: str | None) -> tuple[int, str]:
    """Row ``seq`` does not link to row ``prev_seq``: which one was altered?

    If ``seq``'s own bytes still match the link stored in its successor (or the
    published head), the row is intact and the predecessor's bytes changed - or,
    across a gap in seq, rows in between were deleted. Otherwise ``seq`` itself changed.
    """
    try:
        nxt = next(iter(store.rows(seq + 1, batch=1, check=False)), [])
    except Exception:  # the next page cannot be read: judge without it
        nxt = []
    if nxt:
        st = nxt[0][4]
        intact = isinstance(st, bytes | bytearray | memoryview) and split(bytes(st))[0] == row_hash(state)
    elif head_hash is not None:
        intact = row_hash(state).hex() == head_hash
    elif prev_seq:
        # The last row, nothing after it and no published head: either this row's link
        # or its predecessor's bytes changed. Name the earlier one (the first bad seq).
        return prev_seq, (f"hash chain broken between seq {prev_seq} and the last row {seq}: one of "
                          "them was altered (verify with --head SEQ:HASH to tell which)")
    else:
        intact = False
    if not intact:
        if prev_seq == 0:
            return seq, "hash chain broken: first row does not start from genesis (this row was altered)"
        return seq, "hash chain broken: row does not link to its predecessor (this row was altered)"
    if prev_seq == 0:
        return 1, f"hash chain broken: the rows before seq {seq} are missing (deleted)"
    if seq == prev_seq + 1:
        return prev_seq, (f"hash chain broken: stored bytes of seq {prev_seq} no longer match the link "
                          f"recorded in seq {seq} (row altered)")
    return prev_seq + 1, (f"hash chain broken: rows between seq {prev_seq} and {seq} are missing "
                          f"(deleted), or seq {prev_seq} was altered")


def _walk(store: EventStore, batch: int) -> Iterator[Row | Unreadable]:
    """Every stored row in seq order; an ``Unreadable`` (then stop) where storage fails.

    When a page cannot be read the batch is re-read row by row, so the seq given is the
    first one that cannot be read.
    """
    pos, size, single = 1, batch, 0
    while True:
        try:
            got = store.recorder.select_rows(pos, size)
        except Exception as exc:  # sqlite3.DatabaseError (page damage), psycopg.DataError, ...
            if size > 1:
                size, single = 1, batch
                continue
            yield Unreadable(pos, " ".join(str(exc).split()) or type(exc).__name__)
            return
        if not got:
            return
        yield from got
        pos = got[-1][0] + 1
        if size == 1:
            single -= 1
            if single <= 0:
                size = batch
        elif len(got) < size:
            return


class Unreadable(NamedTuple):
    seq: int
    error: str


def _check_row(seq: int, oid: Any, version: Any, topic: Any, state: Any) -> str | None:
    """What is wrong with a row's stored columns themselves (before the chain), or None."""
    if not isinstance(state, bytes | bytearray | memoryview):
        kind = "NULL" if state is None else type(state).__name__
        return f"stored payload is {kind}, not bytes"
    if oid is None:
        return "row key: session id is NULL"
    try:
        UUID(str(oid))
    except ValueError:
        return f"row key: session id {str(oid)[:40]!r} is not a UUID"
    if not isinstance(version, int) or isinstance(version, bool):
        return f"row key: session_seq is {'NULL' if version is None else type(version).__name__}, not an integer"
    if not isinstance(topic, str):
        return f"topic column is {'NULL' if topic is None else type(topic).__name__}, not text"
    return None


def verify(
    store: EventStore, *, published_head: str | None = None,
    progress: Callable[[int], None] | None = None, batch: int = 20000,
) -> VerifyResult:
    """Check chain links, decoding, row keys, numbering, storage and (optionally) a published head.

    Stops at the first bad row and names its seq. ``published_head`` is ``HASH`` or
    ``SEQ:HASH``; a published head that is not in the log means the tail was
    truncated or the log rewritten (with ``SEQ``, an altered row at SEQ is named).
    On SQLite, whose seqs have no gaps, a gap or renumbered rows are named too; a
    damaged write-ahead log or damaged pages are reported, never repaired. (An empty
    file or a missing table never gets here: ``EventStore.open(readonly=True)`` refuses
    them. A table with no rows - a run killed at start-up - verifies as 0 events.)
    """
    head_seq, head_hash = parse_head(published_head)
    gapless = bool(getattr(store.recorder, "gapless", False))
    wal_check = getattr(store.recorder, "wal_damage", None)
    wal_problem = wal_check() if wal_check else None
    prev = GENESIS
    prev_seq = 0
    n = 0
    first = last = 0
    sessions: set[str] = set()
    seen_published = False
    hash_at: int | None = None  # where the published hash was found (any seq)
    altered_at: int | None = None  # the published SEQ's row, when its hash differs

    def bad(seq: int | None, problem: str) -> VerifyResult:
        return VerifyResult(ok=False, events=n, first_seq=first, last_seq=last, head_hash=prev.hex(),
                            sessions=len(sessions), bad_seq=seq, problem=problem)

    for item in _walk(store, batch):
        if isinstance(item, Unreadable):
            return bad(item.seq, f"storage damaged: rows from seq {item.seq} on cannot be read ({item.error})")
        seq, oid, version, topic, state = item
        if not first:
            first = seq
        wrong = _check_row(seq, oid, version, topic, state)
        if wrong:
            return bad(seq, wrong)
        state = bytes(state)
        link, payload = split(state)
        if len(state) < 32 or link != prev:
            return bad(*_blame_link(store, prev_seq, seq, state, head_hash))
        if gapless and seq != prev_seq + 1:
            what = "first row" if prev_seq == 0 else f"row after seq {prev_seq}"
            return bad(seq, f"the {what} is numbered {seq}, not {prev_seq + 1}, and the chain links it: "
                            "rows renumbered (a stored SQLite log has no gaps in seq)")
        try:
            ev = decode(payload, seq)
        except DecodeError as exc:
            return bad(seq, f"does not decode: {exc}")
        if type_name(ev) != topic:
            return bad(seq, f"topic column {topic!r} != payload type {type_name(ev)!r}")
        if UUID(ev.session_id).hex != UUID(str(oid)).hex or ev.session_seq != version:
            return bad(seq, "header (session_id, session_seq) does not match the stored row key")
        prev = row_hash(state)
        prev_seq = seq
        if head_hash and prev.hex() == head_hash:
            hash_at = seq
            seen_published = seen_published or head_seq in (None, seq)
        elif head_seq == seq:
            altered_at = seq  # judged at the end: a mistyped SEQ is not tampering
        sessions.add(ev.session_id)
        n += 1
        last = seq
        if progress and n % batch == 0:
            progress(n)
    if progress:
        progress(n)
    if wal_problem:
        return bad(last + 1, f"{wal_problem} (the readable log ends at seq {last})")
    page_check = getattr(store.recorder, "page_check", None)
    damaged = page_check() if page_check else None
    if damaged:
        return bad(None, f"storage damaged outside the event rows (index or free pages): {damaged}")
    res = VerifyResult(ok=True, events=n, first_seq=first, last_seq=last, head_hash=prev.hex(), sessions=len(sessions))
    if head_hash and not seen_published and hash_at is not None:
        res.ok = False
        res.problem = (f"the published hash is the head of seq {hash_at}, not of seq {head_seq}: "
                       f"a mistyped sequence number? (the chain is intact; use --head {hash_at}:{head_hash})")
    elif altered_at is not None and not seen_published:
        return bad(altered_at, "published head does not match this row: its stored bytes were altered")
    elif head_hash and not seen_published:
        res.ok = False
        res.bad_seq = last + 1
        res.problem = (f"published head {head_hash[:16]}... not found: the log ends at seq {last} "
                       "(tail truncated, or its last rows altered or rewritten)")
    return res
