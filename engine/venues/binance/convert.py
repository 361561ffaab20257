"""Venue Structs -> domain-event content (``VenueUpdate``), with the little state it needs.

Pure conversions plus two small books kept by the Binance venue (the account and
positions are in ``positions``):

* ``KlineGate`` - one ``KlineClosed`` per (symbol, open time), in order; reports gaps
  so the venue can backfill missed candles from REST.
* ``TickMerger`` - Binance splits top of book (``bookTicker``) and mark price
  (``markPriceUpdate``); a ``MarketTick`` carries both, conflated per symbol: the first
  quote after a quiet window goes out at once, and the *last* quote of every
  conflation window is emitted when the window closes (``min_interval_ms=0``: every quote).

Times: Binance milliseconds become nanoseconds here. A closed kline is stamped at
its end (close time + 1 ms), so a kline backfilled from REST is identical to the live one.
"""

from __future__ import annotations

from engine.ports import VenueUpdate
from engine.venues.binance.wire import (
    RestKline,
    RestOrder,
    WsBookTicker,
    WsKlineBody,
    WsMarkPrice,
)
from eventlog.events import KlineClosed, MarketTick, VenueError
from eventlog.payloads import OpenOrder

MS = 1_000_000
STREAM_ORDERS = "orders"
STREAM_ACCOUNT = "account"
STREAM_VENUE = "venue"
STABLE_ASSETS = frozenset({"USDT", "USDC", "FDUSD", "BUSD"})
RAW_LIMIT = 2000  # characters of a bad payload kept in the VenueError


def market_stream(symbol: str) -> str:
    return f"market.{symbol}"


def venue_error(source: str, kind: str, field_: str, message: str, ts_ns: int, raw: str = "") -> VenueUpdate:
    """A ``VenueError`` update (the caller has already redacted ``message`` and ``raw``)."""
    return VenueUpdate(VenueError, STREAM_VENUE, ts_ns, {
        "source": source, "kind": kind, "field": field_ or "$", "message": message[:RAW_LIMIT],
        "raw": raw[:RAW_LIMIT],
    })


def open_order(o: RestOrder) -> OpenOrder:
    """A resting order from ``/fapi/v1/openOrders`` as the ``VenueReconciled`` row."""
    return OpenOrder(order_id=o.client_order_id, venue_order_id=str(o.order_id), symbol=o.symbol, side=o.side,
                     order_type=o.order_type, time_in_force=o.time_in_force, price=o.price, qty=o.orig_qty,
                     filled_qty=o.executed_qty, status=o.status)


# --------------------------------------------------------------------------- klines


def kline_update(symbol: str, interval: str, k: WsKlineBody | RestKline, history: bool = False) -> VenueUpdate:
    """Stamped at the end of the bar (close time + 1 ms), like the simulated venue;
    ``history``: a warm-up bar (indicators only, no decision)."""
    fields = {"symbol": symbol, "interval": interval, "open_time_ms": k.open_time_ms,
              "close_time_ms": k.close_time_ms, "open": k.open, "high": k.high, "low": k.low,
              "close": k.close, "volume": k.volume}
    if history:
        fields["history"] = True
    return VenueUpdate(KlineClosed, market_stream(symbol), (k.close_time_ms + 1) * MS, fields)


class KlineGate:
    """Exactly-once, in-order closed klines per symbol (dedupe by symbol + open time)."""

    def __init__(self) -> None:
        self.last_open: dict[str, int] = {}
        self.last_close: dict[str, int] = {}

    def accept(self, symbol: str, open_ms: int, close_ms: int) -> bool:
        """True the first time a kline newer than the last one is seen; records it."""
        if open_ms <= self.last_open.get(symbol, -1):
            return False
        self.last_open[symbol] = open_ms
        self.last_close[symbol] = close_ms
        return True

    def gap_before(self, symbol: str, open_ms: int) -> tuple[int, int] | None:
        """(start_ms, end_ms) of klines missing before ``open_ms``, if any."""
        last = self.last_close.get(symbol)
        if last is None or open_ms <= last + 1:
            return None
        return last + 1, open_ms - 1

    def resume_from(self, symbol: str) -> int | None:
        """Where a backfill for ``symbol`` starts (None: nothing seen yet)."""
        last = self.last_close.get(symbol)
        return None if last is None else last + 1


# --------------------------------------------------------------------------- ticks


class TickMerger:
    """Joins book ticker and mark price into ``MarketTick``s, conflated per symbol.

    A window opens with the first quote emitted; later quotes inside it are held, and
    the last one held is emitted when the window closes (on ``flush`` or with the next
    quote after it), so the log holds the last quote of every window.
    ``min_interval_ms=0`` logs every quote (full capture).
    """

    def __init__(self, min_interval_ms: int = 1000):
        self.min_interval_ms = min_interval_ms
        self.book: dict[str, tuple[float, float, float, float]] = {}
        self.mark: dict[str, tuple[float, float | None]] = {}
        self._window_start: dict[str, int] = {}
        self._held: dict[str, VenueUpdate] = {}  # symbol -> last quote of the open window, not yet emitted
        self.priced: set[str] = set()  # symbols for which a live tick has been emitted

    def on_book(self, f: WsBookTicker) -> list[VenueUpdate]:
        self.book[f.symbol] = (f.bid, f.ask, f.bid_qty, f.ask_qty)
        return self._quote(f.symbol, f.event_ms)

    def on_mark(self, f: WsMarkPrice) -> list[VenueUpdate]:
        self.mark[f.symbol] = (f.mark, f.funding_rate)
        return self._quote(f.symbol, f.event_ms)

    def mid(self, symbol: str) -> float | None:
        b = self.book.get(symbol)
        return (b[0] + b[1]) / 2 if b else None

    def flush(self, now_ms: int) -> list[VenueUpdate]:
        """The held last quote of every window closed by ``now_ms``."""
        return [self._held.pop(sym) for sym in sorted(self._held)
                if now_ms - self._window_start[sym] >= self.min_interval_ms]

    def _quote(self, symbol: str, event_ms: int) -> list[VenueUpdate]:
        book = self.book.get(symbol)
        if book is None:  # a tick needs bid/ask; the mark waits for the first book
            return []
        mark, rate = self.mark.get(symbol, (None, None))
        bid, ask, bq, aq = book
        tick = VenueUpdate(MarketTick, market_stream(symbol), event_ms * MS, {
            "symbol": symbol, "bid": bid, "ask": ask, "bid_qty": bq, "ask_qty": aq,
            "mark": mark, "funding_rate": rate,
        })
        start = self._window_start.get(symbol)
        if start is not None and event_ms - start < self.min_interval_ms:
            self._held[symbol] = tick
            return []
        held = self._held.pop(symbol, None)
        self._window_start[symbol] = event_ms
        self.priced.add(symbol)
        return [tick] if held is None else [held, tick]
