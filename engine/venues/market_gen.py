"""A seeded, reproducible synthetic market for the simulated venue.

Per symbol: log returns from a common market factor (beta) plus idiosyncratic
noise, scaled by a volatility regime (calm / normal / stormy, Markov switching)
and pushed by a trend regime (down / flat / up). Every 3,000-bar cycle holds
one scripted rally then crash (a -8% gap and a 12-bar slide of about -12%
on the market factor, then a stormy spell) between bars 700 and 1,000, and one exchange halt (24 flat,
zero-volume bars, then a gap) between bars 1,400 and 1,600; random extra
crashes are rare. Funding settles every ``funding_interval_h`` at a rate that follows the
trend regime plus noise keyed by (seed, time, symbol). Same seed -> same bars, bit for bit (``random.Random``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator

from engine.accounting import round_price
from engine.venues.funding_data import FundingSchedule, FundingSeries, generated_rate

Bar = tuple[str, float, float, float, float, float]
Step = tuple[int, list[Bar]]

# symbol -> (start price, per-bar vol, beta, base volume in coins)
PROFILES: dict[str, tuple[float, float, float, float]] = {
    "BTCUSDT": (60_000.0, 0.0016, 1.0, 120.0),
    "ETHUSDT": (3_000.0, 0.0021, 0.9, 2_500.0),
    "SOLUSDT": (150.0, 0.0030, 0.85, 20_000.0),
    "AVAXUSDT": (25.0, 0.0036, 0.8, 150_000.0),
    "WIFUSDT": (2.0, 0.0060, 0.6, 3_000_000.0),
}
DEFAULT_PROFILE = (25.0, 0.0040, 0.7, 100_000.0)
VOL_MULT = {"calm": 0.55, "normal": 1.0, "stormy": 2.1}
CYCLE = 3000
HALT_BARS = 24


class GeneratedMarket:
    """Iterator of bar steps ``(open_time_ms, [(symbol, o, h, l, c, v), ...])``."""

    def __init__(self, symbols: list[str], ticks: dict[str, float], *, seed: int, start_ms: int,
                 interval_ms: int = 300_000, default_funding_rate: float = 0.0001,
                 funding_interval_h: float = 8.0):
        self.symbols = list(symbols)
        self.ticks = ticks
        self.seed = seed
        self.start_ms = start_ms
        self.interval_ms = interval_ms
        self.default_funding_rate = default_funding_rate
        self.rng = random.Random(seed)
        self.price = {s: PROFILES.get(s, DEFAULT_PROFILE)[0] for s in symbols}
        self.vol_regime = "normal"
        self.trend = 0
        self.funding_ms = int(funding_interval_h * 3_600_000)
        self.funding_schedule = FundingSchedule(
            symbols, interval_h=funding_interval_h, default_rate=default_funding_rate,
            series={s: FundingSeries([], [], []) for s in symbols}, source="generated")
        self.forced_storm = 0
        self.crash_left = 0
        self.halt_left = 0
        self.gap_pending = False
        self.crash_gap = False
        self.bar = 0
        self._plan_cycle(0)

    def _plan_cycle(self, cycle_start: int) -> None:
        r = random.Random(self.seed * 1_000_003 + cycle_start)
        self.crash_at = cycle_start + 700 + r.randint(0, 300)
        self.halt_at = cycle_start + 1400 + r.randint(0, 200)

    def funding_rates(self) -> dict[str, float]:
        """The latest generated rate per symbol."""
        return {s: ser.rates[-1] if ser.rates else self.default_funding_rate
                for s, ser in self.funding_schedule.series.items()}

    def _settle(self, t: int) -> None:
        """A funding settlement at each boundary inside the bar ``(t, t + interval]``.

        The rate follows the trend regime (longs pay more in up-trends) plus noise keyed by
        (seed, settlement time, symbol): no extra random stream, so the bars are unchanged.
        """
        end = t + self.interval_ms
        if not self.funding_ms or end // self.funding_ms == t // self.funding_ms:
            return
        ts = end // self.funding_ms * self.funding_ms
        for s, ser in self.funding_schedule.series.items():
            ser.times.append(ts)
            ser.rates.append(generated_rate(self.seed, s, ts, self.trend, self.default_funding_rate))
            ser.marks.append(None)

    def _regimes(self) -> None:
        rng = self.rng
        if self.bar % CYCLE == 0 and self.bar:
            self._plan_cycle(self.bar)
        if rng.random() < 1 / 300:
            self.vol_regime = rng.choice(("calm", "normal", "normal", "stormy"))
        if rng.random() < 1 / 250:
            self.trend = rng.choice((-1, 0, 0, 1))
        if self.crash_at - 500 <= self.bar < self.crash_at:
            self.trend = 1  # the rally before the crash
        if self.bar == self.crash_at or rng.random() < 1 / 6000:
            self.crash_left = 12
            self.crash_gap = True
            self.forced_storm = 200
            self.trend = -1
        if self.bar == self.halt_at:
            self.halt_left = HALT_BARS

    def __iter__(self) -> Iterator[Step]:
        return self

    def __next__(self) -> Step:
        self._regimes()
        rng = self.rng
        t = self.start_ms + self.bar * self.interval_ms
        self.bar += 1
        bars: list[Bar] = []
        if self.halt_left > 0:
            self.halt_left -= 1
            if self.halt_left == 0:
                self.gap_pending = True
            for s in self.symbols:
                p = self.price[s]
                bars.append((s, p, p, p, p, 0.0))
            self._settle(t)
            return t, bars
        regime = "stormy" if self.forced_storm > 0 else self.vol_regime
        self.forced_storm = max(0, self.forced_storm - 1)
        vm = VOL_MULT[regime]
        zm = rng.gauss(0.0, 1.0)
        crash = 0.0
        if self.crash_left > 0:
            self.crash_left -= 1
            crash = -0.0105
        gap_m = rng.gauss(0.0, 0.02) if self.gap_pending else 0.0
        if self.crash_gap:
            gap_m -= 0.08  # the crash opens with a gap: stops fill far away
        self.gap_pending = self.crash_gap = False
        for s in self.symbols:
            _, sigma, beta, base_vol = PROFILES.get(s, DEFAULT_PROFILE)
            tick = self.ticks.get(s, 0.01)
            sd = sigma * vm
            zi = rng.gauss(0.0, 1.0)
            r = self.trend * sd * 0.12 + sd * (beta * zm + math.sqrt(1 - beta * beta) * zi) + beta * crash
            prev = self.price[s]
            o = prev * (1 + rng.gauss(0.0, sd * 0.15) + beta * gap_m)
            c = o * math.exp(r)
            h = max(o, c) * (1 + abs(rng.gauss(0.0, sd * 0.6)))
            lo = min(o, c) * (1 - abs(rng.gauss(0.0, sd * 0.6)))
            # A generated market never prices at zero: floor at ten ticks (long runs drift).
            o, c = max(o, 10 * tick), max(c, 10 * tick)
            o, c = round_price(o, tick, "BUY"), round_price(c, tick, "BUY")
            h = max(round_price(h, tick, "SELL"), o, c)
            lo = min(round_price(lo, tick, "BUY"), o, c)
            v = round(base_vol * vm * (1 + 3 * abs(r) / sigma) * math.exp(rng.gauss(0.0, 0.3)), 3)
            self.price[s] = c
            bars.append((s, o, h, lo, c, v))
        self._settle(t)
        return t, bars
