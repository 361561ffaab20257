"""Market data for the simulated venue: the seeded generator and the kline CSV reader."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from engine.venues.kline_csv import CsvMarket, read_symbol
from engine.venues.market_gen import HALT_BARS, GeneratedMarket

SYMS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
TICKS = {"BTCUSDT": 0.1, "ETHUSDT": 0.01, "SOLUSDT": 0.01}


def _bars(seed: int, n: int) -> list:
    return list(itertools.islice(GeneratedMarket(SYMS, TICKS, seed=seed, start_ms=0), n))


def test_same_seed_same_bars_and_another_seed_other_bars() -> None:
    assert _bars(3, 500) == _bars(3, 500)
    assert _bars(3, 500) != _bars(4, 500)


def test_generated_bars_are_consistent_candles_on_the_tick_grid() -> None:
    for _, bars in _bars(5, 2000):
        for sym, o, h, lo, c, v in bars:
            assert lo <= min(o, c) and h >= max(o, c) and v >= 0
            assert abs(round(c / TICKS[sym]) * TICKS[sym] - c) < 1e-6


def test_first_cycle_holds_a_crash_and_a_flat_zero_volume_halt() -> None:
    steps = _bars(3, 2000)
    halted = [i for i, (_, bars) in enumerate(steps) if all(b[5] == 0.0 for b in bars)]
    assert len(halted) == HALT_BARS and halted == list(range(halted[0], halted[0] + HALT_BARS))
    assert all(b[1] == b[2] == b[3] == b[4] for i in halted for b in steps[i][1])
    closes = [bars[0][4] for _, bars in steps]
    worst = min(closes[i + 12] / closes[i] - 1 for i in range(len(closes) - 12))
    assert worst < -0.08, "a crash of more than 8% within an hour"


T0 = 1_751_328_000_000  # 2025-07-01T00:00Z: kline times are UTC milliseconds (checked since issue 17)


def test_csv_reader_names_the_file_row_and_field_of_bad_input(tmp_path: Path) -> None:
    p = tmp_path / "BTCUSDT.csv"
    p.write_text(f"open_time_ms,open,high,low,close,volume\n{T0 + 300_000},1,1,1,1,1\n{T0},1,1,1,1,1\n")
    with pytest.raises(ValueError, match=r"row 3: 'open_time_ms' is not increasing"):
        read_symbol(p)
    p.write_text(f"open_time_ms,open,high,low,close,volume\n{T0},1,1,1,x,1\n")
    with pytest.raises(ValueError, match=r"column 'close'"):
        read_symbol(p)
    p.write_text(f"open_time_ms,open,high,low,close,volume\n{T0},1,1,1,nan,1\n")
    with pytest.raises(ValueError, match=r"row 2: field 'close' must be a positive price"):
        read_symbol(p)
    p.write_text(f"open_time_ms,open,high,low,close,volume\n{T0},1,1,2,1,1\n")
    with pytest.raises(ValueError, match=r"row 2: field 'high' is below 'low'"):
        read_symbol(p)
    p.write_text("open_time_ms,open,high,low,close\n1,1,1,1,1\n")
    with pytest.raises(ValueError, match=r"missing column 'volume'"):
        read_symbol(p)


def test_csv_market_merges_symbols_by_open_time(tmp_path: Path) -> None:
    (tmp_path / "BTCUSDT.csv").write_text(
        f"open_time_ms,open,high,low,close,volume\n{T0},1,1,1,1,1\n{T0 + 300_000},2,2,2,2,2\n")
    (tmp_path / "ETHUSDT.csv").write_text(f"open_time_ms,open,high,low,close,volume\n{T0 + 300_000},3,3,3,3,3\n")
    steps = list(CsvMarket(tmp_path, ["BTCUSDT", "ETHUSDT"]))
    assert [t for t, _ in steps] == [T0, T0 + 300_000]
    assert [[b[0] for b in bars] for _, bars in steps] == [["BTCUSDT"], ["BTCUSDT", "ETHUSDT"]]
