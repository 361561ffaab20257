"""The compact PostgreSQL layout (``eventlog.pg_compact``, ``eventlog.pg_blocks``).

Several events per row must change nothing a reader, the chain or ``hedge migrate`` sees:
random events written through it read back equal, the stored rows are byte for byte the
rows the SQLite log of the same appends holds (so the same head hash), and the
eventsourcing table of a database written before still opens and is appended as such.
The block codec's own round trip runs without a database.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventlog.chain import GENESIS, chain_states
from eventlog.codec import encode, encode_map
from eventlog.events import Event
from eventlog.pg_blocks import BadBlock, pack, unpack
from eventlog.store import EventStore
from eventlog.verify import verify
from tests.eventgen import session_events, session_logs, tick
from tests.pgserver import PgServer
from tests.rawlog import RawLog


def _splits(n: int) -> st.SearchStrategy[list[int]]:
    """Batch sizes summing to ``n``."""
    def fit(xs: list[int]) -> list[int]:
        out, left = [], n
        for x in xs:
            if left <= 0:
                break
            out.append(min(x, left))
            left -= out[-1]
        return [*out, left] if left > 0 else out

    return st.lists(st.integers(1, max(1, n)), max_size=n + 1).map(fit)


def _seqed(events: list[Event], seqs: list[int]) -> list[Event]:
    import msgspec

    return [msgspec.structs.replace(e, seq=s) for e, s in zip(events, seqs, strict=True)]


# -- the block codec, no database ----------------------------------------------------------------


@given(session_logs(max_events=40), st.lists(st.integers(1, 5), min_size=40, max_size=40), st.booleans())
@settings(max_examples=60, deadline=None)
def test_a_block_unpacks_to_the_rows_it_was_packed_from(events: list[Event], gaps: list[int], maps: bool) -> None:
    if not events:
        return
    hexes = [uuid.UUID(e.session_id).hex for e in events]
    numbers = {h: i + 7 for i, h in enumerate(dict.fromkeys(hexes))}
    payloads = [encode_map(e) if maps else encode(e) for e in events]
    states, _ = chain_states(GENESIS, payloads)
    seqs, s = [], 40
    for g in gaps[: len(events)]:
        s += g
        seqs.append(s)
    topics = [type(e).__name__ for e in events]
    body = pack(seqs, [numbers[h] for h in hexes], [e.session_seq for e in events], topics, states, hexes)
    sessions = {n: (h, bytes.fromhex(h)) for h, n in numbers.items()}
    got = unpack(seqs[0], body, sessions)
    assert got == [(q, h, e.session_seq, t, st_) for q, h, e, t, st_ in zip(seqs, hexes, events, topics, states,
                                                                             strict=True)]
    compact = sum(p[0] == 0xC1 for p in payloads)  # the preamble (17 bytes) is not stored: the row names it
    assert len(body) < sum(len(x) for x in states) - 15 * compact + 8 * len(events) + 16


def test_a_block_naming_an_unknown_session_or_cut_short_is_refused_with_its_seq() -> None:
    sid = uuid.uuid4().hex
    evs = session_events(sid, 3)
    states, _ = chain_states(GENESIS, [encode(e) for e in evs])
    body = pack([5, 6, 7, 8, 9], [1] * 5, [1, 2, 3, 4, 5], [type(e).__name__ for e in evs], states, [sid] * 5)
    with pytest.raises(BadBlock, match=r"seq 5.*session number 1"):
        unpack(5, body, {})
    with pytest.raises(BadBlock, match="block at seq 5 does not unpack"):
        unpack(5, body[:-3], {1: (sid, bytes.fromhex(sid))})
    other = uuid.uuid4().hex
    with pytest.raises(ValueError, match="stored under session"):
        pack([1], [1], [1], ["MarketTick"], [states[1]], [other])


# -- through a real PostgreSQL server -------------------------------------------------------------


@pytest.mark.postgres
@given(session_logs(max_events=60), st.data())
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
def test_random_events_through_the_compact_layout_read_back_equal_and_chain_as_on_sqlite(
    pg_server: PgServer, events: list[Event], data: st.DataObject
) -> None:
    sizes = data.draw(_splits(len(events)))
    url = pg_server.create_database("pgc")
    d = tempfile.mkdtemp(prefix="hedge-pgc-")
    try:
        with EventStore.open(url=url) as pg, EventStore.open(d) as lite:
            assert pg.recorder.compact is not None  # type: ignore[attr-defined]
            seqs: list[int] = []
            i = 0
            for n in sizes:
                got = pg.append(events[i: i + n])
                assert got == lite.append(events[i: i + n])
                seqs += got
                i += n
            want = _seqed(events, seqs)
            assert list(pg.read(batch=data.draw(st.integers(1, 70)))) == want
            pg_rows = [r for rows in pg.rows(batch=7) for r in rows]
            assert pg_rows == [r for rows in lite.rows() for r in rows]  # byte for byte: same chain
            assert pg.head() == lite.head() and pg.count() == len(events)
            res = verify(pg)
            assert res.ok and res.events == len(events)
            for sid in {e.session_id for e in events}:
                mine = [e for e in want if e.session_id == sid]
                assert list(pg.read(session=sid, batch=3)) == mine
                assert pg.next_session_seq(sid) == mine[-1].session_seq + 1
            if events:
                t = type(events[0]).__name__
                assert list(pg.read(types=[t])) == [e for e in want if type(e).__name__ == t]
                mid = seqs[len(seqs) // 2]
                assert list(pg.read(mid, stop=seqs[-1])) == [e for e in want if e.seq >= mid]
                assert pg.link_before(mid) == lite.link_before(mid)
        with EventStore.open(url=url, create=False) as again:  # a fresh reader: nothing cached
            assert list(again.read()) == want
    finally:
        shutil.rmtree(d, ignore_errors=True)
        pg_server.drop_database(url)


@pytest.mark.postgres
def test_a_commit_batch_is_one_row_and_a_big_one_several(pg_url: str) -> None:
    from eventlog.pg_blocks import MAX_EVENTS

    sid = uuid.uuid4().hex
    with EventStore.open(url=pg_url) as store:
        store.append(session_events(sid, 10, end=False))
        store.append([tick(sid, 12 + i) for i in range(MAX_EVENTS + 5)])
        store.append([tick(sid, 12 + MAX_EVENTS + 5)])
        raw = RawLog(url=pg_url)
        assert raw.blocks()
        blocks = raw._exec("SELECT first_seq, last_seq, events FROM event_blocks ORDER BY first_seq")
        assert blocks == [(1, 11, 11), (12, 11 + MAX_EVENTS, MAX_EVENTS), (12 + MAX_EVENTS, 16 + MAX_EVENTS, 5),
                          (17 + MAX_EVENTS, 17 + MAX_EVENTS, 1)]
        assert [r[0] for r in raw.rows()] == list(range(1, 18 + MAX_EVENTS))
        assert verify(store).ok


@pytest.mark.postgres
def test_a_database_with_the_eventsourcing_table_keeps_it(pg_url: str) -> None:
    sid = uuid.uuid4().hex
    with EventStore.open(url=pg_url, layout="v1") as old:
        assert old.recorder.compact is None  # type: ignore[attr-defined]
        old.append(session_events(sid, 5, end=False))
    with EventStore.open(url=pg_url) as store:  # today's default is compact: the old table is kept
        assert store.recorder.compact is None  # type: ignore[attr-defined]
        store.append([tick(sid, 7)])
        assert [e.session_seq for e in store.read()] == [1, 2, 3, 4, 5, 6, 7]
        assert verify(store).ok
    assert RawLog(url=pg_url).exists() and not RawLog(url=pg_url).blocks()


@pytest.mark.postgres
def test_a_damaged_block_is_named_by_verify_at_its_first_seq(pg_url: str) -> None:
    sid = uuid.uuid4().hex
    with EventStore.open(url=pg_url) as store:
        store.append(session_events(sid, 10, end=False))
        store.append([tick(sid, 12 + i) for i in range(20)])
        store.append([tick(sid, 40)])
        RawLog(url=pg_url)._exec("UPDATE event_blocks SET body = substring(body from 1 for 50) WHERE first_seq = 12")
    with EventStore.open(url=pg_url, create=False) as fresh:
        res = verify(fresh)
        assert not res.ok and res.bad_seq == 12 and "block at seq 12 does not unpack" in (res.problem or "")
