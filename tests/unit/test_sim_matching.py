"""SimMatching: the paper exchange's book, fills, fees, funding and refusals."""

from __future__ import annotations

import pytest

from config.loader import LoadedConfig, load_config
from engine.ports import OrderRequest
from engine.venues.sim_matching import SimMatching

T0 = 1_751_328_000 * 10**9
BAR = 300 * 10**9


@pytest.fixture(scope="module")
def loaded() -> LoadedConfig:
    return load_config()


@pytest.fixture
def m(loaded: LoadedConfig) -> SimMatching:
    sm = SimMatching(loaded.config, ["BTCUSDT", "SOLUSDT"], initial_balance=100_000.0, leverage=3.0,
                     participation=0.25)
    sm.set_mark("BTCUSDT", 60_000.0)
    sm.set_mark("SOLUSDT", 150.0)
    return sm


def _req(oid: str, side: str = "BUY", qty: float = 0.1, price: float | None = 59_990.0, *, typ: str = "LIMIT",
         tif: str = "GTX", sym: str = "BTCUSDT", reduce_only: bool = False) -> OrderRequest:
    return OrderRequest(order_id=oid, symbol=sym, side=side, order_type=typ, time_in_force=tif, qty=qty,
                        price=price, reduce_only=reduce_only)


def _names(updates) -> list[str]:
    return [u.cls.__name__ for u in updates]


def test_book_is_the_price_plus_minus_the_bucket_half_spread_on_the_tick_grid(m: SimMatching) -> None:
    bid, ask = m.book["BTCUSDT"]
    assert (bid, ask) == (59_997.0, 60_003.0)  # bucket A: 0.5 bps half spread, tick 0.1


def test_post_only_that_would_cross_at_arrival_is_rejected_5022(m: SimMatching) -> None:
    assert m.submit(_req("a", price=60_010.0), T0) == []  # queued: it reaches the book next bar
    out = m.on_bar("BTCUSDT", T0, T0 + BAR, 60_000, 60_020, 59_980, 60_000, 100)
    assert _names(out) == ["OrderRejected"]
    assert out[0].fields["code"] == -5022


def test_resting_limit_fills_only_when_the_bar_trades_through_it(m: SimMatching) -> None:
    m.submit(_req("a", price=59_990.0), T0)
    touch = m.on_bar("BTCUSDT", T0, T0 + BAR, 60_000, 60_010, 59_990, 60_000, 100)
    assert _names(touch) == ["OrderAccepted"], "touching the price is not trading through it"
    through = m.on_bar("BTCUSDT", T0 + BAR, T0 + 2 * BAR, 60_000, 60_010, 59_980, 60_000, 100)
    assert _names(through) == ["OrderFilled"]
    f = through[0].fields
    assert f["is_maker"] and f["price"] == 59_990.0 and f["qty"] == 0.1
    assert f["fee_usd"] == pytest.approx(0.1 * 59_990.0 * 0.0002)
    assert m.pos["BTCUSDT"] == [0.1, 59_990.0]


def test_fills_are_capped_by_bar_volume_participation_and_the_rest_keeps_resting(m: SimMatching) -> None:
    m.submit(_req("a", qty=1.0, price=59_990.0), T0)
    out = m.on_bar("BTCUSDT", T0, T0 + BAR, 60_000, 60_010, 59_900, 59_950, 2.0)  # 25% of 2 BTC
    assert [u.fields["qty"] for u in out if u.cls.__name__ == "OrderFilled"] == [0.5]
    out2 = m.on_bar("BTCUSDT", T0 + BAR, T0 + 2 * BAR, 59_950, 59_960, 59_900, 59_950, 100.0)
    assert [u.fields["qty"] for u in out2 if u.cls.__name__ == "OrderFilled"] == [0.5]
    assert m.pos["BTCUSDT"][0] == 1.0 and not m.resting["BTCUSDT"]


