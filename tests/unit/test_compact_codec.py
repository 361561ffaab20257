"""The compact format (format 2): payloads (``eventlog.compact``) and the SQLite layout
(``eventlog.sqlite_keys``) - lossless, smaller, chained, and logs written before still work."""

from __future__ import annotations

import json
import math
import sqlite3
import uuid
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventlog import compact
from eventlog.codec import DecodeError, decode, encode, encode_map
from eventlog.events import EVENT_TYPES, HEADER_FIELDS, KlineClosed, MarketTick, NavSnapshot
from eventlog.sqlite_backend import ChainedSQLiteRecorder
from eventlog.store import EventStore
from eventlog.typecodes import TYPE_CODES
from eventlog.verify import verify
from tests.eventgen import T0, event_strategy, session_events, tick
from tests.rawlog import RawLog

LAYOUTS = Path(__file__).with_name("compact_layouts.json")


def test_every_event_type_has_a_permanent_code_and_a_compact_layout() -> None:
    missing = sorted(set(EVENT_TYPES) - set(TYPE_CODES))
    assert not missing, f"give {missing} the next free codes in eventlog/typecodes.py (never reuse one)"
    assert len(set(TYPE_CODES.values())) == len(TYPE_CODES)
    assert {c.__name__ for c in compact.LAYOUTS} == set(EVENT_TYPES)


def test_fields_are_only_ever_added_at_the_end_of_a_type() -> None:
    """Compact payloads are positional: a field inserted before another would misread old logs."""
    golden: dict[str, list[str]] = json.loads(LAYOUTS.read_text())
    now = {n: [f for f in c.__struct_fields__ if f not in HEADER_FIELDS] for n, c in EVENT_TYPES.items()}
    moved = {n: (old, now[n]) for n, old in golden.items() if now.get(n, [])[:len(old)] != old}
    assert not moved, f"fields moved or removed (add new fields at the end, with a default): {moved}"
    grown = sorted(n for n in now if now[n] != golden.get(n))
    assert not grown, (f"{grown}: fields were appended (fine) - record the new layout: "
                       "python -m tests.unit.test_compact_codec > tests/unit/compact_layouts.json")


def layouts_json() -> str:
    """Today's field order of every type (what ``compact_layouts.json`` records)."""
    now = {n: [f for f in c.__struct_fields__ if f not in HEADER_FIELDS] for n, c in sorted(EVENT_TYPES.items())}
    return json.dumps(now, indent=1) + "\n"


@given(event_strategy(session_id=str(uuid.UUID(int=7))), st.booleans())
@settings(max_examples=200)
def test_both_session_id_spellings_round_trip_exactly(ev: object, hex_form: bool) -> None:
    if hex_form:
        ev = msgspec.structs.replace(ev, session_id=uuid.UUID(ev.session_id).hex)  # type: ignore[attr-defined]
    b = encode(ev)  # type: ignore[arg-type]
    assert b[0] == compact.MARK
    assert decode(b) == ev and decode(b).session_id == ev.session_id  # type: ignore[attr-defined]
    assert encode(decode(b)) == b


def test_another_spelling_of_the_session_id_is_kept_as_a_format_1_map() -> None:
    ev = tick(str(uuid.UUID(int=0xABCDEF)).upper(), 1)
    b = encode(ev)
    assert b == encode_map(ev) and b[0] != compact.MARK
    assert decode(b) == ev


def test_zero_floats_are_stored_as_integers_and_every_float_reads_back_the_same() -> None:
    sid = str(uuid.uuid4())
    for x in (0.0, 3.0, -5.0, 1e15, 2.0**62, 2.0**64, 1e300, -0.0, 0.1, math.inf):
        ev = NavSnapshot(session_id=sid, session_seq=1, stream="account", ts_event_ns=T0, ts_init_ns=T0,
                         nav_usd=x, wallet_balance=1.0, unrealized_pnl=0.0, available_balance=1.0)
        got = decode(encode(ev))
        assert got == ev and type(got.nav_usd) is float
        assert len(encode(ev)) == len(encode(msgspec.structs.replace(ev, nav_usd=0.5))) - 8 * (
            x == 0.0 and math.copysign(1.0, x) > 0)  # 0.0: 1 byte instead of 9
        assert math.copysign(1.0, got.nav_usd) == math.copysign(1.0, x)  # -0.0 keeps its sign
    nan = decode(encode(msgspec.structs.replace(ev, nav_usd=math.nan)))
    assert math.isnan(nan.nav_usd)  # type: ignore[attr-defined]


def test_a_market_stream_is_left_out_and_any_other_stream_kept() -> None:
    sid = str(uuid.uuid4())
    usual, odd = tick(sid, 1), msgspec.structs.replace(tick(sid, 1), stream="market.other")
    assert len(encode(usual)) < len(encode(odd))
    assert decode(encode(usual)).stream == "market.BTCUSDT" and decode(encode(odd)).stream == "market.other"


def test_a_stored_kline_is_less_than_a_third_of_its_format_1_map() -> None:
    """What the compact SQLite layout stores (the payload without its 17-byte preamble)."""
    k = KlineClosed(session_id=str(uuid.uuid4()), session_seq=10, stream="market.BTCUSDT", ts_event_ns=T0,
                    ts_init_ns=T0, symbol="BTCUSDT", interval="5m", open_time_ms=T0 // 10**6 - 300_000,
                    close_time_ms=T0 // 10**6 - 1, open=108953.5, high=109008.0, low=108953.4, close=108994.3,
                    volume=89.449)
    assert (len(encode(k)) - compact.PREAMBLE) * 3 < len(encode_map(k))


