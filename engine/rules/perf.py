"""Performance ratios: Sharpe, Sortino, expectancy over round trips, fee / PnL ratio.

One definition each, used by the KPI projection and the what-if comparison.

* **Sharpe / Sortino** of a NAV series sampled hourly (the last counted reading of
  each UTC hour): mean of the simple hourly returns over their sample standard
  deviation (Sortino: over the downside deviation, returns below 0), annualised
  by ``sqrt(24 * 365)``. None with fewer than ``MIN_RETURNS`` returns or when the
  deviation is zero up to float noise (a constant return is not risk).
* **Round trip**: a position on one symbol from flat (or from the first fill
  after a reconciled position) back to flat; a flip closes one trip and opens the
  next. Its net PnL is realised PnL minus *every* fee of the trip (entry, adds
  and exit; a flipping fill's fee is split by quantity) plus the funding settled
  while it was open. **Expectancy** is the mean net PnL of the closed round trips
  in the window, **win rate** the share of them with net PnL > 0.
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

from engine.rules.units import HOURS_PER_YEAR

MIN_RETURNS = 24
EPS_QTY = 1e-12


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
    """Fold of fills and funding into round trips per symbol; a window of the closed ones."""

    __slots__ = ("closed", "net_open", "trips")

    def __init__(self, window: int = 100):
        self.net_open: dict[str, float] = {}  # symbol -> net PnL so far of its open trip
        self.closed: deque[float] = deque(maxlen=window)  # net PnL of closed trips
        self.trips = 0  # closed round trips, all time

    def __getstate__(self) -> tuple[object, ...]:
        return (self.net_open, self.closed, self.trips)

    def __setstate__(self, s: tuple[object, ...]) -> None:
        self.net_open, self.closed, self.trips = s  # type: ignore[assignment]

    def on_fill(self, symbol: str, side_sign: int, qty: float, fee: float, realized: float, qty_after: float) -> None:
        before = qty_after - side_sign * qty
        net = self.net_open.get(symbol, 0.0)
        flat_after = abs(qty_after) <= EPS_QTY
        flipped = abs(before) > EPS_QTY and not flat_after and (before > 0) != (qty_after > 0)
        if flipped:
            closing = abs(before)
            close_share = closing / qty if qty > 0 else 1.0
            self._close(symbol, net + realized - fee * close_share)
            self.net_open[symbol] = -fee * (1.0 - close_share)
        elif flat_after:
            self._close(symbol, net + realized - fee)
        else:
            self.net_open[symbol] = net + realized - fee

    def on_funding(self, symbol: str, amount: float) -> None:
        if symbol in self.net_open:
            self.net_open[symbol] += amount

    def _close(self, symbol: str, net: float) -> None:
        self.net_open.pop(symbol, None)
        self.closed.append(net)
        self.trips += 1

    def expectancy(self) -> tuple[float | None, str, float | None]:
        """(mean net PnL per closed trip, state, win rate) over the window."""
        if not self.closed:
            return None, "unknown", None
        e = sum(self.closed) / len(self.closed)
        win = sum(1 for x in self.closed if x > 0) / len(self.closed)
        state = "positive" if e > 1e-9 else ("negative" if e < -1e-9 else "flat")
        return e, state, win
