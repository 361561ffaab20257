"""Issue 17 item 8: bad market data is refused before a session starts, naming file, row and field.

``hedge run --data DIR`` on kline CSVs with one defect each: a close above the high, an
open below the low, a 1e6x price spike (configurable with ``--max-jump``), open times in
seconds or negative. Each exits 2 with one line naming the file, the row and the field,
and writes nothing to the log. The real Binance data (``../shared/market``) passes.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.venues.kline_csv import read_symbol
from tests.reliability.harness import REPO, Site

T0 = 1_751_629_200_000  # 2025-07-04 11:40 UTC
STEP = 300_000
MARKET = REPO.parent / "shared" / "market"


def _bars(n: int = 60) -> list[list[float | int]]:
    out: list[list[float | int]] = []
    price = 100_000.0
    for i in range(n):
        o, c = price, price * (1.001 if i % 3 else 0.999)
        out.append([T0 + i * STEP, o, max(o, c) * 1.0005, min(o, c) * 0.9995, c, 12.5])
        price = c
    return out


def _write(d: Path, rows: list[list[float | int]]) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    p = d / "BTCUSDT.csv"
    with p.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["open_time_ms", "open", "high", "low", "close", "volume"])
        w.writerows(rows)
    return p


def _close_above_high(rows: list[list[float | int]]) -> None:
    rows[30][4] = float(rows[30][2]) * 1.01


def _open_below_low(rows: list[list[float | int]]) -> None:
    rows[30][1] = float(rows[30][3]) * 0.99


def _spike(rows: list[list[float | int]]) -> None:
    rows[30][2] = float(rows[30][2]) * 1e6
    rows[30][4] = float(rows[30][2])


def _seconds(rows: list[list[float | int]]) -> None:
    for r in rows:
        r[0] = int(r[0]) // 1000


def _negative(rows: list[list[float | int]]) -> None:
    for i, r in enumerate(rows):
        r[0] = -STEP * (len(rows) - i)


CASES: dict[str, tuple[Callable[[list[list[float | int]]], None], int, str, str]] = {
    "close above high": (_close_above_high, 32, "close", "above 'high'"),
    "open below low": (_open_below_low, 32, "open", "below 'low'"),
    "1e6x spike": (_spike, 32, "high", "jumps more than 10x"),
    "times in seconds": (_seconds, 2, "open_time_ms", "seconds?"),
    "negative times": (_negative, 2, "open_time_ms", "UTC millisecond time"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_bars_are_refused_naming_file_row_and_field(tmp_path: Path, case: str) -> None:
    damage, row, field, words = CASES[case]
    rows = _bars()
    damage(rows)
    path = _write(tmp_path / "data", rows)
    site = Site(tmp_path / "home")
    r = site.hedge("run", "--data", str(path.parent), "--symbols", "BTCUSDT", "--quiet")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and "failed:" not in r.stderr
    assert f"{path}: row {row}: field {field!r}" in r.stderr and words in r.stderr, r.stderr
    assert not site.raw().exists() or site.raw().max_seq() == 0


def test_the_spike_limit_is_configurable(tmp_path: Path) -> None:
    rows = _bars()
    rows[30][2] = float(rows[30][2]) * 5  # a 5x wick
    path = _write(tmp_path / "data", rows)
    site = Site(tmp_path / "home")
    argv = ("run", "--data", str(path.parent), "--symbols", "BTCUSDT", "--quiet", "--no-projections")
    r = site.hedge(*argv, "--max-jump", "4")
    assert r.returncode == 2 and "jumps more than 4x" in r.stderr, r.stderr
    r = site.hedge(*argv)  # the default limit (10x) lets a 5x wick through
    assert r.returncode == 0, r.stderr
    for bad in ("nan", "inf", "1", "-3"):
        r = site.hedge(*argv, "--max-jump", bad)
        assert r.returncode == 2 and "--max-jump" in r.stderr, r.stderr


@pytest.mark.skipif(not (MARKET / "BTCUSDT.csv").exists(), reason="../shared/market is absent")
@pytest.mark.parametrize("symbol", ["BTCUSDT", "ETHUSDT", "SOLUSDT"])
def test_the_real_binance_data_passes_every_check(symbol: str) -> None:
    times, cols = read_symbol(MARKET / f"{symbol}.csv")
    assert len(times) > 50_000 and len(cols) == 5
