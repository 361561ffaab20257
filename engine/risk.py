"""Risk: ``check_order`` - the only veto authority.

``check_order(intent, view, cfg, now_ns, ...)`` is pure: the intent, a
``RiskView`` (the portfolio as folded from the log, see ``build_view``), the
config and the decision time in; the content of a ``RiskDecided`` event out.

Each gate is a small predicate in ``engine.gates`` returning a ``Verdict``
(pass / clamp / veto) with its thresholds. Gates run in a fixed order on the
running approved notional; the first veto decides the outcome, later gates still
run so ``breached`` names every threshold that broke. Orders that only reduce
exposure (exits) skip every gate except the exchange lot size.

``check_positions(state, nav_seq, now_ns)`` is the same authority after the trade
(rules v6, ``engine.post_trade``): at a counted NAV reading it decides the reduce-only
trims of positions that drifted over a cap and the actions on loss-limit breaches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from config.schema import HedgeConfig
from engine.accounting import round_step_down
from engine.exchange_filters import SymbolFilters, effective
from engine.gates import GateInput, Verdict, gates_for
from engine.ids import risk_action_id
from engine.post_trade import Book, Holding, book_observations, breach_at, breach_cut, drift_cut
from engine.rules.drawdown import HYSTERESIS_RULES
from engine.rules.indicators import atr_regime, dd_state
from engine.rules.units import MINUTE_NS, NS
from engine.rules.versions import LIQUIDATION_BUFFER_RULES
from eventlog.events import IntentEmitted, Scalar

CONVICTION_KEYS = ("signal_strength", "symbol_score", "hybrid_score", "conviction", "unscaled_notional_usd")


@dataclass(slots=True)
class RiskView:
    """What a decision sees: the portfolio folded from the log at decision time."""

    symbol: str
    tier: str
    price: float
    nav_usd: float | None
    nav_age_s: float | None
    nav_sources_ok: bool
    position_qty: float = 0.0  # exchange-side (PositionSnapshot)
    exposure_qty: float = 0.0  # position + remaining qty of open entry plans (signed)
    symbol_gross: float = 0.0
    tier_gross: float = 0.0
    portfolio_gross: float = 0.0
    group_gross: dict[str, float] = field(default_factory=dict)
    open_positions_count: int = 0
    peak_nav: float = 0.0
    dd_frac: float = 0.0
    daily_loss_frac: float = 0.0
    atr_ratio: float | None = None
    atr_regime: str = "unknown"
    dd_state: str = "normal"
    minute_of_day: int = 0
    refs: dict[str, int] = field(default_factory=dict)
    lot: SymbolFilters | None = None  # the venue's exchange filters for the symbol (None: the config's)
    rules_version: int = 2  # decision rules in force (engine/rules/versions.py); not an observation
    expectancy_frac: float | None = None  # the symbol's rolling expectancy per round trip (intel)
    expectancy_usd: float | None = None
    expectancy_trades: int = 0
    conviction: dict[str, Scalar] = field(default_factory=dict)  # from the intent (intel_v6_enabled)
    dd_policy: dict[str, Scalar] = field(default_factory=dict)  # the drawdown policy's observations (rules v3)
    margin_ratio: float | None = None  # the venue's account margin ratio (last NAV reading; rules v5)
    liquidation_distance_frac: float | None = None  # |price - liq price| / price of the symbol's position

    def observations(self) -> dict[str, Scalar]:
        obs: dict[str, Scalar] = {
            "nav_usd": _r(self.nav_usd),
            "nav_age_s": _r(self.nav_age_s),
            "nav_sources_ok": self.nav_sources_ok,
            "price": self.price,
            "tier": self.tier,
            "position_qty": self.position_qty,
            "exposure_qty": _r(self.exposure_qty),
            "symbol_gross": _r(self.symbol_gross),
            "tier_gross": _r(self.tier_gross),
            "portfolio_gross": _r(self.portfolio_gross),
            "current_gross_notional": _r(self.portfolio_gross),  # the seeds' names, same values
            "tier_gross_notional": _r(self.tier_gross),
            "open_positions_count": self.open_positions_count,
            "peak_nav_usd": _r(self.peak_nav),
            "dd_frac": _r(self.dd_frac),
            "daily_loss_frac": _r(self.daily_loss_frac),
            "dd_state": self.dd_state,
            "atr_ratio": _r(self.atr_ratio),
            "atr_regime": self.atr_regime,
            "minute_of_day_utc": self.minute_of_day,
            "expectancy_frac": _r(self.expectancy_frac),
            "expectancy_usd": _r(self.expectancy_usd),
            "expectancy_trades": self.expectancy_trades,
        }
        obs.update(self.dd_policy)
        if self.rules_version >= LIQUIDATION_BUFFER_RULES:
            obs["margin_ratio"] = _r(self.margin_ratio)
            obs["liquidation_distance_frac"] = _r(self.liquidation_distance_frac)
        obs.update(self.conviction)
        for g, v in sorted(self.group_gross.items()):
            obs[f"group_gross.{g}"] = _r(v)
        return obs


def _r(x: float | None, nd: int = 8) -> float | None:
    return None if x is None else round(x, nd)


def build_view(state: Any, intent: IntentEmitted, now_ns: int) -> RiskView:
    """Fold the engine state into the view ``check_order`` needs (and the refs it saw)."""
    cfg: HedgeConfig = state.config
    g = cfg.risk_limits.global_
    s = state.sym(intent.symbol)
    price = s.price() or intent.price
    exposure: dict[str, float] = {}
    gross: dict[str, float] = {}
    refs: dict[str, int] = {"intent": intent.session_seq}
    for sym in sorted(state.syms):
        ss = state.syms[sym]
        q = ss.pos_qty
        for pid in ss.open_plans:
            p = state.router.plans.get(pid)
            if p is not None and not p.reduce_only:
                q += p.signed_remaining()
        exposure[sym] = q
        gross[sym] = abs(q) * (ss.price() or 0.0)
        if ss.pos_seq:
            refs[f"position.{sym}"] = ss.pos_seq
    tier = cfg.tier_of(intent.symbol)
    tier_gross = sum(v for k, v in gross.items() if cfg.tier_of(k) == tier)
    groups = {
        name: sum(gross.get(sym, 0.0) for sym in grp.symbols)
        for name, grp in sorted(cfg.correlation_groups.groups.items())
        if intent.symbol in grp.symbols
    }
    nav = state.nav_usd
    dd = (state.nav_track.drawdown or 0.0) if nav is not None else 0.0
    day_loss = (state.nav_track.daily_loss or 0.0) if nav is not None else 0.0
    ratio = s.atr.ratio
    ar = cfg.strategy.atr_regime
    if state.nav_seq:
        refs["nav"] = state.nav_seq
    if s.tick_seq:
        refs["tick"] = s.tick_seq
    if s.kline_seq:
        refs["kline"] = s.kline_seq
    liq = getattr(s, "pos_liq", 0.0)
    liq_dist = abs(price - liq) / price if liq > 0 and s.pos_qty and price > 0 else None
    mr = getattr(state, "margin_ratio", None)
    exp = state.intel.rolling(intent.symbol, cfg.runtime.signal_gate.expectancy_window)
    conv = {k: intent.signal[k] for k in CONVICTION_KEYS if k in intent.signal}
    v3 = state.rules_version >= HYSTERESIS_RULES
    return RiskView(
        expectancy_frac=exp.expectancy_frac, expectancy_usd=exp.expectancy_usd,
        expectancy_trades=exp.round_trips, conviction=conv,
        symbol=intent.symbol, tier=tier, price=price, nav_usd=nav,
        nav_age_s=(now_ns - state.nav_ns) / NS if nav is not None else None,
        nav_sources_ok=bool(state.nav_sources_ok), position_qty=s.pos_qty,
        exposure_qty=exposure.get(intent.symbol, 0.0), symbol_gross=gross.get(intent.symbol, 0.0),
        tier_gross=tier_gross, portfolio_gross=sum(gross.values()), group_gross=groups,
        open_positions_count=sum(1 for v in exposure.values() if abs(v) > 1e-12),
        peak_nav=state.peak_nav, dd_frac=dd, daily_loss_frac=day_loss, atr_ratio=ratio,
        atr_regime=atr_regime(ratio, ar.low_ratio, ar.high_ratio),
        dd_state=state.dd_book.state if v3 else dd_state(dd, g.dd_cautious_pct, g.dd_defensive_pct),
        dd_policy=state.dd_book.observations() if v3 else {},
        minute_of_day=int((now_ns // MINUTE_NS) % 1440), refs=refs,
        lot=getattr(state, "filters", {}).get(intent.symbol), rules_version=state.rules_version,
        margin_ratio=mr, liquidation_distance_frac=liq_dist,
    )


def check_order(
    intent: IntentEmitted, view: RiskView, cfg: HedgeConfig, now_ns: int, *,
    config_hash: str, decision_id: str,
) -> dict[str, Any]:
    """Decide allow / clamp / veto for one intent; returns the RiskDecided fields."""
    price = view.price if view.price > 0 else intent.price
    sign = 1.0 if intent.side == "BUY" else -1.0
    requested_usd = intent.qty * price
    after = view.exposure_qty + sign * intent.qty
    increasing = abs(after) > abs(view.exposure_qty) + 1e-12 and not intent.reduce_only
    gi = GateInput(intent=intent, view=view, cfg=cfg, price=price, requested_usd=requested_usd,
                   usd=requested_usd, increasing=increasing)
    thresholds: dict[str, Scalar] = {}
    reasons: list[str] = []
    breached: list[str] = []
    veto: Verdict | None = None
    clamp_gate: Verdict | None = None
    for gate in gates_for(view.rules_version):
        if not increasing and not gate.on_reducing:
            continue
        v = gate.check(gi)
        thresholds.update(v.thresholds)
        breached.extend(b for b in v.breached if b not in breached)
        if veto is not None:
            continue  # outcome fixed; later gates only add thresholds and breaches
        if v.qty is not None:
            gi.qty_override = v.qty
        if v.kind == "pass":
            continue
        reasons.append(f"{v.gate}: {v.reason}")
        if v.kind == "veto":
            veto = v
        else:
            clamp_gate = clamp_gate or v
            if v.usd is not None:
                gi.usd = v.usd
    spec = view.lot if view.lot is not None else effective({}, cfg.universe.symbols, intent.symbol)
    step = spec.step_size if spec else 1e-8
    if veto is not None:
        outcome, gate_name, source, qty = "veto", veto.gate, veto.source, 0.0
    else:
        qty = gi.qty_override if gi.qty_override is not None else round_step_down(gi.usd / price, step)
        if clamp_gate is not None:
            outcome, gate_name, source = "clamp", clamp_gate.gate, clamp_gate.source
        else:
            outcome, gate_name, source = "allow", "pass", "risk_limits"
            reasons = ["all gates passed"]
    obs = view.observations()
    obs["requested_notional_usd"] = round(requested_usd, 8)
    obs["risk_increasing"] = increasing
    return {
        "decision_id": decision_id,
        "intent_id": intent.intent_id,
        "symbol": intent.symbol,
        "outcome": outcome,
        "gate": gate_name,
        "reasons": reasons,
        "thresholds": thresholds,
        "observations": obs,
        "config_hash": config_hash,
        "requested_qty": intent.qty,
        "approved_qty": qty,
        "approved_notional_usd": round(qty * price, 8),
        "source": source,
        "breached": breached,
        "state_refs": dict(sorted(view.refs.items())),
    }


def build_book(state: Any, now_ns: int) -> Book:
    """The account as the post-trade rules see it at a NAV reading (positions at their mark)."""
    cfg: HedgeConfig = state.config
    holdings: list[Holding] = []
    syms = state.syms
    for sym in sorted(syms):
        ss = syms[sym]
        if ss.open_plans:
            plans = [p for pid in ss.open_plans if (p := state.router.plans.get(pid)) is not None]
            entry = any(not p.reduce_only for p in plans)
            exiting = ss.exit_pending or any(p.reduce_only for p in plans)
        elif ss.pos_qty == 0:
            continue
        else:
            entry, exiting = False, ss.exit_pending
        if ss.pos_qty == 0 and not entry:
            continue
        spec = effective(getattr(state, "filters", {}), cfg.universe.symbols, sym)
        holdings.append(Holding(
            symbol=sym, tier=cfg.tier_of(sym), qty=ss.pos_qty, price=ss.price(),
            step=spec.step_size if spec else 1e-8, min_qty=spec.min_qty if spec else 0.0,
            busy=bool(ss.open_plans) or ss.exit_pending, entry_plans=entry, exiting=exiting,
            refs={f"position.{sym}": ss.pos_seq} if ss.pos_seq else {}))
    nt = state.nav_track
    return Book(nav=state.nav_usd or 0.0, ts_ns=now_ns, holdings=holdings, dd_frac=nt.drawdown or 0.0,
                daily_loss_frac=nt.daily_loss or 0.0, peak_nav=nt.peak or 0.0, day_start_nav=nt.day_start or 0.0,
                refs={"nav": state.nav_seq} if state.nav_seq else {})


def check_positions(state: Any, nav_seq: int, now_ns: int) -> list[dict[str, Any]]:
    """The post-trade decisions (``RiskDecided`` fields, outcome trim / flatten) at a counted NAV reading.

    A loss-limit breach whose action is due (or a halt in force) decides for every holding;
    otherwise each holding is checked for cap drift. Holdings with a plan in flight wait.
    """
    cfg: HedgeConfig = state.config
    nt = state.nav_track
    act = breach_at(nt.daily_loss or 0.0, nt.drawdown or 0.0, now_ns, cfg, state.post_trade)
    if act is None and cfg.risk_limits.global_.cap_drift_tolerance_frac is None:
        return []  # nothing due and cap drift off: no holding can get a cut (``drift_cut``'s first test)
    book = build_book(state, now_ns)
    if not book.holdings or book.nav <= 0:
        return []
    out: list[dict[str, Any]] = []
    for h in book.holdings:
        flatten = act is not None and act[1] == "flatten_halt"
        if h.exiting or (h.busy and not flatten):
            continue  # a reduce in flight (or any plan, unless flattening: it cancels the entries)
        cut = breach_cut(h, book, cfg, *act, state.post_trade) if act else drift_cut(h, book, cfg)
        if cut is None:
            continue
        obs = {**book_observations(h, book), **cut.obs}
        obs["requested_notional_usd"] = round(cut.qty * h.price, 8)
        out.append({
            "decision_id": risk_action_id(state.tag, nav_seq, len(out)), "intent_id": "", "symbol": h.symbol,
            "outcome": cut.outcome, "gate": cut.gate, "reasons": [f"{cut.gate}: {cut.reason}"],
            "thresholds": cut.thresholds, "observations": obs, "config_hash": state.config_hash,
            "requested_qty": abs(h.qty), "approved_qty": cut.qty,
            "approved_notional_usd": round(cut.qty * h.price, 8), "source": "risk_limits",
            "breached": cut.breached, "state_refs": dict(sorted({**book.refs, **h.refs}.items())),
            "side": None if not h.qty or not cut.qty else ("SELL" if h.qty > 0 else "BUY"),
        })
    return out
