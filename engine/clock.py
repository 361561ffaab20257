"""Injected clocks. Decision code never reads the wall clock; it is handed ``now_ns``."""

from __future__ import annotations

import time


class LiveClock:
    """Wall clock, for live and testnet sessions."""

    def now_ns(self) -> int:
        return time.time_ns()


class SimClock:
    """Simulated clock: moved by the simulated venue as it replays bars."""

    def __init__(self, start_ns: int = 0):
        self._now = start_ns

    def now_ns(self) -> int:
        return self._now

    def advance_to(self, ts_ns: int) -> None:
        if ts_ns < self._now:
            raise ValueError(f"clock cannot go backwards ({ts_ns} < {self._now})")
        self._now = ts_ns


class ReplayClock(SimClock):
    """Replay clock: only moves forward, from the log's timestamps."""

    def observe(self, ts_ns: int) -> None:
        if ts_ns > self._now:
            self._now = ts_ns
