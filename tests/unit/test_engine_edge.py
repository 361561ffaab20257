"""The loop's edge: bad venue updates become VenueErrors, the engine goes on; fold(log) == live state."""

from __future__ import annotations

import uuid
from pathlib import Path

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config.loader import load_config
from engine.bootstrap import build_sim_engine
from engine.loop import _HEADER, _valid_fast, check_update, explain_update
from engine.ports import VenueUpdate
from engine.state import fold
from engine.venues.scripted import ScriptedMarket
from eventlog.events import (
    EVENT_TYPES,
    KlineClosed,
    MarketTick,
    NavSnapshot,
    OrderFilled,
    VenueError,
)
from eventlog.payloads import ConfigChange
from eventlog.store import EventStore


def test_malformed_venue_update_is_recorded_as_venue_error_and_the_loop_goes_on(home: Path) -> None:
    market = ScriptedMarket(["BTCUSDT"], start_ms=1_751_328_000_000)
    store = EventStore.open(home)
    eng = build_sim_engine(load_config(), ["BTCUSDT"], market, store, str(uuid.uuid4()))
    eng.validate = True
    eng.apply([
        VenueUpdate(MarketTick, "market.BTCUSDT", 1, {"symbol": "BTCUSDT", "bid": "abc", "ask": 1.0}),
        VenueUpdate(MarketTick, "market.BTCUSDT", 1, {"symbol": "BTCUSDT", "bid": 1.0, "ask": 1.0, "colour": 1}),
        VenueUpdate(MarketTick, "market.BTCUSDT", 1, {"symbol": "BTCUSDT", "bid": 1.0, "ask": "1.5"}),
        VenueUpdate(MarketTick, "market.BTCUSDT", 1, {"symbol": "BTCUSDT", "bid": float("nan"), "ask": 1.0}),
        VenueUpdate(MarketTick, "market.BTCUSDT", 1, {"symbol": "BTCUSDT", "bid": 99.0, "ask": 101.0}),
    ])
    market.flat({"BTCUSDT": 60_000.0})
    eng.apply(eng.venue.next_updates())
    eng.writer.flush()
    events = list(store.read(session=eng.writer.session_id))  # everything decodes
    errors = [e for e in events if isinstance(e, VenueError)]
    assert [e.field for e in errors] == ["MarketTick.bid", "MarketTick.colour", "MarketTick.ask", "MarketTick.bid"]
    assert all(e.kind == "parse" and e.message for e in errors)
    assert eng.state.syms["BTCUSDT"].last_close == 60_000.0
    eng.writer.close()
    store.close()


def test_state_folded_from_the_stored_log_equals_the_live_engine_state(home: Path) -> None:
    from hedge.cli import main

    assert main(["run", "--home", str(home), "--no-projections", "--bars", "800", "--quiet"]) == 0
    with EventStore.open(home) as store:
        sid = store.find_session("last").session_id
        events = list(store.read(session=sid))
    live = fold(events[:-1])  # the live engine folded everything before SessionEnded
    summary = dict(events[-1].summary)
    got = live.summary_dict()
    for k in ("intents", "vetoes_by_gate", "clamps", "fills", "fees_usd", "final_nav_usd", "open_positions"):
        assert got[k] == summary[k], k
    for s in live.syms.values():
        assert s.led_qty == s.pos_qty


