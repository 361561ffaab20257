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
from engine.rules.units import HOUR_NS as _HOUR_NS
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


# --------------------------------------------------------------------------- KPI windows

WINDOW_LABELS = {"inception": "since inception", "last_30d": "last 30 days", "session": "this session"}
THIRTY_DAYS_NS = 30 * 86_400 * 1_000_000_000


class PerfWindow:
    """The performance KPIs of one window of time, each defined by the rules above.

    ``span_ns`` None: everything since the window opened (since inception, this session),
    kept as running sums; a span (last 30 days): the fills, funding and round trips whose
    event time is within ``span_ns`` of the newest event, and the hourly NAV points in it.
    Return is the last counted NAV over the NAV at the window's start (the last hourly
    point before it, else its first); Sharpe is ``sharpe`` over the window's hourly points.
    """

    __slots__ = ("base_nav", "fills", "funding", "hourly", "opened_ns", "span_ns", "sums", "trips")

    def __init__(self, span_ns: int | None = None) -> None:
        self.span_ns = span_ns
        self.opened_ns: int | None = None
        self.base_nav: float | None = None
        self.hourly: deque[tuple[int, float]] = deque()  # (UTC hour, last counted NAV of it)
        self.fills: deque[tuple[int, float, float]] = deque()  # (ts, fee, realized): spans only
        self.funding: deque[tuple[int, float]] = deque()
        self.trips: deque[tuple[int, float]] = deque()  # (closed ts, net)
        self.sums = [0, 0, 0.0, 0.0, 0.0, 0.0, 0]  # trips, wins, net, fees, realized, funding, fills

    def __getstate__(self) -> tuple[object, ...]:
        return tuple(getattr(self, k) for k in self.__slots__)

    def __setstate__(self, s: tuple[object, ...]) -> None:
        for k, v in zip(self.__slots__, s, strict=True):
            setattr(self, k, v)

    def _seen(self, ts_ns: int) -> None:
        if self.opened_ns is None:
            self.opened_ns = ts_ns
        if self.span_ns is None:
            return
        cut = ts_ns - self.span_ns
        for q in (self.fills, self.funding, self.trips):
            while q and q[0][0] < cut:
                q.popleft()
        while self.hourly and self.hourly[0][0] * _HOUR_NS < cut:
            self.base_nav = self.hourly.popleft()[1]

    def on_nav(self, nav: float, ts_ns: int) -> None:
        """A counted NAV reading (the ``sources_ok`` rule is the caller's: ``NavTrack.update``)."""
        self._seen(ts_ns)
        hour = ts_ns // _HOUR_NS
        if self.hourly and self.hourly[-1][0] == hour:
            self.hourly[-1] = (hour, nav)
        else:
            self.hourly.append((hour, nav))
        if self.base_nav is None:
            self.base_nav = nav

    def on_fill(self, ts_ns: int, fee: float, realized: float) -> None:
        self._seen(ts_ns)
        if self.span_ns is None:
            self.sums[3] += fee
            self.sums[4] += realized
            self.sums[6] += 1
        else:
            self.fills.append((ts_ns, fee, realized))

    def on_funding(self, ts_ns: int, amount: float) -> None:
        self._seen(ts_ns)
        if self.span_ns is None:
            self.sums[5] += amount
        else:
            self.funding.append((ts_ns, amount))

    def on_trip(self, ts_ns: int, net: float) -> None:
        self._seen(ts_ns)
        if self.span_ns is None:
            self.sums[0] += 1
            self.sums[1] += net > 0
            self.sums[2] += net
        else:
            self.trips.append((ts_ns, net))

    def render(self, key: str, now_ns: int) -> dict[str, object]:
        """The window's KPIs as of ``now_ns`` (the newest event time), labelled."""
        if self.span_ns is None:
            trips, wins, net, fees, realized, funding, fills = self.sums
        else:
            cut = now_ns - self.span_ns
            tr = [n for t, n in self.trips if t >= cut]
            fl = [(f, r) for t, f, r in self.fills if t >= cut]
            trips, wins, net = len(tr), sum(1 for n in tr if n > 0), sum(tr, 0.0)
            fees, realized, fills = sum((f for f, _ in fl), 0.0), sum((r for _, r in fl), 0.0), len(fl)
            funding = sum((a for t, a in self.funding if t >= cut), 0.0)
        navs = [n for _, n in self.hourly]
        last = navs[-1] if navs else None
        ratio, state = fee_ratio(float(fees), float(realized), int(fills))
        s = sharpe(navs)
        start = self.opened_ns
        if self.span_ns is not None and start is not None:
            start = max(start, now_ns - self.span_ns)
        expectancy = net / trips if trips else None
        return {
            "label": WINDOW_LABELS.get(key, key), "from_ts": None if start is None else start / 1e9,
            "to_ts": now_ns / 1e9 if start is not None else None,
            "trades": int(trips), "win_rate": wins / trips if trips else None,
            "expectancy_usd": expectancy,
            "expectancy_state": "unknown" if expectancy is None else
            ("positive" if expectancy > 1e-9 else ("negative" if expectancy < -1e-9 else "flat")),
            "fills": int(fills), "realized_pnl_usd": float(realized), "fees_usd": float(fees),
            "funding_usd": float(funding), "fee_pnl_ratio": ratio, "fee_pnl_state": state,
            "return_frac": (last / self.base_nav - 1.0) if last is not None and self.base_nav else None,
            "sharpe": s, "sharpe_state": sharpe_state(s),
        }
