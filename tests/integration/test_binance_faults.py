"""The Binance venue against the loopback fake behaving as Binance does where money is lost.

ACCOUNT_UPDATE before ORDER_TRADE_UPDATE (the fake's default), private-stream drops
with fills in between, fills while the engine is down, filters that change under us,
-1021 at start, a slow order endpoint, a dead private stream. Orders go out off the
loop thread (``offloop_orders=True``, the default). Waits poll; no assertion depends
on how fast this machine is.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pytest

from engine.ports import OrderRequest, VenueUpdate
from engine.venues.binance.restart import from_fills
from engine.venues.binance.venue import BinanceVenue
from eventlog.events import OrderFilled
from tests.fakes.binance_venue import FakeBinance
from tests.integration.test_binance_venue import (
    SYMBOLS,
    make_venue,
    names,
    of,
    pump,
    subscribed,
    wait_for,
)


def start(fake: FakeBinance, **kw: object) -> tuple[BinanceVenue, list[VenueUpdate]]:
    v = make_venue(fake, offloop_orders=True, **kw)
    out = v.connect(SYMBOLS)
    for route in ("market", "public", "private"):
        wait_for(subscribed(fake, route))
    return v, out


def filled(n: int) -> Callable[[list[VenueUpdate]], bool]:
    return lambda got: len(of(got, "OrderFilled")) >= n


def as_fill(u: VenueUpdate) -> OrderFilled:
    return OrderFilled(session_id="s", session_seq=1, stream=u.stream, ts_event_ns=u.ts_event_ns, ts_init_ns=0,
                       **u.fields)


def exchange_pos(fake: FakeBinance, symbol: str) -> float:
    return float(fake.run(lambda ex: ex.positions[symbol][0]))


def test_minus_1021_at_start_is_survived_with_a_clock_resync_recorded() -> None:
    with FakeBinance(SYMBOLS, history=30) as fake:
        fake.time_faults(1)  # the first signed request (the account read) is refused -1021
        v, out = start(fake)
        try:
            synced = [u.fields for u in of(out, "VenueClockSynced")]
            assert [s["reason"] for s in synced] == ["start", "-1021"]
            assert "VenueReconciled" in names(out)
            refused = [i for i, r in enumerate(fake.requests) if r.status == 400 and r.path == "/fapi/v3/account"]
            assert len(refused) == 1
            after = [r.path for r in fake.requests[refused[0] + 1:refused[0] + 3]]
            assert after == ["/fapi/v1/time", "/fapi/v3/account"]  # resync, then the same request again
        finally:
            v.close()


def test_fills_with_the_private_stream_down_are_recorded_once_at_the_exchanges_position() -> None:
    with FakeBinance(SYMBOLS, history=30) as fake:
        v, _ = start(fake)
        try:
            assert v.submit(OrderRequest("a-1", "BTCUSDT", "BUY", "MARKET", "", 0.01)) == []  # answered later
            got = pump(v, filled(1))
            fake.refuse("private")
            fake.drop("private")
            pump(v, lambda g: "VenueError" in names(g) and not v.streams.private_alive())
            for i in range(3):  # fills nobody hears about
                fake.run(lambda ex, i=i: ex.place({"symbol": "BTCUSDT", "side": "SELL" if i == 1 else "BUY",
                                                   "type": "MARKET", "quantity": "0.005",
                                                   "newClientOrderId": f"hand-{i}"}))
            fake.refuse("private", on=False)
            got += pump(v, lambda g: len(of(g, "OrderFilled")) >= 3 and bool(of(g, "PositionSnapshot")))
            fills = of(got, "OrderFilled")
            trades = fake.run(lambda ex: [dict(t) for t in ex.trades])
            assert sorted(int(f.fields["trade_id"]) for f in fills) == sorted(t["id"] for t in trades)
            by_id = {t["id"]: t for t in trades}
            for f in fills:
                t = by_id[int(f.fields["trade_id"])]
                assert abs(f.fields["position_qty_after"] - t["posAfter"]) < 1e-9
                assert abs(f.fields["fee_usd"] - t["commission"]) < 1e-9
            assert {f.fields["order_id"] for f in fills} == {"a-1", "hand-0", "hand-1", "hand-2"}
            snaps = [u.fields["qty"] for u in of(got, "PositionSnapshot") if u.fields["symbol"] == "BTCUSDT"]
            assert abs(snaps[-1] - exchange_pos(fake, "BTCUSDT")) < 1e-9
        finally:
            v.close()


def test_a_restart_records_the_fills_made_while_the_engine_was_down_exactly_once() -> None:
    with FakeBinance(SYMBOLS, history=30) as fake:
        v, _ = start(fake)
        bid, _ = fake.ex.book("ETHUSDT")
        v.submit(OrderRequest("m-1", "ETHUSDT", "BUY", "MARKET", "", 0.2))
        v.submit(OrderRequest("r-1", "ETHUSDT", "BUY", "LIMIT", "GTX", 0.3, round(bid - 5, 2)))
        got = pump(v, lambda g: bool(of(g, "OrderFilled")) and "r-1" in {
            u.fields["order_id"] for u in of(g, "OrderAccepted")})
        logged = [as_fill(u) for u in of(got, "OrderFilled")]
        v.close()  # the engine goes down; the resting order fills meanwhile, and a trade by hand
        fake.run(lambda ex: ex.fill(ex.orders["r-1"], ex.orders["r-1"].price, maker=True))
        fake.run(lambda ex: ex.place({"symbol": "ETHUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.1",
                                      "newClientOrderId": "by-hand"}))
        v2 = make_venue(fake, offloop_orders=True)
        v2.resume_from(from_fills(logged))
        try:
            out = v2.connect(SYMBOLS)
            fills = of(out, "OrderFilled")
            trades = fake.run(lambda ex: [dict(t) for t in ex.trades])
            assert [f.fields["order_id"] for f in fills] == ["r-1", "by-hand"]  # m-1 was logged already
            for f, t in zip(fills, trades[1:], strict=True):
                assert int(f.fields["trade_id"]) == t["id"]
                assert abs(f.fields["fee_usd"] - t["commission"]) < 1e-9
                assert abs(f.fields["realized_pnl"] - t["realizedPnl"]) < 1e-9
                assert abs(f.fields["position_qty_after"] - t["posAfter"]) < 1e-9
            recon = of(out, "VenueReconciled")[0].fields
            assert names(out).index("VenueReconciled") < names(out).index("OrderFilled")
            assert [p.qty for p in recon["positions"] if p.symbol == "ETHUSDT"] == [
                exchange_pos(fake, "ETHUSDT")]
        finally:
            v2.close()


def test_a_filter_change_is_noticed_recorded_and_applied(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="engine.venues.binance.venue")
    with FakeBinance(SYMBOLS, history=30) as fake:
        v, out = start(fake)
        try:
            assert of(out, "ExchangeFiltersLoaded")[0].fields["filters"]["BTCUSDT"]["tick_size"] == 0.1
            fake.run(lambda ex: ex.set_filters("BTCUSDT", tick=0.5))
            bid, _ = fake.ex.book("BTCUSDT")
            v.submit(OrderRequest("t-1", "BTCUSDT", "BUY", "LIMIT", "GTX", 0.01, round(bid - 100.3, 1)))
            got = pump(v, lambda g: bool(of(g, "ExchangeFiltersLoaded")))
            rej = of(got, "OrderRejected")[0].fields
            assert rej["code"] == -4014 and names(got).index("OrderRejected") < names(got).index(
                "ExchangeFiltersLoaded")
            assert of(got, "ExchangeFiltersLoaded")[0].fields["filters"]["BTCUSDT"]["tick_size"] == 0.5
            assert v.filters()["BTCUSDT"].tick_size == 0.5
            assert any("t-1" in r.getMessage() and "-4014" in r.getMessage() for r in caplog.records)  # not silent
        finally:
            v.close()


def test_a_slow_order_endpoint_does_not_hold_the_loop() -> None:
    with FakeBinance(SYMBOLS, history=30) as fake:
        v, _ = start(fake)
        try:
            fake.order_delay_s = 5.0
            assert v.submit(OrderRequest("s-1", "BTCUSDT", "BUY", "MARKET", "", 0.01)) == []
            fake.step()  # the market moves while the order is still in flight
            got = pump(v, lambda g: bool(of(g, "OrderAccepted")))
            kinds = names(got)
            assert "KlineClosed" in kinds and kinds.index("KlineClosed") < kinds.index("OrderAccepted")
        finally:
            fake.order_delay_s = 0.0
            v.close()


def test_a_dead_private_stream_makes_the_account_unreliable() -> None:
    with FakeBinance(SYMBOLS, history=30) as fake:
        v, _ = start(fake)
        try:
            assert v.sources_ok()
            fake.refuse("private")
            fake.drop("private")
            pump(v, lambda g: not v.streams.private_alive())
            fake.step()
            got = pump(v, lambda g: bool(of(g, "NavSnapshot")))
            assert of(got, "NavSnapshot")[-1].fields["sources_ok"] is False  # nav_sources vetoes entries
            fake.refuse("private", on=False)
            end = time.monotonic() + 60
            while not v.sources_ok() and time.monotonic() < end:
                v.next_updates()
            fake.step()
            got = pump(v, lambda g: bool(of(g, "NavSnapshot")))
            assert of(got, "NavSnapshot")[-1].fields["sources_ok"] is True
        finally:
            v.close()
