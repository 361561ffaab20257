"""EngineState and ``evolve(state, event)``: the only way engine state changes.

The live loop and replay run the same fold. ``evolve`` mutates the state in place
(for speed: no per-bar copies) and returns it; it reads nothing but the event and
the state, so folding the same events always gives the same state.

What is folded:

* session config (``SessionStarted`` / ``ConfigChanged``) and the session tag;
* per symbol: last tick (bid/ask/mark), indicators from closed klines (EMAs,
  Donchian channel of the previous bars, Wilder ATR with its baseline), the
  exchange-side position (``PositionSnapshot``, authoritative), a ledger position
  folded from fills, TP/SL levels of the open position, cooldown bookkeeping;
* account: last NAV reading (value, time, sources ok, its session_seq), peak NAV,
  the UTC day's opening NAV, cash folded from fills and funding;
* router: working orders and route plans (slices, reprices, fallbacks), in
  ``state.router`` (``engine/orders.py``);
* a running summary (intents, vetoes by gate, clamps, fills, fees);
* the drawdown policy (``engine/rules/drawdown.py``): ``dd_state`` with hysteresis, its
  reference and any override in force, from ``NavSnapshot``, ``DdStateChanged`` (the
  engine's decisions) and ``RiskReset`` (operator resets copied into the session).
"""

from __future__ import annotations

from typing import Any

from config.loader import from_dict
from config.schema import HedgeConfig
from engine import protective
from engine.accounting import apply_fill
from engine.autotune import AUTOTUNE_TYPES, AutotuneFold
from engine.exchange_filters import SymbolFilters
from engine.exchange_filters import from_event_fields as filters_from_event
from engine.ids import session_tag
from engine.orders import PlanState, RouterBook
from engine.post_trade import POST_TRADE_OUTCOMES, PostTradeBook
from engine.rules.drawdown import DdParams, DrawdownBook
from engine.rules.indicators import Donchian, WilderAtr, ema_step
from engine.rules.intel import IntelBook
from engine.rules.nav import NavTrack, counts
from engine.rules.units import HOUR_NS
from eventlog.events import (
    ConfigChanged,
    DdStateChanged,
    Event,
    ExchangeFiltersLoaded,
    FundingApplied,
    IntentEmitted,
    KlineClosed,
    MarketTick,
    NavSnapshot,
    OffExchangeValued,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    PositionClosed,
    PositionLiquidated,
    PositionSnapshot,
    RiskDecided,
    RiskReset,
    RoutePlanned,
    RouterFallback,
    SessionStarted,
    VenueReconciled,
)


class SymbolState:
    """Market, indicator and position state of one symbol."""

    __slots__ = (
        "ask",
        "atr",
        "bars",
        "bid",
        "donchian",
        "ema_fast",
        "ema_slow",
        "exit_pending",
        "funding_rate",
        "high",
        "kline_close_ms",
        "kline_seq",
        "last_close",
        "last_entry_bar",
        "last_veto_bar",
        "led_entry",
        "led_qty",
        "low",
        "mark",
        "open_plans",
        "pos_entry",
        "pos_liq",
        "pos_mark",
        "pos_qty",
        "pos_seq",
        "pos_upnl",
        "prot",
        "sl",
        "symbol",
        "tick_ns",
        "tick_seq",
        "tp",
        "volume",
    )

    def __init__(self, symbol: str, cfg: HedgeConfig):
        s = cfg.strategy
        self.symbol = symbol
        self.bid = self.ask = self.mark = 0.0
        self.tick_seq = 0
        self.tick_ns = 0
        self.funding_rate: float | None = None
        self.bars = 0
        self.kline_seq = 0
        self.kline_close_ms = 0
        self.last_close = self.high = self.low = self.volume = 0.0
        self.ema_fast: float | None = None
        self.ema_slow: float | None = None
        self.donchian = Donchian(s.breakout_bars)  # the channel of the breakout_bars bars before the current one
        self.atr = WilderAtr(s.atr_regime.period, s.atr_regime.baseline_bars)
        self.pos_qty = self.pos_entry = self.pos_mark = self.pos_upnl = 0.0
        self.prot: dict[str, tuple[str, float]] = {}  # issue 14: protective orders (engine/protective.py)
        self.pos_liq = 0.0  # issue 14: the venue's liquidation price of the position (0 = none reported)
        self.pos_seq = 0
        self.led_qty = self.led_entry = 0.0
        self.tp: float | None = None
        self.sl: float | None = None
        self.exit_pending = False
        self.last_entry_bar = -(10**9)
        self.last_veto_bar = -(10**9)
        self.open_plans: list[str] = []

    def channel(self) -> tuple[float, float] | None:
        """Donchian (high, low) of the previous ``breakout_bars`` bars; None until full."""
        return self.donchian.channel()

    def price(self) -> float:
        """Best current price: mark, else mid, else the last close."""
        if self.mark > 0:
            return self.mark
        if self.bid > 0 and self.ask > 0:
            return (self.bid + self.ask) / 2
        return self.last_close


