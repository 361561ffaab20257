"""Router policy: maker-first, bounded reprices, taker fallback, TWAP. No risk math.

Pure functions of (engine state, the triggering event, config); each returns the
contents of the events to record, ``(event class, stream, fields)``. Sending is a
consequence of recording: ``engine.core.decide`` turns a recorded
``OrderSubmitted`` into the venue call, and a recorded ``RouterFallback`` for a
maker timeout into the cancel.

State machine of one slice::

    RoutePlanned ─► OrderSubmitted(LIMIT GTX at the touch, attempt 0)
        OrderRejected -5022 (would take) ─► reprice: GTX at touch - k*offset ticks (attempt k)
              ... after router.max_reprices ─► RouterFallback(reprice_limit) + MARKET
        OrderAccepted ... MarketTick with waited >= maker_wait_s
              ─► RouterFallback(maker_timeout) ─► cancel ─► OrderCanceled ─► MARKET remainder
        OrderFilled (complete) ─► slice done; TWAP: next slice at started + i * interval_s
"""

from __future__ import annotations

from config.schema import HedgeConfig
from engine.accounting import round_price, round_step_down
from engine.drafts import Decisions, head
from engine.exchange_filters import effective
from engine.ids import order_id, plan_id
from engine.orders import EPS, POST_ONLY_REJECT, PlanState
from engine.rules.autotune import maker_deadline_ns, policy_of
from engine.rules.units import NS
from engine.state import EngineState
from eventlog.events import (
    IntentEmitted,
    MarketTick,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    RiskDecided,
    RoutePlanned,
    RouterFallback,
)

Out = Decisions


def plan_route(state: EngineState, dec: RiskDecided, intent: IntentEmitted) -> Out:
    """RiskDecided (allow/clamp) -> RoutePlanned: style, slices, decision price."""
    cfg = state.config
    rc = cfg.runtime.router
    tier = cfg.risk_limits.tiers.get(cfg.tier_of(dec.symbol))
    spec = effective(state.filters, cfg.universe.symbols, dec.symbol)
    assert spec is not None  # risk vetoes symbols outside the universe
    qty = dec.approved_qty
    notional = dec.approved_notional_usd
    urgent = intent.reduce_only and intent.reason in ("exit_sl", "exit_trend_flip")
    slices = 1
    if urgent or not rc.maker_first:
        style = "taker"
    elif ((twap_n := policy_of(rc, dec.symbol).twap_slices) > 1 and rc.twap.enabled
          and notional >= rc.twap.min_notional_usd and (tier is None or tier.twap_allowed)):
        style = "twap"
        slices = twap_n
    else:
        style = "maker_first"
    slice_qty = round_step_down(qty / slices, spec.step_size) if slices > 1 else qty
    if slices > 1 and slice_qty < spec.min_qty:
        style, slices, slice_qty = "maker_first", 1, qty
    return [RoutePlanned(
        **head("router"), plan_id=plan_id(state.tag, dec.session_seq), decision_id=dec.decision_id,
        intent_id=dec.intent_id, symbol=dec.symbol, side=intent.side, qty=qty,
        style=style, slices=slices, slice_qty=slice_qty, decision_price=intent.price,
        reduce_only=intent.reduce_only,
    )]


def plan_trim(state: EngineState, dec: RiskDecided) -> Out:
    """A post-trade trim / flatten (``engine.post_trade``) -> one reduce-only taker plan."""
    if dec.side is None or dec.approved_qty <= 0:
        return []
    price = dec.observations.get("price")
    return [RoutePlanned(
        **head("router"), plan_id=plan_id(state.tag, dec.session_seq), decision_id=dec.decision_id,
        intent_id="", symbol=dec.symbol, side=dec.side, qty=dec.approved_qty, style="taker", slices=1,
        slice_qty=dec.approved_qty, decision_price=price if isinstance(price, float) else 0.0, reduce_only=True,
    )]


def _touch(state: EngineState, p: PlanState, cfg: HedgeConfig, attempt: int) -> float:
    s = state.sym(p.symbol)
    spec = effective(state.filters, cfg.universe.symbols, p.symbol)
    tick = spec.tick_size if spec is not None else cfg.universe.symbols[p.symbol].tick_size
    off = attempt * policy_of(cfg.runtime.router, p.symbol).reprice_offset_ticks * tick
    px = (s.bid or p.decision_price) - off if p.side == "BUY" else (s.ask or p.decision_price) + off
    return round_price(px, tick, p.side)


