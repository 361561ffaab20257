"""Exchange state read back over REST: account, open orders, missed fills, funding.

``Reconciler`` owns the reads that make the adapter's books equal the exchange's:

* ``reconcile`` - account + positions + open orders (``VenueReconciled``) on connect; on
  start our symbols' stale orders are canceled (``apply_open_orders`` after a user-stream
  gap, read off the loop thread: ``readback``);
* ``read_back`` - the account, then trades from ``/fapi/v1/userTrades`` since a time: fills
  missed while the user stream was down, or made while the engine was not running
  (restart); every trade up to the reading is then known, so it settles them. Each
  trade id is recorded once; a trade of an order this process never placed is
  attributed to its client order id by querying the order. The ``fetch_*`` halves
  run on any thread, the ``apply_*`` halves on the loop thread;
* ``order_left`` / ``unknown_outcome`` - what became of one order;
* ``funding`` - ``FundingApplied`` per ``tranId`` from ``/fapi/v1/income``.

Reads never settle fills themselves: the caller reads everything first and then
releases settled fills (``OrderTracker.settle``), so a reading is never paired with a
half-known set of fills.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from engine.ports import OrderRequest, VenueUpdate
from engine.venues.binance.client import BinanceRest, RestError
from engine.venues.binance.convert import (
    MS,
    STABLE_ASSETS,
    STREAM_ACCOUNT,
    STREAM_VENUE,
    TickMerger,
    open_order,
)
from engine.venues.binance.errors import Faults, VenueStartError, describe, transient
from engine.venues.binance.orders import OrderTracker
from engine.venues.binance.positions import AccountBook
from engine.venues.binance.wire import (
    RestAccount,
    RestIncome,
    RestOrder,
    RestPositionRisk,
    RestTrade,
    WireError,
    convert,
    decode_list,
)
from eventlog.events import FundingApplied, VenueReconciled
from eventlog.payloads import OpenOrder

FUNDING_LOOKBACK_MS = 3_600_000  # an hour before the ACCOUNT_UPDATE; tranIds dedupe
TRADE_PAGE = 1000  # userTrades rows per request (Binance's maximum)
TRADE_WINDOW_MS = 7 * 86_400_000  # Binance: a userTrades startTime..endTime window spans at most 7 days
TRADE_MARGIN_MS = 60_000  # userTrades are read from this much before the gap; trade ids dedupe


class Reconciler:
    """REST reads that bring the adapter's account and order books to the exchange's."""

    def __init__(self, rest: BinanceRest, faults: Faults, account: AccountBook, orders: OrderTracker,
                 ticks: TickMerger, symbols: Callable[[], list[str]]):
        self.rest, self.faults, self.account, self.orders, self.ticks = rest, faults, account, orders, ticks
        self.symbols = symbols
        self.funding_seen: set[int] = set()
        self.funding_known: set[tuple[str, int]] = set()  # (symbol, ms) of settlements the log holds
        self.open_ids: list[str] = []  # client ids the last successful open-orders read listed
        self.last_read_ok = False
        self.last_trades_ok = True  # the last trades read-back read every symbol
        self.funding_unread_since: int | None = None  # a funding read that failed: read again from here
        self.trades_unread_since: int | None = None  # trades from here are not all read back yet

    def trade_symbols(self) -> list[str]:
        """Whose trades a read-back reads: the session's symbols, and any other symbol the
        account has traded or holds (a trade by hand, or an earlier session's symbols)."""
        held = {s for s, legs in self.account.legs.items() if any(leg.amount for leg in legs.values())}
        return sorted(set(self.symbols()) | set(self.account.ledger.fills) | held)

    # ------------------------------------------------------------------ account

    def fetch_account(self) -> tuple[Any, ...]:
        """The network half of an account read (any thread): server time before, account,
        positionRisk, server time after; a failed call is its RestError in place."""
        out: list[Any] = []
        for fn in (self.rest.server_time_ms, self.rest.account, self.rest.position_risk, self.rest.server_time_ms):
            try:
                out.append(fn())
            except RestError as exc:
                out.append(exc)
        return tuple(out)

    def read_account(self) -> list[VenueUpdate]:
        return self.apply_account(self.fetch_account())

    def apply_account(self, fetched: tuple[Any, ...]) -> list[VenueUpdate]:
        """account + positionRisk into the account book, stamped with the exchange's time.

        The server time ``t0`` is read before: the reading of a symbol holds at
        ``max(t0, updateTime)`` (its position's last change). A flat symbol is not
        listed (no ``updateTime``): if a known fill of it fell between ``t0`` and the
        server time after the read, its reading settles no fill (which side of the read
        the fill fell on is unknown) - so trades read after the account are applied
        before it (``apply_trades`` first), or such a fill would not be known yet."""
        t0_raw, acct_raw, risks_raw, t1_raw = fetched
        errs = [self.faults.rest(x) for x in fetched if isinstance(x, RestError)]
        acct, e1 = (None, []) if isinstance(acct_raw, RestError) else self.faults.attempt(
            "rest.account", lambda: convert(acct_raw, RestAccount))
        risks, e2 = (None, []) if isinstance(risks_raw, RestError) else self.faults.attempt(
            "rest.positionRisk", lambda: decode_list(risks_raw, RestPositionRisk, "positionRisk"))
        errs += e1 + e2
        if errs or acct is None or risks is None:
            self.last_read_ok = False
            return errs
        t0, t1 = int(t0_raw), int(t1_raw)
        listed = {r.symbol for r in risks}
        ambiguous = frozenset(  # flat symbols (not listed, so no updateTime) with a fill during the read
            sym for sym, fills in self.account.ledger.fills.items()
            if sym not in listed and any(t0 < ft <= t1 for ft, _ in fills.values()))
        self.account.load_rest(acct, risks, self.symbols(), t0, ambiguous)
        self.last_read_ok = True
        return errs

    def reconcile(self, initial: bool, cancel_open: bool = False, fills_since_ms: int | None = None,
                  source: str = "rest.userTrades") -> list[VenueUpdate]:
        """Positions, balances, fills since ``fills_since_ms`` and open orders; on start
        cancel our symbols' stale orders."""
        out = self.read_back(fills_since_ms, source)
        try:
            open_orders: Any = decode_list(self.rest.open_orders(), RestOrder, "openOrders")
        except (RestError, WireError) as exc:
            open_orders = exc
        return self.apply_open_orders(out, open_orders, initial, cancel_open)

    def apply_open_orders(self, out: list[VenueUpdate], open_orders: Any, initial: bool,
                          cancel_open: bool = False) -> list[VenueUpdate]:
        """The open orders read (rows, or the error) after the reads in ``out``: tracked, ours
        canceled on start, ``VenueReconciled`` recorded when every read succeeded."""
        ts = self.faults.now_ns()
        if isinstance(open_orders, RestError):
            out = [*out, self.faults.rest(open_orders)]
            open_orders = None
        elif isinstance(open_orders, WireError):
            out = [*out, self.faults.err("rest.openOrders", "parse", open_orders.field, open_orders.message)]
            open_orders = None
        bad = [u for u in out if u.cls.__name__ == "VenueError"]
        if bad or open_orders is None:
            if initial:  # never trade on an account we could not read
                raise VenueStartError("reconciliation failed: " + describe(bad), transient=transient(bad))
            return out
        canceled: list[str] = []
        listed: list[OpenOrder] = []
        symbols = self.symbols()
        for o in sorted(open_orders, key=lambda o: (o.symbol, o.client_order_id)):
            listed.append(open_order(o))
            tracked = self.orders.track(o.client_order_id, o.symbol, o.side, o.order_id, o.price)
            if initial and cancel_open and o.symbol in symbols:
                _, errs = self.faults.attempt("rest.cancelOrder", partial(
                    self.rest.cancel_order, o.symbol, o.client_order_id), field="origClientOrderId")
                if errs:
                    out += errs
                else:
                    canceled.append(o.client_order_id)
                    tracked.done = True
            else:
                tracked.accepted = True
        self.open_ids = [o.order_id for o in listed]
        out.append(VenueUpdate(VenueReconciled, STREAM_VENUE, ts, {
            "open_orders": listed, "positions": self.account.positions_list(),
            "canceled_orders": canceled}))
        return out

    # ------------------------------------------------------------------ fills

    def fetch_trades(self, since_ms: int, now_ms: int | None = None,
                     symbols: list[str] | None = None) -> dict[str, Any]:
        """The network half (any thread): symbol -> its trades since ``since_ms`` (or the
        RestError). ``now_ms``: the server's time (windows of 7 days up to it); ``symbols``:
        whose (default ``trade_symbols()``; pass it when calling off the loop thread)."""
        start = max(0, since_ms - TRADE_MARGIN_MS)
        out: dict[str, Any] = {}
        for sym in self.trade_symbols() if symbols is None else symbols:
            try:
                out[sym] = self._trades(sym, start, now_ms)
            except (RestError, WireError) as exc:
                out[sym] = exc
        return out

    def read_back(self, since_ms: int | None, source: str = "rest.userTrades") -> list[VenueUpdate]:
        """The account, then every trade since ``since_ms``: fills missed are recorded and
        the reading settles them (every trade up to it is known). The caller settles."""
        fetched = self.fetch_account()
        if since_ms is None:
            return self.apply_account(fetched)
        t0 = fetched[0] if isinstance(fetched[0], int) else None
        trades = self.apply_trades(self.fetch_trades(since_ms, t0), source, complete_to_ms=t0)
        return self.apply_account(fetched) + trades  # the fills first: see apply_account

    def apply_trades(self, fetched: dict[str, Any], source: str = "rest.userTrades",
                     complete_to_ms: int | None = None, lookups: dict[int, Any] | None = None) -> list[VenueUpdate]:
        """Trades read back (symbol -> rows or RestError). ``complete_to_ms``: the server time
        read before this read (every trade up to it is now known; apply these before the
        account reading taken with it).
        ``lookups``: the orders of unknown trades, already queried off the loop thread."""
        out: list[VenueUpdate] = []
        self.last_trades_ok = True
        for sym in sorted(fetched):
            trades = fetched[sym]
            if isinstance(trades, RestError):
                self.last_trades_ok = False
                out.append(self.faults.rest(trades))
                continue
            if isinstance(trades, WireError):
                self.last_trades_ok = False
                out.append(self.faults.err("rest.userTrades", "parse", trades.field, trades.message))
                continue
            for tr in sorted(trades, key=lambda t: (t.time_ms, t.id)):
                if self.account.ledger.has_fill(tr.symbol, tr.id):
                    continue
                if not self.orders.knows_order(tr.order_id):
                    out += self._learn_order(tr, lookups)
                out += self.orders.on_rest_trade(tr, source)
            if complete_to_ms is not None:
                self.account.ledger.mark_complete(sym, int(complete_to_ms))
        return out

    def _trades(self, symbol: str, start_ms: int, now_ms: int | None = None) -> list[RestTrade]:
        """Every trade of ``symbol`` from ``start_ms``: by time windows of at most 7 days
        (Binance refuses wider ones; a startTime alone means the 7 days after it) up to
        ``now_ms``; a full page goes on by trade id (``fromId``, which takes no time)."""
        out: list[RestTrade] = []
        lo = start_ms
        while True:
            last = now_ms is None or lo + TRADE_WINDOW_MS - 1 >= now_ms  # this window reaches now
            rows = decode_list(self.rest.user_trades(symbol, lo, end_ms=None if last else lo + TRADE_WINDOW_MS - 1),
                               RestTrade, "userTrades")
            out += rows
            if len(rows) >= TRADE_PAGE:  # the rest of this window and all later ones, by trade id
                while len(rows) >= TRADE_PAGE:
                    rows = decode_list(self.rest.user_trades(symbol, lo, from_id=rows[-1].id + 1), RestTrade,
                                       "userTrades")
                    out += rows
                return out
            if last:
                return out
            lo += TRADE_WINDOW_MS

    def _learn_order(self, tr: RestTrade, lookups: dict[int, Any] | None = None) -> list[VenueUpdate]:
        """A trade of an order this process has not seen (placed before a restart, or by
        hand): ask the exchange for its client order id (``lookups``: already asked)."""
        def answer() -> Any:
            if lookups is None:
                return self.rest.query_order_by_id(tr.symbol, tr.order_id)
            got = lookups.get(tr.order_id, RestError("queryOrder", 0, None, f"order {tr.order_id} not looked up"))
            if isinstance(got, Exception):
                raise got
            return got

        resp, errs = self.faults.attempt("rest.queryOrder", lambda: convert(answer(), RestOrder))
        if resp is None:
            self.orders.track(f"venue-{tr.order_id}", tr.symbol, tr.side, tr.order_id, tr.price)
            return errs
        self.orders.track(resp.client_order_id, resp.symbol, resp.side, resp.order_id, resp.price)
        return errs

    # ------------------------------------------------------------------ one order

    def order_answer(self, resp: Any, source: str, reason: str = "") -> list[VenueUpdate]:
        order, errs = self.faults.attempt(source, lambda: convert(resp, RestOrder))
        if order is None:
            return errs
        return self.orders.on_rest_order(order, self.faults.now_ns(), reason)

    def order_left(self, symbol: str, order_id: str, answer: Any) -> list[VenueUpdate]:
        """What the order query said (or the RestError it raised): terminal status, and the
        fills it had that were not seen yet (read back from userTrades)."""
        if isinstance(answer, RestError):
            return [self.faults.rest(answer, field="origClientOrderId")]
        order, errs = self.faults.attempt("rest.queryOrder", lambda: convert(answer, RestOrder))
        if order is None:
            return errs
        out = self.orders.on_rest_order(order, self.faults.now_ns())
        tracked = self.orders.orders.get(order_id)
        if tracked is not None and order.executed_qty > tracked.filled_qty + 1e-12:
            # it filled more than we heard: the next poll reads its trades back (off the loop thread)
            since = max(0, order.update_ms - 3_600_000 + TRADE_MARGIN_MS)
            self.trades_unread_since = min(since, self.trades_unread_since or since)
        return out

    def unknown_outcome(self, req: OrderRequest, exc: RestError, query: Any) -> list[VenueUpdate]:
        """The order call got no clear answer; ``query`` is what asking for the order gave
        (its answer, or the RestError: -2013 = it does not exist, so it was not placed)."""
        out = [self.faults.rest(exc)]
        if isinstance(query, RestError):
            if query.code == -2013:
                return out + self.orders.rejected(req, exc.status, exc.message, self.faults.now_ns())
            return [*out, self.faults.rest(query)]
        return out + self.order_answer(query, "rest.queryOrder")

    # ------------------------------------------------------------------ funding

    def fetch_funding(self, since_ms: int) -> Any:
        """The network half (any thread): ``(since_ms, rows)`` - the FUNDING_FEE income since
        ``since_ms``, or the error in place of the rows."""
        try:
            return since_ms, decode_list(self.rest.funding_income(since_ms), RestIncome, "income")
        except (RestError, WireError) as exc:
            return since_ms, exc

    def apply_funding(self, fetched: Any) -> list[VenueUpdate]:
        """The book half (loop thread): each settlement not yet recorded - by ``tranId``, and
        by symbol + time for those an earlier process recorded (``funding_known``). A read
        that failed is remembered (``funding_unread_since``): the polls read it again."""
        if isinstance(fetched, Exception):  # the worker itself failed: nothing known of the read
            return [self.faults.err("rest.income", "http", "$", f"{type(fetched).__name__}: {fetched}")]
        since, rows = fetched
        if isinstance(rows, Exception):
            self.funding_unread_since = min(since, self.funding_unread_since or since)
        if isinstance(rows, RestError):
            return [self.faults.rest(rows)]
        if isinstance(rows, WireError):
            return [self.faults.err("rest.income", "parse", rows.field, rows.message)]
        if isinstance(rows, Exception):
            return [self.faults.err("rest.income", "http", "$", f"{type(rows).__name__}: {rows}")]
        if self.funding_unread_since is not None and since <= self.funding_unread_since:
            self.funding_unread_since = None
        out: list[VenueUpdate] = []
        for r in sorted(rows or [], key=lambda r: (r.time_ms, r.tran_id)):
            if r.income_type != "FUNDING_FEE" or r.tran_id in self.funding_seen or r.asset not in STABLE_ASSETS:
                continue
            self.funding_seen.add(r.tran_id)
            if (r.symbol, r.time_ms) in self.funding_known:  # recorded by an earlier process
                continue
            mark, rate = self.ticks.mark.get(r.symbol, (self.account.marks.get(r.symbol, 0.0), None))
            out.append(VenueUpdate(FundingApplied, STREAM_ACCOUNT, r.time_ms * MS, {
                "symbol": r.symbol, "rate": rate or 0.0, "mark_price": mark,
                "position_qty": self.account.net_qty(r.symbol), "amount_usd": r.income}))
        return out
