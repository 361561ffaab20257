"""State sync for the Binance venue: filters, reconciliation, kline backfill, reconnects.

Functions of a ``BinanceVenue`` (kept apart so each module stays small). Everything here
reads exchange state over REST and turns it into event content; exchange state is
authoritative. Failures never raise into the loop: they become ``VenueError`` updates.
"""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING, Any

from engine.ports import OrderRequest, SymbolFilters, VenueUpdate
from engine.venues.binance_client import RestError
from engine.venues.binance_convert import (
    MS,
    STABLE_ASSETS,
    STREAM_ACCOUNT,
    STREAM_VENUE,
    kline_update,
)
from engine.venues.binance_wire import (
    RestAccount,
    RestExchangeInfo,
    RestIncome,
    RestOrder,
    RestPositionRisk,
    RestTrade,
    WireError,
    convert,
    decode_klines,
    decode_list,
)
from eventlog.events import FundingApplied, VenueReconciled

if TYPE_CHECKING:
    from engine.venues.binance import BinanceVenue

KLINE_PAGE = 1500
FUNDING_LOOKBACK_MS = 3_600_000  # an hour before the ACCOUNT_UPDATE; tranIds dedupe


class VenueStartError(ConnectionError):
    """The venue cannot start safely (no exchange filters, account unreadable)."""


# ------------------------------------------------------------------ start

def load_filters(v: BinanceVenue) -> list[VenueUpdate]:
    try:
        info = convert(v.rest.exchange_info(), RestExchangeInfo)
    except RestError as exc:
        raise VenueStartError(f"exchangeInfo unavailable: {v.redact(exc)}") from None
    except WireError as exc:
        return [v._err("rest.exchangeInfo", "parse", exc.field, exc.message)]
    out: list[VenueUpdate] = []
    by_symbol = {s.symbol: s for s in info.symbols}
    for sym in v.symbols:
        s = by_symbol.get(sym)
        if s is None:
            out.append(v._err("rest.exchangeInfo", "parse", "symbols", f"{sym} not listed"))
            continue
        f = {x.filter_type: x for x in s.filters}
        price, lot, notional = f.get("PRICE_FILTER"), f.get("LOT_SIZE"), f.get("MIN_NOTIONAL")
        if price is None or lot is None or price.tick_size is None or lot.step_size is None:
            out.append(v._err("rest.exchangeInfo", "parse", f"symbols[{sym}].filters",
                                 "PRICE_FILTER.tickSize or LOT_SIZE.stepSize missing"))
            continue
        v._filters[sym] = SymbolFilters(
            tick_size=price.tick_size, step_size=lot.step_size,
            min_qty=lot.min_qty or lot.step_size,
            min_notional=(notional.notional if notional and notional.notional is not None else 0.0))
        if s.status != "TRADING":
            out.append(v._err("rest.exchangeInfo", "parse", f"symbols[{sym}].status",
                                 f"status is {s.status}, not TRADING"))
    return out

def read_account(v: BinanceVenue, source: str) -> list[VenueUpdate]:
    """account + positionRisk into the account book; errors as VenueErrors."""
    try:
        acct = convert(v.rest.account(), RestAccount)
        risks = decode_list(v.rest.position_risk(), RestPositionRisk, "positionRisk")
    except RestError as exc:
        return [v._rest_error(exc)]
    except WireError as exc:
        return [v._err(source, "parse", exc.field, exc.message)]
    v.account.load_rest(acct, risks)
    return []