def child_order(state: EngineState, p: PlanState, *, slice_index: int, attempt: int, qty: float,
                taker: bool, trigger_seq: int, k: int = 0) -> OrderSubmitted:
    """One OrderSubmitted for a plan: GTX at the touch (maker) or MARKET (taker)."""
    cfg = state.config
    return OrderSubmitted(
        **head("orders"), order_id=order_id(state.tag, trigger_seq, k), plan_id=p.plan_id, symbol=p.symbol,
        side=p.side, order_type="MARKET" if taker else "LIMIT",
        time_in_force="IOC" if taker else "GTX", qty=qty,
        price=None if taker else _touch(state, p, cfg, attempt),
        decision_price=p.decision_price, reduce_only=p.reduce_only,
        attempt=attempt, slice_index=slice_index,
    )


def on_planned(state: EngineState, ev: RoutePlanned) -> Out:
    """RoutePlanned -> the first slice."""
    p = state.router.plans.get(ev.plan_id)
    if p is None:
        return []
    return [child_order(state, p, slice_index=0, attempt=0, qty=p.slice_target(0),
                        taker=p.style == "taker", trigger_seq=ev.session_seq)]


def on_rejected(state: EngineState, ev: OrderRejected) -> Out:
    """Post-only reject -> reprice (bounded) or fall back to taker."""
    o = state.router.orders.get(ev.order_id)
    if o is None or ev.code != POST_ONLY_REJECT or o.status != "rejected":
        return []
    p = state.router.plans.get(o.plan_id)
    if p is None or p.active_order is not None:
        return []
    rem = p.slice_remaining()
    if rem <= EPS:
        return []
    rc = state.config.runtime.router
    if o.attempt < policy_of(rc, p.symbol).max_reprices:
        return [child_order(state, p, slice_index=p.cur_slice, attempt=o.attempt + 1, qty=rem,
                            taker=False, trigger_seq=ev.session_seq)]
    return [
        RouterFallback(
            **head("router"), plan_id=p.plan_id, order_id=o.order_id, symbol=p.symbol, reason="reprice_limit",
            remaining_qty=rem, reprices=o.attempt, waited_ms=(ev.ts_event_ns - p.slice_started_ns) // 1_000_000,
        ),
        child_order(state, p, slice_index=p.cur_slice, attempt=o.attempt + 1, qty=rem, taker=True,
                    trigger_seq=ev.session_seq),
    ]


def on_canceled(state: EngineState, ev: OrderCanceled) -> Out:
    """Our maker-timeout cancel is confirmed -> the slice's remainder goes as taker."""
    o = state.router.orders.get(ev.order_id)
    if o is None:
        return []
    p = state.router.plans.get(o.plan_id)
    if p is None or not p.awaiting_taker:
        return []
    return [child_order(state, p, slice_index=p.cur_slice, attempt=o.attempt + 1, qty=p.slice_remaining(),
                        taker=True, trigger_seq=ev.session_seq)]


def on_tick(state: EngineState, ev: MarketTick) -> Out:
    """Time-driven steps for the symbol's plans: maker timeout, next TWAP slice."""
    s = state.syms.get(ev.symbol)
    if s is None or not s.open_plans:
        return []
    rc = state.config.runtime.router
    now = ev.ts_event_ns
    out: Out = []
    k = 0
    for pid in sorted(s.open_plans):
        p = state.router.plans.get(pid)
        if p is None or p.done:
            continue
        if p.active_order is not None:
            o = state.router.orders[p.active_order]
            if (o.tif == "GTX" and o.open and p.fallback_order is None
                    and now >= maker_deadline_ns(rc, p.symbol, o.submitted_ns)):
                out.append(RouterFallback(
                    **head("router"), plan_id=p.plan_id, order_id=o.order_id, symbol=p.symbol, reason="maker_timeout",
                    remaining_qty=max(0.0, round(o.qty - o.filled_qty, 10)), reprices=o.attempt,
                    waited_ms=(now - o.submitted_ns) // 1_000_000,
                ))
            continue
        if p.awaiting_taker:
            continue
        nxt = p.cur_slice + 1
        if p.cur_slice >= 0 and p.slice_remaining() > EPS:
            continue  # a slice still owes quantity (its order is being replaced)
        if nxt < p.slices and now >= p.started_ns + int(nxt * rc.twap.interval_s * NS):
            out.append(child_order(state, p, slice_index=nxt, attempt=0, qty=p.slice_target(nxt),
                                   taker=False, trigger_seq=ev.session_seq, k=k))
            k += 1
    return out


def on_filled(state: EngineState, ev: OrderFilled) -> Out:
    """Fills need no immediate action: TWAP slices are time-driven (``on_tick``)."""
    return []
