"""On the real data: every funding settlement the simulated venue makes is a row of the data.

Positions are opened on the first bar and held for the whole window (180 days); every
``FundingApplied`` is then recomputed from the CSVs in ``../shared/market/universe``:
same settlement time, rate and mark as the data's row, amount == -qty * mark * rate, no row
of the window skipped, the hole said once and nothing settled in it, and a symbol without
a funding file settles at the config's default, said once.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from config.loader import load_config
from engine.ports import OrderRequest
from engine.venues.kline_csv import CsvMarket
from engine.venues.mark_data import read_marks
from engine.venues.sim import SimVenue
from eventlog.events import (
    FundingApplied,
    FundingDataGap,
    KlineClosed,
    MarketTick,
    OrderFilled,
    PositionSnapshot,
)
from tests.configdir import copy_config, edit_json

pytestmark = [pytest.mark.market]
MS = 1_000_000
# BTC 8-hourly, ENA a documented hole and rows without a mark, BNB no funding file
SYMS = {"BTCUSDT": ("BUY", 0.3), "ENAUSDT": ("SELL", 20_000.0), "BNBUSDT": ("BUY", 10.0)}


def _config(tmp: Path) -> Path:
    d = copy_config(tmp)

    def add(u: dict[str, Any]) -> None:
        for s in ("ENAUSDT", "BNBUSDT"):
            u["symbols"][s] = {"tier": "SATELLITE", "tick_size": 0.0001, "step_size": 0.01, "min_qty": 0.01,
                               "min_notional": 5, "liquidity_bucket": "B"}

    edit_json(d / "pairs_universe.json", add)
    return d


def _rows(path: Path) -> dict[int, tuple[float, float | None]]:
    with path.open() as f:
        return {int(r["funding_time_ms"]): (float(r["funding_rate"]), float(r["mark_price"]) if r["mark_price"]
                                            else None) for r in csv.DictReader(f)}


def test_every_settlement_is_the_data_row(market_dir: Path, tmp_path: Path) -> None:
    uni = market_dir / "universe"
    loaded = load_config(_config(tmp_path))
    syms = list(SYMS)
    market = CsvMarket(uni, syms)
    venue = SimVenue(loaded.config, syms, market)
    ups = venue.connect(syms)
    gaps = [u.fields for u in ups if u.cls is FundingDataGap]
    assert [(g["symbol"], g["kind"]) for g in gaps] == [("ENAUSDT", "hole"), ("BNBUSDT", "no_file")]
    first = venue.next_updates()
    assert first is not None
    for i, (s, (side, qty)) in enumerate(SYMS.items()):
        assert venue.submit(OrderRequest(order_id=f"o{i}", symbol=s, side=side, order_type="MARKET",
                                         time_in_force="IOC", qty=qty, price=None)) == []
    settled: list[dict] = []
    qty: dict[str, float] = {}
    opened: dict[str, int] = {}
    last_close_ms = 0
    marks = read_marks(market_dir / "mark" / "BTCUSDT.csv")
    basis_bps: list[float] = []
    while (step := venue.next_updates()) is not None:
        # the close's tick (an order's arrival publishes the book inside the bar too)
        tick = next((u.fields for u in reversed(step) if u.cls is MarketTick and u.fields["symbol"] == "BTCUSDT"), None)
        kl = next((u.fields for u in step if u.cls is KlineClosed and u.fields["symbol"] == "BTCUSDT"), None)
        if tick is not None and kl is not None:  # the mark: inside the hour's published mark range
            row = marks[kl["open_time_ms"] // 3_600_000 * 3_600_000]
            assert row[2] <= tick["mark"] <= row[1]
            basis_bps.append(abs(tick["mark"] / kl["close"] - 1) * 1e4)
            for u in step:  # unrealised PnL is at the mark
                if u.cls is PositionSnapshot and u.fields["symbol"] == "BTCUSDT" and u.fields["qty"]:
                    f = u.fields
                    assert f["unrealized_pnl"] == pytest.approx(f["qty"] * (tick["mark"] - f["entry_price"]))
        for u in step:
            if u.cls is OrderFilled:
                qty[u.fields["symbol"]] = u.fields["position_qty_after"]
                opened.setdefault(u.fields["symbol"], u.ts_event_ns // MS)
            elif u.cls is FundingApplied:
                settled.append(u.fields)
        last_close_ms = venue.clock().now_ns() // MS
    assert set(qty) == set(SYMS)
    for s in ("BTCUSDT", "ENAUSDT"):
        data = _rows(market_dir / "funding" / f"{s}.csv")
        mine = [f for f in settled if f["symbol"] == s]
        assert all(f["source"] == "data" for f in mine)
        want = sorted(t for t in data if opened[s] < t <= last_close_ms)  # ENA's klines start later
        assert [f["funding_time_ms"] for f in mine] == want, s
        for f in mine:
            rate, mark = data[f["funding_time_ms"]]
            assert f["rate"] == rate and f["position_qty"] == qty[s]
            if mark is not None:
                assert f["mark_price"] == mark
            assert f["amount_usd"] == pytest.approx(-qty[s] * f["mark_price"] * rate, rel=1e-12, abs=1e-12)
    assert len([f for f in settled if f["symbol"] == "BTCUSDT"]) > 530
    basis_bps.sort()
    median = basis_bps[len(basis_bps) // 2]
    differs = sum(b > 0 for b in basis_bps) / len(basis_bps)
    print(f"BTC mark vs last: median {median:.3f} bps, max {basis_bps[-1]:.2f} bps, differs in {differs:.0%} of bars")
    assert median < 5 and basis_bps[-1] > 1 and differs > 0.3  # the mark is not the last price
    hole = next(g for g in gaps if g["symbol"] == "ENAUSDT")
    assert not [f for f in settled if f["symbol"] == "ENAUSDT" and hole["from_ms"] < f["funding_time_ms"]
                < hole["to_ms"]]
    bnb = [f for f in settled if f["symbol"] == "BNBUSDT"]
    assert bnb and all(f["source"] == "default" and f["rate"] == loaded.config.runtime.sim.default_funding_rate
                       and f["funding_time_ms"] % (8 * 3_600_000) == 0 for f in bnb)