class Summary:
    """Running session summary, folded like everything else."""

    __slots__ = (
        "bars", "clamps", "events", "fees_usd", "fills", "funding_usd", "intents",
        "liquidations", "maker_fills", "realized_pnl", "vetoes_by_gate",
    )

    def __init__(self) -> None:
        self.events = 0
        self.bars = 0
        self.intents = 0
        self.clamps = 0
        self.vetoes_by_gate: dict[str, int] = {}
        self.fills = 0
        self.maker_fills = 0
        self.fees_usd = 0.0
        self.realized_pnl = 0.0
        self.funding_usd = 0.0
        self.liquidations = 0


class EngineState:
    """Everything the engine's decisions read, folded from the session's events."""

    def __init__(self) -> None:
        self.session_id = ""
        self.tag = ""
        self.cfg: HedgeConfig | None = None
        self.config_hash = ""
        self.rules_version = 1  # SessionStarted.rules_version (engine/rules/versions.py)
        self.symbols: list[str] = []
        self.sessions = 0  # earlier sessions of the account folded before this one
        self.syms: dict[str, SymbolState] = {}
        self.last_seq = 0
        self.now_ns = 0
        # account
        self.nav_usd: float | None = None
        self.nav_ns = 0
        self.nav_seq = 0
        self.nav_sources_ok = False
        self.wallet = 0.0
        self.margin_ratio: float | None = None  # issue 14: the venue's account margin ratio (last NAV reading)
        self.nav_track = NavTrack()  # peak, UTC day start, drawdown (engine/rules/nav.py)
        self.cash: float | None = None  # ledger cash: first wallet reading + fills + funding
        self.offx_hour = -1
        # exchange filters the venue reported (ExchangeFiltersLoaded); rounding prefers them to the config
        self.filters: dict[str, SymbolFilters] = {}
        # router: working orders and plans (engine/orders.py)
        self.router = RouterBook()
        self.intents: dict[str, IntentEmitted] = {}
        self.summary = Summary()
        self.intel = IntelBook()  # round trips, scores (the same fold as expectancy_v6.json)
        self.dd_book = DrawdownBook()  # drawdown policy: dd_state with hysteresis (engine/rules/drawdown.py)
        self.resets_applied: set[int] = set()  # seq of every operator RiskReset applied (hedge/risk_reset.py)
        self.autotune = AutotuneFold()  # router windows + the due period of autotune / allocator (issue 16)
        self.post_trade = PostTradeBook()  # risk after the trade: breaches acted on, halt (engine/post_trade.py)

    @property
    def config(self) -> HedgeConfig:
        if self.cfg is None:
            raise RuntimeError("no SessionStarted folded yet: the engine has no config")
        return self.cfg

    @property
    def peak_nav(self) -> float:
        return self.nav_track.peak or 0.0

    @property
    def day_start_nav(self) -> float:
        return self.nav_track.day_start or 0.0

    def sym(self, symbol: str) -> SymbolState:
        s = self.syms.get(symbol)
        if s is None:
            s = self.syms[symbol] = SymbolState(symbol, self.config)
        return s

    def summary_dict(self) -> dict[str, Any]:
        """The session summary recorded in SessionEnded and printed by ``hedge run``."""
        sm = self.summary
        return {
            "events": sm.events,
            "bars": sm.bars,
            "intents": sm.intents,
            "vetoes": sum(sm.vetoes_by_gate.values()),
            "vetoes_by_gate": dict(sorted(sm.vetoes_by_gate.items())),
            "clamps": sm.clamps,
            "orders": self.router.submitted,
            "rejects": self.router.rejects,
            "fallbacks": self.router.fallbacks,
            "fills": sm.fills,
            "maker_fills": sm.maker_fills,
            "fees_usd": round(sm.fees_usd, 6),
            "realized_pnl_usd": round(sm.realized_pnl, 6),
            "funding_usd": round(sm.funding_usd, 6),
            "final_nav_usd": round(self.nav_usd, 6) if self.nav_usd is not None else None,
            "peak_nav_usd": round(self.peak_nav, 6),
            "max_dd_frac": round(self.nav_track.max_dd, 6),
            "open_positions": {s: self.syms[s].pos_qty for s in sorted(self.syms) if self.syms[s].pos_qty},
        }