def reconcile(v: BinanceVenue, initial: bool) -> list[VenueUpdate]:
    """Read positions, balances and open orders; on start cancel our symbols' stale orders."""
    ts = v.now_ns()
    out = read_account(v, "rest.account")
    try:
        open_orders = decode_list(v.rest.open_orders(), RestOrder, "openOrders")
    except RestError as exc:
        out.append(v._rest_error(exc))
    except WireError as exc:
        out.append(v._err("rest.openOrders", "parse", exc.field, exc.message))
    if out:
        if initial:  # never trade on an account we could not read
            raise VenueStartError("reconciliation failed: " + "; ".join(
                f"{u.fields['source']} {u.fields['field']}: {u.fields['message']}" for u in out))
        return out
    canceled: list[str] = []
    listed: list[dict[str, Any]] = []
    for o in sorted(open_orders, key=lambda o: (o.symbol, o.client_order_id)):
        listed.append({"order_id": o.client_order_id, "venue_order_id": str(o.order_id),
                       "symbol": o.symbol, "side": o.side, "type": o.order_type,
                       "time_in_force": o.time_in_force, "price": o.price, "qty": o.orig_qty,
                       "filled_qty": o.executed_qty, "status": o.status})
        v.orders._track(o.client_order_id, o.symbol, o.side, o.order_id, o.price)
        if initial and v.cancel_open_on_start and o.symbol in v.symbols:
            try:
                v.rest.cancel_order(o.symbol, o.client_order_id)
                canceled.append(o.client_order_id)
                v.orders.orders[o.client_order_id].done = True
            except RestError as exc:
                out.append(v._rest_error(exc, field="origClientOrderId"))
        else:
            v.orders.orders[o.client_order_id].accepted = True
    v._last_open_ids = [str(o["order_id"]) for o in listed]
    out.append(VenueUpdate(VenueReconciled, STREAM_VENUE, ts, {
        "open_orders": listed, "positions": v.account.positions_list(),
        "canceled_orders": canceled}))
    out += v.account.snapshot_updates(v.symbols, ts)
    return out

# ------------------------------------------------------------------ klines

def warmup(v: BinanceVenue) -> list[VenueUpdate]:
    """The last ``warmup_bars`` closed klines of each symbol, in time order."""
    if v.warmup_bars <= 0:
        return []
    out: list[VenueUpdate] = []
    try:
        now_ms = v.rest.server_time_ms()
    except RestError as exc:
        return [v._rest_error(exc)]
    for sym in v.symbols:
        try:
            rows = decode_klines(v.rest.klines(sym, v.interval, limit=min(KLINE_PAGE, v.warmup_bars + 1)))
        except RestError as exc:
            out.append(v._rest_error(exc))
            continue
        except WireError as exc:
            out.append(v._err("rest.klines", "parse", exc.field, exc.message))
            continue
        closed = [r for r in rows if r.close_time_ms < now_ms][-v.warmup_bars:]
        for r in closed:
            if v.gate.accept(sym, r.open_time_ms, r.close_time_ms):
                out.append(kline_update(sym, v.interval, r))
    return sorted(out, key=lambda u: u.ts_event_ns)

def backfill(v: BinanceVenue, symbol: str, start_ms: int, end_ms: int | None) -> list[VenueUpdate]:
    """Closed klines from ``start_ms`` (to ``end_ms``, else up to the server's now)."""
    out: list[VenueUpdate] = []
    try:
        now_ms = v.rest.server_time_ms() if end_ms is None else end_ms + 1
        while True:
            rows = decode_klines(v.rest.klines(symbol, v.interval, start_ms, end_ms, KLINE_PAGE))
            for r in rows:
                if r.close_time_ms < now_ms and v.gate.accept(symbol, r.open_time_ms, r.close_time_ms):
                    out.append(kline_update(symbol, v.interval, r))
            if len(rows) < KLINE_PAGE:
                break
            start_ms = rows[-1].close_time_ms + 1
    except RestError as exc:
        out.append(v._rest_error(exc))
    except WireError as exc:
        out.append(v._err("rest.klines", "parse", exc.field, exc.message))
    return out

# ------------------------------------------------------------------ streams

def schedule_retry(v: BinanceVenue, route: str) -> None:
    attempts, _ = v._retry.get(route, (0, 0.0))
    pause = min(v.backoff_max_s, v.backoff_base_s * 2 ** attempts) * (0.75 + 0.5 * random.random())
    v._retry[route] = (attempts + 1, time.monotonic() + pause)

