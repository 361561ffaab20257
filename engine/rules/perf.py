"""Performance ratios: Sharpe, Sortino, expectancy over round trips, fee / PnL ratio.

One definition each, used by the KPI projection and the what-if comparison.

* **Sharpe / Sortino** of a NAV series sampled hourly (the last counted reading of
  each UTC hour): mean of the simple hourly returns over their sample standard
  deviation (Sortino: over the downside deviation, returns below 0), annualised
  by ``sqrt(24 * 365)``. None with fewer than ``MIN_RETURNS`` returns or when the
  deviation is zero up to float noise (a constant return is not risk).
* **Round trip**: ``engine.rules.intel.roundtrips`` (the one fold, shared with the
  engine's intel and ``expectancy_v6.json``): a position on one symbol from flat back
  to flat; a flip closes one trip and opens the next. Its net PnL is realised PnL minus
  *every* fee of the trip (entry, adds and exit; a flipping fill's fee is split by
  quantity) plus the funding settled while it was open. **Expectancy** is the mean net
  PnL of the closed round trips in the window, **win rate** the share of them with net
  PnL > 0.
* **Fee / PnL ratio** over a window of fills: fees / gross realised PnL when the
  gross is positive (the share of the edge paid in fees); when the gross is zero
  or negative the ratio is undefined (None) and the state says ``losing`` (fees
  add to a loss) - never fees / ``abs(gross)``, which made a losing window look benign.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from itertools import pairwise

from engine.rules.intel.roundtrips import OpenTrip, RoundTrip
from engine.rules.units import HOURS_PER_YEAR

MIN_RETURNS = 24


def hourly_returns(navs: Sequence[float]) -> list[float]:
    return [b / a - 1.0 for a, b in pairwise(navs) if a > 0]


def _noise(var: float, mean: float) -> bool:
    return var <= 1e-20 * max(1.0, mean * mean)


def sharpe(navs: Sequence[float]) -> float | None:
    """Annualised Sharpe of hourly NAV returns (see the module docstring)."""
    rets = hourly_returns(navs)
    if len(rets) < MIN_RETURNS:
        return None
    mean = sum(rets) / len(rets)
    var = sum((r - mean) ** 2 for r in rets) / (len(rets) - 1)
    if _noise(var, mean):
        return None
    return mean / math.sqrt(var) * math.sqrt(HOURS_PER_YEAR)


def sortino(navs: Sequence[float]) -> float | None:
    """Annualised Sortino of hourly NAV returns (downside deviation below 0)."""
    rets = hourly_returns(navs)
    if len(rets) < MIN_RETURNS:
        return None
    mean = sum(rets) / len(rets)
    down = sum(min(0.0, r) ** 2 for r in rets) / len(rets)
    if _noise(down, mean):
        return None
    return mean / math.sqrt(down) * math.sqrt(HOURS_PER_YEAR)


def sharpe_state(value: float | None) -> str:
    if value is None:
        return "unknown"
    if value > 1.0:
        return "strong"
    if value > 0.25:
        return "positive"
    if value < -0.25:
        return "negative"
    return "flat"


def fee_ratio(fees: float, gross: float, fills: int) -> tuple[float | None, str]:
    """(fees / gross realised PnL, state): state unknown | ok | fees_exceed_gross | losing."""
    if fills == 0:
        return None, "unknown"
    if gross > 0:
        r = fees / gross
        return r, ("ok" if r < 1.0 else "fees_exceed_gross")
    if fees == 0 and gross == 0:
        return None, "unknown"
    return None, "losing"


class RoundTrips:
    """A window of the closed round trips of every symbol (``OpenTrip`` per symbol)."""

    __slots__ = ("closed", "open", "trips")

    def __init__(self, window: int = 100):
        self.open: dict[str, OpenTrip] = {}
        self.closed: deque[float] = deque(maxlen=window)  # net PnL of closed trips
        self.trips = 0  # closed round trips, all time

    def __getstate__(self) -> tuple[object, ...]:
        return (self.open, self.closed, self.trips)

    def __setstate__(self, s: tuple[object, ...]) -> None:
        self.open, self.closed, self.trips = s  # type: ignore[assignment]

    def on_fill(self, symbol: str, side: str, qty: float, price: float, fee: float, realized: float,
                ts_ns: int) -> RoundTrip | None:
        trip = self.open.get(symbol)
        if trip is None:
            trip = self.open[symbol] = OpenTrip(symbol)
        closed = trip.on_fill(side, qty, price, fee, realized, ts_ns)
        if closed is not None:
            self.closed.append(closed.net_usd)
            self.trips += 1
        return closed

    def on_funding(self, symbol: str, amount: float) -> None:
        trip = self.open.get(symbol)
        if trip is not None:
            trip.on_funding(amount)

    def expectancy(self) -> tuple[float | None, str, float | None]:
        """(mean net PnL per closed trip, state, win rate) over the window."""
        if not self.closed:
            return None, "unknown", None
        e = sum(self.closed) / len(self.closed)
        win = sum(1 for x in self.closed if x > 0) / len(self.closed)
        state = "positive" if e > 1e-9 else ("negative" if e < -1e-9 else "flat")
        return e, state, win