# --------------------------------------------------------------------------- handlers


def _session_started(st: EngineState, ev: SessionStarted) -> None:
    # A session continues its account: everything folded so far stays (high-water mark,
    # day start, positions, TP/SL, orders, indicators...); only the summary is per session.
    if st.session_id:
        st.summary = Summary()
        st.sessions += 1
    st.session_id = ev.session_id
    st.tag = session_tag(ev.session_id)
    st.cfg = from_dict(ev.config).config
    st.config_hash = ev.config_hash
    st.rules_version = ev.rules_version
    st.symbols = list(ev.symbols)
    for s in st.symbols:
        st.sym(s)


def _config_changed(st: EngineState, ev: ConfigChanged) -> None:
    st.cfg = from_dict(ev.config).config
    st.config_hash = ev.config_hash


def _tick(st: EngineState, ev: MarketTick) -> None:
    s = st.sym(ev.symbol)
    s.bid = ev.bid
    s.ask = ev.ask
    s.mark = ev.mark if ev.mark is not None else (ev.bid + ev.ask) / 2
    s.tick_seq = ev.session_seq
    s.tick_ns = ev.ts_event_ns
    if ev.funding_rate is not None:
        s.funding_rate = ev.funding_rate


def _kline(st: EngineState, ev: KlineClosed) -> None:
    s = st.sym(ev.symbol)
    cfg = st.config.strategy
    s.donchian.update(ev.high, ev.low)
    c = ev.close
    if s.ema_fast is None or s.ema_slow is None:
        s.ema_fast = s.ema_slow = c
    else:
        s.ema_fast = ema_step(s.ema_fast, c, cfg.fast_ema)
        s.ema_slow = ema_step(s.ema_slow, c, cfg.slow_ema)
    s.atr.update(ev.high, ev.low, c)
    s.bars += 1
    st.summary.bars += 1
    s.kline_seq = ev.session_seq
    st.intel.on_kline(ev.symbol, ev.high, ev.low, c, st.config)
    s.kline_close_ms = ev.close_time_ms
    s.last_close = c
    s.high = ev.high
    s.low = ev.low
    s.volume = ev.volume


def _nav(st: EngineState, ev: NavSnapshot) -> None:
    st.nav_usd = ev.nav_usd
    st.nav_ns = ev.ts_event_ns
    st.nav_seq = ev.session_seq
    st.nav_sources_ok = ev.sources_ok
    st.wallet = ev.wallet_balance
    st.margin_ratio = ev.margin_ratio if ev.maint_margin_usd or ev.margin_ratio else None
    if st.cash is None:
        st.cash = ev.wallet_balance
    st.nav_track.update(ev.nav_usd, ev.ts_event_ns, ev.sources_ok)
    if counts(ev.nav_usd, ev.sources_ok):
        st.dd_book.on_nav(ev.nav_usd)
        st.post_trade.on_nav(st.nav_track.drawdown, st.config.risk_limits.global_.max_drawdown_pct)


def _position(st: EngineState, ev: PositionSnapshot) -> None:
    s = st.sym(ev.symbol)
    s.pos_qty = ev.qty
    s.pos_entry = ev.entry_price
    s.pos_mark = ev.mark_price
    s.pos_upnl = ev.unrealized_pnl
    s.pos_liq = ev.liquidation_price
    s.pos_seq = ev.session_seq
    if ev.qty == 0.0:
        s.tp = s.sl = None
        s.exit_pending = False


