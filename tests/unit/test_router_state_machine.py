"""Router: maker-first, bounded reprices on post-only rejects, maker timeout, taker fallback, TWAP.

Real parts: the simulated venue over a scripted market, the real log writer and
store; the test plays the screener by recording an intent.
"""

from __future__ import annotations

import itertools
import uuid
from pathlib import Path
from typing import Any

import pytest

from config.loader import apply_overrides, from_dict, load_config
from engine.bootstrap import build_sim_engine
from engine.replay_core import rederive
from engine.venues.scripted import ScriptedMarket
from eventlog.events import IntentEmitted
from eventlog.store import EventStore

START_MS = 1_751_328_000_000


def _engine(home: Path, *sets: str) -> tuple[Any, ScriptedMarket, EventStore]:
    base = load_config()
    d, _ = apply_overrides(base.as_dict(), ["runtime.sim.max_participation_frac=1.0", *sets])
    loaded = from_dict(d)
    market = ScriptedMarket(["BTCUSDT"], start_ms=START_MS)
    store = EventStore.open(home)
    eng = build_sim_engine(loaded, ["BTCUSDT"], market, store, str(uuid.uuid4()))
    return eng, market, store


def _step(eng: Any, market: ScriptedMarket, o: float, h: float, lo: float, c: float, v: float = 100.0) -> None:
    market.push({"BTCUSDT": (o, h, lo, c, v)})
    eng.apply(eng.venue.next_updates())


def _intent(eng: Any, qty: float, side: str = "BUY") -> None:
    now = eng.venue.clock().now_ns()
    eng.record(IntentEmitted, "strategy", now, {
        "intent_id": f"test-{eng.state.last_seq}", "symbol": "BTCUSDT", "side": side, "qty": qty,
        "notional_usd": qty * 60_000.0, "price": eng.state.syms["BTCUSDT"].last_close or 60_000.0})


def _events(eng: Any, store: EventStore, *types: str) -> list[Any]:
    eng.writer.flush()
    return list(store.read(session=eng.writer.session_id, types=types))


@pytest.fixture
def flat_start(home: Path):
    eng, market, store = _engine(home)
    _step(eng, market, 60_000, 60_000, 60_000, 60_000)
    yield eng, market, store
    eng.writer.close()
    store.close()


def test_post_only_rejects_are_repriced_a_bounded_number_of_times_then_taker(flat_start) -> None:
    eng, market, store = flat_start
    _intent(eng, 0.05)
    # every next open gaps below our bid: each post-only order would take -> -5022
    _step(eng, market, 59_990, 59_995, 59_985, 59_990)
    _step(eng, market, 59_970, 59_975, 59_965, 59_970)
    _step(eng, market, 59_950, 59_955, 59_945, 59_950)
    _step(eng, market, 59_940, 59_945, 59_935, 59_940)
    first_plan = _events(eng, store, "RoutePlanned")[0].plan_id
    subs = [s for s in _events(eng, store, "OrderSubmitted") if s.plan_id == first_plan]
    rejects = _events(eng, store, "OrderRejected")
    fallbacks = _events(eng, store, "RouterFallback")
    fills = [f for f in _events(eng, store, "OrderFilled") if f.order_id == subs[-1].order_id]
    max_reprices = eng.state.config.runtime.router.max_reprices
    assert [s.attempt for s in subs] == list(range(max_reprices + 2))
    assert [s.time_in_force for s in subs] == ["GTX"] * (max_reprices + 1) + ["IOC"]
    assert [r.code for r in rejects] == [-5022] * (max_reprices + 1)
    assert [f.reason for f in fallbacks] == ["reprice_limit"]
    assert fallbacks[0].reprices == max_reprices
    assert len(fills) == 1 and fills[0].is_maker is False and fills[0].qty == 0.05
    assert fills[0].decision_price == 60_000.0
    assert fills[0].slippage_bps == pytest.approx((fills[0].price - 60_000.0) / 60_000.0 * 1e4, abs=1e-6)
    prices = [s.price for s in subs[:-1]]
    assert prices == sorted(prices, reverse=True), "each reprice steps back from the book"


def test_resting_maker_order_waits_then_is_canceled_and_sent_as_taker(flat_start) -> None:
    eng, market, store = flat_start
    _intent(eng, 0.05)
    wait_bars = int(eng.state.config.runtime.router.maker_wait_s // 300)
    for _ in range(wait_bars + 2):  # the book never trades through our bid
        _step(eng, market, 60_000, 60_010, 60_000, 60_000)
    subs = _events(eng, store, "OrderSubmitted")
    assert [e.reason for e in _events(eng, store, "RouterFallback")] == ["maker_timeout"]
    canceled = _events(eng, store, "OrderCanceled")
    assert [c.order_id for c in canceled] == [subs[0].order_id]
    assert [s.order_type for s in subs] == ["LIMIT", "MARKET"]
    fills = _events(eng, store, "OrderFilled")
    assert [f.is_maker for f in fills] == [False]
    assert eng.state.syms["BTCUSDT"].pos_qty == 0.05
    assert not eng.state.router.plans, "the plan is done"


def test_maker_order_fills_when_the_bar_trades_through_it(flat_start) -> None:
    eng, market, store = flat_start
    _intent(eng, 0.05)
    _step(eng, market, 60_000, 60_005, 59_900, 59_950)
    fills = _events(eng, store, "OrderFilled")
    assert len(fills) == 1 and fills[0].is_maker is True
    assert fills[0].fee_usd == pytest.approx(fills[0].qty * fills[0].price * eng.state.config.runtime.fees.maker_frac)
    assert fills[0].slippage_bps < 0, "a maker buy below the decision price is negative slippage (better)"
    assert not _events(eng, store, "RouterFallback")


def test_twap_slices_large_orders_at_the_configured_interval(home: Path) -> None:
    eng, market, store = _engine(home, "runtime.router.twap.min_notional_usd=2000", "runtime.router.twap.slices=4",
                                 "runtime.router.twap.interval_s=300")
    _step(eng, market, 60_000, 60_000, 60_000, 60_000)
    _intent(eng, 0.08)
    for _ in range(6):  # every bar trades through: each slice fills as maker
        _step(eng, market, 60_000, 60_005, 59_900, 60_000)
    plans = _events(eng, store, "RoutePlanned")
    subs = _events(eng, store, "OrderSubmitted")
    assert plans[0].style == "twap" and plans[0].slices == 4 and plans[0].slice_qty == 0.02
    assert [s.slice_index for s in subs] == [0, 1, 2, 3]
    gaps = {b.ts_event_ns - a.ts_event_ns for a, b in itertools.pairwise(subs)}
    assert gaps == {300 * 10**9}
    assert sum(f.qty for f in _events(eng, store, "OrderFilled")) == pytest.approx(0.08)
    assert rederive(store.read(session=eng.writer.session_id), external=("IntentEmitted",)).ok
    eng.writer.close()
    store.close()


def test_router_decisions_rederive_identically_from_the_log(flat_start) -> None:
    eng, market, store = flat_start
    _intent(eng, 0.05)
    for o in (59_990, 59_970, 59_950, 59_940):
        _step(eng, market, o, o + 5, o - 5, o)
    eng.writer.flush()
    report = rederive(store.read(session=eng.writer.session_id), external=("IntentEmitted",))
    assert report.ok, report.mismatches[:3]
    assert report.decisions_checked >= 8