def test_config_change_is_recorded_and_later_decisions_use_it_and_rederive(home: Path) -> None:
    from config.loader import apply_overrides, from_dict
    from engine.replay_core import rederive
    from eventlog.events import IntentEmitted

    base = load_config()
    market = ScriptedMarket(["BTCUSDT"], start_ms=1_751_328_000_000)
    store = EventStore.open(home)
    eng = build_sim_engine(base, ["BTCUSDT"], market, store, str(uuid.uuid4()))
    market.flat({"BTCUSDT": 60_000.0})
    eng.apply(eng.venue.next_updates())
    d, _ = apply_overrides(base.as_dict(), ["risk.max_trade_nav_pct=0.01"])
    new = from_dict(d)
    assert eng.change_config(base.as_dict(), base.config_hash) is None, "no change, no event"
    ev = eng.change_config(new.as_dict(), new.config_hash)
    assert ev is not None and ev.changes == [ConfigChange(key="risk_limits.global.max_trade_nav_pct", old=0.06, new=0.01)]
    now = eng.venue.clock().now_ns()
    eng.record(IntentEmitted, "strategy", now, {"intent_id": "x", "symbol": "BTCUSDT", "side": "BUY", "qty": 0.05,
                                                "notional_usd": 3000.0, "price": 60_000.0})
    eng.writer.flush()
    events = list(store.read(session=eng.writer.session_id))
    dec = next(e for e in events if type(e).__name__ == "RiskDecided")
    assert dec.config_hash == new.config_hash and dec.outcome == "clamp" and dec.gate == "max_trade_nav"
    assert dec.thresholds["max_trade_nav_pct"] == 0.01
    assert rederive(events, external=("IntentEmitted",)).ok
    eng.writer.close()
    store.close()


_VALUES = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-2**70, 2**70), st.text(max_size=3),
                    st.none(), st.booleans(), st.lists(st.floats(), max_size=2),
                    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2))


@settings(max_examples=400, deadline=None)
@given(cls=st.sampled_from([MarketTick, KlineClosed, OrderFilled, VenueError, NavSnapshot]), data=st.data())
def test_fast_edge_check_accepts_exactly_what_the_full_check_accepts(cls: type, data: st.DataObject) -> None:
    """check_update's fast path (the payload converted alone) is the full check, only cheaper."""
    names = [*cls.__struct_fields__, "type", "colour"]
    fields = data.draw(st.dictionaries(st.sampled_from(names), _VALUES, max_size=len(names)))
    valid = data.draw(st.booleans())
    if valid:  # start from a valid payload, so both outcomes are well covered
        fields = {**_valid_fields(cls), **{k: v for k, v in fields.items() if data.draw(st.booleans())}}
    u = VenueUpdate(cls, "x", 1, fields)
    if _valid_fast(u):
        assert explain_update(u) is None
    elif not set(fields) & set(_HEADER):  # header keys (overridden by the writer) take the full path
        assert explain_update(u) is not None
    assert check_update(u) == explain_update(u)


def _valid_fields(cls: type) -> dict[str, object]:
    good = {"symbol": "BTCUSDT", "bid": 1.0, "ask": 2.0, "interval": "5m", "open_time_ms": 1, "close_time_ms": 2,
            "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0, "order_id": "o", "side": "BUY",
            "qty": 1.0, "price": 1.0, "source": "s", "kind": "parse", "field": "f", "message": "m",
            "nav_usd": 1.0}
    return {f.name: good[f.name] for f in msgspec.structs.fields(cls) if f.required and f.name in good
            and f.name not in ("session_id", "session_seq", "stream", "ts_event_ns", "ts_init_ns")}


# -- the edge's fast check refuses a non-finite float in any float field ---------------------------


_FLOAT_FIELDS = sorted((name, f.name) for name, cls in EVENT_TYPES.items() for f in msgspec.structs.fields(cls)
                       if f.name not in _HEADER and (f.type is float or f.type == (float | None)))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(where=st.sampled_from(_FLOAT_FIELDS), bad=st.sampled_from([float("nan"), float("inf"), float("-inf")]),
       data=st.data())
def test_the_edge_refuses_a_non_finite_float_in_any_float_field_and_names_it(
        where: tuple[str, str], bad: float, data: st.DataObject) -> None:
    from tests.eventgen import event_of

    name, field = where
    ev = data.draw(event_of(EVENT_TYPES[name]))
    fields = {k: v for k, v in msgspec.structs.asdict(ev).items() if k not in _HEADER}
    fields[field] = bad
    u = VenueUpdate(EVENT_TYPES[name], "x", 1, fields)
    assert not _valid_fast(u)
    assert (check_update(u) or "").startswith(f"{field}: ")
