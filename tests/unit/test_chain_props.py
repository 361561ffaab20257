"""Chain properties: batching never changes the chain, and verify names any altered row.

Runs on a real SQLite file per example (the chain is computed by the backend inside
its write transaction, so the property is about the store, not only ``chain.py``).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from eventlog.chain import GENESIS, chain_states, row_hash, split
from eventlog.codec import encode
from eventlog.events import Event
from eventlog.store import EventStore
from eventlog.verify import verify
from tests.eventgen import session_logs
from tests.rawlog import RawLog

_settings = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@contextmanager
def fresh_store() -> Iterator[EventStore]:
    d = tempfile.mkdtemp(prefix="hedge-chain-")
    try:
        with EventStore.open(d) as s:
            yield s
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _splits(n: int) -> st.SearchStrategy[list[int]]:
    """Batch sizes summing to ``n``."""
    return st.lists(st.integers(1, max(1, n)), max_size=n + 1).map(lambda xs: _fit(xs, n))


def _fit(xs: list[int], n: int) -> list[int]:
    out, left = [], n
    for x in xs:
        if left == 0:
            break
        out.append(min(x, left))
        left -= out[-1]
    if left:
        out.append(left)
    return out


def _append_in(store: EventStore, evs: list[Event], sizes: list[int]) -> None:
    i = 0
    for k in sizes:
        store.append(evs[i:i + k])
        i += k


@given(st.lists(st.binary(max_size=40), max_size=30), st.data())
def test_chain_states_is_independent_of_how_payloads_are_batched(payloads: list[bytes], data: st.DataObject) -> None:
    whole, head = chain_states(GENESIS, payloads)
    sizes = data.draw(_splits(len(payloads)))
    got: list[bytes] = []
    h, i = GENESIS, 0
    for k in sizes:
        part, h = chain_states(h, payloads[i:i + k])
        got += part
        i += k
    assert got == whole and h == head
    assert all(split(s)[1] == p for s, p in zip(whole, payloads, strict=True))
    if whole:
        assert row_hash(whole[-1]) == head


@_settings
@given(session_logs(max_events=25), st.data())
def test_appending_in_any_batch_sizes_gives_the_same_stored_chain(evs: list[Event], data: st.DataObject) -> None:
    sizes_a = data.draw(_splits(len(evs)))
    sizes_b = data.draw(_splits(len(evs)))
    with fresh_store() as a, fresh_store() as b:
        _append_in(a, evs, sizes_a)
        _append_in(b, evs, sizes_b)
        assert a.head() == b.head()
        _, expect = chain_states(GENESIS, [encode(e) for e in evs])
        assert a.head()[1] == (expect.hex() if evs else "0" * 64)
        ra, rb = RawLog(sqlite_path=a.location).rows(), RawLog(sqlite_path=b.location).rows()
        assert ra == rb
        assert verify(a).ok and verify(b).ok


@_settings
@given(session_logs(max_events=20), st.data())
def test_a_flipped_byte_anywhere_is_found_with_its_seq(evs: list[Event], data: st.DataObject) -> None:
    assume(evs)
    with fresh_store() as store:
        seqs = store.append(evs)
        head_seq, head = store.head()
        published = f"{head_seq}:{head}"
        raw = RawLog(sqlite_path=store.location)
        target = data.draw(st.sampled_from(seqs))
        offset = data.draw(st.integers(0, len(raw.state(target)) - 1))
        raw.flip_byte(target, offset)
        res = verify(store, published_head=published)
        assert not res.ok
        assert res.bad_seq == target, res.problem


@_settings
@given(session_logs(max_events=20), st.data())
def test_without_a_published_head_any_flip_before_the_last_row_is_still_named(
    evs: list[Event], data: st.DataObject
) -> None:
    assume(len(evs) >= 2)
    with fresh_store() as store:
        seqs = store.append(evs)
        raw = RawLog(sqlite_path=store.location)
        target = data.draw(st.sampled_from(seqs[:-1]))
        raw.flip_byte(target, data.draw(st.integers(0, len(raw.state(target)) - 1)))
        res = verify(store)
        assert not res.ok and res.bad_seq == target, res.problem


@_settings
@given(session_logs(max_events=10), st.data())
def test_without_a_published_head_a_flipped_last_row_names_it_or_its_predecessor(
    evs: list[Event], data: st.DataObject
) -> None:
    assume(len(evs) >= 2)
    with fresh_store() as store:
        seqs = store.append(evs)
        raw = RawLog(sqlite_path=store.location)
        raw.flip_byte(seqs[-1], data.draw(st.integers(0, 31)))  # its link: always detectable
        res = verify(store)
        assert not res.ok and res.bad_seq in (seqs[-2], seqs[-1]), res.problem


@_settings
@given(session_logs(max_events=15), st.data())
def test_deleting_a_row_is_found_at_the_missing_seq(evs: list[Event], data: st.DataObject) -> None:
    assume(len(evs) >= 2)
    with fresh_store() as store:
        seqs = store.append(evs)
        published = "{}:{}".format(*store.head())
        target = data.draw(st.sampled_from(seqs))
        RawLog(sqlite_path=store.location).delete(target)
        res = verify(store, published_head=published)
        assert not res.ok and res.bad_seq == target, res.problem
