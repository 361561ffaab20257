"""Venue Structs -> domain-event content (``VenueUpdate``), with the little state it needs.

Pure conversions plus three small books kept by the Binance venue:

* ``KlineGate`` - one ``KlineClosed`` per (symbol, open time), in order; reports gaps
  so the venue can backfill missed candles from REST.
* ``TickMerger`` - Binance splits top of book (``bookTicker``) and mark price
  (``markPriceUpdate``); a ``MarketTick`` carries both, throttled per symbol.
* ``AccountBook`` - balances and positions from REST and ``ACCOUNT_UPDATE``, so NAV
  (futures wallet + unrealised PnL) and signed positions can be emitted at any time.

Times: Binance milliseconds become nanoseconds here. A closed kline is stamped at
its end (close time + 1 ms), so a kline backfilled from REST is identical to the live one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.ports import VenueUpdate
from engine.venues.binance_wire import (
    RestAccount,
    RestKline,
    RestPositionRisk,
    WsAccountUpdate,
    WsBookTicker,
    WsKlineBody,
    WsMarkPrice,
)
from eventlog.events import KlineClosed, MarketTick, NavSnapshot, PositionSnapshot, VenueError

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


# --------------------------------------------------------------------------- klines


def kline_update(symbol: str, interval: str, k: WsKlineBody | RestKline) -> VenueUpdate:
    """Stamped at the end of the bar (close time + 1 ms), like the simulated venue."""
    return VenueUpdate(KlineClosed, market_stream(symbol), (k.close_time_ms + 1) * MS, {
        "symbol": symbol, "interval": interval, "open_time_ms": k.open_time_ms,
        "close_time_ms": k.close_time_ms, "open": k.open, "high": k.high, "low": k.low,
        "close": k.close, "volume": k.volume,
    })


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
    """Joins book ticker and mark price into ``MarketTick``s, at most one per symbol per interval."""

    def __init__(self, min_interval_ms: int = 1000):
        self.min_interval_ms = min_interval_ms
        self.book: dict[str, tuple[float, float, float, float]] = {}
        self.mark: dict[str, tuple[float, float | None]] = {}
        self._last_emit: dict[str, int] = {}
        self._dirty: set[str] = set()

    def on_book(self, f: WsBookTicker) -> VenueUpdate | None:
        self.book[f.symbol] = (f.bid, f.ask, f.bid_qty, f.ask_qty)
        return self._maybe_emit(f.symbol, f.event_ms)

    def on_mark(self, f: WsMarkPrice) -> VenueUpdate | None:
        self.mark[f.symbol] = (f.mark, f.funding_rate)
        return self._maybe_emit(f.symbol, f.event_ms)

    def mid(self, symbol: str) -> float | None:
        b = self.book.get(symbol)
        return (b[0] + b[1]) / 2 if b else None

    def _maybe_emit(self, symbol: str, event_ms: int) -> VenueUpdate | None:
        self._dirty.add(symbol)
        book = self.book.get(symbol)
        if book is None:  # a tick needs bid/ask; the mark waits for the first book
            return None
        last = self._last_emit.get(symbol)
        if last is not None and event_ms - last < self.min_interval_ms:
            return None
        self._last_emit[symbol] = event_ms
        self._dirty.discard(symbol)
        mark, rate = self.mark.get(symbol, (None, None))
        bid, ask, bq, aq = book
        return VenueUpdate(MarketTick, market_stream(symbol), event_ms * MS, {
            "symbol": symbol, "bid": bid, "ask": ask, "bid_qty": bq, "ask_qty": aq,
            "mark": mark, "funding_rate": rate,
        })


# --------------------------------------------------------------------------- account


@dataclass
class _Leg:
    amount: float
    entry: float
    unrealized: float


@dataclass
class AccountBook:
    """Balances and positions as the exchange reports them (one-way or hedge mode)."""

    wallet: dict[str, float] = field(default_factory=dict)
    available: float = 0.0
    legs: dict[str, dict[str, _Leg]] = field(default_factory=dict)  # symbol -> positionSide -> leg
    marks: dict[str, float] = field(default_factory=dict)
    leverage: dict[str, float] = field(default_factory=dict)

    # ---- inputs

    def load_rest(self, account: RestAccount, risks: list[RestPositionRisk]) -> None:
        """Replace everything with a REST reading (exchange state is authoritative)."""
        self.wallet = {a.asset: a.wallet for a in account.assets}
        if not self.wallet:
            self.wallet = {"USDT": account.total_wallet}
        self.available = account.available
        self.legs = {}
        for r in risks:
            self.legs.setdefault(r.symbol, {})[r.position_side] = _Leg(r.amount, r.entry_price, r.unrealized_pnl)
            if r.mark_price > 0:
                self.marks[r.symbol] = r.mark_price
            if r.initial_margin > 0 and r.notional:
                self.leverage[r.symbol] = round(abs(r.notional) / r.initial_margin, 4)

    def apply_update(self, f: WsAccountUpdate) -> list[str]:
        """Apply an ``ACCOUNT_UPDATE``; returns the symbols whose position changed."""
        for b in f.a.balances:
            self.wallet[b.asset] = b.wallet
        changed: list[str] = []
        for p in f.a.positions:
            self.legs.setdefault(p.symbol, {})[p.position_side] = _Leg(p.amount, p.entry_price, p.unrealized_pnl)
            if p.symbol not in changed:
                changed.append(p.symbol)
        return changed

    def apply_mark(self, symbol: str, mark: float) -> None:
        """Re-mark a position (Binance computes unrealised PnL on the mark price)."""
        self.marks[symbol] = mark
        for leg in self.legs.get(symbol, {}).values():
            if leg.amount:
                leg.unrealized = leg.amount * (mark - leg.entry)

    def apply_fill(self, symbol: str, side: str, qty: float, price: float) -> float:
        """Track a fill before ACCOUNT_UPDATE confirms it; returns the net position after."""
        legs = self.legs.setdefault(symbol, {})
        leg = legs.setdefault("BOTH", _Leg(0.0, 0.0, 0.0))
        signed = qty if side == "BUY" else -qty
        new = leg.amount + signed
        if leg.amount == 0 or (leg.amount > 0) == (signed > 0):
            total = abs(leg.amount) + qty
            leg.entry = (abs(leg.amount) * leg.entry + qty * price) / total if total else 0.0
        elif abs(new) > 1e-12 and (new > 0) != (leg.amount > 0):
            leg.entry = price  # flipped through zero
        leg.amount = 0.0 if abs(new) < 1e-12 else new
        if leg.amount == 0:
            leg.entry = 0.0
        return self.net_qty(symbol)

    # ---- outputs

    def net_qty(self, symbol: str) -> float:
        return sum((leg.amount for leg in self.legs.get(symbol, {}).values()), 0.0)

    def nav_fields(self) -> dict[str, Any]:
        wallet = sum((v for k, v in sorted(self.wallet.items()) if k in STABLE_ASSETS), 0.0)
        upnl = sum((leg.unrealized for legs in self.legs.values() for leg in legs.values()), 0.0)
        return {"nav_usd": wallet + upnl, "wallet_balance": wallet, "unrealized_pnl": upnl,
                "available_balance": self.available, "sources_ok": True, "source": "venue"}

    def nav_update(self, ts_ns: int) -> VenueUpdate:
        return VenueUpdate(NavSnapshot, STREAM_ACCOUNT, ts_ns, self.nav_fields())

    def position_update(self, symbol: str, ts_ns: int) -> VenueUpdate:
        legs = [leg for leg in self.legs.get(symbol, {}).values() if leg.amount]
        qty = sum((leg.amount for leg in legs), 0.0)
        gross = sum((abs(leg.amount) for leg in legs), 0.0)
        entry = sum(abs(leg.amount) * leg.entry for leg in legs) / gross if gross else 0.0
        mark = self.marks.get(symbol, entry)
        return VenueUpdate(PositionSnapshot, STREAM_ACCOUNT, ts_ns, {
            "symbol": symbol, "qty": qty, "entry_price": entry, "mark_price": mark,
            "unrealized_pnl": sum((leg.unrealized for leg in legs), 0.0),
            "leverage": self.leverage.get(symbol, 1.0), "notional": qty * mark,
        })

    def positions_list(self) -> list[dict[str, Any]]:
        """Non-flat positions as plain dicts (for ``VenueReconciled``), sorted by symbol."""
        out = []
        for sym in sorted(self.legs):
            qty = self.net_qty(sym)
            if qty:
                f = self.position_update(sym, 0).fields
                out.append({k: f[k] for k in ("symbol", "qty", "entry_price", "mark_price", "unrealized_pnl")})
        return out

    def bar_updates(self, ts_ns: int) -> list[VenueUpdate]:
        """NAV and open positions, re-marked, at a bar close (before the bar is decided on)."""
        return [self.nav_update(ts_ns), *(self.position_update(s, ts_ns) for s in sorted(self.legs)
                                          if self.net_qty(s))]

    def snapshot_updates(self, symbols: list[str], ts_ns: int) -> list[VenueUpdate]:
        """NAV, then one position per configured symbol (flat ones too) and any other open one."""
        syms = sorted(set(symbols) | {s for s in self.legs if self.net_qty(s)})
        return [self.nav_update(ts_ns), *(self.position_update(s, ts_ns) for s in syms)]
