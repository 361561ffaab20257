"""NAV tracking: peak (high-water mark), UTC day start, drawdown, daily loss, max drawdown.

One fold used by the engine's state, the NAV projection, the alert policy and the
what-if metrics, so the dashboard's drawdown is the number the risk gate saw.

The one ``sources_ok`` rule: a reading whose sources were not all ok (a venue or
price source failed) is *shown* (it is the last reading, with its flag) but it
never moves the peak, the day's opening NAV or the max drawdown; a non-finite
NAV is ignored entirely. Drawdown and daily loss are those of the last reading
(what the risk gate observes; a not-ok reading is vetoed by the ``nav_sources``
gate anyway) against the peak and day start of the counted readings. Example:
100 (ok), 120 (not ok), 110 (ok) gives peak 110 and drawdown 0.
"""

from __future__ import annotations

import math

from engine.rules.indicators import drawdown_frac
from engine.rules.units import DAY_NS


def counts(nav: float, sources_ok: bool) -> bool:
    """Whether a NAV reading moves peak, day start and drawdown (the ``sources_ok`` rule)."""
    return sources_ok and math.isfinite(nav) and nav > 0


def daily_loss_frac(nav: float | None, day_start: float | None) -> float | None:
    """Loss since the UTC day's opening NAV as a fraction of it (0 when up); None without both."""
    if nav is None or not day_start:
        return None
    return max(0.0, (day_start - nav) / day_start)


class NavTrack:
    """Fold of NAV readings: ``update(nav, ts_ns, sources_ok)``; True if the reading counted."""

    __slots__ = ("day", "day_start", "last", "max_dd", "peak", "start")

    def __init__(self) -> None:
        self.start: float | None = None  # first counted reading
        self.peak: float | None = None
        self.day: int | None = None  # UTC day number of day_start
        self.day_start: float | None = None
        self.last: float | None = None  # last finite reading, counted or not
        self.max_dd = 0.0

    def __getstate__(self) -> tuple[object, ...]:
        return tuple(getattr(self, k) for k in self.__slots__)

    def __setstate__(self, s: tuple[object, ...]) -> None:
        for k, v in zip(self.__slots__, s, strict=True):
            setattr(self, k, v)

    def update(self, nav: float, ts_ns: int, sources_ok: bool) -> bool:
        if not math.isfinite(nav):
            return False
        self.last = nav
        if not counts(nav, sources_ok):
            return False
        if self.start is None:
            self.start = nav
        if self.peak is None or nav > self.peak:
            self.peak = nav
        day = ts_ns // DAY_NS
        if day != self.day:
            self.day = day
            self.day_start = nav
        dd = drawdown_frac(nav, self.peak)
        if dd > self.max_dd:
            self.max_dd = dd
        return True

    @property
    def drawdown(self) -> float | None:
        """Drawdown of the last reading from the peak; None before a counted reading."""
        if self.last is None or self.peak is None:
            return None
        return drawdown_frac(self.last, self.peak)

    @property
    def daily_loss(self) -> float | None:
        """Daily loss of the last reading; None before a counted reading."""
        return daily_loss_frac(self.last, self.day_start)
