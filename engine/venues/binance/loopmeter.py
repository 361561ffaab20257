"""How long the engine's loop goes without listening to the venue (a loop stall).

One iteration's busy span is the time ``next_updates`` spent not waiting on its
queue, plus - when it returned something - the time the engine then took to fold,
decide, record and act on it before asking again. An empty answer is followed by
the loop's idle sleep, which is not busy. A span above the bound is recorded as a
``VenueError`` (``source`` ``loop``, ``kind`` ``stall``); the longest span (and how much
of it the venue itself took, the rest being the engine's), the count and the spans
over the bound are the session's ``venue_loop`` figures.
"""

from __future__ import annotations

import time

from engine.ports import VenueUpdate
from eventlog.events import VenueError

DEFAULT_BOUND_MS = 1000


class LoopMeter:
    def __init__(self, bound_ms: int = DEFAULT_BOUND_MS):
        self.bound_s = bound_ms / 1000.0
        self.max_s = 0.0
        self.max_venue_s = 0.0  # of the longest span: the part inside ``next_updates`` (the rest: the engine's)
        self.iterations = 0
        self.over = 0
        self._entered = 0.0
        self._waited = 0.0
        self._inside: float | None = None  # busy time inside the last call
        self._left = 0.0
        self._answered = False

    def enter(self, ts_ns: int) -> list[VenueUpdate]:
        """At the start of ``next_updates``: closes the previous iteration's span."""
        now = time.monotonic()
        out: list[VenueUpdate] = []
        if self._inside is not None:
            span = self._inside + (now - self._left if self._answered else 0.0)
            self.iterations += 1
            if span > self.max_s:
                self.max_s, self.max_venue_s = span, self._inside
            if span > self.bound_s:
                self.over += 1
                out.append(VenueUpdate(VenueError, "venue", ts_ns, {
                    "source": "loop", "kind": "stall", "field": "next_updates",
                    "message": f"engine loop busy {span * 1000:.0f} ms without listening to the venue "
                               f"(bound {self.bound_s * 1000:.0f} ms)"}))
        self._entered, self._waited = now, 0.0
        return out

    def waited(self, seconds: float) -> None:
        self._waited += seconds

    def leave(self, answered: bool) -> None:
        now = time.monotonic()
        self._inside = max(0.0, now - self._entered - self._waited)
        self._left, self._answered = now, answered

    def stats(self) -> dict[str, float | int]:
        return {"busy_max_ms": round(self.max_s * 1000, 1), "busy_max_venue_ms": round(self.max_venue_s * 1000, 1),
                "iterations": self.iterations,
                "over_bound": self.over, "bound_ms": round(self.bound_s * 1000)}
