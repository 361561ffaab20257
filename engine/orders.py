"""The router's order state: working orders and route plans, folded from events.

``RouterBook`` is the room of ``EngineState`` that the router reads
(``engine/router.py``) and that ``enrich_fill`` reads for the decision price. It
folds ``RoutePlanned`` and the order events (submitted, accepted, rejected,
canceled, expired, filled) and ``RouterFallback``; each ``on_*`` method returns
the plan it closed (or None), so the engine state can do what closing a plan
means for the symbol (its open-plan list, a pending exit) without this module
knowing about symbols.

A plan closes when its last slice is done (filled, or expired on the last slice),
when an order is rejected for a reason repricing cannot fix, or when an order is
canceled by someone other than our maker-timeout fallback.
"""

from __future__ import annotations

from eventlog.events import (
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    RoutePlanned,
    RouterFallback,
)

EPS = 1e-12
POST_ONLY_REJECT = -5022  # Binance: "Order would immediately match and take" (GTX)


class OrderState:
    """One child order of a plan, as the router last knows it."""

    __slots__ = (
        "attempt", "decision_price", "filled_qty", "order_id", "order_type", "plan_id",
        "price", "qty", "reduce_only", "side", "slice_index", "status", "submitted_ns",
        "symbol", "tif",
    )

    def __init__(self, ev: OrderSubmitted):
        self.order_id = ev.order_id
        self.plan_id = ev.plan_id
        self.symbol = ev.symbol
        self.side = ev.side
        self.order_type = ev.order_type
        self.tif = ev.time_in_force
        self.qty = ev.qty
        self.price = ev.price
        self.decision_price = ev.decision_price
        self.reduce_only = ev.reduce_only
        self.attempt = ev.attempt
        self.slice_index = ev.slice_index
        self.status = "submitted"  # submitted | working | filled | canceled | rejected | expired
        self.submitted_ns = ev.ts_event_ns
        self.filled_qty = 0.0

    @property
    def open(self) -> bool:
        return self.status in ("submitted", "working")

    @property
    def is_maker_order(self) -> bool:
        return self.tif == "GTX"


class PlanState:
    """One route plan (maker-first, taker or TWAP) and the progress of its slices."""

    __slots__ = (
        "active_order", "attempt", "awaiting_taker", "cur_slice", "decision_id", "decision_price",
        "done", "fallback_order", "fallbacks", "filled_qty", "intent_id", "last_reject_code",
        "plan_id", "qty", "reduce_only", "side", "slice_filled", "slice_qty", "slice_started_ns",
        "slices", "started_ns", "style", "symbol",
    )

    def __init__(self, ev: RoutePlanned):
        self.plan_id = ev.plan_id
        self.decision_id = ev.decision_id
        self.intent_id = ev.intent_id
        self.symbol = ev.symbol
        self.side = ev.side
        self.qty = ev.qty
        self.style = ev.style
        self.slices = ev.slices
        self.slice_qty = ev.slice_qty
        self.decision_price = ev.decision_price
        self.reduce_only = ev.reduce_only
        self.started_ns = ev.ts_event_ns
        self.cur_slice = -1  # no slice sent yet
        self.slice_started_ns = ev.ts_event_ns
        self.slice_filled = 0.0
        self.filled_qty = 0.0
        self.active_order: str | None = None
        self.attempt = 0
        self.fallback_order: str | None = None
        self.awaiting_taker = False
        self.fallbacks = 0
        self.last_reject_code = 0
        self.done = False

    def slice_target(self, index: int) -> float:
        """Quantity of slice ``index`` (the last slice takes the rounding remainder)."""
        if index < self.slices - 1:
            return self.slice_qty
        return round(self.qty - self.slice_qty * (self.slices - 1), 10)

    def slice_remaining(self) -> float:
        return max(0.0, round(self.slice_target(self.cur_slice) - self.slice_filled, 10))

    def signed_remaining(self) -> float:
        rem = max(0.0, self.qty - self.filled_qty)
        return rem if self.side == "BUY" else -rem


