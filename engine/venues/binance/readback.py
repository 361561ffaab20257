"""Read-backs off the loop thread: what one reads, and the network half that reads it.

After a private-stream gap, and at every account poll, the venue reads the exchange's
books back over REST: the account, the trades since a time (and, for a trade of an
order this process does not know, the order, to learn its client id), open orders and
the orders that left the book (after a gap), funding settlements. ``ReadBack`` is what
the loop thread asks for, with a copy of what it knows (the venue order ids it
tracks) so the worker never reads the adapter's books; ``fetch`` does every call on
the worker thread (``offloop.OffLoop``) and returns a ``Fetched``, which the loop
thread applies (``BinanceVenue._read_back_applied``). Nothing here touches a book.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.venues.binance.client import RestError
from engine.venues.binance.reconcile import Reconciler
from engine.venues.binance.wire import RestOrder, WireError, decode_list


@dataclass(frozen=True)
class ReadBack:
    """What one read-back reads (decided on the loop thread)."""

    reason: str  # "poll" | "reconnect"
    trades_since: int | None = None  # userTrades from here (None: no trades read)
    symbols: tuple[str, ...] = ()  # whose trades
    known_orders: frozenset[int] = frozenset()  # venue order ids the tracker knows; others are looked up
    open_orders: bool = False  # read the open orders (after a private gap)
    believed_open: tuple[tuple[str, str], ...] = ()  # (symbol, client id): queried when no longer listed
    funding_since: int | None = None  # FUNDING_FEE income from here


@dataclass
class Fetched:
    """What the worker read; a failed call is its exception in place."""

    account: tuple[Any, ...]  # Reconciler.fetch_account()
    trades: dict[str, Any] = field(default_factory=dict)  # symbol -> rows | error
    lookups: dict[int, Any] = field(default_factory=dict)  # venue order id -> order answer | RestError
    open_orders: Any = None  # rows | error (None: not read)
    left: dict[str, Any] = field(default_factory=dict)  # client id -> query answer | RestError
    funding: Any = None  # Reconciler.fetch_funding() (None: not read)

    @property
    def server_ms(self) -> int | None:
        """The server time read before the account (every trade up to it is read back)."""
        t0 = self.account[0]
        return int(t0) if isinstance(t0, int) else None


def fetch(sync: Reconciler, rb: ReadBack) -> Fetched:
    """Every call ``rb`` asks for (worker thread): the account first, so the trades read
    after it are complete up to its time."""
    got = Fetched(account=sync.fetch_account())
    if rb.trades_since is not None:
        got.trades = sync.fetch_trades(rb.trades_since, got.server_ms, list(rb.symbols))
        for rows in got.trades.values():
            for tr in rows if isinstance(rows, list) else []:
                if tr.order_id not in rb.known_orders and tr.order_id not in got.lookups:
                    got.lookups[tr.order_id] = _call(lambda tr=tr: sync.rest.query_order_by_id(tr.symbol, tr.order_id))
    if rb.open_orders:
        got.open_orders = _call(lambda: decode_list(sync.rest.open_orders(), RestOrder, "openOrders"))
        if isinstance(got.open_orders, list):
            listed = {o.client_order_id for o in got.open_orders}
            for symbol, cid in rb.believed_open:
                if cid not in listed:
                    got.left[cid] = _call(lambda s=symbol, c=cid: sync.rest.query_order(s, c))
    if rb.funding_since is not None:
        got.funding = sync.fetch_funding(rb.funding_since)
    return got


def _call(fn: Any) -> Any:
    try:
        return fn()
    except (RestError, WireError) as exc:
        return exc