def on_closed(v: BinanceVenue, route: str, info: str) -> list[VenueUpdate]:
    conn = v.conns[route]
    conn.stop()
    if route not in v._down_since_ms:
        v._down_since_ms[route] = v.now_ns() // MS
    if route not in v._retry:
        schedule_retry(v, route)
    return [v._err(f"ws.{route}", "ws", route, f"websocket lost: {info}")]

def supervise(v: BinanceVenue) -> list[VenueUpdate]:
    """Reconnect due routes, keep the listen key alive, watch for silent sockets, poll NAV."""
    out: list[VenueUpdate] = []
    now = time.monotonic()
    for route, conn in sorted(v.conns.items()):
        if conn.alive and route != "private" and now - conn.last_frame > v.stale_after_s:
            out += on_closed(v, route, f"no frame for {v.stale_after_s:g}s")
        due = v._retry.get(route)
        if due is None or now < due[1]:
            continue
        try:
            conn.connect()
        except ConnectionError as exc:
            schedule_retry(v, route)
            out.append(v._err(f"ws.{route}", "reconnect", route,
                                 f"reconnect attempt {due[0]} failed: {exc}"))
            continue
        del v._retry[route]
        out.append(v._err(f"ws.{route}", "reconnect", route,
                             f"reconnected after {due[0]} attempt(s)"))
        out += after_reconnect(v, route)
    if v.listen_key and now >= v._next_keepalive:
        v._next_keepalive = now + v.keepalive_s
        try:
            v.rest.renew_listen_key(v.listen_key)
        except RestError as exc:
            out.append(v._rest_error(exc, field="listenKey"))
            out += renew_user_stream(v, "keepalive failed")
    if v.dry is None and now >= v._next_poll:
        v._next_poll = now + v.account_poll_s
        errors = read_account(v, "rest.account")
        out += errors or v.account.snapshot_updates(v.symbols, v.now_ns())
    return out

def after_reconnect(v: BinanceVenue, route: str) -> list[VenueUpdate]:
    since_ms = v._down_since_ms.pop(route, None)
    if route == "market":
        batch: list[VenueUpdate] = []
        for sym in v.symbols:
            start = v.gate.resume_from(sym)
            if start is not None:
                batch += backfill(v, sym, start, None)
        return v._bars(sorted(batch, key=lambda u: u.ts_event_ns))
    if route == "private":
        known_open = set(v.orders.open_ids())
        v._last_open_ids = sorted(known_open)  # if the read fails, query nothing
        out = reconcile(v, initial=False)
        out += backfill_fills(v, since_ms)
        still_open = set(v._last_open_ids)
        for oid in sorted(known_open - still_open):
            out += settle_order(v, v.orders.orders[oid].symbol, oid)
        return out
    return []

def backfill_fills(v: BinanceVenue, since_ms: int | None) -> list[VenueUpdate]:
    """Fills of our orders that happened while the user stream was down."""
    if since_ms is None:
        return []
    out: list[VenueUpdate] = []
    start = since_ms - 60_000  # clock skew margin; duplicates are dropped by trade id
    for sym in v.symbols:
        try:
            trades = decode_list(v.rest.user_trades(sym, start), RestTrade, "userTrades")
        except RestError as exc:
            out.append(v._rest_error(exc))
            continue
        except WireError as exc:
            out.append(v._err("rest.userTrades", "parse", exc.field, exc.message))
            continue
        for tr in sorted(trades, key=lambda t: (t.time_ms, t.id)):
            out += v.orders.on_rest_trade(tr, "rest.userTrades")
    return out

