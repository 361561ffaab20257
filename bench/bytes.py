"""Bytes per event on disk, and where they go (issue: <= 150 bytes/event).

Measured on a real session log (``session_home``): the SQLite file size over the event
count, then split into the parts a row is made of - the 32-byte chain prefix, the msgpack
payload (its field names, the header fields that repeat per row: session id, stream,
type tag - and the values), the row's key columns and the b-tree/index overhead. The
baseline is the same events encoded positionally (msgpack arrays, no field names, header
fields that the columns already hold left out): what a compact codec could reach with
the chain and every field intact.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path

import msgspec

from bench.common import Figure
from bench.fixtures import session_home
from eventlog.codec import decode

_HEADER = ("session_id", "session_seq", "seq")


def _positional(ev: msgspec.Struct) -> bytes:
    """The event as a msgpack array of its values (header fields held by columns dropped)."""
    vals = [getattr(ev, f) for f in ev.__struct_fields__ if f not in _HEADER]
    return msgspec.msgpack.encode(vals)


def breakdown(db: Path) -> dict[str, float]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    rows = con.execute("SELECT originator_id, topic, state FROM stored_events").fetchall()
    pages = con.execute("PRAGMA page_count").fetchone()[0]
    psize = con.execute("PRAGMA page_size").fetchone()[0]
    con.close()
    n = len(rows)
    names = header = payload = compact = keycols = 0
    types: Counter[str] = Counter()
    for oid, topic, state in rows:
        body = state[32:]
        ev = decode(body)
        payload += len(body)
        keycols += len(oid) + len(topic) + 2
        types[topic] += 1
        fields = ev.__struct_fields__
        names += sum(len(f) + 1 for f in fields) + len("type") + 1
        header += len(ev.session_id) + 2 + len(ev.stream) + 1 + len(topic) + 1
        compact += len(_positional(ev)) + 1  # +1: an integer type tag
    file_bytes = pages * psize
    return {
        "events": n,
        "file_per_event": file_bytes / n,
        "chain_prefix": 32.0,
        "payload": payload / n,
        "payload_field_names": names / n,
        "payload_repeated_header": header / n,
        "key_columns": keycols / n,
        "btree_and_index": (file_bytes - n * 32 - payload - keycols) / n,
        "compact_payload": compact / n,
        "top_types": ", ".join(f"{t} {c / n:.0%}" for t, c in types.most_common(4)),
    }


def run(scale: float = 1.0, repeats: int = 1) -> list[Figure]:
    del repeats  # a size, not a timing
    b = breakdown(session_home(scale) / "eventlog.sqlite")
    floor = 32.0 + b["compact_payload"] + 8.0  # chain + positional payload + int key
    notes = (f"{int(b['events']):,} events ({b['top_types']}); per event: chain 32, payload "
             f"{b['payload']:.0f} (field names {b['payload_field_names']:.0f}, repeated "
             f"session id/stream/type {b['payload_repeated_header']:.0f}), key columns "
             f"{b['key_columns']:.0f}, b-tree + primary-key index {b['btree_and_index']:.0f}")
    return [Figure("bytes", "SQLite bytes per event on disk", b["file_per_event"], "B/event",
                   "chain + positional payload + integer key", floor, target="<= 150 B/event",
                   notes=notes, extra=b)]