class RouterBook:
    """Working orders and open plans, plus the router's running counters."""

    __slots__ = ("fallbacks", "orders", "plans", "rejects", "submitted")

    def __init__(self) -> None:
        self.orders: dict[str, OrderState] = {}
        self.plans: dict[str, PlanState] = {}
        self.submitted = 0
        self.rejects = 0
        self.fallbacks = 0

    # ------------------------------------------------------------------ helpers

    def _close(self, p: PlanState) -> PlanState:
        p.done = True
        del self.plans[p.plan_id]
        return p

    def close(self, p: PlanState) -> PlanState:
        """End a plan from outside the router (a post-trade flatten ends the symbol's entries)."""
        return self._close(p)

    def _order_done(self, o: OrderState) -> PlanState | None:
        """An order ended: free its plan's slot."""
        p = self.plans.get(o.plan_id)
        if p is None:
            return None
        if p.active_order == o.order_id:
            p.active_order = None
        return p

    # ------------------------------------------------------------------ folds

    def on_planned(self, ev: RoutePlanned) -> PlanState:
        p = self.plans[ev.plan_id] = PlanState(ev)
        return p

    def on_submitted(self, ev: OrderSubmitted) -> None:
        self.orders[ev.order_id] = OrderState(ev)
        self.submitted += 1
        p = self.plans.get(ev.plan_id)
        if p is None:
            return
        if ev.slice_index != p.cur_slice:
            p.cur_slice = ev.slice_index
            p.slice_filled = 0.0
            p.slice_started_ns = ev.ts_event_ns
        p.active_order = ev.order_id
        p.attempt = ev.attempt
        p.awaiting_taker = False

    def on_accepted(self, ev: OrderAccepted) -> None:
        o = self.orders.get(ev.order_id)
        if o is not None and o.status == "submitted":
            o.status = "working"

    def on_rejected(self, ev: OrderRejected) -> PlanState | None:
        o = self.orders.get(ev.order_id)
        if o is None or not o.open:
            return None  # e.g. a cancel refused because the order had already filled
        o.status = "rejected"
        self.rejects += 1
        p = self._order_done(o)
        if p is None:
            return None
        p.last_reject_code = ev.code
        if ev.code != POST_ONLY_REJECT:
            return self._close(p)  # not something repricing can fix
        return None

    def on_canceled(self, ev: OrderCanceled) -> PlanState | None:
        o = self.orders.get(ev.order_id)
        if o is None or not o.open:
            return None
        o.status = "canceled"
        p = self._order_done(o)
        if p is None:
            return None
        if p.fallback_order == ev.order_id:
            p.fallback_order = None
            p.awaiting_taker = p.slice_remaining() > EPS
            if not p.awaiting_taker and p.cur_slice >= p.slices - 1:
                return self._close(p)
            return None
        return self._close(p)  # canceled by someone else: the plan stops

    def on_expired(self, ev: OrderExpired) -> PlanState | None:
        o = self.orders.get(ev.order_id)
        if o is None or not o.open:
            return None
        o.status = "expired"
        p = self._order_done(o)
        if p is None:
            return None
        if p.cur_slice >= p.slices - 1:
            return self._close(p)
        p.slice_filled = p.slice_target(p.cur_slice)  # the slice's remainder is dropped
        return None

    def on_filled(self, ev: OrderFilled) -> PlanState | None:
        o = self.orders.get(ev.order_id)
        if o is None:
            return None
        o.filled_qty = round(o.filled_qty + ev.qty, 10)
        p = self.plans.get(o.plan_id)
        if p is not None:
            p.filled_qty = round(p.filled_qty + ev.qty, 10)
            p.slice_filled = round(p.slice_filled + ev.qty, 10)
        if o.filled_qty >= o.qty - EPS and o.open:
            o.status = "filled"
            p = self._order_done(o)
            if p is not None and p.cur_slice >= p.slices - 1 and p.slice_remaining() <= EPS:
                return self._close(p)
        return None

    def on_fallback(self, ev: RouterFallback) -> None:
        self.fallbacks += 1
        p = self.plans.get(ev.plan_id)
        if p is None:
            return
        p.fallbacks += 1
        if ev.reason == "maker_timeout":
            p.fallback_order = ev.order_id
