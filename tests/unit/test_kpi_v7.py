"""kpis_v7 / aum_v7 / router health numbers, computed by hand from small synthetic logs."""

from __future__ import annotations

import math
from typing import Any

import pytest

from engine.rules.router_kpis import health_score, quality
from eventlog import events as E
from projections.kpis import sharpe_state
from tests.unit.test_projection_fold import Synth, fold, synth_events


def trade(sym: str, side: str, maker: bool = True, pnl: float = 0.0, slip: float = 0.0) -> tuple[Any, ...]:
    return ("trade", sym, side, "allow", maker, False, slip, pnl, False)


def test_fee_pnl_ratio_is_fees_over_gross_realized_pnl_and_null_without_pnl() -> None:
    assert fold(synth_events([trade("BTCUSDT", "BUY")])).documents()["kpis_v7.json"]["risk"]["fee_pnl_ratio"] is None
    events = synth_events([trade("BTCUSDT", "BUY"), trade("BTCUSDT", "SELL", maker=False, pnl=12.5)])
    risk = fold(events).documents()["kpis_v7.json"]["risk"]
    fees = sum(f.fee_usd for f in events if isinstance(f, E.OrderFilled))
    assert risk["fees_usd_window"] == pytest.approx(fees) and risk["gross_pnl_usd_window"] == 12.5
    assert risk["fee_pnl_ratio"] == pytest.approx(fees / 12.5)


def test_expectancy_and_win_rate_over_round_trips_net_of_entry_fees_and_funding() -> None:
    assert fold(synth_events([])).documents()["kpis_v7.json"]["performance"]["expectancy_state"] == "unknown"
    events = synth_events([trade("ETHUSDT", "BUY"), ("funding", "ETHUSDT", -1.0), trade("ETHUSDT", "SELL", pnl=12.5),
                           trade("ETHUSDT", "SELL"), trade("ETHUSDT", "BUY", pnl=-7.25)])
    perf = fold(events).documents()["kpis_v7.json"]["performance"]
    fees = [f.fee_usd for f in events if isinstance(f, E.OrderFilled)]
    nets = [12.5 - fees[0] - fees[1] - 1.0, -7.25 - fees[2] - fees[3]]  # every fee of the trip, and its funding
    assert perf["trades"] == 2 and perf["win_rate"] == 0.5
    assert perf["expectancy_usd"] == pytest.approx(sum(nets) / 2)
    assert perf["expectancy_state"] == ("positive" if sum(nets) > 0 else "negative")
    assert perf["realized_pnl_usd"] == pytest.approx(5.25)


def test_sharpe_needs_a_day_of_hourly_returns_and_is_annualised() -> None:
    few = fold(synth_events([("nav", 0.01), ("jump", 3601)] * 10)).documents()["kpis_v7.json"]["performance"]
    assert few["sharpe"] is None and few["sharpe_state"] == "unknown"
    rets = [0.002, -0.001] * 20
    ops: list[Any] = [("nav", 0.0)]
    for r in rets:
        ops += [("jump", 3600), ("nav", r)]
    perf = fold(synth_events(ops)).documents()["kpis_v7.json"]["performance"]
    mean = sum(rets) / len(rets)
    sd = math.sqrt(sum((r - mean) ** 2 for r in rets) / (len(rets) - 1))
    assert perf["sharpe"] == pytest.approx(mean / sd * math.sqrt(8760), rel=1e-6)
    assert perf["sharpe_state"] == "strong"
    assert [sharpe_state(x) for x in (None, 1.01, 0.5, 0.0, -0.3)] == ["unknown", "strong", "positive", "flat", "negative"]


def test_router_health_score_formula_and_quality_bands() -> None:
    assert health_score(None, None, None, 10.0) is None
    assert health_score(1.0, 0.0, 0.0, 10.0) == 1.0
    assert health_score(0.5, 0.5, 5.0, 10.0) == pytest.approx(0.4 * 0.5 + 0.3 * 0.5 + 0.3 * 0.5)
    assert health_score(0.0, 1.0, 50.0, 10.0) == 0.0
    assert [quality(s) for s in (None, 0.75, 0.5, 0.49)] == ["unknown", "good", "ok", "degraded"]


def test_aum_buckets_price_config_holdings_and_total_them() -> None:
    doc = fold(synth_events([("nav", 0.0), ("bar", "BTCUSDT", 0.0, 0.01)])).documents()["aum_v7.json"]
    s = Synth()
    s.session()
    btc = s.px["BTCUSDT"]
    assert doc["btc_spot_usd"]["price"] == pytest.approx(btc)
    assert doc["btc_spot_usd"]["value"] == pytest.approx(0.75 * btc)
    assert doc["btc_spot_usd"]["pnl"] == pytest.approx(0.75 * btc - 52000)
    assert doc["xaut_spot_usd"]["value"] == pytest.approx(12 * 3350) and doc["usdc_spot_usd"]["pnl"] == 0.0
    assert doc["futures_nav_usd"]["value"] == 100_000.0 and doc["futures_nav_usd"]["pnl"] == 0.0
    values = [doc[k]["value"] for k in ("futures_nav_usd", "btc_spot_usd", "xaut_spot_usd", "usdc_spot_usd")]
    assert doc["total"]["value"] == pytest.approx(sum(values)) and doc["complete"] is True
    assert sum(b["share"] for b in doc["buckets"]) == pytest.approx(1.0)


def test_aum_without_a_btc_price_is_incomplete_and_nav_is_never_inflated() -> None:
    docs = fold(synth_events([("nav", 0.0)])).documents()
    aum = docs["aum_v7.json"]
    assert aum["btc_spot_usd"]["value"] is None and aum["complete"] is False
    assert aum["total"]["value"] == pytest.approx(100_000 + 12 * 3350 + 40_000)
    assert docs["nav_state.json"]["nav_usd"] == 100_000.0  # off-exchange never enters NAV


def test_offexchange_event_overrides_config_valuation() -> None:
    aum = fold(synth_events([("bar", "BTCUSDT", 0.0, 0.01), ("offex",)])).documents()["aum_v7.json"]
    assert aum["btc_spot_usd"]["cost_basis"] == 52000.0
    # the event listed only BTC: the other configured holdings are priced from the config / the log
    assert aum["xaut_spot_usd"]["value"] == pytest.approx(12 * 3350)


def test_symbol_intraday_drawdown_marks_at_closed_klines() -> None:
    ops: list[Any] = [("nav", 0.0), trade("SOLUSDT", "BUY"), ("bar", "SOLUSDT", 0.05, 0.01),
                      ("bar", "SOLUSDT", -0.5, 0.01)]
    events = synth_events(ops)
    kpis = fold(events).documents()["kpis_v7.json"]
    sol = kpis["symbols"]["SOLUSDT"]
    assert sol["position_qty"] == 0.5 and sol["dd_today_pct"] > 0
    closes = [e.close for e in events if isinstance(e, E.KlineClosed)]
    entry = next(e.price for e in events if isinstance(e, E.OrderFilled))
    fee = next(e.fee_usd for e in events if isinstance(e, E.OrderFilled))
    peak = max(0.0, 0.5 * (closes[0] - entry) - fee)
    now = 0.5 * (closes[1] - entry) - fee
    assert sol["dd_today_pct"] == pytest.approx((peak - now) / 100_000)
    assert kpis["symbols"]["BTCUSDT"]["dd_today_pct"] is None and kpis["symbols"]["BTCUSDT"]["dd_state"] == "normal"
