"""Funding settlements for the simulated venue: from the market data, generated, or the default.

A market directory's ``funding/<SYMBOL>.csv`` (``funding_time_ms,symbol,funding_rate,
mark_price``) is Binance's funding-rate history: one row per settlement, at the data's
times (8-hourly for most symbols, 4-hourly or hourly for some). The simulator settles
exactly those rows: at a bar whose interval ``(open, close]`` holds a row's time, an open
position pays ``-qty * mark * rate`` with the row's rate and mark price (the venue's mark
when the row has none), ``source = "data"``.

* A symbol with no file settles at the config's ``funding_interval_h`` boundaries at
  ``default_funding_rate`` (``source = "default"``), and the run says so once
  (``FundingDataGap`` kind ``no_file``).
* A stretch of more than ``HOLE_MS`` without a settlement inside the run's window is a
  hole in the data: nothing is settled there (no rate is invented) and the run says so
  once (``FundingDataGap`` kind ``hole``).

Everything here is a pure function of (time, data): the schedule keeps no cursor, so a
resumed venue settles exactly what an uninterrupted one would.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import polars as pl

HOLE_MS = 24 * 3_600_000  # no Binance perpetual settles less often than every 8 h
COLUMNS = ("funding_time_ms", "symbol", "funding_rate", "mark_price")


@dataclass(frozen=True, slots=True)
class Settlement:
    symbol: str
    time_ms: int
    rate: float
    mark: float | None  # the data's mark price at the settlement (None: use the venue's)
    source: str  # data | generated | default


@dataclass(frozen=True, slots=True)
class FundingSeries:
    times: list[int]
    rates: list[float]
    marks: list[float | None]


def read_funding(path: Path, symbol: str) -> FundingSeries:
    """One symbol's funding CSV, validated (errors name the file, row and field)."""
    try:
        df = pl.read_csv(path, infer_schema_length=0)  # all strings: checked below
    except Exception as exc:
        raise ValueError(f"{path}: not a readable CSV ({exc})") from None
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column {missing[0]!r} (need {','.join(COLUMNS)})")
    times: list[int] = []
    rates: list[float] = []
    marks: list[float | None] = []
    for i, (t, sym, r, m) in enumerate(zip(df["funding_time_ms"], df["symbol"], df["funding_rate"],
                                           df["mark_price"], strict=True)):
        row = i + 2
        try:
            ti = int(t)
        except (TypeError, ValueError):
            raise ValueError(f"{path}: row {row}: field 'funding_time_ms' must be integer ms, got {t!r}") from None
        if sym != symbol:
            raise ValueError(f"{path}: row {row}: field 'symbol' is {sym!r}, expected {symbol!r}")
        try:
            rf = float(r)
        except (TypeError, ValueError):
            raise ValueError(f"{path}: row {row}: field 'funding_rate' is not a number: {r!r}") from None
        if not math.isfinite(rf) or abs(rf) >= 0.1:
            raise ValueError(f"{path}: row {row}: field 'funding_rate' out of range: {r!r}")
        mf: float | None = None
        if m not in (None, ""):
            try:
                mf = float(m)
            except (TypeError, ValueError):
                raise ValueError(f"{path}: row {row}: field 'mark_price' is not a number: {m!r}") from None
            if not (math.isfinite(mf) and mf > 0):
                raise ValueError(f"{path}: row {row}: field 'mark_price' must be a positive price, got {m!r}")
        if times and ti <= times[-1]:
            raise ValueError(f"{path}: row {row}: 'funding_time_ms' is not increasing")
        times.append(ti)
        rates.append(rf)
        marks.append(mf)
    return FundingSeries(times, rates, marks)


def holes(times: list[int], start_ms: int, end_ms: int) -> list[tuple[int, int]]:
    """Stretches of ``[start_ms, end_ms]`` longer than ``HOLE_MS`` with no settlement."""
    out: list[tuple[int, int]] = []
    lo = bisect_left(times, start_ms)
    prev = times[lo - 1] if lo > 0 else None
    inside = [t for t in times[lo:] if t <= end_ms]
    edges = ([prev] if prev is not None else [start_ms]) + inside + [end_ms]
    for a, b in pairwise(edges):
        if b - a > HOLE_MS:
            out.append((max(a, start_ms), b))
    return out


