"""Checking the hash chain while reading: every reader of the whole log is a verifier.

``checked(batches, prev)`` passes the raw row batches of an unfiltered read through,
raising ``ChainBroken`` at the first row whose stored link is not the SHA-256 of the
row before it (or that is not a stored row at all: NULL, text, too short). It
costs one SHA-256 per row, which every read pays anyway for its decode.

``EventStore.rows`` wraps its unfiltered reads in it; ``EventStore.pages`` (and so
``read``/``read_batches``, the projections, ``rebuild``, ``sessions``, ``replay``'s
whole-log reads) does the same check with ``check_stored`` on the compact SQLite
layout's rows as stored. A read that starts past seq 1 first fetches the row before it
to learn the expected link.
Reads filtered by session or type see only some rows and cannot check links.

``hedge verify`` names *which* row was altered; a reader only knows where the chain
stopped holding, so ``ChainBroken`` says "at seq N" and points to ``hedge verify``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from hashlib import sha256 as _sha256
from typing import Any

from eventlog.chain import PREFIX, row_hash
from eventlog.compact import ARRAY_START

Row = tuple[int, str, int, str, bytes]


class ChainBroken(RuntimeError):
    """The log does not verify at ``seq`` (the CLI exits 1 on it)."""

    def __init__(self, seq: int, problem: str):
        self.seq, self.problem = seq, problem
        super().__init__(f"the event log does not verify at seq {seq}: {problem} "
                         "(stopped before using it; 'hedge verify' names the altered row)")


class NotAnEventLog(FileNotFoundError):
    """The store exists but holds no event log: an empty file, or the events table is missing."""


def check_row(seq: Any, state: Any, prev: bytes) -> bytes:
    """The hash of row ``seq`` after checking it links to ``prev``; ``ChainBroken`` if not."""
    if not isinstance(state, bytes | bytearray | memoryview):
        raise ChainBroken(int(seq), f"stored payload is {type(state).__name__}, not bytes")
    state = bytes(state)
    if len(state) < PREFIX:
        raise ChainBroken(int(seq), "stored row is shorter than its link")
    if state[:PREFIX] != prev:
        raise ChainBroken(int(seq), "hash chain broken here (this row or the one before it was altered, "
                                    "or rows before it were deleted)")
    return row_hash(state)


def check_stored(rows: list[Any], prev: bytes, preambles: dict[int, bytes],
                 to_row: Callable[[Any], Row]) -> bytes:
    """``check_row`` over a page of compact rows *as stored* (``select_stored``: the payload's
    17-byte preamble left out, its session a number); returns the hash of the last row.

    The hash is over the row as ``to_row`` gives it (link + preamble + payload), so this is
    the same check, done without first building each row's format-1 tuple; a row that is
    not a stored compact payload of a known session (a map payload, damage) goes through
    ``to_row`` and ``check_row`` as before."""
    for r in rows:
        st = r[4]
        p = preambles.get(r[1])
        if p is not None and type(st) is bytes and len(st) > PREFIX and st[PREFIX] in ARRAY_START:
            link = st[:PREFIX]
            if link != prev:
                check_row(r[0], st, prev)  # raises, naming the row
            prev = _sha256(link + p + st[PREFIX:]).digest()
        else:
            f = to_row(r)
            prev = check_row(f[0], f[4], prev)
    return prev


def checked(batches: Iterator[list[Row]], prev: bytes) -> Iterator[list[Row]]:
    """Yield ``batches`` unchanged after checking every link, starting from ``prev``."""
    for rows in batches:
        for r in rows:
            prev = check_row(r[0], r[4], prev)
        yield rows


def check_tail(store: Any, anchor: tuple[int, str] | None = None) -> int:
    """Check the chain from a trusted position to the end before appending to the log.

    ``anchor`` is a (seq, row hash) this host verified earlier (the projections
    checkpoint records one): when row ``seq`` still hashes to it, only the rows
    after it are checked; otherwise (or without an anchor) the whole log is.
    Returns the number of rows checked; raises ``ChainBroken``.
    """
    start = 1
    if anchor is not None and anchor[0] > 0:
        seq, want = anchor
        got: list[Row] = next(iter(store.rows(seq, stop=seq, batch=1, check=False)), [])
        if got and got[0][0] == seq:
            st = got[0][4]
            if not isinstance(st, bytes | bytearray | memoryview) or row_hash(bytes(st)).hex() != want:
                raise ChainBroken(seq, "this row no longer has the hash recorded when it was projected "
                                       "(altered; or the projections belong to another log: 'hedge rebuild')")
            start = seq
        elif store.last_seq() > 0:
            raise ChainBroken(seq, f"the log ends at seq {store.last_seq()} but seq {seq} was projected "
                                   "(rows deleted or the tail truncated)")
    n = 0
    for page in store.pages(start):
        n += len(page.rows)
    return n
