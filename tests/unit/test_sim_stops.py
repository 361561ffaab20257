"""Protective orders at the simulated venue: triggered on the bar's path, filled at or through the stop."""

from __future__ import annotations

import random

import pytest

from config.loader import LoadedConfig, load_config
from engine.ports import OrderRequest
from engine.venues.sim_matching import SimMatching
from engine.venues.sim_stops import path_points
from eventlog.events import OrderAccepted, OrderExpired, OrderFilled, OrderRejected

T0 = 1_751_328_000 * 10**9
BAR = 300 * 10**9


@pytest.fixture(scope="module")
def loaded() -> LoadedConfig:
    return load_config()


def _m(loaded: LoadedConfig) -> SimMatching:
    m = SimMatching(loaded.config, ["BTCUSDT"], initial_balance=100_000.0, leverage=3.0, participation=0.25)
    m.set_mark("BTCUSDT", 60_000.0)
    return m


def _open(m: SimMatching, side: str, qty: float = 0.5) -> None:
    m.submit(OrderRequest(order_id=f"e{side}", symbol="BTCUSDT", side=side, order_type="MARKET",
                          time_in_force="IOC", qty=qty), T0)
    m.on_bar("BTCUSDT", T0, T0 + BAR, 60_000, 60_000, 60_000, 60_000, 1_000)


def _stop(oid: str, side: str, typ: str, stop: float, **kw) -> OrderRequest:
    return OrderRequest(order_id=oid, symbol="BTCUSDT", side=side, order_type=typ, time_in_force="GTC", qty=0.0,
                        stop_price=stop, close_position=True, **kw)


def test_path_is_open_low_high_close_on_an_up_bar_and_via_the_high_on_a_down_bar() -> None:
    assert path_points(100, 110, 90, 105) == (100, 90, 110, 105)
    assert path_points(100, 110, 90, 95) == (100, 110, 90, 95)


def test_long_stop_fills_at_or_below_its_trigger_and_at_the_open_on_a_gap(loaded: LoadedConfig) -> None:
    m = _m(loaded)
    _open(m, "BUY")
    assert m.submit(_stop("sl", "SELL", "STOP_MARKET", 59_000.0), T0 + BAR) == []
    t = T0 + BAR
    out = m.on_bar("BTCUSDT", t, t + BAR, 60_000, 60_100, 59_500, 59_900, 1_000)  # not reached
    assert [u.cls for u in out] == [OrderAccepted]
    out = m.on_bar("BTCUSDT", t + BAR, t + 2 * BAR, 59_800, 59_900, 58_500, 58_700, 1_000)
    fill = next(u.fields for u in out if u.cls is OrderFilled)
    assert fill["qty"] == 0.5 and fill["price"] <= 59_000.0 and fill["position_qty_after"] == 0.0
    assert fill["price"] > 58_500.0  # at the stop plus spread and impact, not at the bar's low
    # a gap: the next position's stop is jumped over at the open -> fills at (or under) the open
    _open(m, "BUY")
    m.submit(_stop("sl2", "SELL", "STOP_MARKET", 59_000.0), t)
    m.on_bar("BTCUSDT", t, t + BAR, 60_000, 60_000, 60_000, 60_000, 1_000)
    out = m.on_bar("BTCUSDT", t + BAR, t + 2 * BAR, 57_000, 57_500, 56_800, 57_200, 1_000)
    fill = next(u.fields for u in out if u.cls is OrderFilled)
    assert fill["price"] <= 57_000.0 and fill["price"] > 56_800.0


def test_short_take_profit_and_stop_trigger_on_their_side(loaded: LoadedConfig) -> None:
    m = _m(loaded)
    _open(m, "SELL")
    m.submit(_stop("tp", "BUY", "TAKE_PROFIT_MARKET", 58_000.0), T0 + BAR)
    m.submit(_stop("sl", "BUY", "STOP_MARKET", 61_000.0, working_type="MARK_PRICE"), T0 + BAR)
    t = T0 + BAR
    m.on_bar("BTCUSDT", t, t + BAR, 60_000, 60_000, 60_000, 60_000, 1_000)
    # a down bar: open -> high (60,500: no stop) -> low 57,900 (take profit)
    out = m.on_bar("BTCUSDT", t + BAR, t + 2 * BAR, 60_000, 60_500, 57_900, 58_200, 1_000)
    fill = next(u.fields for u in out if u.cls is OrderFilled)
    assert fill["order_id"] == "tp" and fill["price"] >= 58_000.0
    # the sibling stop has nothing left to close: it expires when it triggers
    out = m.on_bar("BTCUSDT", t + 2 * BAR, t + 3 * BAR, 60_000, 61_500, 60_000, 61_200, 1_000)
    assert [(u.cls, u.fields["order_id"]) for u in out] == [(OrderExpired, "sl")]


def test_refusals_like_binance(loaded: LoadedConfig) -> None:
    m = _m(loaded)
    out = m.submit(_stop("x", "SELL", "STOP_MARKET", 59_000.0), T0)  # no position: reduce-only refused
    assert [(u.cls, u.fields["code"]) for u in out] == [(OrderRejected, -2022)]
    _open(m, "BUY")
    assert m.submit(_stop("y", "SELL", "STOP_MARKET", 61_000.0), T0)[0].fields["code"] == -2021  # would trigger
    assert m.submit(_stop("z", "SELL", "STOP_MARKET", 0.0), T0)[0].fields["code"] == -1102


def test_every_stop_exit_fills_at_or_through_its_trigger(loaded: LoadedConfig) -> None:
    """Random positions and stops over random bars: no stop ever fills better than its trigger."""
    rng = random.Random(11)
    fills = 0
    for trial in range(200):
        m = _m(loaded)
        side = rng.choice(("BUY", "SELL"))
        _open(m, side)
        long = side == "BUY"
        dist = rng.uniform(0.002, 0.03) * 60_000
        typ = rng.choice(("STOP_MARKET", "TAKE_PROFIT_MARKET"))
        below = (typ == "STOP_MARKET") == long
        stop = round(60_000 - dist if below else 60_000 + dist, 1)
        close_side = "SELL" if long else "BUY"
        assert m.submit(_stop(f"s{trial}", close_side, typ, stop), T0 + BAR) == []
        p, t = 60_000.0, T0 + BAR
        for _ in range(30):
            o = p * (1 + rng.gauss(0, 0.004))
            c = o * (1 + rng.gauss(0, 0.006))
            h, lo = max(o, c) * (1 + abs(rng.gauss(0, 0.003))), min(o, c) * (1 - abs(rng.gauss(0, 0.003)))
            o, h, lo, c = (round(x, 1) for x in (o, h, lo, c))
            out = m.on_bar("BTCUSDT", t, t + BAR, o, h, lo, c, 1_000)
            t += BAR
            p = c
            f = next((u.fields for u in out if u.cls is OrderFilled), None)
            if f is None:
                continue
            fills += 1
            # the reference is the stop, or the open when the bar opened beyond it (a gap)
            gapped = (o <= stop) if (close_side == "SELL") == (typ == "STOP_MARKET") else (o >= stop)
            ref = o if gapped else stop
            assert (f["price"] <= ref) if close_side == "SELL" else (f["price"] >= ref)
            if typ == "STOP_MARKET":  # a stop-loss never fills better than its trigger
                assert (f["price"] <= stop) if close_side == "SELL" else (f["price"] >= stop)
            break
    assert fills > 100
