"""One truth for positions: whatever order the user stream delivers fills and account
updates in, whatever spans of it are lost and read back over REST, every fill is
recorded once with the exchange's own position after it, and the position at the end
is the exchange's.

The exchange is the loopback fake's pure core (``tests.fakes.binance_exchange``); its
user-stream frames go through the real venue's frame handler (``on_user_frame``) and
its REST answers through the real reconciler's apply half - no network.
"""

from __future__ import annotations

import json
import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.ports import OrderRequest, VenueUpdate
from engine.venues.binance.env import load_env
from engine.venues.binance.positions import PositionLedger
from engine.venues.binance.venue import BinanceVenue
from engine.venues.binance.wire import RestTrade, decode_list
from tests.fakes.binance_exchange import Exchange

SYM = "BTCUSDT"


def venue() -> BinanceVenue:
    env = load_env({"BINANCE_BASE_URL": "http://127.0.0.1:9", "BINANCE_STREAM_URL": "ws://127.0.0.1:9",
                    "BINANCE_API_KEY": "k" * 16, "BINANCE_API_SECRET": "s" * 16, "DRY_RUN": "0"})
    v = BinanceVenue(env, interval="1m", venue_clock=True, offloop_orders=False)
    v.symbols = [SYM]
    v.rest.patient = False
    return v


def reading(v: BinanceVenue, ex: Exchange) -> list[VenueUpdate]:
    """A REST account read of the exchange as it is now (what a reconnect or poll does)."""
    t = ex.clock_ms
    return v.sync.apply_account((t, ex.account_json(), ex.position_risk_json(), t))


def read_back(v: BinanceVenue, ex: Exchange) -> list[VenueUpdate]:
    """What a reconnect does: the account, then the trades (complete up to that reading)."""
    t = ex.clock_ms
    out = reading(v, ex)
    rows = decode_list(ex.trades_json(SYM, 0, 0, 10_000), RestTrade, "userTrades")
    return out + v.sync.apply_trades({SYM: rows}, complete_to_ms=t)


def trade(ex: Exchange, v: BinanceVenue, n: int, side: str, qty: float, frames: list[dict[str, Any]]) -> None:
    """A market order on the exchange; its REST answer reaches the venue, its stream frames are kept."""
    req = OrderRequest(f"o-{n}", SYM, side, "MARKET", "", qty)
    v.orders.submitted(req, None)
    order, events = ex.place({"symbol": SYM, "side": side, "type": "MARKET", "quantity": f"{qty:g}",
                              "newClientOrderId": req.order_id})
    v.sync.order_answer(ex.order_json(order), "rest.order")
    frames += events


def fills_of(out: list[VenueUpdate]) -> list[dict[str, Any]]:
    return [u.fields for u in out if u.cls.__name__ == "OrderFilled"]


orders = st.lists(st.tuples(st.sampled_from(["BUY", "SELL"]), st.integers(1, 40)), min_size=1, max_size=25)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(orders=orders, seed=st.integers(0, 2**32 - 1), drop=st.booleans(), start_pos=st.integers(-20, 20))
def test_any_arrival_order_and_lost_spans_give_the_exchanges_position_after_every_fill(
        orders: list[tuple[str, int]], seed: int, drop: bool, start_pos: int) -> None:
    ex = Exchange([SYM], history=3)
    v = venue()
    frames: list[dict[str, Any]] = []
    if start_pos:  # a position from before this session, read at connect
        trade(ex, v, 0, "BUY" if start_pos > 0 else "SELL", abs(start_pos) / 1000, [])
        ex.trades.clear()
    out = reading(v, ex)
    before = len(ex.trades)
    for i, (side, lots) in enumerate(orders, 1):
        trade(ex, v, i, side, lots / 1000, frames)
    rng = random.Random(seed)
    rng.shuffle(frames)  # ACCOUNT_UPDATE / ORDER_TRADE_UPDATE in any order
    lost: list[dict[str, Any]] = []
    if drop and len(frames) > 1:  # the private stream drops: a span of frames never arrives
        a = rng.randrange(len(frames))
        b = rng.randrange(a, len(frames)) + 1
        lost, frames = frames[a:b], frames[:a] + frames[b:]
    for f in frames:
        out += v.on_user_frame(json.dumps(f))
    if lost:  # reconnect: trades read back first, then the account, then settle
        out += read_back(v, ex) + v.orders.settle()
    fills = fills_of(out)
    truth = {t["id"]: t for t in ex.trades[before:]}
    assert sorted(int(f["trade_id"]) for f in fills) == sorted(truth)  # each fill exactly once
    for f in fills:
        assert abs(f["position_qty_after"] - truth[int(f["trade_id"])]["posAfter"]) < 1e-9, f
    assert abs(v.account.net_qty(SYM) - ex.positions[SYM][0]) < 1e-9
    assert not v.orders.pending
    snap = v.account.position_update(SYM, 0).fields
    assert abs(snap["qty"] - ex.positions[SYM][0]) < 1e-9


def test_binance_order_account_update_first_was_double_counted_before() -> None:
    """The issue's case: ACCOUNT_UPDATE then ORDER_TRADE_UPDATE for every fill (28 fills)."""
    ex = Exchange([SYM], history=3)
    v = venue()
    out = reading(v, ex)
    frames: list[dict[str, Any]] = []
    for i in range(28):
        trade(ex, v, i, "SELL", 0.021 + 0.001 * (i % 3), frames)
    kinds = [f["e"] if f["e"] == "ACCOUNT_UPDATE" else f["o"]["x"] for f in frames]
    assert kinds[:3] == ["NEW", "ACCOUNT_UPDATE", "TRADE"]  # Binance's order
    for f in frames:
        out += v.on_user_frame(json.dumps(f))
    fills = fills_of(out)
    assert len(fills) == 28
    assert [f["position_qty_after"] for f in fills] == [t["posAfter"] for t in ex.trades]
    pos = [u.fields["qty"] for u in out if u.cls.__name__ == "PositionSnapshot"]
    assert pos[-1] == ex.positions[SYM][0]


def test_a_fill_settles_on_its_own_reading_or_a_complete_later_one() -> None:
    led = PositionLedger()
    led.add_reading(SYM, 100, 0.0)
    led.add_fill(SYM, 2, 120, 1.0)  # trades 1 (+1 @110) and 3 (-1 @130) not seen yet
    led.add_reading(SYM, 130, 1.0)  # 0 + 1 == 1 looks consistent, but the missing two cancel out
    assert led.position_after(SYM, 2) is None
    led.add_reading(SYM, 120, 2.0)  # trade 2's own ACCOUNT_UPDATE
    assert led.position_after(SYM, 2) == 2.0
    led.add_fill(SYM, 1, 110, 1.0)
    led.add_fill(SYM, 3, 130, -1.0)
    assert led.position_after(SYM, 1) is None  # its own reading never came
    led.mark_complete(SYM, 130)  # a userTrades read after the 130 reading: every trade up to it known
    assert (led.position_after(SYM, 1), led.position_after(SYM, 3)) == (1.0, 1.0)
    assert led.current(SYM) == 1.0
    led.add_reading(SYM, 90, 9.0)  # an old reading arriving late changes nothing after it
    assert led.position_after(SYM, 3) == 1.0 and led.current(SYM) == 1.0