def test_market_order_pays_spread_and_impact_bounded_by_max_slippage(m: SimMatching, loaded: LoadedConfig) -> None:
    assert m.submit(_req("a", qty=4.0, price=None, typ="MARKET", tif="IOC"), T0) == []
    out = m.on_bar("BTCUSDT", T0, T0 + BAR, 60_000, 60_100, 59_900, 60_000, 1_000)
    f = next(u.fields for u in out if u.cls.__name__ == "OrderFilled")
    liq = loaded.config.liquidity_buckets.buckets["A"]
    worst = 60_003.0 * (1 + liq.max_slippage_bps / 1e4)
    assert 60_003.0 < f["price"] <= worst + 0.1
    assert f["price"] == pytest.approx(worst, abs=0.1), "240k USD of impact hits the bucket's cap"
    assert f["is_maker"] is False and f["fee_usd"] == pytest.approx(4 * f["price"] * 0.0005)


def test_halted_bar_fills_nothing_and_market_orders_expire(m: SimMatching) -> None:
    m.submit(_req("a", price=58_990.0), T0)
    m.submit(_req("b", qty=0.1, price=None, typ="MARKET", tif="IOC"), T0)
    out = m.on_bar("BTCUSDT", T0, T0 + BAR, 59_000, 59_000, 59_000, 59_000, 0.0)
    assert _names(out) == ["OrderAccepted", "OrderAccepted", "OrderExpired"]
    assert m.pos["BTCUSDT"][0] == 0.0


def test_reduce_only_that_would_open_is_rejected_and_margin_is_checked(m: SimMatching) -> None:
    assert m.submit(_req("r", side="SELL", reduce_only=True), T0)[0].fields["code"] == -2022
    assert m.submit(_req("big", qty=10.0), T0)[0].fields["code"] == -2019  # 600k notional at 3x on 100k
    assert m.submit(_req("tiny", qty=0.0001), T0)[0].fields["code"] == -1111  # off the 0.001 step
    assert m.submit(_req("zero", qty=0.0), T0)[0].fields["code"] == -4003


def test_realised_pnl_and_wallet_follow_a_round_trip(m: SimMatching) -> None:
    m.submit(_req("a", qty=0.1, price=None, typ="MARKET", tif="IOC"), T0)
    m.on_bar("BTCUSDT", T0, T0 + BAR, 60_000, 60_000, 60_000, 60_000, 100)
    entry = m.pos["BTCUSDT"][1]
    m.submit(_req("b", side="SELL", qty=0.1, price=None, typ="MARKET", tif="IOC", reduce_only=True), T0 + BAR)
    out = m.on_bar("BTCUSDT", T0 + BAR, T0 + 2 * BAR, 61_000, 61_000, 61_000, 61_000, 100)
    f = next(u.fields for u in out if u.cls.__name__ == "OrderFilled")
    assert f["realized_pnl"] == pytest.approx(0.1 * (f["price"] - entry))
    assert m.pos["BTCUSDT"] == [0.0, 0.0]
    assert m.wallet == pytest.approx(100_000.0 + m.realized - m.fees_paid)


def test_funding_is_paid_by_longs_when_the_rate_is_positive(m: SimMatching) -> None:
    m.submit(_req("a", qty=0.1, price=None, typ="MARKET", tif="IOC"), T0)
    m.on_bar("BTCUSDT", T0, T0 + BAR, 60_000, 60_000, 60_000, 60_000, 100)
    w = m.wallet
    out = m.apply_funding(T0 + BAR, {"BTCUSDT": 0.0001})
    assert _names(out) == ["FundingApplied"]
    assert out[0].fields["amount_usd"] == pytest.approx(-0.1 * 60_000 * 0.0001)
    assert m.wallet == pytest.approx(w - 0.6)


def test_cancel_of_an_unknown_order_is_refused_like_binance(m: SimMatching) -> None:
    out = m.cancel("BTCUSDT", "nope", T0)
    assert _names(out) == ["OrderRejected"] and out[0].fields["code"] == -2011
    m.submit(_req("a"), T0)
    assert _names(m.cancel("BTCUSDT", "a", T0)) == ["OrderCanceled"]
