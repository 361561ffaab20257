"""Margin and liquidation in the simulated venue, recomputed from Binance's leverage brackets.

A generated crash (a -8% gap then a ~12% slide) hits a 10x isolated BTC long: the venue
liquidates it at the price the brackets give (recomputed here from the bracket rows with
Binance's formula), charges the fee from the margin left, keeps the rest of the account,
and the account trades on.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from config.loader import load_config
from engine.ports import OrderRequest
from engine.venues.margin import Bracket, default_brackets, load_brackets
from engine.venues.market_gen import GeneratedMarket
from engine.venues.sim import SimVenue
from eventlog.events import (
    FundingApplied,
    NavSnapshot,
    OrderFilled,
    OrderRejected,
    PositionLiquidated,
    PositionSnapshot,
)
from tests.configdir import copy_config, edit_json
from tests.conftest import MARKET_DIR

SYMS = ["BTCUSDT", "ETHUSDT"]


def _config(tmp: Path, **sim: object) -> Path:
    d = copy_config(tmp)
    edit_json(d / "runtime.json", lambda rt: rt["sim"].update(sim))
    return d


def _brackets() -> dict[str, list[Bracket]]:
    got, _ = load_brackets(MARKET_DIR / "exchange", SYMS)  # Binance's rows when the data is there
    return got


def _lp_by_hand(rows: list[Bracket], q: float, ep: float, wb: float) -> tuple[float, int]:
    """Binance's isolated long liquidation price, the tier chosen by the notional at that price."""
    for b in rows:
        lp = (wb + b.cum - q * ep) / (q * b.mmr - q)
        if b.floor <= q * lp < b.cap:
            return lp, b.tier
    raise AssertionError("no tier holds the liquidation price")


def _run_to_liquidation(tmp_path: Path, lev: float) -> tuple[SimVenue, list, float]:
    loaded = load_config(_config(tmp_path, isolated_symbols=["BTCUSDT"], symbol_leverage={"BTCUSDT": lev}))
    market = GeneratedMarket(SYMS, {"BTCUSDT": 0.1, "ETHUSDT": 0.01}, seed=3, start_ms=1751328000000)
    venue = SimVenue(loaded.config, SYMS, market)
    venue.matching.margin.brackets = _brackets()
    venue.connect(SYMS)
    seen: list = []
    for i in range(market.crash_at + 40):
        if i == market.crash_at - 30:
            assert venue.submit(OrderRequest(order_id="long", symbol="BTCUSDT", side="BUY", order_type="MARKET",
                                             time_in_force="IOC", qty=1.0, price=None)) == []
        step = venue.next_updates()
        assert step is not None
        seen.extend(step)
        if any(u.cls is PositionLiquidated for u in step):
            return venue, seen, loaded.config.runtime.sim.initial_balance_usd
    raise AssertionError("the crash did not liquidate the position")