class FundingSchedule:
    """Which settlements fall in a bar, per symbol: data rows, generated rows or the default grid."""

    def __init__(self, symbols: list[str], *, interval_h: float, default_rate: float,
                 series: dict[str, FundingSeries] | None = None, source: str = "data",
                 rates_fn: Callable[[], dict[str, float]] | None = None, default_source: str = "default"):
        self.symbols = list(symbols)
        self.rates_fn = rates_fn  # a market's own per-symbol rates for the default grid (recorded markets)
        self.default_source = default_source  # a recorded market's: the source its rates had
        self.interval_ms = int(interval_h * 3_600_000)
        self.default_rate = default_rate
        self.series = dict(series or {})
        self.source = source

    def _default(self, symbol: str) -> float:
        if self.rates_fn is None:
            return self.default_rate
        return self.rates_fn().get(symbol, self.default_rate)

    def source_of(self, symbol: str) -> str:
        return self.source if symbol in self.series else "default"

    def due(self, after_ms: int, upto_ms: int) -> list[Settlement]:
        """Settlements with ``after_ms < time <= upto_ms`` (data: every row; default: one per bar)."""
        out: list[Settlement] = []
        for s in self.symbols:
            ser = self.series.get(s)
            if ser is not None:
                i, j = bisect_right(ser.times, after_ms), bisect_right(ser.times, upto_ms)
                for k in range(i, j):
                    out.append(Settlement(s, ser.times[k], ser.rates[k], ser.marks[k], self.source))
            elif self.interval_ms and upto_ms // self.interval_ms != after_ms // self.interval_ms:
                t = upto_ms // self.interval_ms * self.interval_ms
                out.append(Settlement(s, t, self._default(s), None, self.default_source))
        return out

    def rate_at(self, symbol: str, t_ms: int) -> float | None:
        """The rate of the latest settlement at or before ``t_ms`` (what a ticker would show)."""
        ser = self.series.get(symbol)
        if ser is None:  # a recorded market's own rates show what its ticks showed (None: none yet)
            return self.default_rate if self.rates_fn is None else self.rates_fn().get(symbol)
        i = bisect_right(ser.times, t_ms)
        return ser.rates[i - 1] if i else None

    def gaps(self, start_ms: int, end_ms: int) -> list[dict[str, object]]:
        """``FundingDataGap`` fields: one per symbol without a series, one per hole in a series."""
        out: list[dict[str, object]] = []
        for s in self.symbols:
            ser = self.series.get(s)
            if ser is None:
                out.append({"symbol": s, "kind": "no_file", "action": "default_rate", "from_ms": start_ms,
                            "to_ms": end_ms, "default_rate": self.default_rate,
                            "detail": f"no funding/{s}.csv: settles every {self.interval_ms // 3_600_000} h "
                                      f"at the config's default rate {self.default_rate}"})
                continue
            for a, b in holes(ser.times, start_ms, end_ms):
                out.append({"symbol": s, "kind": "hole", "action": "none", "from_ms": a, "to_ms": b,
                            "default_rate": 0.0,
                            "detail": f"funding/{s}.csv has no settlement for {(b - a) / 86_400_000:.1f} days: "
                                      "nothing is settled there"})
        return out


def from_market_dir(market_dir: Path, symbols: list[str], *, interval_h: float,
                    default_rate: float) -> FundingSchedule:
    """The schedule of a market directory (``funding/<SYMBOL>.csv`` where present)."""
    series = {}
    for s in symbols:
        p = market_dir / "funding" / f"{s}.csv"
        if p.exists():
            series[s] = read_funding(p, s)
    return FundingSchedule(symbols, interval_h=interval_h, default_rate=default_rate, series=series)


def generated_rate(seed: int, symbol: str, time_ms: int, trend: int, base: float) -> float:
    """A plausible funding rate: the base, pushed by the trend regime, plus noise keyed by (seed, time, symbol).

    Binance clamps the usual 8-hourly rate to about +-0.75%; this stays well inside.
    """
    noise = random.Random(f"funding:{seed}:{symbol}:{time_ms}").gauss(0.0, 0.6)
    rate = base * (1.0 + 1.5 * trend + noise)
    return round(max(-0.0075, min(0.0075, rate)), 8)
