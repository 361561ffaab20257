"""Walk the log and prove the chain: every row links to its predecessor and decodes."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

import msgspec

from eventlog.chain import GENESIS, row_hash, split
from eventlog.codec import DecodeError, decode, type_name
from eventlog.store import EventStore


class VerifyResult(msgspec.Struct, kw_only=True):
    ok: bool
    events: int
    first_seq: int = 0
    last_seq: int = 0
    head_hash: str = ""
    sessions: int = 0
    bad_seq: int | None = None
    problem: str | None = None


def verify(
    store: EventStore, *, published_head: str | None = None,
    progress: Callable[[int], None] | None = None, batch: int = 20000,
) -> VerifyResult:
    """Check chain links, decoding, header consistency and (optionally) a published head.

    Stops at the first bad row and names its seq. A published head hash that is not
    the current head means the tail was truncated (or the log was rewritten).
    """
    prev = GENESIS
    n = 0
    first = last = 0
    sessions: set[str] = set()
    seen_published = False
    for rows in store.rows(1, batch=batch):
        for seq, oid, version, topic, state in rows:
            if not first:
                first = seq
            link, payload = split(state)
            if len(state) < 32 or link != prev:
                why = "hash chain broken: row does not link to its predecessor"
                if n == 0:
                    why = "hash chain broken: first row does not start from genesis"
                return VerifyResult(ok=False, events=n, first_seq=first, last_seq=last, head_hash=prev.hex(),
                                    sessions=len(sessions), bad_seq=seq, problem=why)
            try:
                ev = decode(payload, seq)
            except DecodeError as exc:
                return VerifyResult(ok=False, events=n, first_seq=first, last_seq=last, head_hash=prev.hex(),
                                    sessions=len(sessions), bad_seq=seq, problem=f"does not decode: {exc}")
            problem = None
            if type_name(ev) != topic:
                problem = f"topic column {topic!r} != payload type {type_name(ev)!r}"
            elif UUID(ev.session_id).hex != UUID(str(oid)).hex or ev.session_seq != version:
                problem = "header (session_id, session_seq) does not match the stored row key"
            if problem:
                return VerifyResult(ok=False, events=n, first_seq=first, last_seq=last, head_hash=prev.hex(),
                                    sessions=len(sessions), bad_seq=seq, problem=problem)
            prev = row_hash(state)
            if published_head and prev.hex() == published_head:
                seen_published = True
            sessions.add(ev.session_id)
            n += 1
            last = seq
        if progress:
            progress(n)
    res = VerifyResult(ok=True, events=n, first_seq=first, last_seq=last, head_hash=prev.hex(), sessions=len(sessions))
    if published_head and not seen_published:
        res.ok = False
        res.bad_seq = last + 1
        res.problem = (f"published head {published_head[:16]}... not found: the log ends at seq {last} "
                       "(tail truncated or history rewritten)")
    return res
