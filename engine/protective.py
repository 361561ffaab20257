"""Protective orders: the position's TP/SL as orders resting at the venue (``router.protective_orders``).

After a fill leaves a position with a stop-loss and/or take-profit (the TP/SL of the
allowed intent that opened or added to it), the engine places reduce-only
``STOP_MARKET`` (stop-loss) and ``TAKE_PROFIT_MARKET`` (take-profit) orders with
``closePosition`` and the configured ``workingType``; when a later fill changes the TP/SL
it places new ones and cancels the old; when the position is flat it cancels what is
left. The decision is recorded as ``ProtectiveOrdersSet`` (what is kept, placed and
canceled) followed by one ``OrderSubmitted`` per new order (plan ``protect``), so replay
re-derives it and a restored venue learns the orders from the log.

Trigger: ``OrderFilled``. State: ``SymbolState.prot`` (kind -> (order id, stop)), folded
from the order events by ``fold``.
"""

from __future__ import annotations

from typing import Any

from engine.accounting import round_price
from engine.drafts import Decisions, head
from engine.ids import order_id
from eventlog.events import (
    Event,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    ProtectiveOrdersSet,
    Side,
)

PLAN = "protect"
KIND = {"STOP_MARKET": "sl", "TAKE_PROFIT_MARKET": "tp"}
TYPE = {v: k for k, v in KIND.items()}


def fold(state: Any, ev: Event) -> None:
    """Keep ``SymbolState.prot`` in step with the protective orders' lifecycle."""
    if isinstance(ev, OrderSubmitted):
        if ev.plan_id == PLAN and ev.order_type in KIND:
            state.sym(ev.symbol).prot[KIND[ev.order_type]] = (ev.order_id, ev.stop_price or 0.0)
        return
    if isinstance(ev, OrderCanceled | OrderExpired | OrderRejected | OrderFilled):
        s = state.syms.get(ev.symbol)
        if s is None or not s.prot:
            return
        for k, (oid, _) in list(s.prot.items()):
            if oid == ev.order_id:
                del s.prot[k]


def _tick(state: Any, symbol: str) -> float:
    f = getattr(state, "filters", {}).get(symbol)
    return f.tick_size if f is not None else state.config.universe.symbols[symbol].tick_size


def on_fill(state: Any, ev: OrderFilled) -> Decisions:
    """What protective orders the position after this fill needs (nothing when they already rest)."""
    cfg = state.config.runtime.router
    if not getattr(cfg, "protective_orders", False):
        return []
    s = state.sym(ev.symbol)
    q = ev.position_qty_after
    want: dict[str, float] = {}
    if q:
        long = q > 0
        tick = _tick(state, ev.symbol)
        if s.sl is not None and s.sl > 0:  # a long's stop rounds away from the price (down), a short's up
            want["sl"] = round_price(s.sl, tick, "BUY" if long else "SELL")
        if s.tp is not None and s.tp > 0:
            want["tp"] = round_price(s.tp, tick, "SELL" if long else "BUY")
    have = dict(s.prot)
    cancel = sorted(oid for k, (oid, stop) in have.items() if want.get(k) != stop)
    place = {k: v for k, v in want.items() if k not in have or have[k][1] != v}
    if not cancel and not place:
        return []
    side: Side = "SELL" if q > 0 else "BUY"
    orders = [
        OrderSubmitted(**head("orders"), order_id=order_id(state.tag, ev.session_seq, i), plan_id=PLAN,
                       symbol=ev.symbol, side=side, order_type=TYPE[k], time_in_force="GTC", qty=0.0, price=None,
                       decision_price=stop, reduce_only=True, stop_price=stop, close_position=True,
                       working_type=getattr(cfg, "protective_working_type", "MARK_PRICE"))
        for i, (k, stop) in enumerate(sorted(place.items()))]
    out: Decisions = [ProtectiveOrdersSet(
        **head("router"), symbol=ev.symbol, position_qty=q, sl=want.get("sl"), tp=want.get("tp"),
        place=[o.order_id for o in orders], cancel=cancel, fill_order_id=ev.order_id)]
    out.extend(orders)
    return out
