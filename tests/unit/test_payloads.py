"""Typed event payloads (``eventlog.payloads``) and the upcasters of logs written before them.

* the rows that kept their keys encode to exactly the bytes the old dict rows did, so
  logs written before decode unchanged (no version bump needed there);
* ``VenueReconciled`` v1 (dict rows, ``type``, Binance camelCase) upcasts to v2;
* every event's ``v`` default is its current version and every older version has an
  upcaster;
* no event field is an untyped ``Any`` dict except the named free-form ones.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventlog.codec import DecodeError, decode, encode, encode_map
from eventlog.events import EVENT_TYPES, Event, Scalar
from eventlog.payloads import OpenOrder, ReconciledPosition
from eventlog.upcast import CURRENT_VERSIONS, UPCASTERS
from tests.eventgen import event_of

# --------------------------------------------------------------------------- the schemas before


class OldOffExchangeValued(Event, tag="OffExchangeValued", frozen=True, kw_only=True):
    holdings: list[dict[str, Any]]
    total_usd: float


class OldConfigChanged(Event, tag="ConfigChanged", frozen=True, kw_only=True):
    config: dict[str, Any]
    config_hash: str
    previous_hash: str
    changes: list[dict[str, Any]] = []
    source: str = "reload"


class OldExchangeFiltersLoaded(Event, tag="ExchangeFiltersLoaded", frozen=True, kw_only=True):
    source: str
    filters: dict[str, dict[str, float]]
    corrections: list[dict[str, Any]] = []


OLD = {"OffExchangeValued": OldOffExchangeValued, "ConfigChanged": OldConfigChanged,
       "ExchangeFiltersLoaded": OldExchangeFiltersLoaded}


def as_old(ev: Event) -> Event:
    """The same event built with the old schema (rows as the plain dicts the old code wrote)."""
    fields = {k: msgspec.to_builtins(v) if isinstance(v, list) else v for k, v in msgspec.structs.asdict(ev).items()}
    return OLD[type(ev).__name__](**fields)  # type: ignore[no-any-return]


@settings(max_examples=60, deadline=None)
@given(ev=st.sampled_from(sorted(OLD)).flatmap(lambda n: event_of(EVENT_TYPES[n])))
def test_rows_that_kept_their_keys_have_the_old_bytes_and_old_bytes_decode(ev: Event) -> None:
    old_bytes = msgspec.msgpack.encode(as_old(msgspec.structs.replace(ev, seq=0)))
    assert encode_map(ev) == old_bytes  # format 1 (the map the code before wrote): unchanged
    assert decode(encode(ev)) == msgspec.structs.replace(ev, seq=0)  # and the compact payload round-trips
    assert decode(old_bytes) == msgspec.structs.replace(ev, seq=0)


def v1_reconciled(positions: list[Any], open_orders: list[Any]) -> bytes:
    return msgspec.msgpack.encode({
        "type": "VenueReconciled", "session_id": "s", "session_seq": 3, "stream": "venue", "ts_event_ns": 5,
        "ts_init_ns": 6, "v": 1, "open_orders": open_orders, "positions": positions, "canceled_orders": ["a"]})


def test_venue_reconciled_v1_rows_become_typed_rows() -> None:
    ev = decode(v1_reconciled(
        positions=[{"symbol": "BTCUSDT", "qty": 0.05, "entry_price": 60000.0, "mark_price": 60100.0,
                    "unrealized_pnl": 5.0},
                   {"symbol": "ETHUSDT", "positionAmt": "-0.2", "entryPrice": "3000", "markPrice": "2990",
                    "unRealizedProfit": "2"},
                   "junk", {"symbol": "XRPUSDT"}, {"qty": 1.0}],
        open_orders=[{"order_id": "c-1", "venue_order_id": "77", "symbol": "ETHUSDT", "side": "BUY", "type": "LIMIT",
                      "time_in_force": "GTX", "price": 1500.0, "qty": 0.5, "filled_qty": 0.0, "status": "NEW"}]), seq=9)
    assert ev.seq == 9 and ev.v == 2 and ev.canceled_orders == ["a"]  # type: ignore[attr-defined]
    assert ev.positions == [  # type: ignore[attr-defined]
        ReconciledPosition(symbol="BTCUSDT", qty=0.05, entry_price=60000.0, mark_price=60100.0, unrealized_pnl=5.0),
        ReconciledPosition(symbol="ETHUSDT", qty=-0.2, entry_price=3000.0, mark_price=2990.0, unrealized_pnl=2.0)]
    assert ev.open_orders == [OpenOrder(  # type: ignore[attr-defined]
        order_id="c-1", venue_order_id="77", symbol="ETHUSDT", side="BUY", order_type="LIMIT", time_in_force="GTX",
        price=1500.0, qty=0.5, filled_qty=0.0, status="NEW")]
    # a v2 payload is read as it is, without the upcaster
    assert decode(encode(ev)) == msgspec.structs.replace(ev, seq=0)


def test_a_v1_row_with_a_bad_number_is_a_decode_error_naming_the_field() -> None:
    with pytest.raises(DecodeError, match=r"VenueReconciled v1.*positionAmt: not a number \('abc'\)"):
        decode(v1_reconciled([{"symbol": "ETHUSDT", "positionAmt": "abc"}], []))


def test_a_current_payload_that_does_not_fit_its_schema_is_still_a_decode_error() -> None:
    bad = msgspec.msgpack.encode({"type": "VenueReconciled", "session_id": "s", "session_seq": 1, "stream": "venue",
                                  "ts_event_ns": 1, "ts_init_ns": 1, "v": 2, "open_orders": [],
                                  "positions": [{"symbol": "X", "qty": "1"}]})
    with pytest.raises(DecodeError, match="positions"):
        decode(bad)


def test_each_events_v_default_is_its_current_version_and_older_versions_have_upcasters() -> None:
    for name, cls in EVENT_TYPES.items():
        info = msgspec.inspect.type_info(cls)
        v = next(f for f in info.fields if f.name == "v")  # type: ignore[attr-defined]
        assert v.default == CURRENT_VERSIONS.get(name, 1), name
        for old in range(1, CURRENT_VERSIONS.get(name, 1)):
            assert (name, old) in UPCASTERS, (name, old)


# free-form by design: the normalised config itself, run parameters, the session summary
FREE_FORM = {("SessionStarted", "config"), ("SessionStarted", "params"), ("ConfigChanged", "config"),
             ("SessionEnded", "summary")}


def _untyped(t: msgspec.inspect.Type) -> bool:
    mi = msgspec.inspect
    if isinstance(t, mi.AnyType):
        return True
    if isinstance(t, mi.ListType):
        return _untyped(t.item_type)
    if isinstance(t, mi.DictType):
        return _untyped(t.value_type)
    if isinstance(t, mi.UnionType):
        return any(_untyped(x) for x in t.types)
    return False


def test_no_event_field_is_an_untyped_dict_except_the_free_form_ones() -> None:
    found = set()
    for name, cls in EVENT_TYPES.items():
        for f in msgspec.inspect.type_info(cls).fields:  # type: ignore[attr-defined]
            if _untyped(f.type):
                found.add((name, f.name))
    assert found == FREE_FORM
    assert Scalar is not Any  # thresholds / observations / signal stay typed scalar mappings