def _funding(st: EngineState, ev: FundingApplied) -> None:
    if st.cash is not None:
        st.cash += ev.amount_usd
    st.summary.funding_usd += ev.amount_usd
    st.intel.on_funding(ev.symbol, ev.amount_usd, st.config)


def _filters_loaded(st: EngineState, ev: ExchangeFiltersLoaded) -> None:
    st.filters.update(filters_from_event(ev.filters))


def _liquidated(st: EngineState, ev: PositionLiquidated) -> None:
    s = st.sym(ev.symbol)
    sign = 1 if ev.side == "BUY" else -1
    s.led_qty, s.led_entry, _ = apply_fill(s.led_qty, s.led_entry, sign, ev.qty, ev.fill_price)
    if st.cash is not None:
        st.cash += ev.realized_pnl - ev.fee_usd
    st.summary.fees_usd += ev.fee_usd
    st.summary.realized_pnl += ev.realized_pnl
    st.summary.liquidations += 1


def _offx(st: EngineState, ev: OffExchangeValued) -> None:
    st.offx_hour = ev.ts_event_ns // HOUR_NS


def _reconciled(st: EngineState, ev: VenueReconciled) -> None:
    for p in ev.positions:
        s = st.sym(p.symbol)
        s.pos_qty = p.qty
        s.pos_entry = p.entry_price
        s.led_qty, s.led_entry = s.pos_qty, s.pos_entry
        s.pos_seq = ev.session_seq


def _intent(st: EngineState, ev: IntentEmitted) -> None:
    st.intents[ev.intent_id] = ev
    st.summary.intents += 1
    s = st.sym(ev.symbol)
    if ev.reduce_only:
        s.exit_pending = True
    else:
        s.last_entry_bar = s.bars


def _decided(st: EngineState, ev: RiskDecided) -> None:
    if ev.outcome in POST_TRADE_OUTCOMES:
        _post_trade(st, ev)
        return
    intent = st.intents.get(ev.intent_id)
    s = st.sym(ev.symbol)
    if ev.outcome == "veto":
        st.summary.vetoes_by_gate[ev.gate] = st.summary.vetoes_by_gate.get(ev.gate, 0) + 1
        st.intents.pop(ev.intent_id, None)
        if intent is not None and intent.reduce_only:
            s.exit_pending = False
        else:
            s.last_veto_bar = s.bars
        return
    if ev.outcome == "clamp":
        st.summary.clamps += 1
    if intent is not None and not intent.reduce_only:
        s.tp, s.sl = intent.tp, intent.sl


def _post_trade(st: EngineState, ev: RiskDecided) -> None:
    """A trim / flatten (engine/post_trade.py); a flatten also ends the symbol's entry plans
    (the engine cancels their resting orders; a cancel confirmed later finds no plan)."""
    st.post_trade.on_decided(ev.gate, ev.outcome, ev.ts_event_ns)
    if ev.outcome != "flatten":
        return
    s = st.sym(ev.symbol)
    for pid in list(s.open_plans):
        p = st.router.plans.get(pid)
        if p is not None and not p.reduce_only:
            _plan_closed(st, st.router.close(p))


def _planned(st: EngineState, ev: RoutePlanned) -> None:
    st.intents.pop(ev.intent_id, None)
    p = st.router.on_planned(ev)
    st.sym(ev.symbol).open_plans.append(p.plan_id)


def _plan_closed(st: EngineState, p: PlanState | None) -> None:
    """What a closed plan means for its symbol."""
    if p is None:
        return
    s = st.sym(p.symbol)
    if p.plan_id in s.open_plans:
        s.open_plans.remove(p.plan_id)
    if p.reduce_only:
        s.exit_pending = False  # the exit is over; whatever position is left, the screener looks again


def _submitted(st: EngineState, ev: OrderSubmitted) -> None:
    protective.fold(st, ev)
    st.router.on_submitted(ev)


def _accepted(st: EngineState, ev: OrderAccepted) -> None:
    st.router.on_accepted(ev)


