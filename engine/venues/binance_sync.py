"""State sync for the Binance venue: filters, reconciliation, kline backfill, reconnects.

A mixin of ``BinanceVenue`` (kept apart so each module stays small). Everything here
reads exchange state over REST and turns it into event content; exchange state is
authoritative. Failures never raise into the loop: they become ``VenueError`` updates.
"""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING, Any

from engine.ports import OrderRequest, SymbolFilters, VenueUpdate
from engine.venues.binance_client import RestError
from engine.venues.binance_convert import MS, STREAM_VENUE, kline_update
from engine.venues.binance_wire import (
    RestAccount,
    RestExchangeInfo,
    RestOrder,
    RestPositionRisk,
    RestTrade,
    WireError,
    convert,
    decode_klines,
    decode_list,
)
from eventlog.events import VenueReconciled

if TYPE_CHECKING:
    from engine.venues.binance import BinanceVenue

KLINE_PAGE = 1500


class SyncMixin:
    """REST-side synchronisation of ``BinanceVenue``."""

    # ------------------------------------------------------------------ start

    def _load_filters(self: BinanceVenue) -> list[VenueUpdate]:
        try:
            info = convert(self.rest.exchange_info(), RestExchangeInfo)
        except RestError as exc:
            raise ConnectionError(f"exchangeInfo unavailable: {self.redact(exc)}") from None
        except WireError as exc:
            return [self._err("rest.exchangeInfo", "parse", exc.field, exc.message)]
        out: list[VenueUpdate] = []
        by_symbol = {s.symbol: s for s in info.symbols}
        for sym in self.symbols:
            s = by_symbol.get(sym)
            if s is None:
                out.append(self._err("rest.exchangeInfo", "parse", "symbols", f"{sym} not listed"))
                continue
            f = {x.filter_type: x for x in s.filters}
            price, lot, notional = f.get("PRICE_FILTER"), f.get("LOT_SIZE"), f.get("MIN_NOTIONAL")
            if price is None or lot is None or price.tick_size is None or lot.step_size is None:
                out.append(self._err("rest.exchangeInfo", "parse", f"symbols[{sym}].filters",
                                     "PRICE_FILTER.tickSize or LOT_SIZE.stepSize missing"))
                continue
            self._filters[sym] = SymbolFilters(
                tick_size=price.tick_size, step_size=lot.step_size,
                min_qty=lot.min_qty or lot.step_size,
                min_notional=(notional.notional if notional and notional.notional is not None else 0.0))
            if s.status != "TRADING":
                out.append(self._err("rest.exchangeInfo", "parse", f"symbols[{sym}].status",
                                     f"status is {s.status}, not TRADING"))
        return out

    def _read_account(self: BinanceVenue, source: str) -> list[VenueUpdate]:
        """account + positionRisk into the account book; errors as VenueErrors."""
        try:
            acct = convert(self.rest.account(), RestAccount)
            risks = decode_list(self.rest.position_risk(), RestPositionRisk, "positionRisk")
        except RestError as exc:
            return [self._rest_error(exc)]
        except WireError as exc:
            return [self._err(source, "parse", exc.field, exc.message)]
        self.account.load_rest(acct, risks)
        return []

    def _reconcile(self: BinanceVenue, initial: bool) -> list[VenueUpdate]:
        """Read positions, balances and open orders; on start cancel our symbols' stale orders."""
        ts = self.now_ns()
        out = self._read_account("rest.account")
        try:
            open_orders = decode_list(self.rest.open_orders(), RestOrder, "openOrders")
        except RestError as exc:
            return [*out, self._rest_error(exc)]
        except WireError as exc:
            return [*out, self._err("rest.openOrders", "parse", exc.field, exc.message)]
        canceled: list[str] = []
        listed = []
        for o in sorted(open_orders, key=lambda o: (o.symbol, o.client_order_id)):
            listed.append({"order_id": o.client_order_id, "venue_order_id": str(o.order_id),
                           "symbol": o.symbol, "side": o.side, "type": o.order_type,
                           "time_in_force": o.time_in_force, "price": o.price, "qty": o.orig_qty,
                           "filled_qty": o.executed_qty, "status": o.status})
            self.orders._track(o.client_order_id, o.symbol, o.side, o.order_id, o.price)
            if initial and self.cancel_open_on_start and o.symbol in self.symbols:
                try:
                    self.rest.cancel_order(o.symbol, o.client_order_id)
                    canceled.append(o.client_order_id)
                    self.orders.orders[o.client_order_id].done = True
                except RestError as exc:
                    out.append(self._rest_error(exc, field="origClientOrderId"))
            else:
                self.orders.orders[o.client_order_id].accepted = True
        self._last_open_ids = [o["order_id"] for o in listed]
        out.append(VenueUpdate(VenueReconciled, STREAM_VENUE, ts, {
            "open_orders": listed, "positions": self.account.positions_list(),
            "canceled_orders": canceled}))
        out += self.account.snapshot_updates(self.symbols, ts)
        return out

    # ------------------------------------------------------------------ klines

    def _warmup(self: BinanceVenue) -> list[VenueUpdate]:
        """The last ``warmup_bars`` closed klines of each symbol, in time order."""
        if self.warmup_bars <= 0:
            return []
        out: list[VenueUpdate] = []
        try:
            now_ms = self.rest.server_time_ms()
        except RestError as exc:
            return [self._rest_error(exc)]
        for sym in self.symbols:
            try:
                rows = decode_klines(self.rest.klines(sym, self.interval, limit=min(KLINE_PAGE, self.warmup_bars + 1)))
            except RestError as exc:
                out.append(self._rest_error(exc))
                continue
            except WireError as exc:
                out.append(self._err("rest.klines", "parse", exc.field, exc.message))
                continue
            closed = [r for r in rows if r.close_time_ms < now_ms][-self.warmup_bars:]
            for r in closed:
                if self.gate.accept(sym, r.open_time_ms, r.close_time_ms):
                    out.append(kline_update(sym, self.interval, r))
        return sorted(out, key=lambda u: u.ts_event_ns)

    def _backfill(self: BinanceVenue, symbol: str, start_ms: int, end_ms: int | None) -> list[VenueUpdate]:
        """Closed klines from ``start_ms`` (to ``end_ms``, else up to the server's now)."""
        out: list[VenueUpdate] = []
        try:
            now_ms = self.rest.server_time_ms() if end_ms is None else end_ms + 1
            while True:
                rows = decode_klines(self.rest.klines(symbol, self.interval, start_ms, end_ms, KLINE_PAGE))
                for r in rows:
                    if r.close_time_ms < now_ms and self.gate.accept(symbol, r.open_time_ms, r.close_time_ms):
                        out.append(kline_update(symbol, self.interval, r))
                if len(rows) < KLINE_PAGE:
                    break
                start_ms = rows[-1].close_time_ms + 1
        except RestError as exc:
            out.append(self._rest_error(exc))
        except WireError as exc:
            out.append(self._err("rest.klines", "parse", exc.field, exc.message))
        return out

    # ------------------------------------------------------------------ streams

    def _schedule_retry(self: BinanceVenue, route: str) -> None:
        attempts, _ = self._retry.get(route, (0, 0.0))
        pause = min(self.backoff_max_s, self.backoff_base_s * 2 ** attempts) * (0.75 + 0.5 * random.random())
        self._retry[route] = (attempts + 1, time.monotonic() + pause)

    def _on_closed(self: BinanceVenue, route: str, info: str) -> list[VenueUpdate]:
        conn = self.conns[route]
        conn.stop()
        if route not in self._down_since_ms:
            self._down_since_ms[route] = self.now_ns() // MS
        if route not in self._retry:
            self._schedule_retry(route)
        return [self._err(f"ws.{route}", "ws", route, f"websocket lost: {info}")]

    def _supervise(self: BinanceVenue) -> list[VenueUpdate]:
        """Reconnect due routes, keep the listen key alive, watch for silent sockets, poll NAV."""
        out: list[VenueUpdate] = []
        now = time.monotonic()
        for route, conn in sorted(self.conns.items()):
            if conn.alive and route != "private" and now - conn.last_frame > self.stale_after_s:
                out += self._on_closed(route, f"no frame for {self.stale_after_s:g}s")
            due = self._retry.get(route)
            if due is None or now < due[1]:
                continue
            try:
                conn.connect()
            except ConnectionError as exc:
                self._schedule_retry(route)
                out.append(self._err(f"ws.{route}", "reconnect", route,
                                     f"reconnect attempt {due[0]} failed: {exc}"))
                continue
            del self._retry[route]
            out.append(self._err(f"ws.{route}", "reconnect", route,
                                 f"reconnected after {due[0]} attempt(s)"))
            out += self._after_reconnect(route)
        if self.listen_key and now >= self._next_keepalive:
            self._next_keepalive = now + self.keepalive_s
            try:
                self.rest.renew_listen_key(self.listen_key)
            except RestError as exc:
                out.append(self._rest_error(exc, field="listenKey"))
                out += self._renew_user_stream("keepalive failed")
        if self.dry is None and now >= self._next_poll:
            self._next_poll = now + self.account_poll_s
            errors = self._read_account("rest.account")
            out += errors or self.account.snapshot_updates(self.symbols, self.now_ns())
        return out

    def _after_reconnect(self: BinanceVenue, route: str) -> list[VenueUpdate]:
        since_ms = self._down_since_ms.pop(route, None)
        if route == "market":
            batch: list[VenueUpdate] = []
            for sym in self.symbols:
                start = self.gate.resume_from(sym)
                if start is not None:
                    batch += self._backfill(sym, start, None)
            return self._bars(sorted(batch, key=lambda u: u.ts_event_ns))
        if route == "private":
            known_open = set(self.orders.open_ids())
            self._last_open_ids = sorted(known_open)  # if the read fails, query nothing
            out = self._reconcile(initial=False)
            out += self._backfill_fills(since_ms)
            still_open = set(self._last_open_ids)
            for oid in sorted(known_open - still_open):
                t = self.orders.orders[oid]
                try:
                    out += self._order_answer(self.rest.query_order(t.symbol, oid), "rest.queryOrder")
                except RestError as exc:
                    out.append(self._rest_error(exc))
            return out
        return []

    def _backfill_fills(self: BinanceVenue, since_ms: int | None) -> list[VenueUpdate]:
        """Fills of our orders that happened while the user stream was down."""
        if since_ms is None:
            return []
        out: list[VenueUpdate] = []
        start = since_ms - 60_000  # clock skew margin; duplicates are dropped by trade id
        for sym in self.symbols:
            try:
                trades = decode_list(self.rest.user_trades(sym, start), RestTrade, "userTrades")
            except RestError as exc:
                out.append(self._rest_error(exc))
                continue
            except WireError as exc:
                out.append(self._err("rest.userTrades", "parse", exc.field, exc.message))
                continue
            for tr in sorted(trades, key=lambda t: (t.time_ms, t.id)):
                out += self.orders.on_rest_trade(tr, "rest.userTrades")
        return out

    def _renew_user_stream(self: BinanceVenue, why: str) -> list[VenueUpdate]:
        """New listen key, reconnect ``/private``, read the account back."""
        out = [self._err("ws.private", "reconnect", "listenKey", f"renewing user stream: {why}")]
        try:
            self.listen_key = self.rest.new_listen_key()
        except RestError as exc:
            self._next_keepalive = time.monotonic() + 30.0  # try again soon
            return [*out, self._rest_error(exc, field="listenKey")]
        self._next_keepalive = time.monotonic() + self.keepalive_s
        conn = self.conns.get("private")
        if conn is not None:
            self._down_since_ms.setdefault("private", self.now_ns() // MS)
            self._retry["private"] = (0, 0.0)  # reconnect on the next supervise
        return out

    # ------------------------------------------------------------------ orders

    def _order_answer(self: BinanceVenue, resp: Any, source: str, reason: str = "") -> list[VenueUpdate]:
        try:
            order = convert(resp, RestOrder)
        except WireError as exc:
            return [self._err(source, "parse", exc.field, exc.message, str(resp))]
        return self.orders.on_rest_order(order, self.now_ns(), reason)

    def _resolve_unknown(self: BinanceVenue, req: OrderRequest, exc: RestError) -> list[VenueUpdate]:
        """The order call got no clear answer: ask whether the order exists."""
        out = [self._rest_error(exc)]
        try:
            resp = self.rest.query_order(req.symbol, req.order_id)
        except RestError as exc2:
            if exc2.code == -2013:  # order does not exist: it was not placed
                return out + self.orders.rejected(req, exc.status, exc.message, self.now_ns())
            return [*out, self._rest_error(exc2)]
        return out + self._order_answer(resp, "rest.queryOrder")
