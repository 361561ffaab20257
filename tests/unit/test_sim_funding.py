"""Funding in the simulated venue: the data's settlements, holes said once, the default grid, generated rates."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from engine.venues.funding_data import FundingSchedule, from_market_dir, holes, read_funding
from engine.venues.market_gen import GeneratedMarket

H = 3_600_000


def _write(d: Path, sym: str, rows: list[tuple[int, float, str]]) -> None:
    (d / "funding").mkdir(exist_ok=True)
    body = "".join(f"{t},{sym},{r},{m}\n" for t, r, m in rows)
    (d / "funding" / f"{sym}.csv").write_text("funding_time_ms,symbol,funding_rate,mark_price\n" + body)


def test_due_returns_every_data_row_in_the_bar_and_the_default_grid_elsewhere(tmp_path: Path) -> None:
    _write(tmp_path, "BTCUSDT", [(8 * H, 0.0001, "100"), (12 * H, -0.0002, ""), (16 * H, 0.0003, "101")])
    sch = from_market_dir(tmp_path, ["BTCUSDT", "ETHUSDT"], interval_h=8, default_rate=0.0001)
    got = sch.due(8 * H - 300_000, 8 * H)
    assert [(s.symbol, s.time_ms, s.rate, s.mark, s.source) for s in got] == [
        ("BTCUSDT", 8 * H, 0.0001, 100.0, "data"), ("ETHUSDT", 8 * H, 0.0001, None, "default")]
    # a 4-hourly row in the data settles; the default grid has nothing at 12h
    assert [(s.symbol, s.rate, s.mark) for s in sch.due(12 * H - 1, 12 * H)] == [("BTCUSDT", -0.0002, None)]
    assert sch.due(12 * H, 16 * H - 1) == []
    assert sch.rate_at("BTCUSDT", 13 * H) == -0.0002 and sch.rate_at("BTCUSDT", 7 * H) is None
    assert sch.rate_at("ETHUSDT", 13 * H) == 0.0001


def test_holes_and_missing_files_are_said_once_per_symbol(tmp_path: Path) -> None:
    rows = [(t * 8 * H, 0.0001, "1") for t in range(1, 5)] + [(t * 8 * H, 0.0001, "1") for t in range(20, 23)]
    _write(tmp_path, "ENAUSDT", rows)
    assert holes([r[0] for r in rows], 0, 30 * 8 * H) == [(4 * 8 * H, 20 * 8 * H), (22 * 8 * H, 30 * 8 * H)]
    sch = from_market_dir(tmp_path, ["ENAUSDT", "BNBUSDT"], interval_h=8, default_rate=0.0001)
    gaps = sch.gaps(0, 22 * 8 * H)
    assert [(g["symbol"], g["kind"], g["action"], g["from_ms"], g["to_ms"]) for g in gaps] == [
        ("ENAUSDT", "hole", "none", 4 * 8 * H, 20 * 8 * H), ("BNBUSDT", "no_file", "default_rate", 0, 22 * 8 * H)]
    # nothing is invented inside the hole
    assert sch.due(4 * 8 * H, 20 * 8 * H - 1) == [s for s in sch.due(4 * 8 * H, 20 * 8 * H - 1)
                                                 if s.symbol == "BNBUSDT"]


def test_bad_funding_rows_name_the_file_row_and_field(tmp_path: Path) -> None:
    _write(tmp_path, "BTCUSDT", [(8 * H, 0.0001, "100"), (8 * H, 0.0001, "100")])
    with pytest.raises(ValueError, match=r"BTCUSDT.csv: row 3: 'funding_time_ms' is not increasing"):
        read_funding(tmp_path / "funding" / "BTCUSDT.csv", "BTCUSDT")
    _write(tmp_path, "BTCUSDT", [(8 * H, 0.0001, "-5")])
    with pytest.raises(ValueError, match=r"row 2: field 'mark_price' must be a positive price"):
        read_funding(tmp_path / "funding" / "BTCUSDT.csv", "BTCUSDT")
    (tmp_path / "funding" / "BTCUSDT.csv").write_text(
        "funding_time_ms,symbol,funding_rate,mark_price\n1,ETHUSDT,0.1x,\n")
    with pytest.raises(ValueError, match=r"row 2: field 'symbol' is 'ETHUSDT'"):
        read_funding(tmp_path / "funding" / "BTCUSDT.csv", "BTCUSDT")


def test_generated_market_settles_a_plausible_series_without_changing_the_bars() -> None:
    syms = ["BTCUSDT", "ETHUSDT"]
    ticks = {"BTCUSDT": 0.1, "ETHUSDT": 0.01}
    a = GeneratedMarket(syms, ticks, seed=3, start_ms=0)
    steps = list(itertools.islice(a, 3000))  # ~10.4 days of 5m bars
    sch: FundingSchedule = a.funding_schedule
    rates = sch.series["BTCUSDT"].rates
    assert sch.series["BTCUSDT"].times == [k * 8 * H for k in range(1, 32)]
    assert len(set(rates)) > 20 and all(abs(r) <= 0.0075 for r in rates)
    assert 0.0 < sum(rates) / len(rates) < 0.0005  # positive on average, like majors
    assert rates != sch.series["ETHUSDT"].rates
    b = GeneratedMarket(syms, ticks, seed=3, start_ms=0)
    assert list(itertools.islice(b, 3000)) == steps and b.funding_schedule.series["BTCUSDT"].rates == rates
    assert [s.source for s in sch.due(8 * H - 1, 8 * H)] == ["generated", "generated"]
