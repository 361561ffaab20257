"""Kline CSVs (``<SYMBOL>.csv``: open_time_ms,open,high,low,close,volume) as bar steps.

Read with polars (fast), checked (columns, numbers, increasing times, each error
naming the file, row and field), then merged across symbols by open time.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from engine.rules.units import EPOCH_MS

COLUMNS = ("open_time_ms", "open", "high", "low", "close", "volume")
Bar = tuple[str, float, float, float, float, float]
MIN_TIME_MS, MAX_TIME_MS = EPOCH_MS  # seconds (1.7e9), microseconds (1.7e15), negatives fall outside
# A bar whose high is more than this many times the previous close (or whose low is
# less than the previous close divided by it) is a data error (``--max-jump``).
DEFAULT_MAX_JUMP = 10.0


def available_symbols(data_dir: Path) -> list[str]:
    """Symbols with a CSV in ``data_dir`` (sorted)."""
    return sorted(p.stem for p in data_dir.glob("*.csv"))


def _first(mask: pl.Series) -> int:
    """The CSV row number (header = row 1) of the first True in ``mask``."""
    return int(mask.arg_max() or 0) + 2


def check_bars(path: Path, t: pl.Series, o: pl.Series, h: pl.Series, lo: pl.Series, c: pl.Series,
               max_jump: float = DEFAULT_MAX_JUMP) -> None:
    """OHLC consistency, millisecond times in range, no price spike: ``ValueError`` naming file, row, field."""
    out = (t < MIN_TIME_MS) | (t > MAX_TIME_MS)
    if out.any():
        row = _first(out)
        v = t[row - 2]
        hint = " (seconds? times must be UTC milliseconds)" if 0 < v < MIN_TIME_MS // 100 else ""
        raise ValueError(f"{path}: row {row}: field 'open_time_ms' {v} is not a UTC millisecond time between "
                         f"2000 and 2100{hint}")
    if (h < lo).any():
        raise ValueError(f"{path}: row {_first(h < lo)}: field 'high' is below 'low'")
    for name, col in (("open", o), ("close", c)):
        for bad, side in ((col > h, "above 'high'"), (col < lo, "below 'low'")):
            if bad.any():
                row = _first(bad)
                raise ValueError(f"{path}: row {row}: field {name!r} {col[row - 2]} is {side} "
                                 f"({h[row - 2]} / {lo[row - 2]})")
    if len(c) > 1:
        prev = c.shift(1)
        up, down = (h / prev > max_jump).fill_null(False), (prev / lo > max_jump).fill_null(False)
        for bad, name, col in ((up, "high", h), (down, "low", lo)):
            if bad.any():
                row = _first(bad)
                raise ValueError(f"{path}: row {row}: field {name!r} {col[row - 2]} jumps more than {max_jump:g}x "
                                 f"from the previous close {prev[row - 2]} (a spike; limit: --max-jump)")


def read_csv_with(path: Path, columns: tuple[str, ...]) -> pl.DataFrame:
    """A CSV as a DataFrame with at least ``columns``; ValueError naming the file otherwise."""
    try:
        df = pl.read_csv(path, infer_schema_length=1000)
    except Exception as exc:
        raise ValueError(f"{path}: not a readable CSV ({exc})") from None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column {missing[0]!r} (need {','.join(columns)})")
    return df


def read_symbol(path: Path, max_jump: float = DEFAULT_MAX_JUMP) -> tuple[list[int], list[list[float]]]:
    """(open times, [open, high, low, close, volume] columns) of one CSV, validated."""
    if not path.exists():
        raise FileNotFoundError(f"no kline file {path}")
    df = read_csv_with(path, COLUMNS)
    cols: list[list[float]] = []
    for c in COLUMNS[1:]:
        try:
            s = df[c].cast(pl.Float64, strict=True)
        except Exception:
            raise ValueError(f"{path}: column {c!r} has a non-numeric value") from None
        if s.null_count():
            row = int(s.is_null().arg_max() or 0) + 2
            raise ValueError(f"{path}: row {row}: field {c!r} is empty")
        bad = s.is_nan() | s.is_infinite() | ((s < 0) if c == "volume" else (s <= 0))
        if bad.any():
            row = int(bad.arg_max() or 0) + 2
            what = "must be >= 0" if c == "volume" else "must be a positive price"
            raise ValueError(f"{path}: row {row}: field {c!r} {what}, got {s[row - 2]}")
        cols.append(s.to_list())
    try:
        t = df["open_time_ms"].cast(pl.Int64, strict=True)
    except Exception:
        raise ValueError(f"{path}: column 'open_time_ms' must be integer milliseconds") from None
    if t.null_count():
        raise ValueError(f"{path}: row {_first(t.is_null())}: field 'open_time_ms' is empty")
    opens, highs, lows, closes = (pl.Series(col) for col in cols[:4])
    check_bars(path, t, opens, highs, lows, closes, max_jump=max_jump)
    if len(t) > 1 and not (t.diff().drop_nulls() > 0).all():
        row = int((t.diff() <= 0).arg_max() or 0) + 2
        raise ValueError(f"{path}: row {row}: 'open_time_ms' is not increasing")
    return t.to_list(), cols


class CsvMarket:
    """Iterator of bar steps ``(open_time_ms, [(symbol, o, h, l, c, v), ...])`` from CSVs."""

    def __init__(self, data_dir: Path, symbols: list[str], *, default_funding_rate: float = 0.0001,
                 max_jump: float = DEFAULT_MAX_JUMP):
        self.symbols = list(symbols)
        self.data_dir = data_dir
        self.default_funding_rate = default_funding_rate
        # packed columns (8 bytes a value, not a Python float object each): 33 symbols x 180 days
        # of 5m bars are ~70 MB instead of ~400 MB; indexing gives the same floats back
        self._data: dict[str, tuple[array[int], list[array[float]]]] = {}
        for s in symbols:
            t, cols = read_symbol(data_dir / f"{s}.csv", max_jump)
            self._data[s] = (array("q", t), [array("d", c) for c in cols])
        self._rates = {s: default_funding_rate for s in symbols}
        self.expected_steps = max((len(d[0]) for d in self._data.values()), default=0)
        starts = [d[0][0] for d in self._data.values() if d[0]]
        self.start_ms = min(starts) if starts else 0
        ends = [d[0][-1] for d in self._data.values() if d[0]]
        self.end_ms = max(ends) if ends else 0  # the last bar's open time

    def funding_rates(self) -> dict[str, float]:
        return self._rates

    def __iter__(self) -> Iterator[tuple[int, list[Bar]]]:
        idx = {s: 0 for s in self.symbols}
        data = self._data
        syms = self.symbols
        while True:
            t_next = None
            for s in syms:
                i = idx[s]
                ts = data[s][0]
                if i < len(ts) and (t_next is None or ts[i] < t_next):
                    t_next = ts[i]
            if t_next is None:
                return
            bars: list[Bar] = []
            for s in syms:
                i = idx[s]
                ts, (o, h, lo, c, v) = data[s]
                if i < len(ts) and ts[i] == t_next:
                    bars.append((s, o[i], h[i], lo[i], c[i], v[i]))
                    idx[s] = i + 1
            yield t_next, bars
