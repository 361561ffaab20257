"""What ``hedge run`` says while it runs, so it is never silent.

* At start (stderr): its pid and how to reload the config (``kill -HUP PID``), and, for a
  run with no end (a generated market or a live venue without ``--bars``/``--until``),
  that it is endless and how to stop it.
* While running, when no progress bar is drawn (stderr is not a terminal, ``--speed N``,
  ``--until``, an endless run): one status line every ``every_s`` seconds of wall time —
  bar steps, simulated (market) time, events/s, NAV.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO


def start_lines(*, endless: bool, venue_mode: str) -> list[str]:
    """The lines printed once at start."""
    pid = os.getpid()
    lines = [f"hedge run: pid {pid}; 'kill -HUP {pid}' reloads the config directory, Ctrl-C stops cleanly"]
    if endless:
        what = "a live venue" if venue_mode != "sim" else "a generated market"
        lines.append(f"hedge run: endless ({what} has no end): stop with Ctrl-C, or give --bars N / --until TIME")
    return lines


def is_endless(*, bars: int | None, until_ns: int | None, once: bool, expected_steps: int | None) -> bool:
    return bars is None and until_ns is None and not once and expected_steps is None


def market_time(ns: int) -> str:
    if ns <= 0:
        return "-"
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M")


class StatusLine:
    """``poll()`` (called between loop steps) prints one line every ``every_s`` seconds."""

    def __init__(self, engine: Any, *, every_s: float, stream: TextIO | None = None,
                 wall: Callable[[], float] = time.monotonic):
        self.engine = engine
        self.every_s = every_s
        self.stream = stream
        self.wall = wall
        self.t0 = wall()
        self.next_at = self.t0 + every_s
        self.lines = 0

    def poll(self) -> None:
        now = self.wall()
        if now < self.next_at:
            return
        self.next_at = now + self.every_s
        self.lines += 1
        try:
            print(self.text(now), file=self.stream or sys.stderr, flush=True)
        except (OSError, ValueError):
            pass

    def text(self, now: float) -> str:
        st = self.engine.state
        events = st.summary.events
        rate = events / max(now - self.t0, 1e-9)
        nav = f"${st.nav_usd:,.2f}" if st.nav_usd is not None else "not yet valued"
        return (f"hedge run: status: {self.engine.bar_steps:,} bar steps, market time {market_time(st.now_ns)}, "
                f"{events:,} events ({rate:,.0f}/s), NAV {nav}")
