"""Mark price in the simulated venue: the hour's basis on the last price, inside the hour's mark range."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.venues.mark_data import MarkModel, read_marks

H = 3_600_000


def _model(tmp_path: Path) -> MarkModel:
    (tmp_path / "mark").mkdir()
    (tmp_path / "mark" / "BTCUSDT.csv").write_text(
        "open_time_ms,open,high,low,close\n" f"{H},100.5,102,99,101\n" f"{2 * H},101,101.2,100.9,101.1\n")
    return MarkModel.from_market_dir(tmp_path, ["BTCUSDT", "ETHUSDT"])


def test_mark_is_the_last_price_times_the_hours_basis_clamped_to_its_range(tmp_path: Path) -> None:
    m = _model(tmp_path)
    m.on_bar_open("BTCUSDT", H, 100.0)  # last 100 at the hour's open, mark 100.5: basis +0.5%
    assert m.mark("BTCUSDT", H + 300_000, 101.0) == pytest.approx(101.505)
    assert m.mark("BTCUSDT", H + 600_000, 90.0) == 99.0  # a wick the mark did not follow: the hour's low
    assert m.mark("BTCUSDT", 2 * H, 101.0) == pytest.approx(101.0)  # no hour-open last seen yet: ratio 1
    assert m.mark("BTCUSDT", 5 * H, 77.0) == 77.0  # no mark row: the last price
    assert m.mark("ETHUSDT", H, 3000.0) == 3000.0 and not m.has("ETHUSDT")


def test_bad_mark_rows_name_the_file_row_and_field(tmp_path: Path) -> None:
    p = tmp_path / "m.csv"
    p.write_text("open_time_ms,open,high,low,close\n3600000,1,1,2,1\n")
    with pytest.raises(ValueError, match=r"m.csv: row 2: field 'high' is below 'low'"):
        read_marks(p)
    p.write_text("open_time_ms,open,high,low,close\n3600001,1,1,1,1\n")
    with pytest.raises(ValueError, match=r"row 2: field 'open_time_ms' must be an hour"):
        read_marks(p)
    p.write_text("open_time_ms,open,high\n3600000,1,1\n")
    with pytest.raises(ValueError, match=r"missing column 'low'"):
        read_marks(p)