def _rejected(st: EngineState, ev: OrderRejected) -> None:
    protective.fold(st, ev)
    _plan_closed(st, st.router.on_rejected(ev))


def _canceled(st: EngineState, ev: OrderCanceled) -> None:
    protective.fold(st, ev)
    _plan_closed(st, st.router.on_canceled(ev))


def _expired(st: EngineState, ev: OrderExpired) -> None:
    protective.fold(st, ev)
    _plan_closed(st, st.router.on_expired(ev))


def _filled(st: EngineState, ev: OrderFilled) -> None:
    protective.fold(st, ev)
    sm = st.summary
    sm.fills += 1
    sm.fees_usd += ev.fee_usd
    sm.realized_pnl += ev.realized_pnl
    if ev.is_maker:
        sm.maker_fills += 1
    s = st.sym(ev.symbol)
    sign = 1 if ev.side == "BUY" else -1
    s.led_qty, s.led_entry, _ = apply_fill(s.led_qty, s.led_entry, sign, ev.qty, ev.price)
    if st.cash is not None:
        st.cash += ev.realized_pnl - ev.fee_usd
    st.intel.on_fill(ev.symbol, ev.side, ev.qty, ev.price, ev.fee_usd, ev.realized_pnl, ev.is_maker,
                     ev.slippage_bps, ev.ts_event_ns, st.config)
    _plan_closed(st, st.router.on_filled(ev))


def _fallback(st: EngineState, ev: RouterFallback) -> None:
    st.router.on_fallback(ev)


def _position_closed(st: EngineState, ev: PositionClosed) -> None:
    st.sym(ev.symbol).exit_pending = True


def _dd_changed(st: EngineState, ev: DdStateChanged) -> None:
    st.dd_book.on_changed(ev.to_state, ev.ts_event_ns, ev.cause, ev.ref_nav_usd, ev.reason)


def _risk_reset(st: EngineState, ev: RiskReset) -> None:
    """An operator reset: enter ``to_state`` and re-base the drawdown reference (see drawdown.py).

    Only the engine's copy in its session reaches here (``evolve`` skips the operator's own
    record, which an account's fold also reads): it names the original in ``source_seq``.
    """
    st.resets_applied.add(ev.source_seq)
    st.post_trade.on_reset()
    st.dd_book.on_reset(ev.to_state, ev.ts_event_ns, ev.ref_nav_usd, DdParams.of(st.config, st.rules_version),
                        seq=ev.source_seq, by=ev.operator, reason=ev.reason)


_HANDLERS: dict[type, Any] = {
    SessionStarted: _session_started,
    ConfigChanged: _config_changed,
    MarketTick: _tick,
    KlineClosed: _kline,
    NavSnapshot: _nav,
    PositionSnapshot: _position,
    FundingApplied: _funding,
    OffExchangeValued: _offx,
    VenueReconciled: _reconciled,
    IntentEmitted: _intent,
    RiskDecided: _decided,
    RoutePlanned: _planned,
    OrderSubmitted: _submitted,
    OrderAccepted: _accepted,
    OrderRejected: _rejected,
    OrderCanceled: _canceled,
    OrderExpired: _expired,
    OrderFilled: _filled,
    RouterFallback: _fallback,
    PositionClosed: _position_closed,
    ExchangeFiltersLoaded: _filters_loaded,
    PositionLiquidated: _liquidated,
    DdStateChanged: _dd_changed,
    RiskReset: _risk_reset,
}


def evolve(state: EngineState, event: Event) -> EngineState:
    """Fold one event into the state (in place) and return the state."""
    if type(event) is RiskReset and not event.source_seq:
        return state  # an operator's own record (an account's fold reads it): only the engine's copy folds
    h = _HANDLERS.get(type(event))
    if h is not None:
        h(state, event)
    if type(event) in AUTOTUNE_TYPES:
        state.autotune.apply(state, event)
    state.last_seq = event.session_seq
    if event.ts_event_ns > state.now_ns:
        state.now_ns = event.ts_event_ns
    state.summary.events += 1
    return state


def fold(events: Any, state: EngineState | None = None) -> EngineState:
    """Fold an iterable of one session's events from the start (or onto ``state``)."""
    st = state or EngineState()
    for ev in events:
        evolve(st, ev)
    return st
