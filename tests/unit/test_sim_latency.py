"""Latency inside the bar (issue 14): an order reaches the simulated book ``runtime.sim.latency_ms``
after it is sent, and is matched against the documented intrabar path at that moment.

Prices at a moment are recomputed here from the bar by hand (the path open -> low -> high
-> close for an up bar, open -> high -> low -> close for a down bar, points at 0, 1/3, 2/3
of the bar and its close, linear between them), then put through the venue's spread model.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from config.loader import LoadedConfig, apply_overrides, from_dict, load_config
from engine.accounting import round_price
from engine.bootstrap import build_sim_engine
from engine.ports import OrderRequest
from engine.venues.scripted import ScriptedMarket
from engine.venues.sim import SimVenue
from eventlog.events import (
    Event,
    IntentEmitted,
    MarketTick,
    OrderAccepted,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
)
from eventlog.store import EventStore

SYM = "BTCUSDT"
T0_MS = 1_751_328_000_000
BAR_NS = 300_000 * 1_000_000
MS = 1_000_000


def _config(latency_ms: float | None = None) -> LoadedConfig:
    base = load_config()
    if latency_ms is None:
        return base
    d, _ = apply_overrides(base.as_dict(), [f"runtime.sim.latency_ms={latency_ms}"])
    return from_dict(d)


def by_hand(open_ns: int, bar: tuple[float, float, float, float], t: int) -> float:
    """The path's price at ``t``, recomputed from the bar without the venue's code."""
    o, h, lo, c = bar
    pts = [o, lo, h, c] if c >= o else [o, h, lo, c]
    third = BAR_NS // 3
    times = [open_ns, open_ns + third, open_ns + 2 * third, open_ns + BAR_NS - 1]
    for k in range(3):
        if times[k] <= t <= times[k + 1]:
            return pts[k] + (pts[k + 1] - pts[k]) * (t - times[k]) / (times[k + 1] - times[k])
    raise AssertionError("t is outside the bar")


def _venue(latency_ms: float | None = None) -> tuple[SimVenue, ScriptedMarket]:
    market = ScriptedMarket([SYM], start_ms=T0_MS)
    venue = SimVenue(_config(latency_ms).config, [SYM], market)
    venue.connect([SYM])
    market.flat({SYM: 60_000.0}, volume=1_000.0)
    assert venue.next_updates()
    return venue, market


def test_an_order_sent_at_t_reaches_the_book_at_t_plus_latency_at_that_moments_touch() -> None:
    for latency_ms in (50.0, 150_000.0):  # the default, and long enough to land on the path's second leg
        venue, market = _venue(latency_ms)
        sent = venue.clock().now_ns()
        assert venue.submit(OrderRequest("m-1", SYM, "BUY", "MARKET", "IOC", 0.01)) == []
        bar = (60_000.0, 60_600.0, 59_400.0, 60_500.0)  # closes up: open -> low -> high -> close
        open_ns = market.push({SYM: (*bar, 1_000.0)}) * MS
        got = venue.next_updates() or []
        arrive = sent + int(latency_ms * MS)
        acc = next(u for u in got if u.cls is OrderAccepted)
        fill = next(u for u in got if u.cls is OrderFilled)
        assert acc.ts_event_ns == fill.ts_event_ns == arrive
        price = by_hand(open_ns, bar, arrive)
        bid, ask = venue.matching.quote(SYM, price)
        tick = next(u for u in got if u.cls is MarketTick and u.ts_event_ns == arrive)  # the book at that moment
        assert (tick.fields["bid"], tick.fields["ask"]) == (bid, ask)
        assert got.index(tick) < got.index(acc)
        assert fill.fields["price"] == venue.matching._taker_price(SYM, "BUY", 0.01 * price, bid, ask)
        assert fill.fields["price"] >= ask


def test_a_resting_order_fills_when_the_path_first_trades_through_it() -> None:
    venue, market = _venue()
    sent = venue.clock().now_ns()
    px = 59_700.0
    assert venue.submit(OrderRequest("r-1", SYM, "BUY", "LIMIT", "GTX", 0.01, px)) == []
    bar = (60_000.0, 60_200.0, 59_500.0, 59_600.0)  # closes down: open -> high -> low -> close
    open_ns = market.push({SYM: (*bar, 1_000.0)}) * MS
    got = venue.next_updates() or []
    acc = next(u for u in got if u.cls is OrderAccepted)
    assert acc.ts_event_ns == sent + 50 * MS
    fill = next(u for u in got if u.cls is OrderFilled)
    # the leg high (1/3) -> low (2/3) meets 59,700 at this moment; the fill is just after it
    third = BAR_NS // 3
    meet = open_ns + third + int((60_200.0 - px) / (60_200.0 - 59_500.0) * third)
    assert meet < fill.ts_event_ns <= meet + 2
    assert by_hand(open_ns, bar, fill.ts_event_ns) < px <= by_hand(open_ns, bar, fill.ts_event_ns - 1)
    assert fill.fields["price"] == px and fill.fields["is_maker"] is True


def _session(tmp_path: Path) -> tuple[object, EventStore, ScriptedMarket, str]:
    store = EventStore.open(tmp_path)
    market = ScriptedMarket([SYM], start_ms=T0_MS)
    sid = str(uuid.uuid4())
    engine = build_sim_engine(_config(), [SYM], market, store, sid)
    return engine, store, market, sid


def test_a_reprice_after_5022_is_priced_off_the_touch_at_the_rejects_moment(tmp_path: Path) -> None:
    engine, store, market, sid = _session(tmp_path)
    eng: object = engine
    for _ in range(2):
        market.flat({SYM: 60_000.0}, volume=1_000.0)
        eng.apply(eng.venue.next_step())  # type: ignore[attr-defined]
    now = eng.venue.clock().now_ns()  # type: ignore[attr-defined]
    eng.record(IntentEmitted, "strategy", now, {  # type: ignore[attr-defined]
        "intent_id": "lat-1", "symbol": SYM, "side": "BUY", "qty": 0.01, "notional_usd": 600.0,
        "price": 60_000.0, "reduce_only": False})
    # the market gaps down 1 %: the post-only buy at the old bid would take at its arrival
    bar = (59_400.0, 59_500.0, 59_000.0, 59_200.0)  # closes down: open -> high -> low -> close
    open_ns = market.push({SYM: (*bar, 1_000.0)}) * MS
    eng.apply(eng.venue.next_step())  # type: ignore[attr-defined]
    eng.writer.flush()  # type: ignore[attr-defined]
    evs: list[Event] = list(store.read(session=sid))
    subs = [e for e in evs if type(e) is OrderSubmitted]
    subs = [e for e in subs if e.plan_id == subs[0].plan_id]  # (the bar's close may decide more)
    assert [s.attempt for s in subs] == [0, 1], [(s.attempt, s.price) for s in subs]
    first, reprice = subs
    assert first.ts_event_ns == now
    rej = next(e for e in evs if type(e) is OrderRejected)
    lat = 50 * MS
    assert rej.order_id == first.order_id and rej.code == -5022 and rej.ts_event_ns == now + lat
    # the touch at that moment, recomputed from the path, is what the venue published first ...
    m = eng.venue.matching  # type: ignore[attr-defined]
    bid, ask = m.quote(SYM, by_hand(open_ns, bar, rej.ts_event_ns))
    tick = [e for e in evs if type(e) is MarketTick and e.ts_event_ns == rej.ts_event_ns]
    assert [(t.bid, t.ask) for t in tick] == [(bid, ask)] and evs.index(tick[0]) < evs.index(rej)
    assert first.price is not None and first.price >= ask  # why it was rejected
    # ... and the reprice is priced off it (one tick under that bid), sent then, arrives a latency later
    tick_size = eng.venue.filters()[SYM].tick_size  # type: ignore[attr-defined]
    assert reprice.ts_event_ns == rej.ts_event_ns
    assert reprice.price == round_price(bid - tick_size, tick_size, "BUY")
    acc = next(e for e in evs if type(e) is OrderAccepted and e.order_id == reprice.order_id)
    assert acc.ts_event_ns == reprice.ts_event_ns + lat
    fill = next(e for e in evs if type(e) is OrderFilled and e.order_id == reprice.order_id)
    assert fill.price == reprice.price and fill.is_maker and open_ns < fill.ts_event_ns < open_ns + BAR_NS
    eng.writer.close()  # type: ignore[attr-defined]
    store.close()


def test_a_maker_timeout_falls_back_at_its_moment_and_the_taker_arrives_a_latency_later(tmp_path: Path) -> None:
    d, _ = apply_overrides(load_config().as_dict(), ["runtime.router.maker_wait_s=150"])
    store = EventStore.open(tmp_path)
    market = ScriptedMarket([SYM], start_ms=T0_MS)
    sid = str(uuid.uuid4())
    eng = build_sim_engine(from_dict(d), [SYM], market, store, sid)
    for _ in range(2):
        market.flat({SYM: 60_000.0}, volume=1_000.0)
        eng.apply(eng.venue.next_step())
    now = eng.venue.clock().now_ns()
    eng.record(IntentEmitted, "strategy", now, {
        "intent_id": "lat-2", "symbol": SYM, "side": "BUY", "qty": 0.01, "notional_usd": 600.0,
        "price": 60_000.0, "reduce_only": False})
    bar = (60_000.0, 60_900.0, 60_000.0, 60_800.0)  # runs away up: the resting buy never fills
    open_ns = market.push({SYM: (*bar, 1_000.0)}) * MS
    eng.apply(eng.venue.next_step())
    eng.writer.flush()
    evs: list[Event] = list(store.read(session=sid))
    first = next(e for e in evs if type(e) is OrderSubmitted)
    fb = next(e for e in evs if type(e).__name__ == "RouterFallback")
    deadline = first.ts_event_ns + 150 * 1_000_000_000
    assert fb.reason == "maker_timeout" and fb.ts_event_ns == deadline  # type: ignore[attr-defined]
    cancel = next(e for e in evs if type(e).__name__ == "OrderCanceled")
    taker = next(e for e in evs if type(e) is OrderSubmitted and e.order_type == "MARKET")
    assert cancel.ts_event_ns == taker.ts_event_ns == deadline
    fill = next(e for e in evs if type(e) is OrderFilled and e.order_id == taker.order_id)
    arrive = deadline + 50 * MS
    assert fill.ts_event_ns == arrive
    price = by_hand(open_ns, bar, arrive)
    bid, ask = eng.venue.matching.quote(SYM, price)
    assert fill.price == eng.venue.matching._taker_price(SYM, "BUY", 0.01 * price, bid, ask)
    eng.writer.close()
    store.close()
