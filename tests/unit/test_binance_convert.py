"""Binance venue Structs -> event content: klines once and in order, ticks, account, orders, env."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.ports import OrderRequest, VenueUpdate
from engine.venues.binance.convert import KlineGate, TickMerger, kline_update
from engine.venues.binance.env import BinanceEnvError, Redactor, Secrets, load_env
from engine.venues.binance.orders import OrderTracker, slippage_bps
from engine.venues.binance.positions import AccountBook
from engine.venues.binance.wire import (
    RestAccount,
    RestOrder,
    RestPositionRisk,
    WsAccountUpdate,
    WsBookTicker,
    WsKline,
    WsMarkPrice,
    WsOrderUpdate,
    convert,
    decode_list,
    decode_market,
    decode_user,
)
from eventlog.events import KlineClosed, OrderAccepted, OrderCanceled, OrderExpired, OrderFilled
from tests.fakes.binance_examples import example


def as_event(u: VenueUpdate) -> bytes:
    """The loop stamps a header and records the event: it must build and encode."""
    ev = u.cls(session_id="s", session_seq=1, stream=u.stream, ts_event_ns=u.ts_event_ns,
               ts_init_ns=u.ts_event_ns, **u.fields)
    return msgspec.json.encode(ev)


# --------------------------------------------------------------------------- klines


def test_kline_gate_accepts_each_open_time_once_and_in_order() -> None:
    g = KlineGate()
    assert g.accept("BTCUSDT", 0, 59_999)
    assert not g.accept("BTCUSDT", 0, 59_999)  # duplicate
    assert g.accept("BTCUSDT", 60_000, 119_999)
    assert not g.accept("BTCUSDT", 0, 59_999)  # late and old
    assert g.accept("ETHUSDT", 0, 59_999)  # per symbol


def test_kline_gate_reports_the_gap_to_backfill() -> None:
    g = KlineGate()
    assert g.gap_before("BTCUSDT", 0) is None  # nothing seen yet
    g.accept("BTCUSDT", 0, 59_999)
    assert g.gap_before("BTCUSDT", 60_000) is None
    assert g.gap_before("BTCUSDT", 180_000) == (60_000, 179_999)
    assert g.resume_from("BTCUSDT") == 60_000


def test_closed_kline_is_stamped_at_the_end_of_its_bar_and_encodes() -> None:
    k = decode_market(json.dumps(example("ws_kline.json")))
    assert isinstance(k, WsKline)
    u = kline_update("BTCUSDT", "1m", k.k)
    assert u.cls is KlineClosed and u.ts_event_ns == 1638747720000 * 1_000_000  # end of the bar
    assert b'"open_time_ms":1638747660000' in as_event(u)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 9_000_000_000_000), st.floats(0, 1e12), st.sampled_from(["1m", "5m"]))
def test_any_parsed_kline_becomes_an_encodable_event(t: int, price: float, interval: str) -> None:
    frame = example("ws_kline.json")
    frame["k"].update({"t": t, "T": t, "o": str(price), "c": price, "x": True})
    k = decode_market(json.dumps(frame))
    assert isinstance(k, WsKline)
    as_event(kline_update("BTCUSDT", interval, k.k))


# --------------------------------------------------------------------------- ticks


def test_tick_waits_for_book_then_merges_mark_and_conflates() -> None:
    m = TickMerger(min_interval_ms=1000)
    mark = convert(example("ws_markPriceUpdate.json"), WsMarkPrice)
    assert m.on_mark(mark) == []  # no bid/ask yet
    t0 = mark.event_ms + 10
    book = convert(example("ws_bookTicker.json") | {"s": "BTCUSDT", "E": t0}, WsBookTicker)
    [tick] = m.on_book(book)
    assert tick.fields["mark"] == 11794.15 and tick.fields["funding_rate"] == 0.00038167
    assert tick.fields["bid"] == 25.3519 and tick.fields["ask_qty"] == 40.66

    def quote(dt: int, bid: str) -> list[Any]:
        return m.on_book(convert(example("ws_bookTicker.json") | {"s": "BTCUSDT", "E": t0 + dt, "b": bid},
                                 WsBookTicker))

    assert quote(300, "26") == [] and quote(600, "27") == []  # conflated inside the window
    assert m.flush(t0 + 999) == []  # window still open
    [last] = m.flush(t0 + 1000)  # the window's LAST quote is logged when it closes
    assert (last.fields["bid"], last.ts_event_ns) == (27.0, (t0 + 600) * 1_000_000)
    assert quote(1500, "28") and quote(1700, "29") == []
    late = quote(2600, "30")  # next window: the held quote first, then the new one
    assert [u.fields["bid"] for u in late] == [29.0, 30.0]
    full = TickMerger(min_interval_ms=0)  # `all`: every quote
    full.on_book(book)
    assert len(full.on_book(book)) == 1
    as_event(tick)


# --------------------------------------------------------------------------- account


def test_account_from_rest_examples_gives_nav_and_signed_positions() -> None:
    book = AccountBook()
    book.load_rest(convert(example("rest_account_v3.json"), RestAccount),
                   decode_list(example("rest_positionRisk_hedge.json"), RestPositionRisk, "p"), [], 1)
    nav = book.nav_update(1).fields
    assert nav["wallet_balance"] == pytest.approx(23.72469206 + 103.12345678)  # USDT + USDC
    assert nav["unrealized_pnl"] == pytest.approx(0.764277 + 21.20817624)
    short = book.position_update("COMPUSDT", 1).fields
    assert short["qty"] == -1.0 and short["entry_price"] == 70.92841
    assert short["leverage"] == pytest.approx(49.72023376 / 2.48601168, rel=1e-3)
    ups = book.snapshot_updates(["BTCUSDT"], 5)
    assert [u.fields.get("symbol") for u in ups] == [None, "ADAUSDT", "BTCUSDT", "COMPUSDT"]
    for u in ups:
        as_event(u)


def test_account_update_example_nets_hedge_legs() -> None:
    book = AccountBook()
    f = decode_user(json.dumps(example("ws_ACCOUNT_UPDATE.json")))
    assert isinstance(f, WsAccountUpdate)
    assert book.apply_update(f) == ["BTCUSDT"]
    pos = book.position_update("BTCUSDT", 1).fields
    assert pos["qty"] == 10.0  # 20 long - 10 short
    assert pos["unrealized_pnl"] == pytest.approx(2850.212 - 1423.156)
    assert book.nav_update(1).fields["wallet_balance"] == pytest.approx(122624.12345678 + 1.0)


# --------------------------------------------------------------------------- orders


def _otu(**o: Any) -> WsOrderUpdate:
    f = example("ws_ORDER_TRADE_UPDATE.json")
    f["o"].update(o)
    out = decode_user(json.dumps(f))
    assert isinstance(out, WsOrderUpdate)
    return out


def test_order_news_from_rest_and_stream_is_recorded_once() -> None:
    tr = OrderTracker(AccountBook())
    req = OrderRequest("c1", "BTCUSDT", "BUY", "LIMIT", "GTX", 0.002, 100.0)
    tr.submitted(req, mid=101.0)
    rest = convert(example("rest_newOrder.json") | {"clientOrderId": "c1", "status": "NEW",
                                                    "symbol": "BTCUSDT", "side": "BUY"}, RestOrder)
    first = tr.on_rest_order(rest, 1)
    assert [u.cls for u in first] == [OrderAccepted]
    new = _otu(c="c1", x="NEW", X="NEW", S="BUY")
    assert tr.on_ws_order(new.o, new.event_ms, "ws") == []  # already accepted
    trade = _otu(c="c1", x="TRADE", X="FILLED", S="BUY", l="0.002", L="99.5", t=77, m=True, n="0.01", rp="0")
    assert tr.on_ws_order(trade.o, trade.event_ms, "ws") == []  # waits for the exchange's position
    tr.account.ledger.add_reading("BTCUSDT", trade.o.trade_time_ms, 0.002)  # its ACCOUNT_UPDATE
    fills = tr.settle()
    assert [u.cls for u in fills] == [OrderFilled]
    f = fills[0].fields
    assert (f["is_maker"], f["fee_usd"], f["position_qty_after"], f["decision_price"]) == (True, 0.01, 0.002, 100.0)
    assert f["slippage_bps"] == pytest.approx(slippage_bps("BUY", 99.5, 100.0))
    assert tr.on_ws_order(trade.o, trade.event_ms, "ws") == []  # same trade id again
    as_event(fills[0])


def test_cancel_and_expiry_are_terminal_once() -> None:
    tr = OrderTracker(AccountBook())
    a = _otu(c="c2", x="NEW", X="NEW")
    tr.on_ws_order(a.o, a.event_ms, "ws")
    c = _otu(c="c2", x="CANCELED", X="CANCELED")
    assert [u.cls for u in tr.on_ws_order(c.o, c.event_ms, "ws")] == [OrderCanceled]
    assert tr.on_ws_order(c.o, c.event_ms, "ws") == []
    e = _otu(c="c3", x="EXPIRED", X="EXPIRED", f="IOC")
    out = tr.on_ws_order(e.o, e.event_ms, "ws")
    assert [u.cls for u in out] == [OrderExpired] and out[0].fields["reason"] == "expired (IOC)"


def test_fee_in_bnb_without_a_price_is_reported_not_invented() -> None:
    tr = OrderTracker(AccountBook())
    t = _otu(c="c4", x="TRADE", X="FILLED", l="1", L="10", t=5, N="BNB", n="0.001")
    out = tr.on_ws_order(t.o, t.event_ms, "ws")
    tr.account.ledger.add_reading(t.o.symbol, t.o.trade_time_ms, 1.0)
    out += tr.settle()
    names = [u.cls.__name__ for u in out]
    assert "VenueError" in names and out[-1].fields["fee_usd"] == 0.0


# --------------------------------------------------------------------------- environment and secrets


def test_env_urls_routes_and_modes() -> None:
    e = load_env({"BINANCE_TESTNET": "1", "BINANCE_API_KEY": "k", "BINANCE_API_SECRET": "s", "DRY_RUN": "0"})
    assert (e.rest_url, e.mode) == ("https://testnet.binancefuture.com", "testnet")
    assert e.route_url("market") == "wss://fstream.binancefuture.com/market"
    e = load_env({"BINANCE_BASE_URL": "http://127.0.0.1:9/", "BINANCE_STREAM_URL": "ws://127.0.0.1:9",
                  "BINANCE_WS_ROUTED": "0"})
    assert (e.rest_url, e.route_url("private"), e.mode) == ("http://127.0.0.1:9", "ws://127.0.0.1:9", "binance-dry")
    assert load_env({}).rest_url == "https://fapi.binance.com"
    with pytest.raises(BinanceEnvError):
        load_env({"DRY_RUN": "0"})


def test_secrets_never_show_in_reprs_and_are_redacted() -> None:
    e = load_env({"BINANCE_API_KEY": "KEY123456", "BINANCE_API_SECRET": "SECRET654321", "DRY_RUN": "0"})
    assert "KEY123456" not in repr(e) and "SECRET654321" not in repr(e) and "SECRET654321" not in str(e.secrets)
    assert repr(Secrets("a", "")) == "Secrets(key=set, secret=unset)"
    r = Redactor("KEY123456", "SECRET654321")
    r.add("Lk7Qw2Zp9Xr4")  # a listen key (random, as Binance issues them)
    text = r("GET /x?listenKey=Lk7Qw2Zp9Xr4&signature=deadbeef01 KEY123456 SECRET654321")
    assert text == "GET /x?listenKey=***&signature=*** *** ***"
