"""Exchange filters: exchangeInfo parsing, grid rounding, Binance error codes, mainnet corrections."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config.loader import load_config
from engine.exchange_filters import (
    FilterError,
    SymbolFilters,
    correct,
    for_simulator,
    from_config,
    from_event_fields,
    load_universe_meta,
    on_grid,
    parse_exchange_info,
    round_price,
    round_qty,
    to_event_fields,
    to_exchange_info,
    validate_order,
)
from eventlog.payloads import FilterCorrection

BTC_INFO = {"symbols": [{
    "symbol": "BTCUSDT", "status": "TRADING", "filters": [
        {"filterType": "PRICE_FILTER", "minPrice": "261.10", "maxPrice": "809484", "tickSize": "0.10"},
        {"filterType": "LOT_SIZE", "minQty": "0.001", "maxQty": "1000", "stepSize": "0.001"},
        {"filterType": "MARKET_LOT_SIZE", "minQty": "0.001", "maxQty": "120", "stepSize": "0.001"},
        {"filterType": "MAX_NUM_ORDERS", "limit": 200},
        {"filterType": "MIN_NOTIONAL", "notional": "100"},
        {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500",
         "multiplierDecimal": "4"},
    ]}]}


@pytest.fixture(scope="module")
def btc() -> SymbolFilters:
    return parse_exchange_info(BTC_INFO)["BTCUSDT"]


def test_exchange_info_parses_every_filter_binance_sends(btc: SymbolFilters) -> None:
    assert (btc.tick_size, btc.step_size, btc.min_qty, btc.max_qty) == (0.1, 0.001, 0.001, 1000.0)
    assert (btc.min_price, btc.max_price, btc.min_notional) == (261.1, 809484.0, 100.0)
    assert (btc.market_step_size, btc.market_max_qty) == (0.001, 120.0)
    assert (btc.multiplier_up, btc.multiplier_down) == (1.05, 0.95)


def test_exchange_info_round_trips_through_its_own_shape_and_the_event(btc: SymbolFilters) -> None:
    assert parse_exchange_info(to_exchange_info({"BTCUSDT": btc}))["BTCUSDT"] == btc
    ev = to_event_fields({"BTCUSDT": btc}, "exchangeInfo")
    assert from_event_fields(ev["filters"]) == {"BTCUSDT": btc}


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda s: s.pop("filters"), "symbols[BTCUSDT].filters"),
    (lambda s: s["filters"].pop(0), "symbols[BTCUSDT].filters"),
    (lambda s: s["filters"][1].update(stepSize="abc"), "symbols[BTCUSDT].LOT_SIZE.stepSize"),
    (lambda s: s["filters"][0].update(tickSize="0"), "symbols[BTCUSDT].PRICE_FILTER.tickSize"),
    (lambda s: s["filters"][4].update(notional="-1"), "symbols[BTCUSDT].MIN_NOTIONAL.notional"),
])
def test_bad_exchange_info_is_refused_naming_the_field(mutate, field: str) -> None:
    import copy

    info = copy.deepcopy(BTC_INFO)
    mutate(info["symbols"][0])
    with pytest.raises(FilterError) as exc:
        parse_exchange_info(info)
    assert exc.value.field == field


@pytest.mark.parametrize(("kw", "code"), [
    ({"qty": 0.01, "price": 60_000.05}, -4014),  # off the tick
    ({"qty": 0.0105, "price": 60_000.0}, -1111),  # off the step
    ({"qty": 0.0, "price": 60_000.0}, -4003),
    ({"qty": 2000.0, "price": 60_000.0}, -4005),  # LOT_SIZE.maxQty
    ({"qty": 0.001, "price": 60_000.0}, -4164),  # 60 USD < MIN_NOTIONAL 100
    ({"qty": 0.01, "price": 100.0}, -4013),  # under minPrice
    ({"qty": 0.01, "price": 63_001.0}, -4016),  # BUY above mark x 1.05
    ({"qty": 0.01, "price": 56_999.0, "side": "SELL"}, -4024),  # SELL below mark x 0.95
    ({"qty": 130.0, "price": None, "order_type": "MARKET"}, -4005),  # MARKET_LOT_SIZE.maxQty
    ({"qty": 0.01, "price": None, "order_type": "MARKET", "best": 64_000.0}, -4131),
])
def test_each_filter_breach_gets_binances_error_code(btc: SymbolFilters, kw: dict, code: int) -> None:
    args = {"side": "BUY", "order_type": "LIMIT", "mark": 60_000.0, **kw}
    bad = validate_order(btc, **args)
    assert bad is not None and bad[0] == code, bad


def test_a_valid_order_and_a_small_reduce_only_order_pass(btc: SymbolFilters) -> None:
    assert validate_order(btc, side="BUY", order_type="LIMIT", qty=0.002, price=59_999.9, mark=60_000.0) is None
    assert validate_order(btc, side="SELL", order_type="MARKET", qty=0.001, price=None, mark=60_000.0,
                          reduce_only=True, best=59_999.9) is None


def test_a_98_usd_btc_order_is_refused_under_the_100_usd_minimum(btc: SymbolFilters) -> None:
    bad = validate_order(btc, side="BUY", order_type="LIMIT", qty=0.001, price=98_000.0, mark=98_000.0)
    assert bad is not None and bad[0] == -4164 and "100" in bad[1]


@given(st.floats(0.01, 1e6), st.sampled_from([0.1, 0.01, 0.001, 0.0001, 1.0, 10.0]), st.sampled_from(["BUY", "SELL"]))
def test_rounded_prices_and_qtys_are_on_the_grid_and_never_more_aggressive(p: float, step: float, side: str) -> None:
    px = round_price(p, step, side)
    assert on_grid(px, step)
    assert (px <= p + 1e-9 * p) if side == "BUY" else (px >= p - 1e-9 * p)
    q = round_qty(p, step)
    assert on_grid(q, step) if q else True
    assert q <= p + 1e-9 * p


def test_config_is_corrected_to_mainnet_tick_and_step(tmp_path: Path) -> None:
    cfg = load_config().config
    meta = tmp_path / "universe_meta.csv"
    meta.write_text("rank,symbol,tick_size,step_size\n1,SOLUSDT,0.01,0.01\n2,WIFUSDT,0.0001,0.1\n")
    stale = {s: f for s, f in from_config(cfg.universe.symbols, ["SOLUSDT", "WIFUSDT"]).items()}
    stale = {s: SymbolFilters(tick_size=f.tick_size, step_size=1.0, min_qty=1.0, min_notional=f.min_notional)
             for s, f in stale.items()}
    fixed, changes = correct(stale, load_universe_meta(meta))
    assert fixed["SOLUSDT"].step_size == 0.01 and fixed["WIFUSDT"].step_size == 0.1
    assert FilterCorrection(symbol="SOLUSDT", field="step_size", config=1.0, mainnet=0.01) in changes


def test_simulator_prefers_an_exchange_info_file_in_the_market_directory(tmp_path: Path) -> None:
    import json

    cfg = load_config().config
    (tmp_path / "exchange").mkdir()
    (tmp_path / "exchange" / "exchangeInfo.json").write_text(json.dumps(BTC_INFO))
    f, source, _ = for_simulator(cfg.universe.symbols, ["BTCUSDT", "ETHUSDT"], tmp_path)
    assert source.startswith("file:") and f["BTCUSDT"].multiplier_up == 1.05
    assert f["ETHUSDT"].step_size == cfg.universe.symbols["ETHUSDT"].step_size  # not in the file: config


def test_real_universe_meta_matches_the_shipped_config(market_dir: Path) -> None:
    cfg = load_config().config
    syms = sorted(cfg.universe.symbols)
    _, source, changes = for_simulator(cfg.universe.symbols, syms, market_dir)
    assert source.startswith("config+") and changes == [], "the shipped config is mainnet's"
