"""Binance USD-M futures venue: the ``engine.ports.Venue`` the loop runs on for ``--venue binance``.

Market data from websocket streams (closed klines of the configured interval on
``/market``, mark price on ``/market``, book ticker on ``/public``), account state
from REST (``/fapi/v3/account``, ``/fapi/v3/positionRisk``) and the user-data stream
on ``/private`` (listen key kept alive), orders as post-only GTX limits or taker
MARKET/IOC. Every payload is parsed at the edge (``binance_wire``) and converted to
event content (``binance_convert``, ``binance_orders``); a payload that does not
parse becomes a ``VenueError`` naming the field and the loop goes on.

Reconnects with backoff; after a market-stream gap the missed closed klines are
fetched from REST (exactly once, in order); after a user-stream gap the account,
open orders and missed fills are read back. On connect, exchange state is read and
recorded (``VenueReconciled`` + snapshots) before the first order.

``DRY_RUN=1``: the same market data, but orders go to a simulated matcher (see
``binance_dry``) and are never sent.
"""

from __future__ import annotations

import os
import queue
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from engine.clock import LiveClock
from engine.ports import Clock, OrderRequest, SymbolFilters, VenueUpdate
from engine.venues import binance_sync as sync
from engine.venues.binance_client import CLOSED, BinanceRest, RestError, StreamConn
from engine.venues.binance_convert import (
    MS,
    AccountBook,
    KlineGate,
    TickMerger,
    kline_update,
    venue_error,
)
from engine.venues.binance_env import BinanceEnv, Redactor, load_env
from engine.venues.binance_orders import OrderTracker
from engine.venues.binance_sync import VenueStartError
from engine.venues.binance_wire import (
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
    from engine.venues.binance_dry import SimDry

MAX_SKEW_MS = 1000  # Binance refuses signed requests outside recvWindow (5 s) of its clock


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
                 dry_matcher: SimDry | None = None, rest: BinanceRest | None = None):
        self.env = env
        self.mode = env.mode
        self.interval = interval
        self._venue_clock = VenueClock() if venue_clock else None
        self._clock: Clock = clock or self._venue_clock or LiveClock()
        self.redact = Redactor(env.secrets.key, env.secrets.secret)
        self.rest = rest or BinanceRest(env, self.redact)
        self.warmup_bars, self.account_poll_s, self.keepalive_s = warmup_bars, account_poll_s, keepalive_s
        self.stale_after_s, self.poll_timeout_s = stale_after_s, poll_timeout_s
        self.backoff_base_s, self.backoff_max_s = backoff_base_s, backoff_max_s
        self.cancel_open_on_start = cancel_open_on_start
        self.symbols: list[str] = []
        self._filters: dict[str, SymbolFilters] = {}
        self.gate = KlineGate()
        self.ticks = TickMerger(tick_min_interval_ms)
        self.account = AccountBook()
        self.orders = OrderTracker(self.account)
        self.dry = dry_matcher
        self._q: queue.Queue[tuple[str, int, Any, str]] = queue.Queue()
        self.conns: dict[str, StreamConn] = {}
        self._retry: dict[str, tuple[int, float]] = {}  # route -> (failed attempts, next try monotonic)
        self._down_since_ms: dict[str, int] = {}
        self.listen_key = ""
        self._last_open_ids: list[str] = []
        self._last_bar_ns = 0
        self.funding_seen: set[int] = set()
        self._next_keepalive = 0.0
        self._next_poll = 0.0
        self._closed = False

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
        return dict(self._filters)

    def connect(self, symbols: list[str]) -> list[VenueUpdate]:
        """Filters, reconciliation, warm-up klines, then the streams; exchange state first."""
        self.symbols = sorted(dict.fromkeys(symbols))
        out: list[VenueUpdate] = []
        out += sync.load_filters(self)
        try:
            server_ms = self.rest.server_time_ms()
        except RestError as exc:
            raise VenueStartError(f"server time unavailable: {self.redact(exc)}") from None
        if self._venue_clock is not None:
            self._venue_clock.observe(server_ms * MS)
        elif abs(server_ms - time.time_ns() // MS) > MAX_SKEW_MS:
            out.append(self._err("rest.time", "http", "serverTime",
                                 f"local clock is {time.time_ns() // MS - server_ms} ms off the exchange; "
                                 "signed requests may be refused (-1021): sync the clock (NTP)"))
        out += sync.reconcile(self, initial=True) if self.dry is None else self.dry.snapshot(self.now_ns())
        warm = sync.warmup(self)
        for u in warm:
            out += self.dry.on_market(u) if self.dry is not None else []
            out.append(u)
            self._last_bar_ns = max(self._last_bar_ns, u.ts_event_ns)
        streams = {"market": self._market_streams, "public": self._public_streams}
        if self.dry is None:
            try:
                self.listen_key = self.rest.new_listen_key()
            except RestError as exc:
                raise VenueStartError(f"no user-data stream: {self.redact(exc)}") from None
            self._next_keepalive = time.monotonic() + self.keepalive_s
            streams["private"] = lambda: [self.listen_key]
        for route, fn in streams.items():
            self.conns[route] = StreamConn(route, self.env.route_url(route), self._q, fn, self.redact)
            try:
                self.conns[route].connect()
            except ConnectionError as exc:
                out.append(self._err(f"ws.{route}", "ws", route, str(exc)))
                sync.schedule_retry(self, route)
        self._next_poll = time.monotonic() + self.account_poll_s
        return self._with_notices(out)

    def next_updates(self) -> list[VenueUpdate] | None:
        if self._closed:
            return None
        out = sync.supervise(self)
        try:
            item = self._q.get(timeout=self.poll_timeout_s)
        except queue.Empty:
            return self._with_notices(out)
        batch = [item]
        while len(batch) < 2000:
            try:
                batch.append(self._q.get_nowait())
            except queue.Empty:
                break
        for route, gen, raw, info in batch:
            conn = self.conns.get(route)
            if conn is None or gen != conn.generation:
                continue  # a frame or close from a socket already replaced
            try:
                if raw is CLOSED:
                    out += sync.on_closed(self, route, info)
                elif route == "private":
                    out += self._on_user(raw)
                else:
                    out += self._on_market(route, raw)
            except Exception as exc:  # a bug of ours must not lose the frame unrecorded nor stop the loop
                out.append(self._err(f"ws.{route}", "parse", "$", f"{type(exc).__name__}: {exc}",
                                     "" if raw is CLOSED else raw))
        return self._with_notices(out)

    def submit(self, req: OrderRequest) -> list[VenueUpdate]:
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
        try:
            resp = self.rest.new_order(**params)
        except RestError as exc:
            if exc.status == 0 or exc.status >= 500:  # unknown outcome: ask the exchange
                return self._with_notices(sync.resolve_unknown(self, req, exc))
            code = exc.code if exc.code is not None else exc.status
            return self._with_notices(self.orders.rejected(req, code, exc.message, self.now_ns()))
        return self._with_notices(sync.order_answer(self, resp, "rest.order"))

    def cancel(self, symbol: str, order_id: str) -> list[VenueUpdate]:
        if self.dry is not None:
            return self.dry.cancel(symbol, order_id, self.now_ns())
        try:
            resp = self.rest.cancel_order(symbol, order_id)
        except RestError as exc:
            out = [self._rest_error(exc, field="origClientOrderId")]
            if exc.code == -2011:  # not open any more: say what became of it
                out += sync.settle_order(self, symbol, order_id)
            return self._with_notices(out)
        return self._with_notices(sync.order_answer(self, resp, "rest.cancelOrder", reason="canceled by router"))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for conn in self.conns.values():
            conn.stop()
        if self.listen_key:
            try:
                self.rest.close_listen_key(self.listen_key)
            except RestError:
                pass
        self.rest.close()

    # ------------------------------------------------------------------ helpers

    def now_ns(self) -> int:
        return self._clock.now_ns()

    def _market_streams(self) -> list[str]:
        return [s for sym in self.symbols
                for s in (f"{sym.lower()}@kline_{self.interval}", f"{sym.lower()}@markPrice@1s")]

    def _public_streams(self) -> list[str]:
        return [f"{sym.lower()}@bookTicker" for sym in self.symbols]

    def _err(self, source: str, kind: str, field_: str, message: str, raw: Any = "") -> VenueUpdate:
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        return venue_error(source, kind, field_, self.redact(message), self.now_ns(), self.redact(text))

    def _rest_error(self, exc: RestError, field: str = "") -> VenueUpdate:
        kind = "rate_limit" if exc.rate_limited else "http"
        return self._err(f"rest.{exc.endpoint}", kind, field or ("Retry-After" if exc.rate_limited else
                                                                   f"HTTP {exc.status}"), str(exc))

    def _with_notices(self, out: list[VenueUpdate]) -> list[VenueUpdate]:
        """Append the REST gate's rate-limit notices (429/418 answers) as VenueErrors."""
        while self.rest.notices:
            endpoint, status, code, message, pause = self.rest.notices.popleft()
            out.append(self._err(f"rest.{endpoint}", "rate_limit", "Retry-After",
                                 f"HTTP {status} code {code}: {message}; backing off {pause:g}s"))
        return out

    def _on_market(self, route: str, raw: Any) -> list[VenueUpdate]:
        try:
            frame = decode_market(raw)
        except WireError as exc:
            return [self._err(f"ws.{route}", "parse", exc.field, exc.message, raw)]
        if isinstance(frame, SubscribeAck):
            return [self._err(f"ws.{route}", "ws", "error", str(frame.error))] if frame.error else []
        if self._venue_clock is not None:
            self._venue_clock.observe(frame.event_ms * MS)
        if isinstance(frame, WsBookTicker):
            u = self.ticks.on_book(frame)
            return self._ticks([u] if u else [])
        if isinstance(frame, WsMarkPrice):
            self.account.apply_mark(frame.symbol, frame.mark)
            u = self.ticks.on_mark(frame)
            return self._ticks([u] if u else [])
        if isinstance(frame, WsKline) and frame.k.closed:
            return self._bars(self._on_closed_kline(frame))
        return []

    def _on_closed_kline(self, frame: WsKline) -> list[VenueUpdate]:
        k = frame.k
        if k.interval != self.interval or k.symbol not in self.symbols:
            return []
        out: list[VenueUpdate] = []
        gap = self.gate.gap_before(k.symbol, k.open_time_ms)
        if gap is not None:
            out += sync.backfill(self, k.symbol, gap[0], gap[1])
        if self.gate.accept(k.symbol, k.open_time_ms, k.close_time_ms):
            out.append(kline_update(k.symbol, self.interval, k))
        return out

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
            if u.ts_event_ns > self._last_bar_ns:
                self._last_bar_ns = u.ts_event_ns
                out += (self.dry.bar_account(u.ts_event_ns) if self.dry is not None
                        else self.account.bar_updates(u.ts_event_ns))
            out.append(u)
        return out

    def _on_user(self, raw: Any) -> list[VenueUpdate]:
        try:
            frame = decode_user(raw)
        except WireError as exc:
            return [self._err("ws.private", "parse", exc.field, exc.message, raw)]
        if frame is None:
            return []
        if isinstance(frame, SubscribeAck):
            return [self._err("ws.private", "ws", "error", str(frame.error))] if frame.error else []
        if isinstance(frame, WsOrderUpdate):
            return self.orders.on_ws_order(frame.o, frame.event_ms, "ws.private")
        if isinstance(frame, WsAccountUpdate):
            changed = self.account.apply_update(frame)
            ts = frame.event_ms * MS
            paid = sync.funding(self, frame.event_ms) if frame.a.reason == "FUNDING_FEE" else []
            return [*paid, self.account.nav_update(ts), *(self.account.position_update(s, ts) for s in changed)]
        if isinstance(frame, WsListenKeyExpired):
            return sync.renew_user_stream(self, "listen key expired")
        return []


def _num(x: float) -> str:
    """A float as Binance wants it in a query string (no exponent, no trailing zeros)."""
    text = f"{x:.10f}".rstrip("0").rstrip(".")
    return text or "0"


def _int_env(env: Mapping[str, str], name: str, default: int) -> int:
    v = env.get(name, "")
    try:
        return int(v) if v.strip() else default
    except ValueError:
        return default


def make_binance_venue(loaded_cfg: Any, symbols: list[str], env: Mapping[str, str] | None = None,
                       clock: Clock | None = None) -> BinanceVenue:
    """The Binance venue for ``hedge run --venue binance`` (called by ``engine.bootstrap``).

    ``env`` defaults to ``os.environ``. Unset ``DRY_RUN``/``BINANCE_TESTNET`` fall back to
    ``runtime.dry_run``/``runtime.testnet``. Tuning: ``BINANCE_WARMUP_BARS`` (closed klines
    fetched per symbol at start, default ``strategy.min_bars``), ``BINANCE_TICK_INTERVAL_MS``
    (MarketTick throttle per symbol, default 1000), ``BINANCE_CLOCK=venue`` (follow the
    venue's event time; for accelerated loopback venues).
    """
    env = os.environ if env is None else env
    cfg = loaded_cfg.config
    benv = load_env(env, dry_run_default=cfg.runtime.dry_run, testnet_default=cfg.runtime.testnet)
    dry = None
    if benv.dry_run:
        from engine.venues.binance_dry import make_dry_matcher

        dry = make_dry_matcher(loaded_cfg, symbols)
    return BinanceVenue(
        benv, interval=cfg.universe.interval, clock=clock,
        venue_clock=env.get("BINANCE_CLOCK", "").lower() == "venue",
        tick_min_interval_ms=_int_env(env, "BINANCE_TICK_INTERVAL_MS", 1000),
        warmup_bars=_int_env(env, "BINANCE_WARMUP_BARS", cfg.strategy.min_bars),
        dry_matcher=dry,
    )
