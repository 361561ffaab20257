"""The simulated venue inside a bar: a timed price path and an agenda of venue events.

**The path.** A bar's price walks open -> low -> high -> close when the bar closes up,
open -> high -> low -> close when it closes down (``sim_stops.path_points``). Its four
points are at the bar's open, 1/3 and 2/3 of the bar and 1 ns before its close; between two
points the price is linear in time (``BarPath.price_at``). The book at any moment is the
spread model around that price (``SimMatching.quote``).

**Latency.** An order the engine sends at time *t* reaches the book at
*t* + ``runtime.sim.latency_ms`` and is matched there against the book *at that moment*:
a post-only order that would cross is rejected -5022 then, a market order takes the touch
then, a limit order that rests fills as maker at the first moment after it the path trades
*through* its price (``BarPath.first_through``). Just before an order's arrival the venue
publishes the book at that moment (a ``MarketTick``), so the engine's answer to what
happens there - a reprice after -5022, a protective order after a fill - is priced off the
touch of that moment, and reaches the book one latency later, inside the same bar when
there is time left.

**The engine's timer.** The engine notices a post-only order's maker timeout on a book
update (``router.on_tick``); the venue publishes the book at the moment an order it holds
reaches ``maker_deadline_ns`` (the router's maker wait in the session's config), so the
timeout, the cancel and the taker remainder happen then, inside the bar.

**The agenda.** ``BarAgenda`` orders one bar step's venue events by time (ties in the
order they were scheduled): arrivals, through-fills of resting orders, maker-wait ends and
the four path points (protective-order triggers, then the margin check). The venue yields the updates
one by one, so an order the engine sends while it records one of them is scheduled into
the same agenda (``schedule_arrival``).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any

from engine.ports import VenueUpdate
from engine.venues.sim_stops import STOP_TYPES, crossed, path_points, trigger_point
from eventlog.events import MarketTick, OrderRejected

if TYPE_CHECKING:
    from engine.venues.sim import SimVenue
    from engine.venues.sim_matching import _Working


ARRIVE, THROUGH, POINT, WAIT = 0, 1, 2, 3


class BarPath:
    """One bar's documented intrabar path with timestamps."""

    __slots__ = ("prices", "times")

    def __init__(self, open_ns: int, close_ns: int, o: float, h: float, lo: float, c: float) -> None:
        step = (close_ns - open_ns) // 3
        self.times = (open_ns, open_ns + step, open_ns + 2 * step, close_ns - 1)
        self.prices = path_points(o, h, lo, c)

    def price_at(self, t: int) -> float:
        """The path's price at ``t`` (clamped to the bar): linear between two points."""
        ts, ps = self.times, self.prices
        if t <= ts[0]:
            return ps[0]
        for k in range(3):
            if t <= ts[k + 1]:
                a, b = ts[k], ts[k + 1]
                return ps[k] + (ps[k + 1] - ps[k]) * ((t - a) / (b - a))
        return ps[3]

    def first_through(self, px: float, below: bool, t_from: int) -> int | None:
        """The first time at or after ``t_from`` at which the price is strictly beyond ``px``
        (``below``: under it, a buy's fill; else over it, a sell's) - None if never in this bar."""
        def beyond(p: float) -> bool:
            return p < px if below else p > px

        ts, ps = self.times, self.prices
        if t_from > ts[3]:
            return None
        pa = self.price_at(t_from)
        if beyond(pa):
            return t_from
        for k in range(3):
            tb = ts[k + 1]
            if tb <= t_from:
                continue
            a = max(t_from, ts[k])
            pa = self.price_at(a)
            pb = ps[k + 1]
            if beyond(pb):  # the path meets px at a + off and is through it just after
                t = min(tb, a + int((px - pa) / (pb - pa) * (tb - a)) + 1)
                while t < tb and not beyond(self.price_at(t)):  # float rounding at the crossing
                    t += 1
                return t
        return None


class BarAgenda:
    """The time-ordered venue events of one bar step (a heap of (time, order, kind, args))."""

    def __init__(self, open_ns: int, close_ns: int, paths: dict[str, BarPath]) -> None:
        self.open_ns = open_ns
        self.close_ns = close_ns
        self.paths = paths
        self._heap: list[tuple[int, int, int, Any]] = []
        self._n = 0

    def push(self, t: int, kind: int, arg: Any) -> None:
        heapq.heappush(self._heap, (t, self._n, kind, arg))
        self._n += 1

    def push_point(self, k: int, t: int) -> None:
        self.push(t, POINT, k)

    def schedule_arrival(self, w: Any, latency_ns: int) -> bool:
        """Schedule an order that reaches the book inside this bar; False if it arrives later."""
        t = max(self.open_ns, w.sent_ns + latency_ns)
        if t >= self.close_ns or w.req.symbol not in self.paths:
            return False
        self.push(t, ARRIVE, w)
        return True

    def schedule_wait(self, w: Any, deadline_ns: int) -> None:
        """Publish the book when a post-only order's maker wait ends inside this bar (the
        engine's timer: it notices the timeout on the book update at that moment)."""
        if self.open_ns <= deadline_ns < self.close_ns and w.req.symbol in self.paths:
            self.push(deadline_ns, WAIT, w)

    def schedule_through(self, symbol: str, order_id: str, px: float, side: str, t_from: int) -> None:
        """Schedule a resting order's fill at the first moment the path trades through it."""
        path = self.paths.get(symbol)
        if path is None:
            return
        t = path.first_through(px, side == "BUY", t_from)
        if t is not None:
            self.push(t, THROUGH, (symbol, order_id))

    def run(self, handle: Callable[[int, int, Any], list[Any]]) -> Iterator[Any]:
        """Pop events in time order; ``handle(t, kind, arg)`` returns the updates they cause."""
        heap = self._heap
        while heap:
            t, _, kind, arg = heapq.heappop(heap)
            yield from handle(t, kind, arg)


