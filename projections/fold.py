"""The projector: one pure fold of the log into every view, then rendered documents.

``Projector.apply(event)`` is the only way the views change; it reads nothing but
the event (no clock, no I/O). The config in force is the one recorded in the log
(``SessionStarted`` / ``ConfigChanged``), never the config directory.
``documents()`` renders every state file from the current fold state, so what is
written depends only on the events folded so far, never on batch boundaries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from config.loader import from_dict
from config.schema import FILES, HedgeConfig
from engine.rules.drawdown import DdParams
from engine.rules.units import NS
from eventlog import events as E
from eventlog.accounts import DEFAULT_ACCOUNT
from projections.exec_logs import ExecLogsView, iso
from projections.intel.view import IntelView
from projections.kpis import Views, render_kpis, render_risk_snapshot
from projections.nav import NavView
from projections.positions import PositionsView
from projections.risk import RiskView
from projections.router import RouterView
from projections.seed_docs import SeedViews, render_seed_documents
from projections.shadow import DecisionFold
from projections.suggestions import TUNING_TYPES, TuningFold
from projections.telemetry import ErrorsView, LatencyView, MarketDataView
from projections.windows import KpiWindows

SCHEMA_VERSION = 1


def default_config() -> HedgeConfig:
    """Schema defaults, for a log that has no (readable) session config yet."""
    return HedgeConfig(**{section: struct() for section, struct in FILES.values()})  # type: ignore[arg-type]


def config_of(d: dict[str, Any]) -> tuple[HedgeConfig, str | None]:
    """Config recorded in an event; falls back to defaults (and says why) if unreadable."""
    try:
        return from_dict(d).config, None
    except Exception as exc:  # an old or foreign config must not stop the projections
        return default_config(), f"{type(exc).__name__}: {exc}"


class Projector:
    """All views of the log, folded together in one pass."""

    def __init__(self, account: str = DEFAULT_ACCOUNT) -> None:
        # the account this fold is of (docs/accounts.md): only its sessions are folded,
        # across all of them (no reset at a session boundary), see ``accepts``
        self.account = account
        self.account_mode: str | None = None
        self.foreign: dict[str, bool] = {}  # session ids of other accounts
        self.session_marks: list[dict[str, Any]] = []  # nav_history.json "sessions"
        self.cfg = default_config()
        self.config_hash: str | None = None
        self.config_error: str | None = None
        self.session_id: str | None = None
        self.session_started_ns: int | None = None
        self.session_symbols: list[str] = []
        self.end_reason: str | None = None
        self.now_ns = 0
        self.seq = 0
        self.events_total = 0
        self.veto_seq = 0  # last seq in risk_vetoes.jsonl at the last commit (set by the runner)
        self.nav = NavView()
        self.positions = PositionsView()
        self.router = RouterView()
        self.risk = RiskView()
        # issue 16 (the rest of the seeds): intel, market data, latency, errors, flags
        self.intel = IntelView()
        self.market = MarketDataView()
        self.latency = LatencyView()
        self.errors = ErrorsView()
        self.decisions = DecisionFold()  # live side of pipeline_v6_compare_summary.json
        self.exec_logs = ExecLogsView()  # events.jsonl, orders_executed.jsonl, order_metrics.jsonl (not reset)
        self.windows = KpiWindows()  # kpis_v7.json windows: since inception, last 30 days, this session
        self.tuning = TuningFold()  # applied autotune / allocator changes (suggestion files)
        self.flag_env: list[str] = []
        self.flags_ns = 0
        self._reset_session()

    def _reset_session(self) -> None:
        self.prices: dict[str, float] = {}
        self.price_ns: dict[str, int] = {}
        self.nav.reset()
        self.positions.reset()
        self.router.reset()
        self.risk.reset()
        self.intel.reset()
        self.market.reset()
        self.latency.reset()
        self.errors.reset()
        self.decisions = DecisionFold()
        self.windows.reset()
        self.tuning = TuningFold()

    # -- folding -------------------------------------------------------------------

    def apply(self, ev: E.Event) -> None:
        self.seq = ev.seq
        self.events_total += 1
        if ev.ts_event_ns > self.now_ns and not (type(ev) is E.RiskReset and not ev.source_seq):
            self.now_ns = ev.ts_event_ns  # (an operator's own RiskReset is on the wall clock, not the market's)
        fn = HANDLERS.get(type(ev))
        if fn is not None:
            fn(self, ev)
        if type(ev) in TUNING_TYPES:  # after the handler: a config change is in force
            self.tuning.apply(ev, self.cfg)

    def accepts(self, ev: E.Event) -> bool:
        """Whether ``ev`` belongs to this fold's account (learns sessions as they start).

        Sessions name their account in ``SessionStarted`` (none = ``main``, written before
        accounts existed); events of another account's sessions, and account-scoped events
        naming another account, are not this account's.
        """
        if ev.session_id in self.foreign:
            return False
        t = type(ev)
        if t is E.SessionStarted:
            if (ev.account or DEFAULT_ACCOUNT) != self.account:  # type: ignore[attr-defined]
                self.foreign[ev.session_id] = True
                return False
            return True
        acct = getattr(ev, "account", None)
        return acct is None or acct == self.account

    def accepted(self, batch: list[E.Event]) -> list[E.Event]:
        """The events of ``batch`` that ``accepts`` takes, in order. While no other account's
        session has been seen and the batch holds no event that could name one (a session
        start, an account-scoped event), that is the whole batch: one pass over the types
        in C instead of ``accepts`` per event."""
        if not self.foreign and _ACCOUNT_SENSITIVE.isdisjoint(set(map(type, batch))):
            return batch
        return [ev for ev in batch if self.accepts(ev)]

    def apply_all(self, events: Iterable[E.Event]) -> None:
        for ev in events:
            self.apply(ev)

    @property
    def symbols(self) -> list[str]:
        """Every configured symbol (universe + the session's), sorted."""
        return sorted(set(self.cfg.universe.symbols) | set(self.session_symbols))

    @property
    def leverage(self) -> float:
        return self.cfg.runtime.sim.leverage

    def set_price(self, sym: str, price: float, ts_ns: int, *, mark_day: bool = True) -> None:
        """Last price of a symbol; ``mark_day`` also marks the intraday PnL (closed klines)."""
        self.prices[sym] = price
        self.price_ns[sym] = ts_ns
        if mark_day:
            self.positions.on_price(sym, price, ts_ns, self.base_nav)
        else:
            pos = self.positions.pos.get(sym)
            if pos is not None:
                pos.mark = price

    @property
    def base_nav(self) -> float | None:
        """The NAV intraday PnL is measured against: the UTC day's opening NAV, else the NAV."""
        return self.nav.day_start or self.nav.nav

    # -- rendering -----------------------------------------------------------------

    def header(self, name: str) -> dict[str, Any]:
        return {
            "schema": f"{name}/{SCHEMA_VERSION}", "schema_version": SCHEMA_VERSION, "seq": self.seq,
            "updated_ts": self.now_ns / NS if self.now_ns else None, "session_id": self.session_id,
            "account": self.account, "account_mode": self.account_mode,
        }

    def documents(self) -> dict[str, dict[str, Any]]:
        """Every state file (name -> document) as of the last event folded."""
        cfg = self.cfg
        aum = self.nav.render_aum(cfg, self.prices, self.price_ns)
        router = self.router.render(cfg, self.symbols)
        views = Views(cfg=cfg, now_ns=self.now_ns, config_hash=self.config_hash, symbols=self.symbols,
                      nav=self.nav, positions=self.positions, risk=self.risk)
        docs = {
            "nav_state.json": self.nav.render_state(cfg, self.now_ns, aum),
            "nav_history.json": {**self.nav.render_history(), "sessions": list(self.session_marks)},
            "aum_v7.json": aum,
            "positions_state.json": self.positions.render_positions(cfg),
            "positions_ledger.json": self.positions.render_ledger(),
            "router_health.json": router,
            "risk_snapshot.json": render_risk_snapshot(views, router),
            "diagnostics.json": self.risk.render_diagnostics(
                now_ns=self.now_ns, events_total=self.events_total, session_started_ns=self.session_started_ns,
                end_reason=self.end_reason, config_error=self.config_error, exits=self.positions.exits()),
            "kpis_v7.json": {**render_kpis(views, router, aum), "windows": self.windows.render(self.now_ns)},
        }
        router.update(self.latency.render())
        docs.update(render_seed_documents(SeedViews(
            cfg=cfg, now_ns=self.now_ns, symbols=self.symbols, config_hash=self.config_hash, flag_env=self.flag_env,
            flags_ns=self.flags_ns, nav=self.nav, risk=self.risk, intel=self.intel, market=self.market,
            errors=self.errors, tuning=self.tuning), docs))
        for name, doc in docs.items():
            doc.update(self.header(name.removesuffix(".json")))
        docs["execution_health.json"]["schema"] = "execution_health_v1"  # the seed's schema tag
        return docs

    def list_documents(self, docs: dict[str, dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
        """State files whose seed shape is a top-level list (``positions.json``)."""
        from projections.telemetry import render_positions_list

        return {"positions.json": render_positions_list(docs["positions_state.json"])}

    def take_veto_lines(self) -> list[dict[str, Any]]:
        lines, self.risk.pending_lines = self.risk.pending_lines, []
        return lines


# ----------------------------------------------------------------------------- handlers


def _session_started(p: Projector, ev: E.SessionStarted) -> None:
    # a session of an account continues it; sessions written before accounts existed
    # (no account) were separate runs and start their views afresh, as they did then
    if ev.resumed_from is None and not ev.account:
        p._reset_session()
    p.session_marks.append({"session_id": ev.session_id, "started_ts": iso(ev.ts_event_ns), "ended_ts": None,
                            "end_reason": None, "mode": ev.mode})
    p.windows.new_session(ev.ts_event_ns)
    p.cfg, p.config_error = config_of(ev.config)
    p.config_hash = ev.config_hash
    p.session_id = ev.session_id
    p.session_started_ns = ev.ts_event_ns
    p.nav.rules_version = ev.rules_version
    p.risk.drought.on_start(ev.ts_event_ns)
    p.session_symbols = list(ev.symbols)
    p.end_reason = None
    p.flag_env = [str(x) for x in ev.params.get("v6_flags_env", [])] if isinstance(ev.params, dict) else []
    p.flags_ns = ev.ts_event_ns


def _session_ended(p: Projector, ev: E.SessionEnded) -> None:
    p.end_reason = ev.reason
    for m in reversed(p.session_marks):
        if m["session_id"] == ev.session_id:
            m["ended_ts"], m["end_reason"] = iso(ev.ts_event_ns), ev.reason
            break


def _account_opened(p: Projector, ev: E.AccountOpened) -> None:
    p.account_mode = ev.mode


def _config_changed(p: Projector, ev: E.ConfigChanged) -> None:
    p.cfg, p.config_error = config_of(ev.config)
    p.config_hash = ev.config_hash
    p.flags_ns = ev.ts_event_ns


def _tick(p: Projector, ev: E.MarketTick) -> None:
    # the hottest path of a rebuild: set_price(mark_day=False), inlined
    ts = ev.ts_event_ns
    p.risk.last_ns["tick"] = ts
    price = ev.mark or (ev.bid + ev.ask) / 2.0
    if price > 0:
        sym = ev.symbol
        p.prices[sym] = price
        p.price_ns[sym] = ts
        pos = p.positions.pos.get(sym)
        if pos is not None:
            pos.mark = price
        if ev.mark is not None or ev.funding_rate is not None:
            p.market.on_tick_mark(sym, ev.mark, ev.funding_rate, ts)


def _kline(p: Projector, ev: E.KlineClosed) -> None:
    # set_price(mark_day=True), inlined: a symbol without a position or an intraday PnL row
    # has nothing to mark, so the day's base NAV is only read when there is
    sym, close, ts, cfg = ev.symbol, ev.close, ev.ts_event_ns, p.cfg
    p.risk.on_kline(ev, cfg)
    p.prices[sym] = close
    p.price_ns[sym] = ts
    positions = p.positions
    if sym in positions.pos or sym in positions.day:
        positions.on_price(sym, close, ts, p.base_nav)
    p.intel.book.on_kline(sym, ev.high, ev.low, close, cfg)
    p.market.on_close(sym, close, ts)


def _nav(p: Projector, ev: E.NavSnapshot) -> None:
    p.risk.last_ns["nav"] = ev.ts_event_ns
    if p.nav.on_nav(ev):
        p.windows.on_nav(ev.nav_usd, ev.ts_event_ns)


def _position(p: Projector, ev: E.PositionSnapshot) -> None:
    p.positions.on_snapshot(ev, p.base_nav)


def _liquidated(p: Projector, ev: E.PositionLiquidated) -> None:
    p.positions.on_liquidated(ev, p.base_nav)


def _funding(p: Projector, ev: E.FundingApplied) -> None:
    p.risk.on_funding(ev.symbol, ev.amount_usd)
    p.windows.on_funding(ev.ts_event_ns, ev.amount_usd)
    p.positions.on_funding(ev.symbol, ev.amount_usd, ev.ts_event_ns, p.base_nav)
    p.intel.book.on_funding(ev.symbol, ev.amount_usd, p.cfg)
    p.market.on_funding(ev)
    p.decisions.apply(ev)


def _offex(p: Projector, ev: E.OffExchangeValued) -> None:
    p.nav.on_offexchange(ev)


def _intent(p: Projector, ev: E.IntentEmitted) -> None:
    p.positions.on_intent(ev)
    p.intel.on_intent(ev)


def _decision(p: Projector, ev: E.RiskDecided) -> None:
    p.decisions.apply(ev)
    p.risk.on_decision(ev)
    p.positions.on_decision(ev)


def _plan(p: Projector, ev: E.RoutePlanned) -> None:
    p.router.on_plan(ev)
    p.latency.on_plan(ev)
    p.exec_logs.on_plan(ev)


def _submitted(p: Projector, ev: E.OrderSubmitted) -> None:
    if ev.plan_id == "protect":  # the position's TP/SL resting at the venue (engine/protective.py)
        p.positions.on_protective(ev)
    p.router.on_submitted(ev)
    p.latency.on_submitted(ev)
    p.exec_logs.on_submitted(ev)


def _accepted(p: Projector, ev: E.OrderAccepted) -> None:
    p.latency.on_accepted(ev)


def _rejected(p: Projector, ev: E.OrderRejected) -> None:
    p.router.on_rejected(ev)
    p.exec_logs.on_rejected(ev)


def _canceled(p: Projector, ev: E.OrderCanceled | E.OrderExpired) -> None:
    p.exec_logs.on_canceled(ev)


def _filled(p: Projector, ev: E.OrderFilled) -> None:
    # before the router folds it: its fallback context is per order
    p.exec_logs.on_fill(ev, *p.router.fill_context(ev.order_id, ev.is_maker))
    p.router.on_fill(ev)
    p.positions.on_fill(ev, p.leverage, p.base_nav)
    p.windows.on_fill(ev.ts_event_ns, ev.fee_usd, ev.realized_pnl, p.risk.on_fill(ev))
    p.latency.on_fill(ev)
    p.decisions.apply(ev)
    p.intel.book.on_fill(ev.symbol, ev.side, ev.qty, ev.price, ev.fee_usd, ev.realized_pnl, ev.is_maker,
                         ev.slippage_bps, ev.ts_event_ns, p.cfg)


def _fallback(p: Projector, ev: E.RouterFallback) -> None:
    p.router.on_fallback(ev)
    p.exec_logs.on_fallback(ev)


def _closed(p: Projector, ev: E.PositionClosed) -> None:
    p.positions.on_closed(ev)


def _alert_sent(p: Projector, ev: E.AlertSent) -> None:
    p.risk.alerts["sent"] += 1


def _alert_failed(p: Projector, ev: E.AlertFailed) -> None:
    p.risk.alerts["failed"] += 1


def _venue_error(p: Projector, ev: E.VenueError) -> None:
    p.risk.venue_errors[ev.kind] = p.risk.venue_errors.get(ev.kind, 0) + 1
    p.errors.on_error(ev)
    p.exec_logs.on_error(ev)


def _reconciled(p: Projector, ev: E.VenueReconciled) -> None:
    """Exchange state read at (re)start is authoritative: rebuild positions from it."""
    p.exec_logs.on_reconciled(ev)
    listed = {d.symbol for d in ev.positions}
    for gone in sorted(set(p.positions.pos) - listed):
        p.positions.on_snapshot(E.PositionSnapshot(
            session_id=ev.session_id, session_seq=ev.session_seq, stream=ev.stream,
            ts_event_ns=ev.ts_event_ns, ts_init_ns=ev.ts_init_ns, symbol=gone, qty=0.0,
            entry_price=0.0, mark_price=0.0, unrealized_pnl=0.0), p.base_nav)
    for d in ev.positions:
        p.positions.on_snapshot(E.PositionSnapshot(
            session_id=ev.session_id, session_seq=ev.session_seq, stream=ev.stream,
            ts_event_ns=ev.ts_event_ns, ts_init_ns=ev.ts_init_ns, symbol=d.symbol, qty=d.qty,
            entry_price=d.entry_price, mark_price=d.mark_price, unrealized_pnl=0.0, leverage=p.leverage,
        ), p.base_nav)


def _dd_changed(p: Projector, ev: E.DdStateChanged) -> None:
    p.nav.dd_book.on_changed(ev.to_state, ev.ts_event_ns, ev.cause, ev.ref_nav_usd, ev.reason)


def _risk_reset(p: Projector, ev: E.RiskReset) -> None:
    if not ev.source_seq:
        return  # the operator's own record: the engine's copy in its session is what applies
    p.nav.dd_book.on_reset(ev.to_state, ev.ts_event_ns, ev.ref_nav_usd, DdParams.of(p.cfg, p.nav.rules_version),
                           seq=ev.source_seq, by=ev.operator, reason=ev.reason)


# the event types ``Projector.accepts`` can refuse when no foreign session is known yet
_ACCOUNT_SENSITIVE = frozenset(
    [E.SessionStarted, *(c for c in E.EVENT_TYPES.values() if "account" in c.__struct_fields__)])

HANDLERS: dict[type[E.Event], Callable[[Projector, Any], None]] = {
    E.SessionStarted: _session_started,
    E.SessionEnded: _session_ended,
    E.AccountOpened: _account_opened,
    E.ConfigChanged: _config_changed,
    E.MarketTick: _tick,
    E.KlineClosed: _kline,
    E.NavSnapshot: _nav,
    E.PositionSnapshot: _position,
    E.FundingApplied: _funding,
    E.PositionLiquidated: _liquidated,
    E.OffExchangeValued: _offex,
    E.IntentEmitted: _intent,
    E.RiskDecided: _decision,
    E.RoutePlanned: _plan,
    E.OrderSubmitted: _submitted,
    E.OrderAccepted: _accepted,
    E.OrderCanceled: _canceled,
    E.OrderExpired: _canceled,
    E.OrderRejected: _rejected,
    E.OrderFilled: _filled,
    E.RouterFallback: _fallback,
    E.PositionClosed: _closed,
    E.AlertSent: _alert_sent,
    E.AlertFailed: _alert_failed,
    E.VenueError: _venue_error,
    E.VenueReconciled: _reconciled,
    E.DdStateChanged: _dd_changed,
    E.RiskReset: _risk_reset,
}
