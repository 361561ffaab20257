"""The simulated venue: bars (generated or CSV) + ``SimMatching`` behind the Venue port.

Each bar step (all symbols at one open time) is lived in time (``sim_intrabar``): orders
reach the book ``runtime.sim.latency_ms`` after they were sent, at the price of the bar's
documented intrabar path at that moment, with the book at that moment published first
(a ``MarketTick``); resting limits fill when the path trades through them; protective
orders trigger and margin is checked at the path's points. ``next_step()`` yields these
updates one at a time in time order - ``Engine.run`` polls it, so an order the engine
sends in answer (a reprice after -5022, a taker remainder after a maker timeout)
reaches the book inside the same bar. ``next_updates()`` returns the same step as a
list (what is sent while it is recorded reaches the book in a later bar).

Then, at the close: the funding settlements whose time falls in the bar (``funding_data``:
the market directory's real settlement times, rates and marks; a generated series; or
the config's default every ``funding_interval_h``), a ``PositionSnapshot`` per symbol that
traded or settled funding (and every ``position_every_bars`` for open positions, as a mark
refresh), a ``MarketTick`` at the close per symbol, a ``NavSnapshot``, then a
``KlineClosed`` per symbol. Account readings come before the klines so the screener and
risk see fresh NAV.

Positions are valued at the mark price (``mark_data``: the market directory's 1h mark
klines with the hour's basis applied to the last price; else the last price).

Exchange halts (a bar with zero volume) black out the account feed: no NAV
reading during the halt and for ``NAV_RECONNECT_BARS`` after it, then
``NAV_DEGRADED_BARS`` readings with ``sources_ok = false`` - so the NAV gates
fire the way they would after a real outage.

The clock is simulated: it follows the venue's events inside a bar and ends each step at
the bar's close (``--speed max``), or a step is released at its close paced against the
wall clock at ``speed`` x real time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

from config.schema import HedgeConfig
from engine.clock import SimClock
from engine.exchange_filters import for_simulator, to_event_fields
from engine.ports import OrderRequest, SymbolFilters, VenueUpdate
from engine.rules.autotune import maker_deadline_ns
from engine.venues.funding_data import FundingSchedule
from engine.venues.funding_data import from_market_dir as funding_from_dir
from engine.venues.margin import load_brackets
from engine.venues.mark_data import MarkModel
from engine.venues.sim_intrabar import BarAgenda, BarPath, BarStep, MarketTickUpdate
from engine.venues.sim_matching import SimMatching, _Working
from eventlog.events import (
    ExchangeFiltersLoaded,
    FundingDataGap,
    KlineClosed,
    OrderFilled,
    PositionLiquidated,
)
from eventlog.payloads import FilterCorrection

MS = 1_000_000
NAV_RECONNECT_BARS = 3
NAV_DEGRADED_BARS = 6
INTERVAL_MS = {"1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
               "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000}


class SimVenue:
    """Deterministic paper venue for USD-M perpetuals."""

    name = "sim"

    def __init__(self, cfg: HedgeConfig, symbols: list[str], market: Any, *, speed: float | None = None,
                 mode: str = "sim", data_source: str = "generated",
                 filters: tuple[dict[str, SymbolFilters], str, list[FilterCorrection]] | None = None):
        """``filters``: (filters, source, corrections) to use as they are - a what-if re-simulating
        a recorded session passes the ones it recorded; by default ``for_simulator`` picks them."""
        self.cfg = cfg
        self.symbols = list(symbols)
        self.mode = mode
        self.data_source = data_source
        self.market = market
        self._it: Iterator[tuple[int, list[tuple[str, float, float, float, float, float]]]] = iter(market)
        self.interval = cfg.universe.interval
        self.interval_ns = INTERVAL_MS[self.interval] * MS
        sim = cfg.runtime.sim
        self._clock = SimClock(int(market.start_ms) * MS)
        self.matching = SimMatching(cfg, self.symbols, initial_balance=sim.initial_balance_usd,
                                    leverage=sim.leverage, participation=sim.max_participation_frac)
        self.speed = speed
        market_dir = getattr(market, "data_dir", None)
        if filters is not None:
            self.exchange_filters, self.filters_source = dict(filters[0]), filters[1]
            self.filter_corrections = list(filters[2])
        else:
            self.exchange_filters, self.filters_source, self.filter_corrections = for_simulator(
                cfg.universe.symbols, self.symbols, market_dir)
        self.matching.filters = self.exchange_filters
        self._wall0: float | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._held: tuple[int, list[tuple[str, float, float, float, float, float]]] | None = None
        self._sim0 = self._clock.now_ns()
        # funding, mark and brackets of the market directory (a what-if's recorded market names the
        # directory its session ran on: ``venue_data_dir``; its filters come from the log instead)
        market_dir = getattr(market, "venue_data_dir", market_dir)
        self.funding: FundingSchedule = getattr(market, "funding_schedule", None) or (
            funding_from_dir(market_dir, self.symbols, interval_h=sim.funding_interval_h,
                             default_rate=sim.default_funding_rate) if market_dir is not None else
            FundingSchedule(self.symbols, interval_h=sim.funding_interval_h, default_rate=sim.default_funding_rate,
                            rates_fn=getattr(market, "funding_rates", None),
                            default_source=getattr(market, "funding_source", "default")))
        self._funded_ms = int(market.start_ms)  # settlements up to here are done (a function of the clock)
        self.marks = MarkModel.from_market_dir(market_dir, self.symbols)
        brackets, self.bracket_source = load_brackets(market_dir / "exchange" if market_dir is not None else None,
                                                      self.symbols)
        self.matching.margin.brackets = brackets
        self.matching.margin.bracket_source = self.bracket_source
        self._nav_every = max(1, sim.nav_every_bars)
        self._pos_every = max(1, sim.position_every_bars)
        self._bar = 0
        self._last_open_ms: int | None = None
        self.feed = FeedState()
        self.latency_ns = round(sim.latency_ms * MS)  # an order reaches the book this long after it is sent
        self._cur: BarStep | None = None  # the bar step being lived (its agenda takes orders sent meanwhile)
        self.resumed = False  # books restored from the account's log (no opening reading at connect)

    # -- port ----------------------------------------------------------------------

    def clock(self) -> SimClock:
        return self._clock

    def filters(self) -> dict[str, SymbolFilters]:
        return dict(self.exchange_filters)

    def connect(self, symbols: list[str]) -> list[VenueUpdate]:
        """The exchange filters in force, then the opening account reading (a fresh paper account).

        A resumed account has no opening reading: its books are what the log says, and an
        extra reading would move the high-water mark or the day's start where an
        uninterrupted run had none (resume equivalence, docs/accounts.md).
        """
        ts = self._clock.now_ns()
        out = [VenueUpdate(ExchangeFiltersLoaded, "venue", ts, to_event_fields(
                   self.exchange_filters, self.filters_source, self.filter_corrections))]
        if market_dir_of(self.market) is not None and not self.resumed:
            # a market directory: say once (per account) what its funding data lacks
            end_ms = int(getattr(self.market, "end_ms", self.market.start_ms))
            out.extend(VenueUpdate(FundingDataGap, "venue", ts, g)
                       for g in self.funding.gaps(int(self.market.start_ms), end_ms))
        if not self.resumed:
            out.append(self.matching.nav_update(ts))
        return out

    def submit(self, req: OrderRequest) -> list[VenueUpdate]:
        """Validate and send an order: it reaches the book ``latency_ms`` later (``sim_intrabar``)."""
        out = self.matching.submit(req, self._clock.now_ns())
        cur = self._cur
        if not out and cur is not None:
            w = self.matching.arriving[req.symbol][-1]
            cur.agenda.schedule_arrival(w, self.latency_ns)
            self._schedule_wait(cur.agenda, w)
        return out

    def _schedule_wait(self, agenda: BarAgenda, w: _Working) -> None:
        if w.req.time_in_force == "GTX":
            agenda.schedule_wait(w, maker_deadline_ns(self.cfg.runtime.router, w.req.symbol, w.sent_ns))

    def cancel(self, symbol: str, order_id: str) -> list[VenueUpdate]:
        return self.matching.cancel(symbol, order_id, self._clock.now_ns())

    def close(self) -> None:
        return None

    def request_stop(self) -> None:
        """Cut a paced wait short (SIGTERM / Ctrl-C); the loop then ends the session."""
        self._stop.set()

    def wake(self) -> None:
        """Interrupt a paced wait without stopping (e.g. a config reload); the bar comes later."""
        self._wake.set()

    def _pace(self, close_ns: int) -> bool:
        """Wait until the bar is due at ``speed``; False if woken early (the bar is kept)."""
        if not self.speed:
            return True
        if self._wall0 is None:
            self._wall0 = time.monotonic()
        due = self._wall0 + (close_ns - self._sim0) / 1e9 / self.speed
        while not self._stop.is_set():
            delay = due - time.monotonic()
            if delay <= 0:
                return True
            if self._wake.wait(min(delay, 0.5)):
                self._wake.clear()
                return False
        return True

    def next_updates(self) -> list[VenueUpdate] | None:
        """One bar step, whole; None when the data ended; [] when a paced wait was woken early.

        What the engine sends while it records this list reaches the book in a later bar
        (``next_step`` is the engine's way: its answers reach the book inside the bar)."""
        step = self.next_step()
        return step if step is None or isinstance(step, list) else list(step)

    def next_step(self) -> Iterator[VenueUpdate] | list[VenueUpdate] | None:
        """One bar step as the venue lives it: its updates in time order, yielded one at a time
        (``sim_intrabar``), so an order sent while one is recorded reaches the book at its
        arrival time inside the same bar. None when the data ended; [] when a paced wait was
        woken early."""
        step = self._held if self._held is not None else next(self._it, None)
        self._held = None
        if step is None:
            return None
        open_ms, bars = step
        close_ns = open_ms * MS + self.interval_ns
        if not self._pace(close_ns):
            self._held = step
            return []
        self._last_open_ms = open_ms
        return self._bar_step(open_ms, bars)

    def _at(self, ts: int) -> None:
        if ts > self._clock.now_ns():
            self._clock.advance_to(ts)

    def _bar_step(self, open_ms: int, bars: list[tuple[str, float, float, float, float, float]]
                  ) -> Iterator[VenueUpdate]:
        open_ns = open_ms * MS
        close_ns = open_ns + self.interval_ns
        m = self.matching
        marks = self.marks
        paths: dict[str, BarPath] = {}
        for sym, o, h, lo, c, _v in bars:
            marks.on_bar_open(sym, open_ms, o)
            paths[sym] = BarPath(open_ns, close_ns, o, h, lo, c)
        bar = BarStep(open_ms, {sym: (o, v) for sym, o, _h, _lo, _c, v in bars}, m.participation)
        agenda = bar.agenda = BarAgenda(open_ns, close_ns, paths)
        for sym, *_ in bars:  # orders in flight, in the order they were sent
            for w in m.arriving[sym]:
                agenda.schedule_arrival(w, self.latency_ns)
                self._schedule_wait(agenda, w)
            for oid, w in m.resting[sym].items():
                agenda.schedule_through(sym, oid, w.req.price or 0.0, w.req.side, open_ns)
                self._schedule_wait(agenda, w)
        for k, t in enumerate(paths[bars[0][0]].times if bars else ()):
            agenda.push_point(k, t)
        self._cur = bar
        touched: set[str] = set()
        try:
            for u in agenda.run(bar.handler(self)):
                if u.cls in (OrderFilled, PositionLiquidated):
                    touched.add(u.fields["symbol"])
                self._at(u.ts_event_ns)
                yield u
        finally:
            self._cur = None
        self._at(close_ns)
        halted = False
        for sym, _o, _h, _lo, c, v in bars:
            m.set_mark(sym, c)
            m.mark[sym] = marks.mark(sym, open_ms, c)
            if v <= 0:
                halted = True
        out: list[VenueUpdate] = []
        self._bar += 1
        snap = self._bar % self._nav_every == 0
        close_ms = close_ns // MS
        due = self.funding.due(self._funded_ms, close_ms)
        self._funded_ms = close_ms
        if due:
            funding = m.settle_funding(close_ns, due)
            out.extend(funding)
            touched.update(u.fields["symbol"] for u in funding)
        pos_snap = self._bar % self._pos_every == 0
        for sym in self.symbols:
            if sym in touched or (pos_snap and m.pos[sym][0] != 0.0):
                out.append(m.position_update(sym, close_ns))
        for sym, *_ in bars:
            bid, ask = m.book[sym]
            out.append(MarketTickUpdate(sym, close_ns, bid, ask, m.mark[sym], self.funding.rate_at(sym, close_ms)))
        out.extend(self._nav(close_ns, halted, snap))
        interval = self.interval
        step_ms = self.interval_ns // MS
        for sym, o, h, lo, c, v in bars:
            out.append(VenueUpdate(KlineClosed, f"market.{sym}", close_ns, {
                "symbol": sym, "interval": interval, "open_time_ms": open_ms,
                "close_time_ms": open_ms + step_ms - 1, "open": o, "high": h, "low": lo, "close": c,
                "volume": v}))
        yield from out

    def _liquidations(self, open_ms: int, k: int, ts: int) -> list[VenueUpdate]:
        """The margin check at path point ``k`` of the bar step (every symbol at that point at once:
        for cross margin a joint worst case only when the symbols move together)."""
        cur = self._cur
        if cur is None:
            return []
        paths = cur.agenda.paths
        mark = self.marks.mark

        def mark_of(sym: str) -> float | None:
            p = paths.get(sym)
            return None if p is None else mark(sym, open_ms, p.prices[k])

        def span_of(sym: str) -> tuple[float, float] | None:
            p = paths.get(sym)
            return None if p is None else (mark(sym, open_ms, min(p.prices)), mark(sym, open_ms, max(p.prices)))

        return self.matching.margin.check_at(ts, mark_of, paths, gap=k == 0, span_id=cur, span_of=span_of)

    def _nav(self, ts: int, halted: bool, snap: bool) -> list[VenueUpdate]:
        feed = self.feed.step(halted)
        if feed == "degraded":
            return [self.matching.nav_update(ts, sources_ok=False)]
        return [self.matching.nav_update(ts)] if feed == "normal" and snap else []

    # -- resume (engine/venues/sim_resume.py folds the log; it installs its books here) ----

    def restore_counters(self, n_steps: int, last_close_ns: int, feed: FeedState) -> None:
        """The bar counters and account-feed state after ``n_steps`` past bar steps."""
        self._bar = n_steps
        self._funded_ms = last_close_ns // MS  # settlements are a function of time (funding_data)
        self.feed = feed

    def skip_market_to(self, last_open_ms: int, last_close_ns: int) -> None:
        """Continue with the first bar step after ``last_open_ms`` (nothing looks back)."""
        for step in self._it:
            if step[0] > last_open_ms:
                self._held = step
                break
        self._last_open_ms = last_open_ms
        self._clock.advance_to(last_close_ns)
        self._sim0 = last_close_ns


class FeedState:
    """The account feed around exchange halts: dark while halted and for
    ``NAV_RECONNECT_BARS`` after, then ``NAV_DEGRADED_BARS`` readings with
    ``sources_ok = false`` (a plain object: the resume checkpoint stores it)."""

    __slots__ = ("dark", "degraded", "halted")

    def __init__(self) -> None:
        self.halted = False
        self.dark = 0
        self.degraded = 0

    def step(self, halted: bool) -> str | None:
        """The feed after one bar step: None (dark), ``degraded`` or ``normal``."""
        if halted:
            self.halted = True
            return None
        if self.halted:  # the halt just ended: the account feed reconnects slowly
            self.halted = False
            self.dark = NAV_RECONNECT_BARS
            self.degraded = NAV_DEGRADED_BARS
        if self.dark > 0:
            self.dark -= 1
            return None
        if self.degraded > 0:
            self.degraded -= 1
            return "degraded"
        return "normal"


def market_dir_of(market: Any) -> Any:
    """The market directory a market reads funding, marks and brackets from (None: none)."""
    return getattr(market, "venue_data_dir", getattr(market, "data_dir", None))
