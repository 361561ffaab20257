"""The Binance venue through the REAL binance-futures-connector against a loopback fake Binance.

No mocks: ``tests.fakes.binance_venue.FakeBinance`` serves REST and websockets on
127.0.0.1 in Binance's wire format, the adapter reaches it through
``BINANCE_BASE_URL``/``BINANCE_STREAM_URL``. Waits poll with generous timeouts; no
assertion depends on how fast this machine is.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import pytest

from config.loader import load_config
from engine.ports import OrderRequest, VenueUpdate
from engine.venues.binance.dry import make_dry_matcher
from engine.venues.binance.env import load_env
from engine.venues.binance.venue import BinanceVenue
from tests.fakes.binance_venue import FakeBinance

SYMBOLS = ["BTCUSDT", "ETHUSDT"]
WAIT = 60.0


def names(ups: list[VenueUpdate]) -> list[str]:
    return [u.cls.__name__ for u in ups]


def of(ups: list[VenueUpdate], name: str) -> list[VenueUpdate]:
    return [u for u in ups if u.cls.__name__ == name]


def wait_for(pred: Callable[[], bool], timeout: float = WAIT) -> None:
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def pump(v: BinanceVenue, until: Callable[[list[VenueUpdate]], bool], timeout: float = WAIT) -> list[VenueUpdate]:
    got: list[VenueUpdate] = []
    end = time.monotonic() + timeout
    while not until(got):
        if time.monotonic() > end:
            raise AssertionError(f"not reached; got {names(got)}")
        batch = v.next_updates()
        assert batch is not None
        got += batch
    return got


def klines(ups: list[VenueUpdate]) -> list[tuple[str, int]]:
    return [(u.fields["symbol"], u.fields["open_time_ms"]) for u in of(ups, "KlineClosed")]


@pytest.fixture
def fake() -> Iterator[FakeBinance]:
    with FakeBinance(SYMBOLS, history=30) as f:
        yield f


def make_venue(fake: FakeBinance, dry: bool = False, env_extra: dict[str, str] | None = None,
               **kw: object) -> BinanceVenue:
    env = fake.env() | ({"DRY_RUN": "1"} if dry else {}) | (env_extra or {})
    opts: dict[str, object] = dict(interval="1m", warmup_bars=5, tick_min_interval_ms=0, venue_clock=True,
                                   poll_timeout_s=0.05, backoff_base_s=0.1, backoff_max_s=1.0,
                                   account_poll_s=3600.0, offloop_orders=False)  # answers returned by submit
    opts.update(kw)
    matcher = make_dry_matcher(load_config(), SYMBOLS) if dry else None
    return BinanceVenue(load_env(env), dry_matcher=matcher, **opts)  # type: ignore[arg-type]


def subscribed(fake: FakeBinance, route: str) -> Callable[[], bool]:
    return lambda: any(r == route for r, _ in fake.subscriptions) and fake.connected(route) > 0


@pytest.fixture
def venue(fake: FakeBinance) -> Iterator[tuple[BinanceVenue, list[VenueUpdate]]]:
    v = make_venue(fake)
    start = v.connect(SYMBOLS)
    for route in ("market", "public", "private"):
        wait_for(subscribed(fake, route))
    yield v, start
    v.close()


# --------------------------------------------------------------------------- connect


def test_connect_reads_filters_reconciles_then_warms_up(venue: tuple[BinanceVenue, list[VenueUpdate]],
                                                        fake: FakeBinance) -> None:
    v, start = venue
    assert v.filters()["BTCUSDT"].tick_size == 0.1 and v.filters()["ETHUSDT"].min_notional == 20.0
    assert names(start)[:5] == ["ExchangeFiltersLoaded", "VenueReconciled", "NavSnapshot", "PositionSnapshot",
                                "PositionSnapshot"]
    assert start[0].fields["source"] == "exchangeInfo" and start[0].fields["filters"]["BTCUSDT"]["tick_size"] == 0.1
    assert of(start, "NavSnapshot")[0].fields["nav_usd"] == 100_000.0
    ks = klines(start)
    assert len(ks) == 10 and ks[-1][1] == fake.ex.last("BTCUSDT").open_time  # forming candle left out
    assert all(u.fields["history"] for u in of(start, "KlineClosed"))  # warm-up: indicators only
    assert v.mode == "live"
    streams = {s for _, params in fake.subscriptions for s in params}
    assert {"btcusdt@kline_1m", "ethusdt@markPrice@1s", "btcusdt@bookTicker"} <= streams


# --------------------------------------------------------------------------- bad frames


def test_malformed_frame_is_recorded_as_venue_error_and_skipped(venue: tuple[BinanceVenue, list[VenueUpdate]],
                                                                fake: FakeBinance) -> None:
    v, _ = venue
    fake.inject("market", '{"e": "kline", "E": 1, "s": "BTCUSDT", "k": {"t": "not-a-time"}}')
    fake.inject("market", "{not json")
    bad_fill = fake.run(lambda ex: ex.order_event(next(iter(ex.orders.values())), "NEW")
                        if ex.orders else None) or {"e": "ORDER_TRADE_UPDATE", "E": 1, "o": {"s": "BTCUSDT"}}
    fake.inject("private", json.dumps(bad_fill))
    fake.inject("private", '{"e": "SOMETHING_NEW", "E": 1}')
    fake.step(1)
    got = pump(v, lambda g: len(of(g, "KlineClosed")) >= 2 and len(of(g, "VenueError")) >= 4)
    errs = {(u.fields["source"], u.fields["field"]) for u in of(got, "VenueError")}
    assert ("ws.market", "k.t") in errs and ("ws.market", "$") in errs
    assert ("ws.private", "e") in errs
    assert any(src == "ws.private" and field.startswith("o.") for src, field in errs)
    assert all(u.fields["kind"] == "parse" for u in of(got, "VenueError"))
    assert any("not-a-time" in u.fields["raw"] for u in of(got, "VenueError"))
    # and the stream went on
    assert {s for s, _ in klines(got)} == set(SYMBOLS)


# --------------------------------------------------------------------------- reconnect


def test_dropped_websocket_reconnects_without_losing_or_duplicating_klines(
        venue: tuple[BinanceVenue, list[VenueUpdate]], fake: FakeBinance) -> None:
    v, start = venue
    fake.step(2)
    got = start + pump(v, lambda g: len(of(g, "KlineClosed")) >= 4)
    fake.refuse("market")
    fake.drop("market")
    got += pump(v, lambda g: any(u.fields.get("kind") == "ws" for u in of(g, "VenueError")))
    fake.step(3)  # closed while we are away: never sent to us
    got += pump(v, lambda g: any("failed" in u.fields["message"] for u in of(g, "VenueError")))
    fake.refuse("market", on=False)
    got += pump(v, lambda g: any(u.fields["message"].startswith("reconnected") for u in of(g, "VenueError")))
    fake.step(1)
    want = {s: [c.open_time for c in fake.ex.candles[s][-11:]] for s in SYMBOLS}  # 5 warm-up + 6 stepped
    got += pump(v, lambda g: sum(1 for s, _ in klines(g)) >= 22 or
                all(klines(g).count((s, want[s][-1])) for s in SYMBOLS))
    got += v.next_updates() or []
    for s in SYMBOLS:
        seen = [t for sym, t in klines(got) if sym == s]
        assert seen == want[s], f"{s}: klines lost, duplicated or out of order"
    assert fake.connections["market"] >= 2


def test_klines_missed_on_a_live_socket_are_backfilled_in_order_before_the_next_one(
        venue: tuple[BinanceVenue, list[VenueUpdate]], fake: FakeBinance) -> None:
    v, start = venue
    fake.step(2, silent=True)  # lost frames, socket still up
    fake.step(1)
    got = start + pump(v, lambda g: len(of(g, "KlineClosed")) >= 6)
    for s in SYMBOLS:
        seen = [t for sym, t in klines(got) if sym == s]
        assert seen == [c.open_time for c in fake.ex.candles[s][-8:]]
    assert any("startTime" in r.query and "endTime" in r.query for r in fake.requests if r.path == "/fapi/v1/klines")


# --------------------------------------------------------------------------- orders


def test_post_only_that_would_take_is_rejected_with_5022_and_a_repriced_one_rests(
        venue: tuple[BinanceVenue, list[VenueUpdate]], fake: FakeBinance) -> None:
    v, _ = venue
    bid, ask = fake.ex.book("BTCUSDT")
    out = v.submit(OrderRequest("t-1", "BTCUSDT", "BUY", "LIMIT", "GTX", 0.002, ask))
    assert names(out) == ["OrderRejected"] and out[0].fields["code"] == -5022
    out = v.submit(OrderRequest("t-1r1", "BTCUSDT", "BUY", "LIMIT", "GTX", 0.002, round(bid - 0.1, 1)))
    assert names(out) == ["OrderAccepted"] and out[0].fields["venue_order_id"]
    got = pump(v, lambda g: True)  # the stream's NEW for the same order is not recorded twice
    assert "OrderAccepted" not in names(got)
    assert names(v.cancel("BTCUSDT", "t-1r1")) == ["OrderCanceled"]


def test_market_order_fills_as_taker_with_fee_and_position(venue: tuple[BinanceVenue, list[VenueUpdate]],
                                                           fake: FakeBinance) -> None:
    v, _ = venue
    assert names(v.submit(OrderRequest("m-1", "ETHUSDT", "BUY", "MARKET", "", 0.5))) == ["OrderAccepted"]
    got = pump(v, lambda g: bool(of(g, "OrderFilled")) and bool(of(g, "PositionSnapshot")))
    fill = of(got, "OrderFilled")[0].fields
    assert fill["is_maker"] is False and fill["fee_usd"] > 0 and fill["position_qty_after"] == 0.5
    assert of(got, "PositionSnapshot")[-1].fields["qty"] == 0.5


# --------------------------------------------------------------------------- rate limits


def test_429_on_start_backs_off_for_retry_after_then_goes_on(fake: FakeBinance) -> None:
    fake.rate_limit(1, status=429, retry_after=1)
    v = make_venue(fake)
    try:
        start = v.connect(SYMBOLS)
    finally:
        v.close()
    errs = [u for u in of(start, "VenueError") if u.fields["kind"] == "rate_limit"]
    assert errs and errs[0].fields["field"] == "Retry-After" and "429" in errs[0].fields["message"]
    limited = next(r for r in fake.requests if r.status == 429)
    after = fake.requests[fake.requests.index(limited) + 1]
    assert after.at - limited.at >= 1.0, "the next request came before Retry-After"
    assert v.filters()  # exchangeInfo read on the retry


def test_418_blocks_orders_without_touching_the_exchange_until_retry_after(
        venue: tuple[BinanceVenue, list[VenueUpdate]], fake: FakeBinance) -> None:
    v, _ = venue
    bid, _ask = fake.ex.book("BTCUSDT")
    fake.rate_limit(1, status=418, retry_after=2)
    out = v.submit(OrderRequest("r-1", "BTCUSDT", "BUY", "LIMIT", "GTX", 0.002, round(bid - 1, 1)))
    assert "OrderRejected" in names(out) and of(out, "OrderRejected")[0].fields["code"] == -1003
    assert any(u.fields["kind"] == "rate_limit" and "418" in u.fields["message"] for u in of(out, "VenueError"))
    sent = len(fake.requests)
    out = v.submit(OrderRequest("r-2", "BTCUSDT", "BUY", "LIMIT", "GTX", 0.002, round(bid - 1, 1)))
    assert names(out) == ["OrderRejected"] and len(fake.requests) == sent  # refused locally
    wait_for(lambda: v.rest.blocked_for() == 0)
    out = v.submit(OrderRequest("r-3", "BTCUSDT", "BUY", "LIMIT", "GTX", 0.002, round(bid - 1, 1)))
    assert names(out) == ["OrderAccepted"]
    banned = next(r for r in fake.requests if r.status == 418)
    assert fake.requests[-1].at - banned.at >= 2.0


# --------------------------------------------------------------------------- restart


def test_restart_reconciles_positions_and_stale_orders_before_trading(fake: FakeBinance) -> None:
    def earlier_session(ex: object) -> None:
        ex.positions["BTCUSDT"] = [0.01, 60000.0]  # type: ignore[attr-defined]
        ex.place({"symbol": "ETHUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTX",  # type: ignore[attr-defined]
                  "quantity": "0.1", "price": "100", "newClientOrderId": "old-1"})
    fake.run(earlier_session)
    v = make_venue(fake)
    try:
        start = v.connect(SYMBOLS)
    finally:
        v.close()
    rec = of(start, "VenueReconciled")[0].fields
    assert [o.order_id for o in rec["open_orders"]] == ["old-1"] and rec["canceled_orders"] == ["old-1"]
    assert rec["open_orders"][0].order_type == "LIMIT"
    assert rec["positions"][0].symbol == "BTCUSDT" and rec["positions"][0].qty == 0.01
    btc = next(u for u in of(start, "PositionSnapshot") if u.fields["symbol"] == "BTCUSDT")
    assert btc.fields["qty"] == 0.01 and btc.fields["entry_price"] == 60000.0
    assert fake.ex.orders["old-1"].status == "CANCELED"
    # exchange state is recorded before any kline (and so before any decision)
    assert names(start).index("VenueReconciled") < names(start).index("KlineClosed")


def test_fills_missed_while_the_user_stream_was_down_are_recovered_once(
        venue: tuple[BinanceVenue, list[VenueUpdate]], fake: FakeBinance) -> None:
    v, _ = venue
    bid, _ = fake.ex.book("BTCUSDT")
    assert names(v.submit(OrderRequest("u-1", "BTCUSDT", "BUY", "LIMIT", "GTX", 0.002, round(bid - 5, 1)))) == [
        "OrderAccepted"]
    fake.refuse("private")
    fake.drop("private")
    pump(v, lambda g: any(u.fields.get("field") == "private" for u in of(g, "VenueError")))
    fake.run(lambda ex: ex.fill(ex.orders["u-1"], ex.orders["u-1"].price, maker=True))  # unseen by us
    fake.refuse("private", on=False)
    got = pump(v, lambda g: bool(of(g, "OrderFilled")))
    got += pump(v, lambda g: True)
    fills = of(got, "OrderFilled")
    assert len(fills) == 1 and fills[0].fields["order_id"] == "u-1" and fills[0].fields["is_maker"] is True
    assert any(u.fields["symbol"] == "BTCUSDT" and u.fields["qty"] == 0.002 for u in of(got, "PositionSnapshot"))


# --------------------------------------------------------------------------- dry run


def test_dry_run_uses_live_data_but_never_sends_an_order(fake: FakeBinance) -> None:
    v = make_venue(fake, dry=True)
    cfg = load_config().config
    try:
        start = v.connect(SYMBOLS)
        nav = of(start, "NavSnapshot")[0].fields
        assert v.mode == "binance-dry" and nav["nav_usd"] == cfg.runtime.sim.initial_balance_usd
        wait_for(subscribed(fake, "market"))
        assert v.submit(OrderRequest("d-1", "BTCUSDT", "BUY", "MARKET", "", 0.01)) == []  # reaches the next bar
        fake.step(1)
        got = pump(v, lambda g: bool(of(g, "OrderFilled")) and bool(of(g, "KlineClosed")))
        fill = of(got, "OrderFilled")[0].fields
        assert fill["order_id"] == "d-1" and fill["is_maker"] is False and fill["position_qty_after"] == 0.01
        # the bar's fills and account come before the bar itself, as in the simulated venue
        assert names(got).index("OrderFilled") < names(got).index("KlineClosed")
        assert of(got, "NavSnapshot")[-1].fields["source"] == "sim"
    finally:
        v.close()
    paths = {r.path for r in fake.requests}
    assert "/fapi/v1/order" not in paths and "/fapi/v1/listenKey" not in paths
    assert not any(p.startswith("/fapi/v3") for p in paths)
    assert fake.connected("private") == 0


# --------------------------------------------------------------------------- listen key


def test_listen_key_is_kept_alive_and_a_new_one_taken_when_it_expires(fake: FakeBinance) -> None:
    v = make_venue(fake, keepalive_s=0.2)
    try:
        v.connect(SYMBOLS)
        wait_for(subscribed(fake, "private"))
        pump(v, lambda g: any(r.method == "PUT" and r.path == "/fapi/v1/listenKey" for r in fake.requests))
        first = fake.listen_keys[-1]
        fake.inject("private", json.dumps({"e": "listenKeyExpired", "E": fake.ex.now_ms, "listenKey": first}))
        got = pump(v, lambda g: any(u.fields["field"] == "private" and u.fields["message"].startswith("reconnected")
                                    for u in of(g, "VenueError")))
        assert len(fake.listen_keys) == 2 and fake.listen_keys[-1] != first
        wait_for(lambda: any(r == "private" and fake.listen_keys[-1] in p for r, p in fake.subscriptions))
        assert any(u.fields["field"] == "listenKey" for u in of(got, "VenueError"))
        v.submit(OrderRequest("lk-1", "BTCUSDT", "SELL", "MARKET", "", 0.001))
        assert of(pump(v, lambda g: bool(of(g, "OrderFilled"))), "OrderFilled")[0].fields["order_id"] == "lk-1"
    finally:
        v.close()
    assert all(first not in u.fields.get("message", "") for u in got)


# --------------------------------------------------------------------------- secrets


def test_key_and_secret_never_reach_updates_logs_or_output(caplog: pytest.LogCaptureFixture,
                                                           capfd: pytest.CaptureFixture[str]) -> None:
    key, secret = "KEY-zz81-QWERTYUIOP-unique", "SECRET-zz82-ASDFGHJKL-unique"
    caplog.set_level("DEBUG")
    with FakeBinance(SYMBOLS, history=30, api_key=key, api_secret=secret) as fk:
        v = make_venue(fk)
        got = v.connect(SYMBOLS)
        wait_for(subscribed(fk, "private"))
        fk.rate_limit(1, status=429, retry_after=0.1)
        got += v.submit(OrderRequest("s-1", "BTCUSDT", "BUY", "LIMIT", "GTX", 0.002, fk.ex.book("BTCUSDT")[1]))
        fk.inject("private", '{"e": "ORDER_TRADE_UPDATE", "E": 1, "o": {}}')
        fk.drop("private")
        fk.step(1)
        got += pump(v, lambda g: any(u.fields.get("message", "").startswith("reconnected") for u in of(g, "VenueError")))
        reprs = [repr(v), repr(v.rest), repr(v.env), str(v.env.secrets), repr(v.redact)]
        v.close()
        # a wrong secret: the exchange refuses, the error says so without the secret
        bad = make_venue(fk, env_extra={"BINANCE_API_SECRET": secret[::-1]})
        with pytest.raises(ConnectionError) as info:
            bad.connect(SYMBOLS)
        reprs.append(str(info.value))
        assert "-1022" in str(info.value)  # the signature was refused
        bad.close()
    out, err = capfd.readouterr()
    texts = [out, err, caplog.text, *reprs, *(repr(u) for u in got)]
    assert got and of(got, "VenueError")
    for text in texts:
        assert key not in text and secret not in text


def test_cancel_of_an_order_that_filled_unseen_records_the_fill_instead(
        venue: tuple[BinanceVenue, list[VenueUpdate]], fake: FakeBinance) -> None:
    v, _ = venue
    bid, _ = fake.ex.book("ETHUSDT")
    assert names(v.submit(OrderRequest("c-1", "ETHUSDT", "BUY", "LIMIT", "GTX", 0.1, round(bid - 1, 2)))) == [
        "OrderAccepted"]
    pump(v, lambda g: True)
    fake.run(lambda ex: ex.fill(ex.orders["c-1"], ex.orders["c-1"].price, maker=True))  # no stream event
    out = v.cancel("ETHUSDT", "c-1")
    assert names(out) == ["VenueError"] and "-2011" in out[0].fields["message"]
    # its trade is read back by the next poll, at once and off the loop thread
    out = pump(v, lambda g: bool(of(g, "OrderFilled")) and bool(of(g, "PositionSnapshot")), timeout=10)
    fill = of(out, "OrderFilled")[0].fields
    assert fill["is_maker"] is True and fill["order_id"] == "c-1"
    assert fill["qty"] == 0.1 and fill["position_qty_after"] == 0.1  # the exchange's
    assert [u.fields["qty"] for u in of(out, "PositionSnapshot") if u.fields["symbol"] == "ETHUSDT"][-1] == 0.1


def test_funding_settlement_is_recorded_per_symbol_once(venue: tuple[BinanceVenue, list[VenueUpdate]],
                                                        fake: FakeBinance) -> None:
    v, _ = venue
    v.submit(OrderRequest("f-1", "BTCUSDT", "BUY", "MARKET", "", 0.01))
    v.submit(OrderRequest("f-2", "ETHUSDT", "SELL", "MARKET", "", 0.2))
    pump(v, lambda g: len(of(g, "OrderFilled")) == 2)
    fake.settle_funding(0.0001)
    got = pump(v, lambda g: len(of(g, "FundingApplied")) >= 2 and bool(of(g, "NavSnapshot")))
    fake.settle_funding(0.0001)  # a second settlement: only its own rows are new
    got += pump(v, lambda g: len(of(g, "FundingApplied")) >= 2)
    paid = [(u.fields["symbol"], u.fields["amount_usd"]) for u in of(got, "FundingApplied")]
    assert len(paid) == 4
    btc = fake.ex.last("BTCUSDT").close
    assert paid[0] == ("BTCUSDT", pytest.approx(-0.01 * btc * 0.0001))  # the long pays
    assert paid[1][0] == "ETHUSDT" and paid[1][1] > 0  # the short receives
    assert of(got, "NavSnapshot")[-1].fields["wallet_balance"] == pytest.approx(fake.ex.balance)


# --------------------------------------------------------------------------- 5xx


def test_reads_are_retried_after_a_5xx(fake: FakeBinance) -> None:
    fake.fail(2, status=503, path="/fapi/v1/exchangeInfo")
    v = make_venue(fake)
    try:
        v.connect(SYMBOLS)
    finally:
        v.close()
    assert [r.status for r in fake.requests if r.path == "/fapi/v1/exchangeInfo"] == [503, 503, 200]
    assert v.filters()


def test_an_order_whose_answer_was_lost_is_looked_up_not_resent(venue: tuple[BinanceVenue, list[VenueUpdate]],
                                                                fake: FakeBinance) -> None:
    v, _ = venue
    bid, _ = fake.ex.book("BTCUSDT")
    fake.fail(1, status=503, after=True, path="/fapi/v1/order")
    out = v.submit(OrderRequest("x-1", "BTCUSDT", "BUY", "LIMIT", "GTX", 0.002, round(bid - 2, 1)))
    assert names(out) == ["VenueError", "OrderAccepted"]
    posts = [r for r in fake.requests if r.path == "/fapi/v1/order" and r.method == "POST"]
    assert len(posts) == 1 and fake.ex.orders["x-1"].status == "NEW"
    fake.fail(1, status=503, path="/fapi/v1/order")  # this time it never got in
    out = v.submit(OrderRequest("x-2", "BTCUSDT", "BUY", "LIMIT", "GTX", 0.002, round(bid - 2, 1)))
    assert names(out) == ["VenueError", "OrderRejected"] and out[1].fields["code"] == 503
    assert "x-2" not in fake.ex.orders
