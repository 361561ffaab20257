"""``DRY_RUN=1`` with the Binance venue: real market data, simulated fills, nothing sent.

``DryMatcher`` answers ``submit``/``cancel`` the way Binance would (a post-only
LIMIT GTX that would take is refused with -5022; MARKET and crossing IOC fill at
the touch as taker; an IOC that does not cross expires) and fills resting GTX
orders as maker when the live book or a closed kline trades through their price.
It keeps its own wallet (``runtime.sim.initial_balance_usd``) and positions with the
same one-way-mode arithmetic as Binance and reports them as NAV/position snapshots.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.ports import OrderRequest, VenueUpdate
from engine.venues.binance_convert import STREAM_ACCOUNT, STREAM_ORDERS, venue_error
from engine.venues.binance_orders import slippage_bps
from eventlog.events import (
    KlineClosed,
    MarketTick,
    NavSnapshot,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    PositionSnapshot,
)

POST_ONLY_REJECT = -5022
UNKNOWN_ORDER = -2011


@dataclass
class _Pos:
    qty: float = 0.0
    entry: float = 0.0


class DryMatcher:
    """Simulated matching on live data for the Binance venue's dry mode."""

    def __init__(self, symbols: list[str], *, initial_balance: float, maker_fee: float,
                 taker_fee: float, leverage: float = 1.0):
        self.symbols = sorted(symbols)
        self.wallet = initial_balance
        self.maker_fee, self.taker_fee, self.leverage = maker_fee, taker_fee, leverage
        self.book: dict[str, tuple[float, float]] = {}
        self.mark: dict[str, float] = {}
        self.pos: dict[str, _Pos] = {s: _Pos() for s in self.symbols}
        self.resting: dict[str, OrderRequest] = {}
        self._trade_seq = 0

    # ---- market data in

    def on_market(self, u: VenueUpdate) -> list[VenueUpdate]:
        """Feed one market update; returns fills of resting orders it triggers."""
        f = u.fields
        sym = f.get("symbol", "")
        if u.cls is MarketTick:
            self.book[sym] = (f["bid"], f["ask"])
            self.mark[sym] = f["mark"] if f.get("mark") else (f["bid"] + f["ask"]) / 2
            return self._sweep(sym, low=f["ask"], high=f["bid"], ts_ns=u.ts_event_ns)
        if u.cls is KlineClosed:
            self.mark.setdefault(sym, f["close"])
            return self._sweep(sym, low=f["low"], high=f["high"], ts_ns=u.ts_event_ns, strict=True)
        return []

    def _sweep(self, sym: str, *, low: float, high: float, ts_ns: int, strict: bool = False) -> list[VenueUpdate]:
        out: list[VenueUpdate] = []
        for oid in sorted(self.resting):
            req = self.resting[oid]
            if req.symbol != sym or req.price is None:
                continue
            hit = (low < req.price if strict else low <= req.price) if req.side == "BUY" else (
                high > req.price if strict else high >= req.price)
            if hit:
                del self.resting[oid]
                out += self._fill(req, req.price, maker=True, reference=req.price, ts_ns=ts_ns)
        return out

    # ---- orders

    def submit(self, req: OrderRequest, ts_ns: int) -> list[VenueUpdate]:
        book = self.book.get(req.symbol)
        if book is None:
            return [self._reject(req, -1, "dry run: no book for this symbol yet", ts_ns)]
        bid, ask = book
        touch = ask if req.side == "BUY" else bid
        crosses = req.price is not None and (req.price >= ask if req.side == "BUY" else req.price <= bid)
        if req.order_type == "LIMIT" and req.time_in_force == "GTX":
            if crosses:
                return [self._reject(req, POST_ONLY_REJECT, "Due to the order could not be executed as "
                                     "maker, the Post Only order will be rejected.", ts_ns)]
            self.resting[req.order_id] = req
            return [self._accepted(req, ts_ns)]
        if req.order_type == "MARKET" or crosses:
            mid = (bid + ask) / 2
            return [self._accepted(req, ts_ns), *self._fill(req, touch, maker=False, reference=mid, ts_ns=ts_ns)]
        if req.time_in_force == "IOC":
            return [self._accepted(req, ts_ns), VenueUpdate(OrderExpired, STREAM_ORDERS, ts_ns, {
                "order_id": req.order_id, "symbol": req.symbol, "reason": "expired (IOC)", "filled_qty": 0.0})]
        self.resting[req.order_id] = req  # GTC limit that does not cross
        return [self._accepted(req, ts_ns)]

    def cancel(self, symbol: str, order_id: str, ts_ns: int) -> list[VenueUpdate]:
        if self.resting.pop(order_id, None) is None:
            return [venue_error("dry.cancelOrder", "http", "origClientOrderId",
                                f"code {UNKNOWN_ORDER}: Unknown order sent.", ts_ns)]
        return [VenueUpdate(OrderCanceled, STREAM_ORDERS, ts_ns, {
            "order_id": order_id, "symbol": symbol, "reason": "canceled by router", "filled_qty": 0.0})]

    # ---- books

    def snapshot(self, ts_ns: int) -> list[VenueUpdate]:
        return [self._nav(ts_ns), *(self._position(s, ts_ns) for s in self.symbols)]

    def _accepted(self, req: OrderRequest, ts_ns: int) -> VenueUpdate:
        return VenueUpdate(OrderAccepted, STREAM_ORDERS, ts_ns, {
            "order_id": req.order_id, "symbol": req.symbol, "venue_order_id": f"dry-{req.order_id}"})

    def _reject(self, req: OrderRequest, code: int, reason: str, ts_ns: int) -> VenueUpdate:
        return VenueUpdate(OrderRejected, STREAM_ORDERS, ts_ns, {
            "order_id": req.order_id, "symbol": req.symbol, "code": code, "reason": reason})

    def _fill(self, req: OrderRequest, price: float, *, maker: bool, reference: float,
              ts_ns: int) -> list[VenueUpdate]:
        p = self.pos.setdefault(req.symbol, _Pos())
        sign = 1.0 if req.side == "BUY" else -1.0
        qty = req.qty
        if req.reduce_only:
            qty = min(qty, abs(p.qty)) if p.qty * sign < 0 else 0.0
            if qty <= 0:
                return [VenueUpdate(OrderExpired, STREAM_ORDERS, ts_ns, {
                    "order_id": req.order_id, "symbol": req.symbol,
                    "reason": "reduce-only order would not reduce", "filled_qty": 0.0})]
        realized = 0.0
        new = p.qty + sign * qty
        if p.qty == 0 or (p.qty > 0) == (sign > 0):
            p.entry = (abs(p.qty) * p.entry + qty * price) / abs(new)
        else:
            closing = min(qty, abs(p.qty))
            realized = closing * (price - p.entry) * (1.0 if p.qty > 0 else -1.0)
            if abs(new) > 1e-12 and (new > 0) != (p.qty > 0):
                p.entry = price
        p.qty = 0.0 if abs(new) < 1e-12 else round(new, 10)
        if p.qty == 0:
            p.entry = 0.0
        fee = qty * price * (self.maker_fee if maker else self.taker_fee)
        self.wallet += realized - fee
        self._trade_seq += 1
        return [VenueUpdate(OrderFilled, STREAM_ORDERS, ts_ns, {
            "order_id": req.order_id, "trade_id": f"dry-{self._trade_seq}", "symbol": req.symbol,
            "side": req.side, "qty": qty, "price": price, "is_maker": maker, "fee_usd": fee,
            "realized_pnl": realized, "slippage_bps": slippage_bps(req.side, price, reference),
            "decision_price": reference, "fee_asset": "USDT", "position_qty_after": p.qty,
        }), self._nav(ts_ns), self._position(req.symbol, ts_ns)]

    def _upnl(self, sym: str) -> float:
        p = self.pos.get(sym, _Pos())
        return p.qty * (self.mark.get(sym, p.entry) - p.entry) if p.qty else 0.0

    def _nav(self, ts_ns: int) -> VenueUpdate:
        upnl = sum(self._upnl(s) for s in sorted(self.pos))
        margin = sum(abs(p.qty) * self.mark.get(s, p.entry) for s, p in sorted(self.pos.items())) / self.leverage
        return VenueUpdate(NavSnapshot, STREAM_ACCOUNT, ts_ns, {
            "nav_usd": self.wallet + upnl, "wallet_balance": self.wallet, "unrealized_pnl": upnl,
            "available_balance": self.wallet + upnl - margin, "sources_ok": True, "source": "dry-run"})

    def _position(self, sym: str, ts_ns: int) -> VenueUpdate:
        p = self.pos.get(sym, _Pos())
        mark = self.mark.get(sym, p.entry)
        return VenueUpdate(PositionSnapshot, STREAM_ACCOUNT, ts_ns, {
            "symbol": sym, "qty": p.qty, "entry_price": p.entry, "mark_price": mark,
            "unrealized_pnl": self._upnl(sym), "leverage": self.leverage, "notional": p.qty * mark})


def make_dry_matcher(loaded_cfg: Any, symbols: list[str]) -> DryMatcher:
    """The dry-run matcher from the config (sim balance, leverage, fees)."""
    rt = loaded_cfg.config.runtime
    return DryMatcher(symbols, initial_balance=rt.sim.initial_balance_usd, maker_fee=rt.fees.maker_frac,
                      taker_fee=rt.fees.taker_frac, leverage=rt.sim.leverage)
