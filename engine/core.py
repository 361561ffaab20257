"""The decision core: which recorded event triggers which pure decision.

``decide(state, event)`` is called by the live loop right after ``evolve`` folded
``event`` (so ``state`` already includes it); it returns ``Action`` items. The
decision time is always ``event.ts_event_ns`` and every decision event is
recorded with that ``ts_event_ns``. Nothing else is read: no wall clock, no
venue, no randomness. Replay re-derives every decision by folding the log with
``evolve`` and calling ``decide`` on each event, in log order (see
``engine.replay_core.rederive``).

Trigger table (event folded -> decision -> events recorded):

==================  =======================================  =================================
trigger             decision                                 records
==================  =======================================  =================================
KlineClosed         ``screener.on_kline``, ``autotune``      PositionClosed?, IntentEmitted,
                                                             ConfigChanged (autotune, allocator)?
IntentEmitted       ``risk.check_order(intent, build_view)`` RiskDecided
RiskDecided         ``router.plan_route`` (allow / clamp)    RoutePlanned
RoutePlanned        ``router.on_planned``                    OrderSubmitted (slice 0)
OrderRejected       ``router.on_rejected`` (-5022 only)      OrderSubmitted (reprice) or
                                                             RouterFallback + OrderSubmitted
OrderCanceled       ``router.on_canceled`` (our fallback)    OrderSubmitted (MARKET remainder)
MarketTick          ``router.on_tick``                       RouterFallback (maker timeout),
                                                             OrderSubmitted (next TWAP slice)
NavSnapshot         ``drawdown.decide`` (rules v3)           DdStateChanged?
NavSnapshot         ``valuation.on_nav`` (first of an hour)  OffExchangeValued
NavSnapshot         ``risk.check_positions`` (rules v6)      RiskDecided trim / flatten*
RiskDecided trim    ``router.plan_trim`` (reduce-only)       RoutePlanned (taker)
RiskDecided flatten act: ``Cancel`` resting entry orders      RoutePlanned (taker), cancels
OrderSubmitted      act: ``Submit`` the OrderRequest         (venue answers: acks, rejects, fills)
RouterFallback      act: ``Cancel`` (maker_timeout only)     (venue answers: OrderCanceled)
OrderFilled         ``protective.on_fill`` (if enabled)      ProtectiveOrdersSet, OrderSubmitted
ProtectiveOrdersSet act: ``Cancel`` the replaced orders      (venue answers: OrderCanceled)
==================  =======================================  =================================

From rules v4 a ``KlineClosed`` decides only when it is live (not a warm-up or
backfilled bar, ``history``) and a ``MarketTick`` since the bar's open has priced
the symbol's book.

Actions are executed depth-first: a recorded decision is folded and decided on
before the next action of the same trigger, so the log order is the order of a
depth-first walk and replay can match recorded decisions one by one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine import autotune, protective, router, screener, valuation
from engine.drafts import Decisions, head
from engine.ids import decision_id
from engine.ports import OrderRequest
from engine.post_trade import POST_TRADE_OUTCOMES
from engine.risk import build_view, check_order, check_positions
from engine.rules.drawdown import HYSTERESIS_RULES, DdParams
from engine.rules.nav import counts
from engine.rules.units import NS
from engine.rules.versions import POST_TRADE_RULES
from engine.state import EngineState
from eventlog.events import (
    DdStateChanged,
    Event,
    IntentEmitted,
    KlineClosed,
    MarketTick,
    NavSnapshot,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    ProtectiveOrdersSet,
    RiskDecided,
    RoutePlanned,
    RouterFallback,
)

# Event types that are decisions (re-derived and compared by replay), not inputs.
DECISION_TYPES: tuple[str, ...] = (
    "IntentEmitted", "PositionClosed", "RiskDecided", "RoutePlanned", "OrderSubmitted",
    "RouterFallback", "OffExchangeValued", "DdStateChanged", "ProtectiveOrdersSet",
)


@dataclass(frozen=True, slots=True)
class Emit:
    """Record this decision at ``ts_event_ns`` (the trigger's time), then fold and decide on it.

    ``event`` is the decision event itself, a draft (``engine.drafts``): the writer stamps
    its session header (``LogWriter.emit_draft``)."""

    event: Event
    ts_event_ns: int

    @property
    def cls(self) -> type[Event]:
        return type(self.event)


@dataclass(frozen=True, slots=True)
class Submit:
    req: OrderRequest


@dataclass(frozen=True, slots=True)
class Cancel:
    symbol: str
    order_id: str


Action = Emit | Submit | Cancel


def risk_fields(state: EngineState, ev: IntentEmitted) -> dict[str, Any]:
    """``check_order``'s answer to one recorded intent (what-if replay calls this with another config)."""
    view = build_view(state, ev, ev.ts_event_ns)
    return check_order(ev, view, state.config, ev.ts_event_ns, config_hash=state.config_hash,
                       decision_id=decision_id(state.tag, ev.session_seq))


def decide_risk(state: EngineState, ev: IntentEmitted) -> RiskDecided:
    """The RiskDecided decision (a draft) for one recorded intent."""
    return RiskDecided(**head("risk"), **risk_fields(state, ev))


def _emits(out: Decisions, ts: int) -> list[Action]:
    return [Emit(d, ts) for d in out]


def _on_tick(state: EngineState, ev: Any) -> list[Action]:
    s = state.syms.get(ev.symbol)
    if s is None or not s.open_plans:
        return []
    return _emits(router.on_tick(state, ev), ev.ts_event_ns)


def _on_kline(state: EngineState, ev: Any) -> list[Action]:
    if state.rules_version >= 4 and not _live_and_priced(state, ev):
        return []
    return _emits(screener.on_kline(state, ev) + autotune.on_kline(state, ev), ev.ts_event_ns)


def decide_dd(state: EngineState, ts_ns: int) -> DdStateChanged | None:
    """The DdStateChanged decision (a draft) if the drawdown policy changes state now (rules v3), else None."""
    p = DdParams.of(state.config, state.rules_version)
    book = state.dd_book
    ch = book.decide(ts_ns, p)
    if ch is None:
        return None
    g = state.config.risk_limits.global_
    obs = {
        "nav_usd": book.last, "peak_nav_usd": book.peak, "dd_frac": round(state.nav_track.drawdown or 0.0, 8),
        **book.observations(),
        "days_in_state": None if book.since_ns is None else round((ts_ns - book.since_ns) / NS / 86400, 6),
    }
    return DdStateChanged(
        **head("risk"), from_state=ch.from_state, to_state=ch.to_state, cause=ch.cause, reason=ch.reason,
        ref_nav_usd=None if ch.ref_nav is None else round(ch.ref_nav, 8),
        thresholds={**p.thresholds(), "cautious_size_mult": g.cautious_size_mult},
        observations=obs, config_hash=state.config_hash)


def _live_and_priced(state: EngineState, ev: KlineClosed) -> bool:
    """Rules v4: a warm-up/backfilled bar decides nothing, nor a bar whose book no tick
    since its open has priced (the router would price from the bar's close)."""
    if ev.history:
        return False
    s = state.syms.get(ev.symbol)
    return s is not None and s.bid > 0 and s.tick_ns >= ev.open_time_ms * 1_000_000


def _on_nav(state: EngineState, ev: Any) -> list[Action]:
    out: list[Action] = []
    if state.rules_version >= HYSTERESIS_RULES and counts(ev.nav_usd, ev.sources_ok):
        dd = decide_dd(state, ev.ts_event_ns)
        if dd is not None:
            out.append(Emit(dd, ev.ts_event_ns))
    if ev.ts_event_ns // valuation.HOUR_NS != state.offx_hour:
        out += _emits(valuation.on_nav(state, ev), ev.ts_event_ns)
    if state.rules_version >= POST_TRADE_RULES and counts(ev.nav_usd, ev.sources_ok):
        out += [Emit(RiskDecided(**head("risk"), **d), ev.ts_event_ns)
                for d in check_positions(state, ev.session_seq, ev.ts_event_ns)]
    return out


def _on_intent(state: EngineState, ev: Any) -> list[Action]:
    return [Emit(decide_risk(state, ev), ev.ts_event_ns)]


def _on_decided(state: EngineState, ev: Any) -> list[Action]:
    if ev.outcome in POST_TRADE_OUTCOMES:
        return _post_trade_orders(state, ev)
    intent = state.intents.get(ev.intent_id)
    if ev.outcome == "veto" or intent is None or ev.approved_qty <= 0:
        return []
    return _emits(router.plan_route(state, ev, intent), ev.ts_event_ns)


def _post_trade_orders(state: EngineState, ev: RiskDecided) -> list[Action]:
    """A trim / flatten: cancel the symbol's resting entry orders (flatten), then the reduce-only order."""
    out: list[Action] = []
    if ev.outcome == "flatten":
        out = [Cancel(ev.symbol, o.order_id) for o in state.router.orders.values()
               if o.symbol == ev.symbol and o.open and not o.reduce_only and o.plan_id != protective.PLAN]
    return out + _emits(router.plan_trim(state, ev), ev.ts_event_ns)


def _on_planned(state: EngineState, ev: Any) -> list[Action]:
    return _emits(router.on_planned(state, ev), ev.ts_event_ns)


def _on_submitted(state: EngineState, ev: Any) -> list[Action]:
    return [Submit(OrderRequest(order_id=ev.order_id, symbol=ev.symbol, side=ev.side,
                                order_type=ev.order_type, time_in_force=ev.time_in_force,
                                qty=ev.qty, price=ev.price, reduce_only=ev.reduce_only,
                                stop_price=ev.stop_price, close_position=ev.close_position,
                                working_type=ev.working_type))]


def _on_rejected(state: EngineState, ev: Any) -> list[Action]:
    return _emits(router.on_rejected(state, ev), ev.ts_event_ns)


def _on_canceled(state: EngineState, ev: Any) -> list[Action]:
    return _emits(router.on_canceled(state, ev), ev.ts_event_ns)


def _on_filled(state: EngineState, ev: Any) -> list[Action]:
    return _emits(protective.on_fill(state, ev), ev.ts_event_ns)


def _on_protect(state: EngineState, ev: Any) -> list[Action]:
    return [Cancel(ev.symbol, oid) for oid in ev.cancel]


def _on_fallback(state: EngineState, ev: Any) -> list[Action]:
    return [Cancel(ev.symbol, ev.order_id)] if ev.reason == "maker_timeout" else []


TRIGGERS: dict[type, Callable[[EngineState, Any], list[Action]]] = {
    MarketTick: _on_tick,
    KlineClosed: _on_kline,
    NavSnapshot: _on_nav,
    IntentEmitted: _on_intent,
    RiskDecided: _on_decided,
    RoutePlanned: _on_planned,
    OrderSubmitted: _on_submitted,
    OrderRejected: _on_rejected,
    OrderCanceled: _on_canceled,
    RouterFallback: _on_fallback,
    OrderFilled: _on_filled,
    ProtectiveOrdersSet: _on_protect,
}


def decide(state: EngineState, ev: Event) -> list[Action]:
    """Everything the engine does in answer to one folded event (see the trigger table)."""
    h = TRIGGERS.get(type(ev))
    return h(state, ev) if h is not None else []
