"""The exchange's account and positions, and the one rule for a position after a fill.

``AccountBook`` keeps balances and positions as the exchange last reported them
(REST ``/fapi/v3/account`` + ``positionRisk``, and ``ACCOUNT_UPDATE``), each symbol
stamped with the exchange time of its reading; an older reading arriving late never
overwrites a newer one.

``PositionLedger`` answers "what was the exchange's position right after trade *t*?"
without ever summing a fill twice, whatever the arrival order of fills
(``ORDER_TRADE_UPDATE`` / ``userTrades``) and readings (``ACCOUNT_UPDATE`` / REST):

* a *reading* is the exchange's net position of a symbol at an exchange time ``T``; it
  includes every trade of that symbol with trade time ``<= T`` (Binance stamps an
  ``ACCOUNT_UPDATE`` with the transaction time ``T`` of the trade that caused it);
* a fill is *settled* by the reading stamped with its own trade time (its
  ``ACCOUNT_UPDATE``), or by a later reading up to which every trade is known (a
  ``userTrades`` read made after that reading); its position is
  ``reading - (fills after it, up to the reading)``, each fill counted once by trade id.

A fill that is not settled yet waits (normally milliseconds: Binance sends
``ACCOUNT_UPDATE`` before ``ORDER_TRADE_UPDATE``); a REST read settles everything
before it. Limitation (documented in docs/binance.md): two trades of one symbol in
the same millisecond are ordered by trade id, and a reading stamped in that
millisecond is taken to include both.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

from engine.ports import VenueUpdate
from engine.venues.binance.convert import STABLE_ASSETS, STREAM_ACCOUNT
from engine.venues.binance.wire import RestAccount, RestPositionRisk, WsAccountUpdate
from eventlog.events import NavSnapshot, PositionSnapshot
from eventlog.payloads import ReconciledPosition

KEEP_READINGS = 256  # per symbol; older readings settle nothing that is still pending
EPS = 1e-12


@dataclass
class _Leg:
    amount: float
    entry: float
    unrealized: float


class PositionLedger:
    """Readings and fills per symbol; the position after any fill, each fill counted once."""

    def __init__(self) -> None:
        self.readings: dict[str, list[tuple[int, float]]] = {}  # symbol -> sorted [(time_ms, qty)]
        self.fills: dict[str, dict[int, tuple[int, float]]] = {}  # symbol -> trade id -> (time_ms, signed qty)
        self.complete_to: dict[str, int] = {}  # symbol -> ms up to which every trade is known

    def has_fill(self, symbol: str, trade_id: int) -> bool:
        return trade_id in self.fills.get(symbol, {})

    def add_fill(self, symbol: str, trade_id: int, time_ms: int, signed_qty: float) -> bool:
        """Record a fill; False if this trade id was already known."""
        book = self.fills.setdefault(symbol, {})
        if trade_id in book:
            return False
        book[trade_id] = (time_ms, signed_qty)
        return True

    def add_reading(self, symbol: str, time_ms: int, qty: float) -> None:
        rs = self.readings.setdefault(symbol, [])
        i = bisect.bisect_left(rs, (time_ms, float("-inf")))
        if i < len(rs) and rs[i][0] == time_ms:
            rs[i] = (time_ms, qty)  # the later arrival for the same ms wins
        else:
            rs.insert(i, (time_ms, qty))
        del rs[:-KEEP_READINGS]

    def latest(self, symbol: str) -> tuple[int, float] | None:
        rs = self.readings.get(symbol)
        return rs[-1] if rs else None

    def settled(self, symbol: str, time_ms: int) -> bool:
        last = self.latest(symbol)
        return last is not None and last[0] >= time_ms

    def mark_complete(self, symbol: str, to_ms: int) -> None:
        """Every trade of ``symbol`` up to ``to_ms`` is known (a userTrades read made after
        a reading at ``to_ms``)."""
        self.complete_to[symbol] = max(self.complete_to.get(symbol, -1), to_ms)

    def position_after(self, symbol: str, trade_id: int) -> float | None:
        """The exchange's net position right after ``trade_id``; None until settled.

        Settled by a reading stamped with the trade's own time (its ``ACCOUNT_UPDATE``),
        or by a later reading up to which every trade is known (``mark_complete``). A later
        reading alone is not enough: fills still missing between could cancel out.
        """
        fills = self.fills[symbol]
        t, _ = fills[trade_id]
        rs = self.readings.get(symbol, [])
        complete = self.complete_to.get(symbol, -1)
        for r_time, r_qty in rs[bisect.bisect_left(rs, (t, float("-inf"))):]:
            if r_time == t or r_time <= complete:
                qty = r_qty
                for tid, (ft, signed) in fills.items():
                    if (t, trade_id) < (ft, tid) and ft <= r_time:
                        qty -= signed
                return 0.0 if abs(qty) < EPS else round(qty, 10)
        return None

    def current(self, symbol: str) -> float:
        """Latest reading plus every fill after it."""
        last = self.latest(symbol)
        since, qty = last if last is not None else (-1, 0.0)
        for ft, signed in self.fills.get(symbol, {}).values():
            if ft > since:
                qty += signed
        return 0.0 if abs(qty) < EPS else round(qty, 10)


@dataclass
class AccountBook:
    """Balances and positions as the exchange reports them (one-way or hedge mode)."""

    wallet: dict[str, float] = field(default_factory=dict)
    available: float = 0.0
    legs: dict[str, dict[str, _Leg]] = field(default_factory=dict)  # symbol -> positionSide -> leg
    as_of_ms: dict[str, int] = field(default_factory=dict)  # symbol -> exchange time of its legs
    wallet_as_of_ms: int = -1
    marks: dict[str, float] = field(default_factory=dict)
    leverage: dict[str, float] = field(default_factory=dict)
    ledger: PositionLedger = field(default_factory=PositionLedger)

    # ---- inputs

    def load_rest(self, account: RestAccount, risks: list[RestPositionRisk], symbols: list[str],
                  read_ms: int, ambiguous: frozenset[str] = frozenset()) -> None:
        """A REST reading taken at exchange time ``read_ms`` (authoritative); a listed
        position holds at ``max(read_ms, its updateTime)``.

        ``ambiguous``: symbols with a known fill in the read's time window (between the
        server times before and after it) - their position is taken, but not as a
        reading that settles fills (which side of the read the fill fell on is unknown).
        """
        self.wallet = {a.asset: a.wallet for a in account.assets} or {"USDT": account.total_wallet}
        self.wallet_as_of_ms = max(self.wallet_as_of_ms, read_ms)
        self.available = account.available
        by_symbol: dict[str, dict[str, _Leg]] = {}
        updated: dict[str, int] = {}
        for r in risks:
            updated[r.symbol] = max(updated.get(r.symbol, -1), r.update_ms)
            by_symbol.setdefault(r.symbol, {})[r.position_side] = _Leg(r.amount, r.entry_price, r.unrealized_pnl)
            if r.mark_price > 0:
                self.marks[r.symbol] = r.mark_price
            if r.initial_margin > 0 and r.notional:
                self.leverage[r.symbol] = round(abs(r.notional) / r.initial_margin, 4)
        for sym in sorted(set(symbols) | set(by_symbol) | set(self.legs)):
            legs = by_symbol.get(sym, {})
            at = max(read_ms, updated.get(sym, -1))
            if sym not in ambiguous:
                self.ledger.add_reading(sym, at, sum((leg.amount for leg in legs.values()), 0.0))
            if self.as_of_ms.get(sym, -1) <= at:  # else a newer ACCOUNT_UPDATE already arrived
                self.legs[sym] = legs
                self.as_of_ms[sym] = at

    def apply_update(self, f: WsAccountUpdate) -> list[str]:
        """Apply an ``ACCOUNT_UPDATE`` (older than what we hold: kept as a reading only);
        returns the symbols it reports."""
        t = f.tx_ms or f.event_ms
        if t >= self.wallet_as_of_ms:
            for b in f.a.balances:
                self.wallet[b.asset] = b.wallet
            self.wallet_as_of_ms = t
        changed: list[str] = []
        for p in f.a.positions:
            if self.as_of_ms.get(p.symbol, -1) <= t:
                self.legs.setdefault(p.symbol, {})[p.position_side] = _Leg(p.amount, p.entry_price, p.unrealized_pnl)
                self.as_of_ms[p.symbol] = t
                if p.symbol not in changed:
                    changed.append(p.symbol)
        for sym in dict.fromkeys(p.symbol for p in f.a.positions):
            qty = self._legs_net(sym) if sym in changed else sum(p.amount for p in f.a.positions if p.symbol == sym)
            self.ledger.add_reading(sym, t, qty)
        return changed

    def apply_mark(self, symbol: str, mark: float) -> None:
        """Re-mark a position (Binance computes unrealised PnL on the mark price)."""
        self.marks[symbol] = mark
        for leg in self.legs.get(symbol, {}).values():
            if leg.amount:
                leg.unrealized = leg.amount * (mark - leg.entry)

    # ---- outputs

    def _legs_net(self, symbol: str) -> float:
        return sum((leg.amount for leg in self.legs.get(symbol, {}).values()), 0.0)

    def net_qty(self, symbol: str) -> float:
        """The exchange's position now: its latest reading plus the fills after it."""
        if symbol in self.ledger.readings or symbol in self.ledger.fills:
            return self.ledger.current(symbol)
        return self._legs_net(symbol)

    def nav_fields(self, sources_ok: bool = True) -> dict[str, Any]:
        wallet = sum((v for k, v in sorted(self.wallet.items()) if k in STABLE_ASSETS), 0.0)
        upnl = sum((leg.unrealized for legs in self.legs.values() for leg in legs.values()), 0.0)
        return {"nav_usd": wallet + upnl, "wallet_balance": wallet, "unrealized_pnl": upnl,
                "available_balance": self.available, "sources_ok": sources_ok, "source": "venue"}

    def nav_update(self, ts_ns: int, sources_ok: bool = True) -> VenueUpdate:
        return VenueUpdate(NavSnapshot, STREAM_ACCOUNT, ts_ns, self.nav_fields(sources_ok))

    def position_update(self, symbol: str, ts_ns: int) -> VenueUpdate:
        legs = [leg for leg in self.legs.get(symbol, {}).values() if leg.amount]
        qty = self.net_qty(symbol)
        gross = sum((abs(leg.amount) for leg in legs), 0.0)
        entry = sum(abs(leg.amount) * leg.entry for leg in legs) / gross if gross and qty else 0.0
        mark = self.marks.get(symbol, entry)
        if abs(qty - self._legs_net(symbol)) < EPS:  # the legs are current: the exchange's own figure
            upnl = sum((leg.unrealized for leg in legs), 0.0)
        else:  # fills since the last reading: re-mark the position we know
            upnl = qty * (mark - entry) if qty and entry else 0.0
        return VenueUpdate(PositionSnapshot, STREAM_ACCOUNT, ts_ns, {
            "symbol": symbol, "qty": qty, "entry_price": entry, "mark_price": mark,
            "unrealized_pnl": upnl, "leverage": self.leverage.get(symbol, 1.0), "notional": qty * mark,
        })

    def positions_list(self) -> list[ReconciledPosition]:
        """Non-flat positions (for ``VenueReconciled``), sorted by symbol."""
        out = []
        for sym in sorted(set(self.legs) | set(self.ledger.fills)):
            if self.net_qty(sym):
                f = self.position_update(sym, 0).fields
                out.append(ReconciledPosition(symbol=f["symbol"], qty=f["qty"], entry_price=f["entry_price"],
                                              mark_price=f["mark_price"], unrealized_pnl=f["unrealized_pnl"]))
        return out

    def bar_updates(self, ts_ns: int, sources_ok: bool = True) -> list[VenueUpdate]:
        """NAV and open positions, re-marked, at a bar close (before the bar is decided on)."""
        return [self.nav_update(ts_ns, sources_ok), *(self.position_update(s, ts_ns) for s in sorted(self.legs)
                                                      if self.net_qty(s))]

    def snapshot_updates(self, symbols: list[str], ts_ns: int, sources_ok: bool = True) -> list[VenueUpdate]:
        """NAV, then one position per configured symbol (flat ones too) and any other open one."""
        syms = sorted(set(symbols) | {s for s in self.legs if self.net_qty(s)})
        return [self.nav_update(ts_ns, sources_ok), *(self.position_update(s, ts_ns) for s in syms)]
