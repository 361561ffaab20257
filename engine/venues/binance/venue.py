"""Binance USD-M futures venue: the ``engine.ports.Venue`` the loop runs on for ``--venue binance``.

Market data from websocket streams (closed klines of the configured interval on
``/market``, mark price on ``/market``, book ticker on ``/public``), account state
from REST (``/fapi/v3/account``, ``/fapi/v3/positionRisk``) and the user-data stream
on ``/private`` (listen key kept alive), orders as post-only GTX limits or taker
MARKET/IOC. Every payload is parsed at the edge (``wire``) and converted to
event content (``convert``, ``orders``, ``positions``); a payload that does not
parse becomes a ``VenueError`` naming the field and the loop goes on.

Reconnects with backoff; after a market-stream gap the missed closed klines are
fetched from REST (exactly once, in order); after a user-stream gap the account,
open orders and missed fills are read back. On connect, exchange state is read and
recorded (``VenueReconciled`` + snapshots) before the first order.

``DRY_RUN=1``: the same market data, but orders go to a simulated matcher (see
``dry``) and are never sent.
"""

from __future__ import annotations

import logging
import queue
import time
from functools import partial
from typing import TYPE_CHECKING, Any

from config.settings import BinanceSettings
from engine.clock import LiveClock
from engine.ports import Clock, OrderRequest, SymbolFilters, VenueUpdate
from engine.venues.binance.client import CLOSED, BinanceRest, RestError
from engine.venues.binance.convert import MS, KlineGate, TickMerger, kline_update
from engine.venues.binance.env import BinanceEnv, Redactor, from_settings
from engine.venues.binance.errors import Faults, VenueStartError, describe
from engine.venues.binance.exchange_filters import FILTER_REFRESH_S, GRID_CODES, load_filters
from engine.venues.binance.klines import KlineHistory
from engine.venues.binance.loopmeter import DEFAULT_BOUND_MS, LoopMeter
from engine.venues.binance.offloop import ROUTE as OFFLOOP
from engine.venues.binance.offloop import OffLoop
from engine.venues.binance.order_calls import OFFLOOP_MAX_WAIT_S, cancel_order, place_order
from engine.venues.binance.orders import OrderTracker
from engine.venues.binance.positions import AccountBook
from engine.venues.binance.readback import ReadBack, fetch
from engine.venues.binance.reconcile import FUNDING_LOOKBACK_MS, Reconciler
from engine.venues.binance.restart import SUMMARY_KEY, ResumePoint
from engine.venues.binance.streams import StreamSupervisor
from engine.venues.binance.wire import (
    SubscribeAck,
    WireError,
    WsAccountUpdate,
    WsBookTicker,
    WsKline,
    WsListenKeyExpired,
    WsMarkPrice,
    WsOrderUpdate,
    decode_market,
    decode_user,
)

if TYPE_CHECKING:
    from engine.venues.binance.dry import SimDry

log = logging.getLogger(__name__)
SETTLE_POLL_S = 1.0  # a fill waiting to settle gets an account read this often
START_TRIES = 4  # the start's reconciliation is tried this often (pauses 1, 2, 4 s) before the start is refused
START_PAUSE_S = 1.0


class VenueClock:
    """Follows the venue's own event time (for accelerated loopback venues); never goes back."""

    def __init__(self, start_ns: int = 0):
        self._now = start_ns

    def observe(self, ts_ns: int) -> None:
        if ts_ns > self._now:
            self._now = ts_ns

    def now_ns(self) -> int:
        return self._now