class BarStep:
    """One bar step being lived by the venue: its agenda, each symbol's participation budget
    (``max_participation_frac`` of the bar's volume, spent in time order), the stops that
    reached the book inside it, and the book moments already published."""

    def __init__(self, open_ms: int, bars: dict[str, tuple[float, float]], participation: float) -> None:
        self.open_ms = open_ms
        self.budget = {s: v * participation for s, (_o, v) in bars.items()}
        self.halted = {s: v <= 0 for s, (_o, v) in bars.items()}
        self.agenda: BarAgenda
        self.stop_since: dict[str, int] = {}
        self.ticked: dict[str, int] = {}

    def handler(self, venue: SimVenue) -> Callable[[int, int, Any], list[VenueUpdate]]:
        def handle(t: int, kind: int, arg: Any) -> list[VenueUpdate]:
            if kind == ARRIVE:
                return self._arrive(venue, t, arg)
            if kind == THROUGH:
                return self._through(venue, t, *arg)
            if kind == WAIT:
                return self._waited(venue, t, arg)
            return self._point(venue, t, arg)
        return handle

    def _arrive(self, venue: SimVenue, t: int, w: _Working) -> list[VenueUpdate]:
        """``w`` reaches the book at ``t``: the book of that moment is published, then matched."""
        m = venue.matching
        req = w.req
        sym = req.symbol
        queue = m.arriving[sym]
        for i, x in enumerate(queue):
            if x is w:
                del queue[i]
                break
        else:
            return []  # canceled while in flight
        price = self.agenda.paths[sym].price_at(t)
        out = self._publish(venue, sym, t, price)
        bid, ask = m.book[sym]
        mark = m.mark[sym]
        if req.order_type in STOP_TYPES:
            if crossed(req, mark if req.working_type == "MARK_PRICE" else price):
                out.append(VenueUpdate(OrderRejected, "orders", t, {
                    "order_id": req.order_id, "symbol": sym, "code": -2021,
                    "reason": "Order would immediately trigger."}))
                return out
            self.stop_since[req.order_id] = t
        got, self.budget[sym] = m.arrive(w, t, bid, ask, price, self.budget[sym], self.halted[sym])
        out.extend(got)
        if req.order_type not in STOP_TYPES and req.order_id in m.resting[sym]:
            self.agenda.schedule_through(sym, req.order_id, req.price or 0.0, req.side, t + 1)
        return out

    def _publish(self, venue: SimVenue, sym: str, t: int, price: float) -> list[VenueUpdate]:
        """The book (and mark) of ``sym`` at ``t``, published once per moment as a ``MarketTick``
        (a book ticker: no funding rate; the close's tick carries it)."""
        m = venue.matching
        bid, ask = m.book[sym] = m.quote(sym, price)
        m.last[sym] = price
        mark = m.mark[sym] = venue.marks.mark(sym, self.open_ms, price)
        if self.ticked.get(sym) == t:
            return []
        self.ticked[sym] = t
        return [MarketTickUpdate(sym, t, bid, ask, mark, None)]

    def _waited(self, venue: SimVenue, t: int, w: _Working) -> list[VenueUpdate]:
        """A post-only order still working when the router's maker wait ends: the book then."""
        m = venue.matching
        sym = w.req.symbol
        if m.resting[sym].get(w.req.order_id) is not w and not any(x is w for x in m.arriving[sym]):
            return []
        return self._publish(venue, sym, t, self.agenda.paths[sym].price_at(t))

    def _through(self, venue: SimVenue, t: int, sym: str, oid: str) -> list[VenueUpdate]:
        m = venue.matching
        w = m.resting[sym].get(oid)
        if w is None or self.halted[sym]:
            return []
        got, self.budget[sym], done = m.fill_resting(w, self.budget[sym], t)
        if done:
            del m.resting[sym][oid]
        return got

    def _point(self, venue: SimVenue, t: int, k: int) -> list[VenueUpdate]:
        """Path point ``k``: the stops it crosses, then the margin check."""
        m = venue.matching
        out: list[VenueUpdate] = []
        for sym, path in self.agenda.paths.items():
            if m.stops[sym] and not self.halted[sym]:
                out.extend(trigger_point(m, sym, k, path.prices[k], t, path.prices[0],
                                         partial(venue.marks.mark, sym, self.open_ms), self.stop_since))
        out.extend(venue._liquidations(self.open_ms, k, t))
        return out


def MarketTickUpdate(sym: str, ts: int, bid: float, ask: float, mark: float, rate: float | None) -> VenueUpdate:
    """The top of book (and mark, funding rate in force) of one symbol at ``ts``."""
    return VenueUpdate(MarketTick, f"market.{sym}", ts, {
        "symbol": sym, "bid": bid, "ask": ask, "mark": mark, "funding_rate": rate})
