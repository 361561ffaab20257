"""Mark price for the simulated venue from a market directory's ``mark/<SYMBOL>.csv`` (1h klines).

Binance values positions (unrealised PnL, margin, liquidation) at the *mark* price, not
the last trade. The data has the mark only as 1-hour klines, so inside the hour the
mark follows the 5m last-price path with the hour's basis:

    ratio  = mark_open(hour) / last_open(hour)      (the basis at the hour's open)
    mark   = clamp(last * ratio, mark_low(hour), mark_high(hour))

``last_open(hour)`` is the open of the bar that starts the hour (the venue sees it when
that bar arrives; a run that starts mid-hour uses ratio 1 until the next hour). The clamp
keeps the mark inside the range Binance published for the hour: a last-price wick that the
mark did not follow does not liquidate, as on the exchange. Without a file (or a row for
the hour) the mark is the last price.
"""

from __future__ import annotations

import math
from pathlib import Path

HOUR_MS = 3_600_000
COLUMNS = ("open_time_ms", "open", "high", "low", "close")


def read_marks(path: Path) -> dict[int, tuple[float, float, float, float]]:
    """``{hour open ms: (open, high, low, close)}`` of one mark CSV, validated."""
    from engine.venues.kline_csv import read_csv_with

    df = read_csv_with(path, COLUMNS)
    out: dict[int, tuple[float, float, float, float]] = {}
    cols = [df[c].to_list() for c in COLUMNS]
    for i, (t, o, h, lo, c) in enumerate(zip(*cols, strict=True)):
        row = i + 2
        vals = (o, h, lo, c)
        for name, v in zip(COLUMNS[1:], vals, strict=True):
            if not isinstance(v, int | float) or not math.isfinite(v) or v <= 0:
                raise ValueError(f"{path}: row {row}: field {name!r} must be a positive price, got {v!r}")
        if not isinstance(t, int) or t % HOUR_MS:
            raise ValueError(f"{path}: row {row}: field 'open_time_ms' must be an hour in ms, got {t!r}")
        if h < lo:
            raise ValueError(f"{path}: row {row}: field 'high' is below 'low'")
        out[t] = (float(o), float(h), float(lo), float(c))
    return out


class MarkModel:
    """Per-symbol mark at any point of a bar's path (the last price where there is no mark data)."""

    def __init__(self, marks: dict[str, dict[int, tuple[float, float, float, float]]]):
        self.marks = marks
        self.hour_last: dict[str, tuple[int, float]] = {}  # symbol -> (hour, last price at its open)

    @classmethod
    def from_market_dir(cls, market_dir: Path | None, symbols: list[str]) -> MarkModel:
        got = {}
        if market_dir is not None:
            for s in symbols:
                p = market_dir / "mark" / f"{s}.csv"
                if p.exists():
                    got[s] = read_marks(p)
        return cls(got)

    def has(self, symbol: str) -> bool:
        return symbol in self.marks

    def on_bar_open(self, symbol: str, open_ms: int, last_open: float) -> None:
        """Note the last price at the hour's open (the bar that starts the hour)."""
        if open_ms % HOUR_MS == 0:
            self.hour_last[symbol] = (open_ms, last_open)

    def mark(self, symbol: str, t_ms: int, last: float) -> float:
        """The mark at time ``t_ms`` (inside a bar) when the last price is ``last``.

        Monotone (non-decreasing) in ``last`` for a given symbol and time - a positive ratio,
        then a clamp: the margin check's guard bounds a bar's marks by those of its extreme
        prices (``engine.venues.liq_guard``)."""
        rows = self.marks.get(symbol)
        if rows is None:
            return last
        hour = t_ms // HOUR_MS * HOUR_MS
        row = rows.get(hour)
        if row is None:
            return last
        o, h, lo, _c = row
        hl = self.hour_last.get(symbol)
        ratio = o / hl[1] if hl is not None and hl[0] == hour else 1.0
        return min(h, max(lo, last * ratio))