class BinanceVenue:
    """Binance USD-M through binance-futures-connector (testnet, live, or dry with real data)."""

    name = "binance"

    def __init__(self, env: BinanceEnv, *, interval: str, clock: Clock | None = None, venue_clock: bool = False,
                 tick_min_interval_ms: int = 1000, warmup_bars: int = 0, account_poll_s: float = 30.0,
                 keepalive_s: float = 1800.0, stale_after_s: float = 300.0, poll_timeout_s: float = 0.2,
                 backoff_base_s: float = 0.5, backoff_max_s: float = 30.0, cancel_open_on_start: bool = True,
                 dry_matcher: SimDry | None = None, rest: BinanceRest | None = None, offloop_orders: bool = True,
                 stall_bound_ms: int = DEFAULT_BOUND_MS):
        self.env = env
        self.mode = env.mode
        self.interval = interval
        self.venue_clock = VenueClock() if venue_clock else None
        self._clock: Clock = clock or self.venue_clock or LiveClock()
        self.redact = Redactor(env.secrets.key, env.secrets.secret)
        self.rest = rest or BinanceRest(env, self.redact)
        self.faults = Faults(self.redact, self.now_ns)
        self.warmup_bars, self.account_poll_s = warmup_bars, account_poll_s
        self.poll_timeout_s = poll_timeout_s
        self.cancel_open_on_start = cancel_open_on_start
        self.resume_fills_since_ms: int | None = None
        self.resume_funding_since_ms: int | None = None
        self.symbols: list[str] = []
        self.exchange_filters: dict[str, SymbolFilters] = {}
        self.gate = KlineGate()
        self.ticks = TickMerger(tick_min_interval_ms)
        self.account = AccountBook()
        self.orders = OrderTracker(self.account)
        self.dry = dry_matcher
        self.queue: queue.Queue[tuple[str, int, Any, str]] = queue.Queue()
        self.history = KlineHistory(self.rest, self.faults, self.gate, interval, self.rest.server_time_ms)
        self.sync = Reconciler(self.rest, self.faults, self.account, self.orders, self.ticks, lambda: self.symbols)
        self.streams = StreamSupervisor(env, self.rest, self.faults, self.redact, self.queue,
                                        now_ms=self.exchange_now_ms, keepalive_s=keepalive_s,
                                        stale_after_s=stale_after_s, backoff_base_s=backoff_base_s,
                                        backoff_max_s=backoff_max_s)
        self.offloop_orders = offloop_orders
        patient = partial(self.rest.wait_on_this_thread, OFFLOOP_MAX_WAIT_S)  # off the loop, a 429 is waited out
        self.io = OffLoop(self.queue, "binance-orders", init=patient)  # orders and cancels, in order
        self.reads = OffLoop(self.queue, "binance-reads", init=patient, route=OFFLOOP + ".reads")  # REST reads
        self._workers = {w.route: w for w in (self.io, self.reads)}
        self._readbacks = 0  # read-backs asked of the worker, not applied yet
        self._backfills = 0  # kline backfills asked of the worker, not applied yet
        self._held_klines: list[WsKline] | None = None  # live klines waiting for a backfill before them
        self.meter = LoopMeter(stall_bound_ms)
        self.last_bar_ns = 0
        self.next_poll = 0.0
        self.next_filters = 0.0
        self.last_poll_ok = 0.0  # monotonic time of the last good account read
        self._pending_since: float | None = None  # since when a fill has been waiting to settle
        self.closed = False

    def __repr__(self) -> str:
        return f"BinanceVenue(mode={self.mode}, rest={self.env.rest_url}, stream={self.env.stream_url})"

    @property
    def data_source(self) -> str:
        """Where the market data comes from (recorded in ``SessionStarted.data_source``)."""
        routes = "routed" if self.env.routed else "unrouted"
        return f"binance:{self.env.rest_url} {self.env.stream_url} ({routes})"

    # ------------------------------------------------------------------ port

    def clock(self) -> Clock:
        return self._clock

    def filters(self) -> dict[str, SymbolFilters]:
        return dict(self.exchange_filters)

    def resume_from(self, point: ResumePoint | None) -> None:
        """Before ``connect``: the last fill the log holds (and those just before it), so
        the fills made while the engine was down are recorded, each exactly once."""
        if point is None:
            return
        self.resume_fills_since_ms = point.since_ms
        self.resume_funding_since_ms = point.funding_since_ms
        self.sync.funding_known.update(point.funding_known)
        for symbol, trade_id, time_ms, signed in point.known:
            self.account.ledger.add_fill(symbol, trade_id, time_ms, signed)

    def resume_paper(self, books: Any) -> None:
        """Dry run, before ``connect``: continue the paper account of earlier sessions
        (an ``engine.venues.sim_resume.SimResume`` folded from the account's log)."""
        if self.dry is not None:
            self.dry.resume(books)

    def connect(self, symbols: list[str]) -> list[VenueUpdate]:
        """Filters, the user stream, reconciliation (with fills missed while down), warm-up
        klines, then the market streams."""
        self.symbols = sorted(dict.fromkeys(symbols))
        out: list[VenueUpdate] = []
        filters, errs = load_filters(self._read(self.rest.exchange_info), self.faults, self.symbols,
                                     self.exchange_filters)
        if filters is None:
            raise VenueStartError("exchangeInfo unavailable: " + describe(errs))
        self.exchange_filters = filters
        if self.dry is not None:  # the simulated matching enforces the exchange's filters, not the config's
            self.dry.m.filters = dict(filters)
        self.next_filters = time.monotonic() + FILTER_REFRESH_S
        out += errs
        self.rest.apply_offset = self.venue_clock is None  # an accelerated venue's clock is its own
        _, errs = self.faults.attempt("rest.time", lambda: self.rest.sync_time("start"))
        if errs:
            raise VenueStartError("server time unavailable: " + describe(errs))
        if self.venue_clock is not None:
            self.venue_clock.observe(self.rest.clock_syncs[-1][0] * MS + time.time_ns())
        if self.dry is not None:
            out += self.dry.snapshot(self.now_ns())
        else:
            # the user stream first: a fill after the account read below is then heard on it
            # (a fill both heard and read back is recorded once, by trade id)
            self.streams.open_listen_key()
            out += self.streams.open({"private": lambda: [self.streams.listen_key]})
            out += self._restart_fills()
            out += self.account.snapshot_updates(self.symbols, self.now_ns(), self.sources_ok())
        for u in self.history.warmup(self.symbols, self.warmup_bars):
            out += self.dry.on_market(u) if self.dry is not None else []
            out.append(u)
            self.last_bar_ns = max(self.last_bar_ns, u.ts_event_ns)
        out += self.streams.open({"market": self._market_streams, "public": self._public_streams})
        self.next_poll = time.monotonic() + self.account_poll_s
        self.rest.patient = False  # from here on the loop never sleeps on a rate limit
        return out + self.faults.notices(self.rest)

    def _restart_fills(self) -> list[VenueUpdate]:
        """The account, the fills made since the last one the log holds (engine down), and
        open orders; fills are released once the account reading has settled them. A read
        that fails for a passing reason (network, 5xx, rate limit; each already retried by
        the client) is tried again, ``START_TRIES`` in all with a growing pause, each
        failure recorded, before the start is refused."""
        out: list[VenueUpdate] = []
        for attempt in range(1, START_TRIES + 1):
            try:
                out += self.sync.reconcile(initial=True, cancel_open=self.cancel_open_on_start,
                                           fills_since_ms=self.resume_fills_since_ms,
                                           source="rest.userTrades.restart")
                break
            except VenueStartError as exc:
                if attempt == START_TRIES or not exc.transient:
                    raise
                out.append(self.faults.err("venue.start", "http", "reconcile",
                                           f"attempt {attempt} of {START_TRIES} failed, trying again: {exc}"))
                time.sleep(START_PAUSE_S * 2 ** (attempt - 1))
        self.last_poll_ok = time.monotonic()
        if self.resume_funding_since_ms is not None:  # settlements while the engine was down
            out += self.sync.apply_funding(self.sync.fetch_funding(self.resume_funding_since_ms))
        return out + self.orders.settle()

    def next_updates(self) -> list[VenueUpdate] | None:
        if self.closed:
            return None
        self._settle_soon()
        out = self.meter.enter(self.now_ns()) + self._next_updates()
        self.meter.leave(bool(out))
        return out

    def _settle_soon(self) -> None:
        """A fill waiting for a reading that settles it (its ACCOUNT_UPDATE lost, or the
        read-back's account read failed), or a stream gap whose trades could not be read
        back, does not wait for the 30 s poll: the account (and the trades) are read
        again every ``SETTLE_POLL_S`` until it is done."""
        if not self.orders.pending and self.sync.trades_unread_since is None and self.sync.funding_unread_since is None:
            self._pending_since = None
            return
        now = time.monotonic()
        if self._pending_since is None:
            self._pending_since = now
        elif now - self._pending_since >= SETTLE_POLL_S and self.next_poll > now:
            self.next_poll = now
            self._pending_since = now

    def session_stats(self) -> dict[str, Any]:
        """Figures for the session's end: ``SessionEnded.summary['venue_loop']``, and up to
        when the log holds every trade and funding settlement (``restart.SUMMARY_KEY``:
        where the next start reads back from)."""
        if self.dry is not None:
            return {"venue_loop": self.meter.stats()}
        return {"venue_loop": self.meter.stats(), SUMMARY_KEY: {
            "complete_to_ms": self.fills_complete_to_ms(), "funding_complete_to_ms": self.funding_complete_to_ms()}}

    def fills_complete_to_ms(self) -> int:
        """Every trade up to this exchange time is in the log (or waiting in an answer the
        loop has yet to apply): not after a fill heard but not settled, a private-stream gap
        (down, or its read-back not done), or a read-back still under way."""
        down = self.streams.down_since_ms.get("private")
        oldest = min((ts // MS for ts, _ in self.orders.pending.values()), default=None)
        known = [t for t in (oldest, self.sync.trades_unread_since, down) if t is not None]
        return min([*known, self.exchange_now_ms()])

    def funding_complete_to_ms(self) -> int:
        """Every funding settlement up to this exchange time is in the log."""
        down = self.streams.down_since_ms.get("private")
        known = [t for t in (self.sync.funding_unread_since, None if down is None else down - FUNDING_LOOKBACK_MS)
                 if t is not None]
        return max(0, min([*known, self.exchange_now_ms()]))

    def exchange_now_ms(self) -> int:
        """Now on the exchange's clock: ours plus the offset measured at start (and on -1021),
        so a gap's start compares with the exchange's trade times."""
        return self.now_ns() // MS + self.rest.offset_ms

    def _next_updates(self) -> list[VenueUpdate]:
        out = self.streams.supervise(self._after_reconnect) + self._poll_account()
        if self.dry is None and time.monotonic() >= self.next_filters:
            self.next_filters = time.monotonic() + FILTER_REFRESH_S
            self.reads.run(self.rest.exchange_info, self._filters_read)
        waiting = time.monotonic()
        try:
            item = self.queue.get(timeout=self.poll_timeout_s)
        except queue.Empty:
            self.meter.waited(time.monotonic() - waiting)
            return out + self._flush_ticks() + self.faults.notices(self.rest)
        self.meter.waited(time.monotonic() - waiting)
        batch = [item]
        while len(batch) < 2000:
            try:
                batch.append(self.queue.get_nowait())
            except queue.Empty:
                break
        for route, gen, raw, info in batch:
            worker = self._workers.get(route)
            if worker is not None:  # the answer to a call made off the loop thread
                apply, result = raw
                worker.applied()
                out += apply(result)
                continue
            conn = self.streams.conns.get(route)
            if conn is None or gen != conn.generation:
                continue  # a frame or close from a socket already replaced
            try:
                if raw is CLOSED:
                    out += self.streams.on_closed(route, info)
                elif route == "private":
                    out += self.on_user_frame(raw)
                else:
                    out += self._on_market(route, raw)
            except Exception as exc:  # a bug of ours must not lose the frame unrecorded nor stop the loop
                out.append(self.faults.err(f"ws.{route}", "parse", "$", f"{type(exc).__name__}: {exc}",
                                           "" if raw is CLOSED else raw))
        return out + self._flush_ticks() + self.faults.notices(self.rest)

    def submit(self, req: OrderRequest) -> list[VenueUpdate]:
        """Send an order. Off the loop thread by default: the answer (ack, reject, or the
        outcome of a query when the answer was lost) comes back through ``next_updates``."""
        if self.dry is not None:
            return self.dry.submit(req, self.now_ns())
        self.orders.submitted(req, self.ticks.mid(req.symbol))
        params: dict[str, Any] = {"symbol": req.symbol, "side": req.side, "type": req.order_type,
                                  "quantity": _num(req.qty), "newClientOrderId": req.order_id,
                                  "newOrderRespType": "RESULT"}
        if req.order_type == "LIMIT":
            params["timeInForce"] = req.time_in_force or "GTX"
            params["price"] = _num(req.price or 0.0)
        if req.reduce_only:
            params["reduceOnly"] = "true"
        return self._act(lambda: place_order(self.rest, req, params, self.offloop_orders),
                         lambda res: self._placed(req, res))

    def cancel(self, symbol: str, order_id: str) -> list[VenueUpdate]:
        if self.dry is not None:
            return self.dry.cancel(symbol, order_id, self.now_ns())
        return self._act(lambda: cancel_order(self.rest, symbol, order_id, self.offloop_orders),
                         lambda res: self._canceled(symbol, order_id, res))

    def _act(self, work: Any, apply: Any) -> list[VenueUpdate]:
        if self.offloop_orders:
            self.io.run(work, apply)
            return []
        try:
            result = work()
        except Exception as exc:
            result = exc
        return list(apply(result))

    # the book half (loop thread)

    def _held_notice(self, what: str, held: float) -> list[VenueUpdate]:
        """An order call that waited out a rate limit off the loop thread, recorded."""
        if not held:
            return []
        return [self.faults.err(f"rest.{'cancelOrder' if what.startswith('cancel') else 'order'}", "rate_limit",
                                "Retry-After", f"{what} waited {held:.2f}s for Retry-After off the loop thread, "
                                "then was sent again")]

    def _placed(self, req: OrderRequest, result: Any) -> list[VenueUpdate]:
        if isinstance(result, Exception):  # a bug of ours in the worker: recorded, the order is unknown
            return [self.faults.err("rest.order", "http", "$", f"{type(result).__name__}: {result}")]
        resp, exc, query, held = result
        out: list[VenueUpdate] = self._held_notice(f"order {req.order_id}", held)
        if exc is None:
            out += self.sync.order_answer(resp, "rest.order")
        elif exc.status == 0 or exc.status >= 500:
            out += self.sync.unknown_outcome(req, exc, query)
        else:
            code = exc.code if exc.code is not None else exc.status
            out += self.orders.rejected(req, code, exc.message, self.now_ns())
            if code != -5022:  # only a post-only reject is repriced: say so, the plan ends here
                log.warning("Binance refused order %s (%s %s %s): %s %s", req.order_id, req.symbol, req.side,
                            req.order_type, code, exc.message)
            if code in GRID_CODES:  # refused for its grid: the exchange's filters may have changed
                self.next_filters = 0.0
        return out + self.faults.notices(self.rest)

    def _canceled(self, symbol: str, order_id: str, result: Any) -> list[VenueUpdate]:
        if isinstance(result, Exception):
            return [self.faults.err("rest.cancelOrder", "http", "$", f"{type(result).__name__}: {result}")]
        resp, exc, query, held = result
        out = self._held_notice(f"cancel of {order_id}", held)
        if exc is None:
            return (out + self.sync.order_answer(resp, "rest.cancelOrder", reason="canceled by router")
                    + self.faults.notices(self.rest))
        out.append(self.faults.rest(exc, field="origClientOrderId"))
        if query is not None:
            out += self.sync.order_left(symbol, order_id, query)
            if self.orders.pending or self.sync.trades_unread_since is not None:
                self.next_poll = 0.0  # its fills settle (or are read back) on the next poll, off the loop
        return out + self.faults.notices(self.rest)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.orders.pending:  # heard, never settled: the next start reads them back (restart.py)
            log.warning("Binance: %d fill(s) not settled at close (trade ids %s); the next start reads "
                        "them back", len(self.orders.pending), sorted(t for _, t in self.orders.pending))
        self.io.close()
        self.reads.close()
        self.streams.close()
        self.rest.close()

    # ------------------------------------------------------------------ helpers

    def now_ns(self) -> int:
        return self._clock.now_ns()

    def sources_ok(self) -> bool:
        """The account we report is current: the last account read is fresh and, when
        trading for real, the user-data stream is up."""
        if self.dry is not None:
            return True
        fresh = time.monotonic() - self.last_poll_ok <= 2 * self.account_poll_s + 5.0
        return fresh and (self.streams.private_alive() or not self.streams.conns)

    def _poll_account(self) -> list[VenueUpdate]:
        """Every ``account_poll_s`` (every ``SETTLE_POLL_S`` while a fill waits to settle or a
        read-back is owed): the account read back off the loop thread, then the trades since
        the oldest unsettled fill or unread gap, and funding a failed read left owed."""
        if self.dry is not None or time.monotonic() < self.next_poll or self._readbacks:
            return []
        self.next_poll = time.monotonic() + self.account_poll_s
        oldest = min((ts // MS for ts, _ in self.orders.pending.values()), default=None)
        since = min((t for t in (oldest, self.sync.trades_unread_since) if t is not None), default=None)
        self._read_back(ReadBack("poll", trades_since=since, symbols=tuple(self.sync.trade_symbols()),
                                 known_orders=frozenset(self.orders.by_venue_id),
                                 funding_since=self.sync.funding_unread_since))
        return []

    def _read_back(self, rb: ReadBack) -> None:
        self._readbacks += 1
        self.reads.run(lambda: fetch(self.sync, rb), partial(self._read_back_applied, rb))

    def _read_back_applied(self, rb: ReadBack, got: Any) -> list[VenueUpdate]:
        """The book half of a read-back (loop thread): the reading, the trades it settles,
        open orders and the orders that left the book (after a gap), funding."""
        self._readbacks -= 1
        if isinstance(got, Exception):  # a bug of ours in the worker: recorded, read again by the polls
            if rb.trades_since is not None:
                self.sync.trades_unread_since = min(rb.trades_since, self.sync.trades_unread_since or rb.trades_since)
            return [self.faults.err("rest.account", "http", "$", f"{type(got).__name__}: {got}")]
        sync = self.sync
        out: list[VenueUpdate] = []
        if rb.trades_since is not None:  # the fills before the reading (a flat symbol's reading needs them)
            out += sync.apply_trades(got.trades, complete_to_ms=got.server_ms, lookups=got.lookups)
        errors = sync.apply_account(got.account)
        if rb.trades_since is not None:
            unread = sync.trades_unread_since
            if not (sync.last_read_ok and sync.last_trades_ok):  # the polls read it again until it is done
                sync.trades_unread_since = min(rb.trades_since, unread if unread is not None else rb.trades_since)
            elif unread is not None and rb.trades_since <= unread:
                sync.trades_unread_since = None
        if rb.open_orders:
            out = sync.apply_open_orders(errors + out, got.open_orders, initial=False)
            errors = []
        if got.funding is not None:
            out += sync.apply_funding(got.funding)
        for cid, answer in sorted(got.left.items()):
            out += sync.order_left(self.orders.orders[cid].symbol, cid, answer)
        if sync.trades_unread_since is not None and (rb.trades_since is None or sync.trades_unread_since < rb.trades_since):
            self.next_poll = 0.0  # an order filled more than we heard: read its trades now
        if not sync.last_read_ok:
            return out + errors + [self.account.nav_update(self.now_ns(), self.sources_ok())]
        self.last_poll_ok = time.monotonic()
        return out + errors + self.orders.settle() + self.account.snapshot_updates(
            self.symbols, self.now_ns(), self.sources_ok())

    def _filters_read(self, result: Any) -> list[VenueUpdate]:
        """exchangeInfo re-read (hourly, or after a grid reject): a change is recorded
        (``ExchangeFiltersLoaded``) and applied."""
        filters, out = load_filters(result, self.faults, self.symbols, self.exchange_filters)
        if filters is not None:
            self.exchange_filters = filters
        return out

    @staticmethod
    def _read(fn: Any) -> Any:
        try:
            return fn()
        except RestError as exc:
            return exc

    def _after_reconnect(self, route: str, since_ms: int | None) -> list[VenueUpdate]:
        """A socket is back: read back what its gap hid, off the loop thread (klines after a
        market gap; account, trades, open orders, orders that left, funding after a private one)."""
        if route == "market":
            starts: dict[str, tuple[int, int | None]] = {
                sym: (start, None) for sym in self.symbols if (start := self.gate.resume_from(sym)) is not None}
            if starts:
                self._backfill(starts, last_is_current=True)
            return []
        if route == "private":
            sync = self.sync
            fsince = None if since_ms is None else max(0, since_ms - FUNDING_LOOKBACK_MS)
            if since_ms is not None:  # owed until the read-back below is applied
                sync.trades_unread_since = min(since_ms, sync.trades_unread_since or since_ms)
            if fsince is not None:
                sync.funding_unread_since = min(fsince, sync.funding_unread_since or fsince)
            believed = tuple((self.orders.orders[oid].symbol, oid) for oid in self.orders.open_ids())
            self._read_back(ReadBack("reconnect", trades_since=since_ms, symbols=tuple(sync.trade_symbols()),
                                     known_orders=frozenset(self.orders.by_venue_id), open_orders=True,
                                     believed_open=believed, funding_since=fsince))
        return []

    def _backfill(self, spans: dict[str, tuple[int, int | None]], last_is_current: bool) -> None:
        """Closed klines of ``spans`` (symbol -> start, end) read off the loop thread; live
        klines wait (``_held_klines``) until they are applied, so bars stay in order."""
        if self._held_klines is None:
            self._held_klines = []
        self._backfills += 1
        history = self.history
        self.reads.run(lambda: {sym: history.fetch(sym, a, b) for sym, (a, b) in sorted(spans.items())},
                    partial(self._backfilled, last_is_current))

    def _backfilled(self, last_is_current: bool, got: Any) -> list[VenueUpdate]:
        self._backfills -= 1
        if isinstance(got, Exception):
            batch = [self.faults.err("rest.klines", "http", "$", f"{type(got).__name__}: {got}")]
        else:
            batch = [u for sym, f in sorted(got.items())
                     for u in self.history.apply(sym, f, last_is_current=last_is_current)]
        errors = [u for u in batch if u.cls.__name__ != "KlineClosed"]
        bars = sorted((u for u in batch if u.cls.__name__ == "KlineClosed"), key=lambda u: u.ts_event_ns)
        if self._backfills == 0:  # the live klines that waited, in order (one may find a gap again)
            held, self._held_klines = self._held_klines or [], None
            for i, frame in enumerate(held):
                bars += self._on_closed_kline(frame)
                if self._held_klines is not None:
                    self._held_klines += held[i + 1:]
                    break
        return errors + self._bars(bars)

    def _market_streams(self) -> list[str]:
        return [s for sym in self.symbols
                for s in (f"{sym.lower()}@kline_{self.interval}", f"{sym.lower()}@markPrice@1s")]

    def _public_streams(self) -> list[str]:
        return [f"{sym.lower()}@bookTicker" for sym in self.symbols]

    def _flush_ticks(self) -> list[VenueUpdate]:
        return self._ticks(self.ticks.flush(self.now_ns() // MS))

    def _on_market(self, route: str, raw: Any) -> list[VenueUpdate]:
        try:
            frame = decode_market(raw)
        except WireError as exc:
            return [self.faults.err(f"ws.{route}", "parse", exc.field, exc.message, raw)]
        if isinstance(frame, SubscribeAck):
            return [self.faults.err(f"ws.{route}", "ws", "error", str(frame.error))] if frame.error else []
        if self.venue_clock is not None:
            self.venue_clock.observe(frame.event_ms * MS)
        if isinstance(frame, WsBookTicker):
            return self._ticks(self.ticks.on_book(frame))
        if isinstance(frame, WsMarkPrice):
            self.account.apply_mark(frame.symbol, frame.mark)
            return self._ticks(self.ticks.on_mark(frame))
        if isinstance(frame, WsKline) and frame.k.closed:
            return self._bars(self._on_closed_kline(frame))
        return []

    def _on_closed_kline(self, frame: WsKline) -> list[VenueUpdate]:
        """A live closed kline; one after a gap waits for the gap's backfill (off the loop)."""
        k = frame.k
        if k.interval != self.interval or k.symbol not in self.symbols:
            return []
        if self._held_klines is not None:
            self._held_klines.append(frame)
            return []
        gap = self.gate.gap_before(k.symbol, k.open_time_ms)
        if gap is not None:
            self._backfill({k.symbol: gap}, last_is_current=False)
            assert self._held_klines is not None
            self._held_klines.append(frame)
            return []
        if self.gate.accept(k.symbol, k.open_time_ms, k.close_time_ms):
            return [kline_update(k.symbol, self.interval, k)]
        return []

    def _ticks(self, updates: list[VenueUpdate]) -> list[VenueUpdate]:
        if self.dry is not None:
            for u in updates:
                self.dry.on_market(u)  # funding rates; a tick fills nothing at bar resolution
        return updates

    def _bars(self, klines: list[VenueUpdate]) -> list[VenueUpdate]:
        """Closed klines, each preceded by what the bar did to the account.

        In dry mode the bar first goes through the simulated matching (fills at bar
        resolution, as in the simulated venue). At the first kline of each new bar
        close the NAV and open positions are re-marked and recorded, so the
        decision taken on that kline sees a fresh account.
        """
        out: list[VenueUpdate] = []
        for u in klines:
            if self.dry is not None:
                out += self.dry.on_market(u)
            if u.ts_event_ns > self.last_bar_ns:
                self.last_bar_ns = u.ts_event_ns
                out += (self.dry.bar_account(u.ts_event_ns) if self.dry is not None
                        else self.account.bar_updates(u.ts_event_ns, self.sources_ok()))
            out.append(u)
        return out

    def on_user_frame(self, raw: Any) -> list[VenueUpdate]:
        """One frame of the private (user-data) stream -> updates (fills wait until settled)."""
        try:
            frame = decode_user(raw)
        except WireError as exc:
            return [self.faults.err("ws.private", "parse", exc.field, exc.message, raw)]
        if frame is None:
            return []
        if isinstance(frame, SubscribeAck):
            return [self.faults.err("ws.private", "ws", "error", str(frame.error))] if frame.error else []
        self.streams.heard("private", int(getattr(frame, "event_ms", 0) or 0))
        if isinstance(frame, WsOrderUpdate):
            return self.orders.on_ws_order(frame.o, frame.event_ms, "ws.private") + self.orders.settle()
        if isinstance(frame, WsAccountUpdate):
            changed = self.account.apply_update(frame)
            ts = frame.event_ms * MS
            if frame.a.reason == "FUNDING_FEE":  # what each symbol paid: read off the loop thread
                since = max(0, frame.event_ms - FUNDING_LOOKBACK_MS)
                self.reads.run(lambda: self.sync.fetch_funding(since), self.sync.apply_funding)
            return [*self.orders.settle(), self.account.nav_update(ts, self.sources_ok()),
                    *(self.account.position_update(s, ts) for s in changed)]
        if isinstance(frame, WsListenKeyExpired):
            return self.streams.renew_user_stream("listen key expired")
        return []


def _num(x: float) -> str:
    """A float as Binance wants it in a query string (no exponent, no trailing zeros)."""
    text = f"{x:.10f}".rstrip("0").rstrip(".")
    return text or "0"


def make_binance_venue(loaded_cfg: Any, symbols: list[str], settings: BinanceSettings | None = None,
                       clock: Clock | None = None) -> BinanceVenue:
    """The Binance venue for ``hedge run --venue binance`` (called by ``engine.bootstrap``).

    ``settings``: the ``BINANCE_*`` variables as the CLI read them (``config.settings``; none
    set when None). Unset ``DRY_RUN``/``BINANCE_TESTNET`` fall back to
    ``runtime.dry_run``/``runtime.testnet``. Tuning: ``BINANCE_WARMUP_BARS`` (closed klines
    fetched per symbol at start, default ``strategy.min_bars``), ``BINANCE_TICK_INTERVAL_MS``
    (MarketTick conflation window per symbol, default 1000; ``all`` or 0: every quote), ``BINANCE_CLOCK=venue`` (follow the
    venue's event time; for accelerated loopback venues), ``BINANCE_STALL_BOUND_MS`` (a
    loop iteration busier than this is recorded as a ``stall``, default 1000).
    """
    s = settings if settings is not None else BinanceSettings()
    cfg = loaded_cfg.config
    benv = from_settings(s, dry_run_default=cfg.runtime.dry_run, testnet_default=cfg.runtime.testnet)
    dry = None
    if benv.dry_run:
        from engine.venues.binance.dry import make_dry_matcher

        dry = make_dry_matcher(loaded_cfg, symbols)
    return BinanceVenue(
        benv, interval=cfg.universe.interval, clock=clock,
        venue_clock=s.venue_clock,
        tick_min_interval_ms=1000 if s.tick_interval_ms is None else s.tick_interval_ms,
        warmup_bars=cfg.strategy.min_bars if s.warmup_bars is None else s.warmup_bars,
        dry_matcher=dry, stall_bound_ms=DEFAULT_BOUND_MS if s.stall_bound_ms is None else s.stall_bound_ms,
    )
