"""The read path of the compact SQLite layout (``EventStore.pages`` / ``decode_page``) reads
exactly what the format-1 row path reads, and checks the chain exactly where it did.

Readers that check and decode every row work on the rows as stored (``select_stored``:
no preamble, the session a number) instead of first building each row's format-1 tuple
(``rows``). These tests hold the two paths to the same events, the same ``seq``s, the
same errors and the same first bad seq, on generated logs and on the real session.
"""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventlog.chain import split
from eventlog.chaincheck import ChainBroken
from eventlog.codec import DecodeError, decode, encode
from eventlog.events import Event
from eventlog.store import EventStore
from tests.eventgen import event_strategy, session_events, tick
from tests.rawlog import RawLog


def _row_path(store: EventStore, **kw: object) -> list[Event]:
    """The reference: format-1 rows (``rows``, checked when unfiltered), each decoded whole."""
    return [decode(split(r[4])[1], r[0]) for rows in store.rows(**kw) for r in rows]  # type: ignore[arg-type]


def _page_path(store: EventStore, **kw: object) -> list[Event]:
    return [e for evs in store.read_batches(**kw) for e in evs]  # type: ignore[arg-type]


@st.composite
def _logs(draw: st.DrawFn) -> list[Event]:
    """1-3 sessions, interleaved, session ids spelled as str(UUID), UUID.hex or otherwise (a
    format-1 map row)."""
    queues: list[list[Event]] = []
    for number in draw(st.lists(st.integers(1, 2**128 - 1), min_size=1, max_size=3, unique=True)):
        u = uuid.UUID(int=number)
        sid = draw(st.sampled_from([str(u), u.hex, str(u).upper()]))
        queues.append([draw(event_strategy(sid, 1 + i)) for i in range(draw(st.integers(1, 12)))])
    # the sessions interleaved (each in its own order): a session's rows are not contiguous
    order = draw(st.permutations([i for i, q in enumerate(queues) for _ in q]))
    return [queues[i].pop(0) for i in order]


@given(_logs(), st.integers(1, 7), st.integers(0, 3))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_pages_read_the_same_events_as_format_1_rows(tmp_path_factory: pytest.TempPathFactory,
                                                     events: list[Event], batch: int, skip: int) -> None:
    home = tmp_path_factory.mktemp("log")
    with EventStore.open(home) as store:
        seqs = store.append(events)
        start = seqs[min(skip, len(seqs) - 1)]
        assert _page_path(store, start=start, batch=batch) == _row_path(store, start=start, batch=batch)
        got = _page_path(store, batch=batch)
        assert [e.seq for e in got] == seqs
        assert [msgspec.structs.replace(e, seq=0) for e in got] == events
        for sid in {e.session_id for e in events}:
            assert _page_path(store, session=sid, batch=batch) == _row_path(store, session=sid, batch=batch)
        kinds = tuple({type(e).__name__ for e in events})[:2]
        assert _page_path(store, types=kinds, batch=batch) == _row_path(store, types=kinds, batch=batch)
        assert [s.session_id for s in store.sessions()] == [
            s for s in dict.fromkeys(e.session_id for e in events if type(e).__name__ == "SessionStarted")]


def test_an_old_version_goes_the_upcasting_way(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from eventlog import upcast as upcast_mod

    sid = str(uuid.uuid4())
    with EventStore.open(home) as store:
        store.append(session_events(sid, 6))
        monkeypatch.setitem(upcast_mod.CURRENT_VERSIONS, "MarketTick", 2)
        monkeypatch.setitem(upcast_mod.UPCASTERS, ("MarketTick", 1), lambda raw: {**raw, "mark": 1.5})
        got = _page_path(store, batch=3)
        assert got == _row_path(store, batch=3)
        assert [e.mark for e in got if type(e).__name__ == "MarketTick"] == [1.5] * 6  # type: ignore[attr-defined]


def _forge(home: Path, seq: int) -> None:
    raw = RawLog(sqlite_path=home / "eventlog.sqlite")
    link, payload = split(raw.state(seq))
    ev = decode(payload)
    raw.set_state(seq, link + encode(msgspec.structs.replace(ev, ts_event_ns=ev.ts_event_ns + 1)))


@pytest.mark.parametrize("where", [1, 7, 11])
def test_a_forged_row_stops_both_paths_at_the_same_seq(home: Path, where: int) -> None:
    sid = str(uuid.uuid4())
    with EventStore.open(home) as store:
        store.append(session_events(sid, 10))  # seqs 1..12
    _forge(home, where)
    with EventStore.open(home) as store:
        errors = []
        for path in (_row_path, _page_path):
            with pytest.raises(ChainBroken) as exc:
                path(store, batch=4)
            errors.append((exc.value.seq, exc.value.problem))
        with pytest.raises(ChainBroken) as exc:
            store.sessions()
        errors.append((exc.value.seq, exc.value.problem))
    assert len(set(errors)) == 1 and errors[0][0] == where + 1, errors


def test_damaged_rows_fail_the_same_way(home: Path) -> None:
    sid = str(uuid.uuid4())
    with EventStore.open(home) as store:
        store.append(session_events(sid, 5))
        link = store.link_before(3)
    con = sqlite3.connect(home / "eventlog.sqlite")
    with con:  # a link that holds, then a payload that is no event
        con.execute("UPDATE stored_events SET state = ? WHERE rowid = 3", (link + b"\x93\x01\x02\x03",))
        con.execute("UPDATE stored_events SET originator_id = 99 WHERE rowid = 5")  # no such session
    con.close()
    with EventStore.open(home) as store:
        store.check_chain = False
        for path in (_row_path, _page_path):
            with pytest.raises(DecodeError):
                path(store, stop=3)
        with pytest.raises(DecodeError) as a:
            _row_path(store, start=5)
        with pytest.raises(DecodeError) as b:
            _page_path(store, start=5)
        assert str(a.value) == str(b.value)


def test_the_real_session_reads_the_same_both_ways(tmp_path: Path, market_dir: Path) -> None:
    """A real simulated session's log (a few thousand bars of the real klines): every event equal."""
    import subprocess
    import sys

    home = tmp_path / "home"
    out = subprocess.run([sys.executable, "-m", "hedge.cli", "run", "--home", str(home), "--speed", "max",
                          "--data", str(market_dir), "--bars", "1500", "--no-projections", "--quiet"],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    with EventStore.open(home, create=False) as store:
        assert _page_path(store) == _row_path(store)
        sid = store.sessions()[-1].session_id
        assert _page_path(store, session=sid) == _row_path(store, session=sid)
        assert len(_page_path(store)) == store.last_seq()


def test_one_tick_round_trips(home: Path) -> None:
    with EventStore.open(home) as store:
        sid = str(uuid.uuid4())
        store.append([tick(sid, 1)])
        (ev,) = _page_path(store)
        assert ev == msgspec.structs.replace(tick(sid, 1), seq=1)