def renew_user_stream(v: BinanceVenue, why: str) -> list[VenueUpdate]:
    """New listen key, reconnect ``/private``, read the account back."""
    out = [v._err("ws.private", "reconnect", "listenKey", f"renewing user stream: {why}")]
    try:
        v.listen_key = v.rest.new_listen_key()
    except RestError as exc:
        v._next_keepalive = time.monotonic() + 30.0  # try again soon
        return [*out, v._rest_error(exc, field="listenKey")]
    v._next_keepalive = time.monotonic() + v.keepalive_s
    conn = v.conns.get("private")
    if conn is not None:
        v._down_since_ms.setdefault("private", v.now_ns() // MS)
        v._retry["private"] = (0, 0.0)  # reconnect on the next supervise
    return out

# ------------------------------------------------------------------ orders

def order_answer(v: BinanceVenue, resp: Any, source: str, reason: str = "") -> list[VenueUpdate]:
    try:
        order = convert(resp, RestOrder)
    except WireError as exc:
        return [v._err(source, "parse", exc.field, exc.message, str(resp))]
    return v.orders.on_rest_order(order, v.now_ns(), reason)

def settle_order(v: BinanceVenue, symbol: str, order_id: str) -> list[VenueUpdate]:
    """An order that left the book: record how (cancel/expiry) and any fills not seen yet."""
    try:
        resp = v.rest.query_order(symbol, order_id)
        order: RestOrder = convert(resp, RestOrder)
    except RestError as exc:
        return [v._rest_error(exc, field="origClientOrderId")]
    except WireError as exc:
        return [v._err("rest.queryOrder", "parse", exc.field, exc.message)]
    out = v.orders.on_rest_order(order, v.now_ns())
    tracked = v.orders.orders.get(order_id)
    if tracked is not None and order.executed_qty > tracked.filled_qty + 1e-12:
        try:
            trades = decode_list(v.rest.user_trades(symbol, max(0, order.update_ms - 3_600_000)),
                                 RestTrade, "userTrades")
        except RestError as exc:
            return [*out, v._rest_error(exc)]
        except WireError as exc:
            return [*out, v._err("rest.userTrades", "parse", exc.field, exc.message)]
        for tr in sorted(trades, key=lambda t: (t.time_ms, t.id)):
            if tr.order_id == order.order_id:
                out += v.orders.on_rest_trade(tr, "rest.userTrades")
    return out


def funding(v: BinanceVenue, event_ms: int) -> list[VenueUpdate]:
    """A funding settlement happened (ACCOUNT_UPDATE ``FUNDING_FEE``): one
    ``FundingApplied`` per symbol from ``/fapi/v1/income`` (each ``tranId`` once)."""
    try:
        rows = decode_list(v.rest.funding_income(max(0, event_ms - FUNDING_LOOKBACK_MS)), RestIncome, "income")
    except RestError as exc:
        return [v._rest_error(exc)]
    except WireError as exc:
        return [v._err("rest.income", "parse", exc.field, exc.message)]
    out: list[VenueUpdate] = []
    for r in sorted(rows, key=lambda r: (r.time_ms, r.tran_id)):
        if r.income_type != "FUNDING_FEE" or r.tran_id in v.funding_seen or r.asset not in STABLE_ASSETS:
            continue
        v.funding_seen.add(r.tran_id)
        mark, rate = v.ticks.mark.get(r.symbol, (v.account.marks.get(r.symbol, 0.0), None))
        out.append(VenueUpdate(FundingApplied, STREAM_ACCOUNT, r.time_ms * MS, {
            "symbol": r.symbol, "rate": rate or 0.0, "mark_price": mark,
            "position_qty": v.account.net_qty(r.symbol), "amount_usd": r.income}))
    return out


def resolve_unknown(v: BinanceVenue, req: OrderRequest, exc: RestError) -> list[VenueUpdate]:
    """The order call got no clear answer: ask whether the order exists."""
    out = [v._rest_error(exc)]
    try:
        resp = v.rest.query_order(req.symbol, req.order_id)
    except RestError as exc2:
        if exc2.code == -2013:  # order does not exist: it was not placed
            return out + v.orders.rejected(req, exc.status, exc.message, v.now_ns())
        return [*out, v._rest_error(exc2)]
    return out + order_answer(v, resp, "rest.queryOrder")