# -- the SQLite layout ------------------------------------------------------------------------


def _con(home: Path) -> sqlite3.Connection:
    return sqlite3.connect(home / "eventlog.sqlite")


def test_a_new_log_uses_the_compact_layout(home: Path) -> None:
    sid = str(uuid.uuid4())
    with EventStore.open(home) as store:
        seqs = store.append(session_events(sid, 30))
        assert [e.seq for e in store.read(session=sid)] == seqs
        assert store.next_session_seq(sid) == 33  # started, 30 ticks, ended
    con = _con(home)
    try:
        assert con.execute("SELECT version FROM log_format").fetchone() == (2,)
        assert con.execute("SELECT count(*) FROM sqlite_master WHERE type='index' AND tbl_name='stored_events'"
                           ).fetchone() == (0,)
        oid, topic, state = con.execute("SELECT originator_id, topic, state FROM stored_events WHERE rowid=2").fetchone()
        assert (oid, topic) == (1, TYPE_CODES["MarketTick"])
        assert state[32] != compact.MARK  # the 17-byte preamble lives in the key, not in the row
        assert con.execute("SELECT session_id, first_seq, last_seq, last_version FROM log_sessions").fetchall() == [
            (uuid.UUID(sid).hex, 1, 32, 32)]
    finally:
        con.close()


def test_moving_a_compact_row_to_another_session_breaks_the_chain_there(home: Path) -> None:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    with EventStore.open(home) as store:
        store.append(session_events(a, 10, end=False))  # seqs 1..11
        store.append([tick(b, 1)])  # seq 12: session number 2
        store.append([tick(a, 12), tick(a, 13)])
        seq = 13  # tick(a, 12)
        con = _con(home)
        with con:
            con.execute("UPDATE stored_events SET originator_id = 2 WHERE rowid = ?", (seq,))
        con.close()
        res = verify(store)
    assert not res.ok and res.bad_seq == seq, res


@pytest.mark.parametrize("payloads", ["format 1 maps", "compact"])
def test_a_log_in_the_format_1_layout_still_reads_appends_and_verifies(home: Path, payloads: str) -> None:
    """A log written before the compact format (text keys, map payloads, primary-key index)."""
    sid = uuid.uuid4().hex
    evs = session_events(sid, 20, end=False)
    rec = ChainedSQLiteRecorder(str(home / "eventlog.sqlite"), layout="v1")
    rec.create_table()
    with EventStore(rec, "old") as old:
        enc = encode_map if payloads == "format 1 maps" else encode
        old.recorder.insert_rows([(sid, e.session_seq, type(e).__name__, enc(e)) for e in evs[:15]])
        before = RawLog(sqlite_path=home / "eventlog.sqlite").rows()
    with EventStore.open(home) as store:  # today's code on the old file
        assert not RawLog(sqlite_path=home / "eventlog.sqlite").compact()
        store.append(evs[15:])  # compact payloads into the old layout
        assert RawLog(sqlite_path=home / "eventlog.sqlite").rows()[:15] == before  # stored bytes untouched
        got = list(store.read())
        assert [msgspec.structs.replace(e, seq=0) for e in got] == evs
        assert [e.session_seq for e in store.read(session=sid)] == list(range(1, 22))
        assert verify(store).ok and store.next_session_seq(sid) == 22


def test_a_log_copied_to_format_1_rows_has_the_same_chain(home: Path, tmp_path: Path) -> None:
    """The chain is over the rows as readers see them: the same bytes in either SQLite layout."""
    sid = str(uuid.uuid4())
    with EventStore.open(home) as store:
        store.append(session_events(sid, 25))
        rows = [r for b in store.rows() for r in b]
        head = store.head()
    rec = ChainedSQLiteRecorder(str(tmp_path / "v1.sqlite"), layout="v1")
    rec.create_table()
    with EventStore(rec, "v1") as copy:
        copy.append_encoded([(sid, r[2], r[3], r[4][32:]) for r in rows])
        assert copy.head() == head and verify(copy).ok


def test_old_compact_versions_are_upcast_even_when_their_shape_no_longer_fits(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An old ``v`` stored compact is read as a dict keyed by today's field names and upcast;
    the stored bytes are never rewritten."""
    from eventlog import upcast as upcast_mod

    sid = uuid.uuid4()
    same_shape = encode(tick(str(sid), 4))  # a v1 tick of today's shape
    # a v1 tick whose bid was text (a shape today's class refuses)
    old_shape = bytes((compact.MARK,)) + sid.bytes + msgspec.msgpack.encode(
        [TYPE_CODES["MarketTick"], 5, None, T0, 0, 1, "BTCUSDT", "100.25", 100.5])
    with pytest.raises(DecodeError):
        decode(old_shape)  # while v1 is current, a text bid is bad input
    monkeypatch.setitem(upcast_mod.CURRENT_VERSIONS, "MarketTick", 2)
    monkeypatch.setitem(upcast_mod.UPCASTERS, ("MarketTick", 1),
                        lambda raw: {**raw, "bid": float(raw["bid"]), "mark": 1.5})
    a, b = decode(same_shape, 9), decode(old_shape, 10)
    assert isinstance(a, MarketTick) and isinstance(b, MarketTick)
    assert (a.v, a.seq, a.mark, a.stream) == (2, 9, 1.5, "market.BTCUSDT")
    assert (b.v, b.seq, b.bid, b.ask, b.session_id, b.session_seq) == (2, 10, 100.25, 100.5, str(sid), 5)


if __name__ == "__main__":
    print(layouts_json(), end="")
