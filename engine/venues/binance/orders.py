"""Order lifecycle on Binance -> ``OrderAccepted/Rejected/Canceled/Expired/Filled`` updates.

An order's news arrives twice - in the REST answer to ``POST/DELETE /fapi/v1/order``
and on the user-data stream (``ORDER_TRADE_UPDATE``) - and fills may have to be
recovered from ``/fapi/v1/userTrades`` after a reconnect. ``OrderTracker`` emits each
fact once: one acceptance per order, one terminal event per order, one fill per
(symbol, trade id).

``decision_price`` and ``slippage_bps`` of a fill are measured against the reference
the venue knew at submission: the limit price of a LIMIT order, else the book mid.
The router's own decision price is in its ``OrderSubmitted`` event.

A fill is recorded once its position is *settled* (see ``positions.PositionLedger``):
``position_qty_after`` is then the exchange's own position right after that trade,
never the adapter's running sum. ``settle()`` releases the fills that became settled,
in trade order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.ports import OrderRequest, VenueUpdate
from engine.venues.binance.convert import MS, STABLE_ASSETS, STREAM_ORDERS, venue_error
from engine.venues.binance.positions import AccountBook
from engine.venues.binance.wire import RestOrder, RestTrade, WsOrderBody
from eventlog.events import OrderAccepted, OrderCanceled, OrderExpired, OrderFilled, OrderRejected

TERMINAL = frozenset({"FILLED", "CANCELED", "EXPIRED", "REJECTED", "EXPIRED_IN_MATCH"})


@dataclass
class Tracked:
    symbol: str
    side: str
    reference: float  # decision price the venue knows (limit price or mid at submission)
    venue_order_id: int = 0
    accepted: bool = False
    done: bool = False
    filled_qty: float = 0.0


def slippage_bps(side: str, price: float, reference: float) -> float:
    """Positive = worse than the reference (paid more on a buy, got less on a sell)."""
    if reference <= 0:
        return 0.0
    diff = price - reference if side == "BUY" else reference - price
    return diff / reference * 1e4


class OrderTracker:
    """Emits each order fact once, whichever channel reports it first."""

    def __init__(self, account: AccountBook):
        self.account = account
        self.orders: dict[str, Tracked] = {}
        self.by_venue_id: dict[int, str] = {}
        # (symbol, trade id) -> (trade ms, OrderFilled update without its position) until settled
        self.pending: dict[tuple[str, int], tuple[int, VenueUpdate]] = {}

    # ---- submission side

    def submitted(self, req: OrderRequest, mid: float | None) -> None:
        ref = req.price if req.price else (mid or 0.0)
        self.orders[req.order_id] = Tracked(req.symbol, req.side, float(ref))

    def rejected(self, req: OrderRequest, code: int, reason: str, ts_ns: int) -> list[VenueUpdate]:
        t = self.orders.get(req.order_id)
        if t:
            t.done = True
        return [VenueUpdate(OrderRejected, STREAM_ORDERS, ts_ns, {
            "order_id": req.order_id, "symbol": req.symbol, "code": int(code), "reason": reason})]

    def track(self, client_id: str, symbol: str, side: str, venue_id: int, price: float) -> Tracked:
        t = self.orders.get(client_id)
        if t is None:  # not ours (manual, or from before a restart): still the exchange's truth
            t = self.orders[client_id] = Tracked(symbol, side, price)
        if venue_id:
            t.venue_order_id = venue_id
            self.by_venue_id[venue_id] = client_id
        return t

    def _accept(self, client_id: str, t: Tracked, ts_ns: int) -> list[VenueUpdate]:
        if t.accepted:
            return []
        t.accepted = True
        return [VenueUpdate(OrderAccepted, STREAM_ORDERS, ts_ns, {
            "order_id": client_id, "symbol": t.symbol, "venue_order_id": str(t.venue_order_id)})]

    def _terminal(self, client_id: str, t: Tracked, status: str, ts_ns: int, reason: str) -> list[VenueUpdate]:
        if t.done:
            return []
        t.done = True
        if status in ("CANCELED",):
            cls: Any = OrderCanceled
        elif status in ("EXPIRED", "EXPIRED_IN_MATCH"):
            cls = OrderExpired
        elif status == "REJECTED":
            return [VenueUpdate(OrderRejected, STREAM_ORDERS, ts_ns, {
                "order_id": client_id, "symbol": t.symbol, "code": 0, "reason": reason})]
        else:  # FILLED: the fills themselves are the events
            return []
        return [VenueUpdate(cls, STREAM_ORDERS, ts_ns, {
            "order_id": client_id, "symbol": t.symbol, "reason": reason, "filled_qty": t.filled_qty})]

    def on_rest_order(self, o: RestOrder, ts_ns: int, reason: str = "") -> list[VenueUpdate]:
        """The REST answer to new/cancel/query order."""
        t = self.track(o.client_order_id, o.symbol, o.side, o.order_id, o.price)
        out: list[VenueUpdate] = []
        if o.status in ("NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED"):
            out += self._accept(o.client_order_id, t, ts_ns)
        if o.status in TERMINAL and o.status != "FILLED":
            out += self._terminal(o.client_order_id, t, o.status, ts_ns, reason or o.status.lower())
        return out

    # ---- user-data stream

    def on_ws_order(self, o: WsOrderBody, event_ms: int, source: str) -> list[VenueUpdate]:
        ts_ns = event_ms * MS
        t = self.track(o.client_order_id, o.symbol, o.side, o.order_id, o.price)
        out: list[VenueUpdate] = []
        if o.exec_type == "NEW":
            out += self._accept(o.client_order_id, t, ts_ns)
        elif o.exec_type in ("TRADE", "CALCULATED"):
            out += self._accept(o.client_order_id, t, ts_ns)
            out += self._fill(o.client_order_id, t, trade_id=o.trade_id, qty=o.last_qty,
                              price=o.last_price, is_maker=o.is_maker, fee=o.fee,
                              fee_asset=o.fee_asset or "USDT", realized=o.realized_pnl,
                              ts_ns=o.trade_time_ms * MS or ts_ns, source=source)
            if o.status == "FILLED":
                t.done = True
        elif o.exec_type in ("CANCELED", "EXPIRED", "EXPIRED_IN_MATCH", "REJECTED"):
            reason = {"CANCELED": "canceled", "REJECTED": "rejected"}.get(
                o.exec_type, f"expired ({o.time_in_force})")
            out += self._terminal(o.client_order_id, t, o.exec_type, ts_ns, reason)
        return out  # AMENDMENT and others: nothing the engine records

    def knows_order(self, venue_order_id: int) -> bool:
        return venue_order_id in self.by_venue_id

    def on_rest_trade(self, tr: RestTrade, source: str) -> list[VenueUpdate]:
        """A fill recovered from userTrades (after a user-stream gap, or on restart).

        The order must be known (``track``); the caller resolves unknown ones first."""
        client_id = self.by_venue_id.get(tr.order_id)
        if client_id is None:
            return []
        t = self.orders[client_id]
        return self._fill(client_id, t, trade_id=tr.id, qty=tr.qty, price=tr.price,
                          is_maker=tr.maker, fee=abs(tr.commission), fee_asset=tr.commission_asset,
                          realized=tr.realized_pnl, ts_ns=tr.time_ms * MS, source=source)

    def _fill(self, client_id: str, t: Tracked, *, trade_id: int, qty: float, price: float,
              is_maker: bool, fee: float, fee_asset: str, realized: float, ts_ns: int,
              source: str) -> list[VenueUpdate]:
        ledger = self.account.ledger
        if qty <= 0 or ledger.has_fill(t.symbol, trade_id):
            return []
        ledger.add_fill(t.symbol, trade_id, ts_ns // MS, qty if t.side == "BUY" else -qty)
        t.filled_qty += qty
        out: list[VenueUpdate] = []
        if fee_asset in STABLE_ASSETS:
            fee_usd = fee
        elif f"{fee_asset}USDT" in self.account.marks:
            fee_usd = fee * self.account.marks[f"{fee_asset}USDT"]
        else:
            fee_usd = 0.0
            out.append(venue_error(source, "parse", "o.N", f"fee of {fee} {fee_asset} could not be "
                                   f"valued in USD (no {fee_asset}USDT mark)", ts_ns))
        ref = t.reference or price
        self.pending[(t.symbol, trade_id)] = (ts_ns, VenueUpdate(OrderFilled, STREAM_ORDERS, ts_ns, {
            "order_id": client_id, "trade_id": str(trade_id), "symbol": t.symbol, "side": t.side,
            "qty": qty, "price": price, "is_maker": is_maker, "fee_usd": fee_usd,
            "realized_pnl": realized, "slippage_bps": slippage_bps(t.side, price, ref),
            "decision_price": ref, "fee_asset": fee_asset, "position_qty_after": 0.0,
        }))
        return out

    def settle(self) -> list[VenueUpdate]:
        """Fills whose position the exchange has now reported, in trade order."""
        ready: list[tuple[int, int, str, VenueUpdate]] = []
        ledger = self.account.ledger
        for (sym, tid), (ts_ns, u) in self.pending.items():
            after = ledger.position_after(sym, tid)
            if after is not None:
                u.fields["position_qty_after"] = after
                ready.append((ts_ns, tid, sym, u))
        ready.sort(key=lambda r: (r[0], r[1], r[2]))
        for _, tid, sym, _u in ready:
            del self.pending[(sym, tid)]
        return [r[3] for r in ready]

    def open_ids(self) -> list[str]:
        return sorted(k for k, t in self.orders.items() if t.accepted and not t.done)
