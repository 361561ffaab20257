"""Codec properties: every event round-trips, bytes are stable, garbage is refused cleanly.

Plus the upcaster mechanism: an old stored version is rewritten on read by named
upcasters, chained v1 -> v2 -> v3, while the stored bytes stay as they were.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventlog import upcast as upcast_mod
from eventlog.codec import DecodeError, decode, encode
from eventlog.events import EVENT_TYPES, Event, MarketTick
from tests.eventgen import event_of, event_strategy, tick


@given(event_strategy())
@settings(max_examples=400)
def test_any_event_round_trips_through_the_codec(ev: Event) -> None:
    assert decode(encode(ev)) == ev


@given(event_strategy(), st.integers(1, 2**62))
def test_decode_fills_seq_from_the_store_and_encode_never_stores_it(ev: Event, seq: int) -> None:
    with_seq = msgspec.structs.replace(ev, seq=seq)
    assert encode(with_seq) == encode(ev)
    assert decode(encode(with_seq), seq) == with_seq


@given(event_strategy())
def test_encoding_is_byte_stable_across_a_round_trip(ev: Event) -> None:
    b = encode(ev)
    assert encode(decode(b)) == b


@given(st.binary(max_size=200))
@settings(max_examples=500)
def test_garbage_bytes_raise_decode_error_and_nothing_else(data: bytes) -> None:
    try:
        decode(data)
    except DecodeError:
        pass


@given(event_strategy(), st.data())
def test_a_corrupted_payload_never_crashes_the_decoder(ev: Event, data: st.DataObject) -> None:
    b = bytearray(encode(ev))
    i = data.draw(st.integers(0, len(b) - 1))
    b[i] ^= data.draw(st.integers(1, 255))
    try:
        out = decode(bytes(b))
    except DecodeError:
        return
    assert isinstance(out, Event)


@pytest.mark.parametrize("name", sorted(EVENT_TYPES))
@given(data=st.data())
@settings(max_examples=25)
def test_each_event_type_round_trips(name: str, data: st.DataObject) -> None:
    ev = data.draw(event_of(EVENT_TYPES[name]))
    assert decode(encode(ev)) == ev


# --------------------------------------------------------------------------- upcasting


def _v1_tick_payload() -> bytes:
    """A MarketTick as an imagined v1 wrote it: one ``size`` field instead of bid/ask qty."""
    raw: dict[str, Any] = msgspec.to_builtins(tick("ab" * 16, 3))
    raw.pop("bid_qty"), raw.pop("ask_qty")
    raw["size"] = 7.5
    raw["v"] = 1
    return msgspec.msgpack.encode(raw)


def upcast_market_tick_v1_v2(raw: dict[str, Any]) -> dict[str, Any]:
    size = raw.pop("size")
    raw["bid_qty"] = raw["ask_qty"] = size
    return raw


def upcast_market_tick_v2_v3(raw: dict[str, Any]) -> dict[str, Any]:
    raw["mark"] = (raw["bid"] + raw["ask"]) / 2
    return raw


@pytest.fixture
def tick_v3(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(upcast_mod.CURRENT_VERSIONS, "MarketTick", 3)
    monkeypatch.setitem(upcast_mod.UPCASTERS, ("MarketTick", 1), upcast_market_tick_v1_v2)
    monkeypatch.setitem(upcast_mod.UPCASTERS, ("MarketTick", 2), upcast_market_tick_v2_v3)


def test_upcasters_rewrite_an_old_version_on_read_in_order(tick_v3: None) -> None:
    ev = decode(_v1_tick_payload(), 42)
    assert isinstance(ev, MarketTick)
    assert (ev.v, ev.seq, ev.bid_qty, ev.ask_qty) == (3, 42, 7.5, 7.5)
    assert ev.mark == (ev.bid + ev.ask) / 2


def test_upcasting_leaves_the_stored_bytes_alone(tick_v3: None, home: Any) -> None:
    from eventlog.store import EventStore
    from eventlog.verify import verify

    payload = _v1_tick_payload()
    with EventStore.open(home) as store:
        store.append_encoded([("ab" * 16, 3, "MarketTick", payload)])
        [[row]] = list(store.rows())
        assert row[4][32:] == payload
        assert next(store.read()).v == 3
        assert verify(store).ok


def test_a_missing_upcaster_is_a_decode_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(upcast_mod.CURRENT_VERSIONS, "MarketTick", 2)
    with pytest.raises(DecodeError, match="MarketTick"):
        decode(_v1_tick_payload())


def test_an_upcaster_producing_an_invalid_event_is_a_decode_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(upcast_mod.CURRENT_VERSIONS, "MarketTick", 2)
    monkeypatch.setitem(upcast_mod.UPCASTERS, ("MarketTick", 1), lambda raw: {**raw, "bid": "not a number"})
    with pytest.raises(DecodeError, match="upcast"):
        decode(_v1_tick_payload())