def test_a_crash_liquidates_at_the_bracket_price_and_the_account_trades_on(tmp_path: Path) -> None:
    venue, seen, balance = _run_to_liquidation(tmp_path, 10.0)
    fill = next(u.fields for u in seen if u.cls is OrderFilled)
    q, ep = fill["qty"], fill["price"]
    funding = sum(u.fields["amount_usd"] for u in seen if u.cls is FundingApplied and u.fields["symbol"] == "BTCUSDT")
    liq = next(u.fields for u in seen if u.cls is PositionLiquidated)
    wb = q * ep / 10.0 + funding  # the isolated margin
    lp, tier = _lp_by_hand(_brackets()["BTCUSDT"], q, ep, wb)
    assert liq["liquidation_price"] == pytest.approx(lp, rel=1e-12) and liq["bracket"] == tier
    assert liq["bankruptcy_price"] == pytest.approx(ep - wb / q, rel=1e-12)
    assert liq["mark_price"] <= lp  # the mark crossed the level
    # filled at the level, or at the open's mark on a gap - never past the bankruptcy price
    assert liq["bankruptcy_price"] <= liq["fill_price"] <= lp + 1e-9
    assert liq["realized_pnl"] == pytest.approx(q * (liq["fill_price"] - ep))
    assert liq["fee_usd"] == pytest.approx(min(0.0125 * q * liq["fill_price"], wb + liq["realized_pnl"]))
    # the loss is the isolated margin at most: the rest of the account is intact
    m = venue.matching
    assert m.pos["BTCUSDT"] == [0.0, 0.0]
    assert m.wallet == pytest.approx(balance - sum(u.fields["fee_usd"] for u in seen if u.cls is OrderFilled)
                                     + funding + liq["realized_pnl"] - liq["fee_usd"])
    assert m.wallet >= balance - wb - 100.0
    snap = [u.fields for u in seen if u.cls is PositionSnapshot and u.fields["symbol"] == "BTCUSDT"]
    assert snap[-1]["qty"] == 0.0 and any(s["liquidation_price"] == pytest.approx(lp, rel=1e-9) for s in snap)
    # trades on: a new position is accepted and fills
    assert venue.submit(OrderRequest(order_id="again", symbol="ETHUSDT", side="BUY", order_type="MARKET",
                                     time_in_force="IOC", qty=5.0, price=None)) == []
    step = venue.next_updates() or []
    assert [u.fields["order_id"] for u in step if u.cls is OrderFilled] == ["again"]


def test_orders_needing_more_than_the_free_margin_get_2019(tmp_path: Path) -> None:
    loaded = load_config(_config(tmp_path, leverage=2.0))
    market = GeneratedMarket(SYMS, {"BTCUSDT": 0.1, "ETHUSDT": 0.01}, seed=3, start_ms=1751328000000)
    venue = SimVenue(loaded.config, SYMS, market)
    venue.connect(SYMS)
    venue.next_updates()
    px = venue.matching.mark["BTCUSDT"]
    free = venue.matching.margin.available()
    too_much = round(free * 2 / px * 1.01, 3)
    out = venue.submit(OrderRequest(order_id="big", symbol="BTCUSDT", side="BUY", order_type="MARKET",
                                    time_in_force="IOC", qty=too_much, price=None))
    assert [(u.cls, u.fields["code"]) for u in out] == [(OrderRejected, -2019)]
    assert venue.submit(OrderRequest(order_id="ok", symbol="BTCUSDT", side="BUY", order_type="MARKET",
                                     time_in_force="IOC", qty=round(free * 2 / px * 0.9, 3), price=None)) == []
    nav = venue.matching.nav_update(0)
    assert nav.cls is NavSnapshot


def test_cross_margin_ratio_and_maintenance_are_the_brackets(tmp_path: Path) -> None:
    loaded = load_config(_config(tmp_path))
    market = GeneratedMarket(SYMS, {"BTCUSDT": 0.1, "ETHUSDT": 0.01}, seed=3, start_ms=1751328000000)
    venue = SimVenue(loaded.config, SYMS, market)
    venue.matching.margin.brackets = {s: default_brackets() for s in SYMS}
    venue.connect(SYMS)
    venue.next_updates()
    venue.submit(OrderRequest(order_id="a", symbol="BTCUSDT", side="BUY", order_type="MARKET",
                              time_in_force="IOC", qty=2.0, price=None))
    venue.next_updates()
    m = venue.matching
    q, e = m.pos["BTCUSDT"]
    mark = m.mark["BTCUSDT"]
    n = q * mark
    b = next(b for b in default_brackets() if b.floor <= n < b.cap)
    pf = m.position_update("BTCUSDT", 0).fields
    assert pf["maint_margin_usd"] == pytest.approx(n * b.mmr - b.cum)
    nav = m.nav_update(0).fields
    bal = m.wallet + q * (mark - e)
    assert nav["margin_ratio"] == pytest.approx((n * b.mmr - b.cum) / bal)
    # cross: the whole wallet backs the position; the tier is the one of the notional at that price
    lp, tier = _lp_by_hand(default_brackets(), q, e, m.wallet)
    assert tier != b.tier
    assert pf["liquidation_price"] == pytest.approx(lp) and pf["margin_type"] == "cross"
