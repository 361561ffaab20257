"""The risk gates: one small pure predicate each, in the order ``check_order`` runs them.

A gate reads a ``GateInput`` (the intent, the ``RiskView``, the config and the
notional approved so far) and returns a ``Verdict``: ``pass``, ``clamp`` (with
the reduced notional) or ``veto``, always with the thresholds it checked and the
names of those that broke. ``docs/risk.md`` describes every gate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from config.schema import HedgeConfig
from engine.accounting import round_step_down
from engine.exchange_filters import SymbolFilters, effective
from engine.rules.drawdown import HYSTERESIS_RULES, DdParams
from engine.rules.freshness import nav_fresh
from engine.rules.versions import LIQUIDATION_BUFFER_RULES
from eventlog.events import IntentEmitted, Scalar

Kind = str  # pass | clamp | veto


@dataclass(slots=True)
class Verdict:
    kind: Kind
    gate: str
    source: str
    thresholds: dict[str, Scalar]
    reason: str = ""
    usd: float | None = None  # clamped notional
    qty: float | None = None  # exchange-rounded quantity (lot size)
    breached: tuple[str, ...] = ()


@dataclass(slots=True)
class GateInput:
    intent: IntentEmitted
    view: Any  # engine.risk.RiskView
    cfg: HedgeConfig
    price: float
    requested_usd: float
    usd: float  # running approved notional
    increasing: bool
    qty_override: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Gate:
    name: str
    check: Callable[[GateInput], Verdict]
    on_reducing: bool = False  # also applies to exits (orders that only reduce exposure)


def _ok(gate: str, source: str, th: dict[str, Scalar]) -> Verdict:
    return Verdict("pass", gate, source, th)


def _veto(gate: str, source: str, th: dict[str, Scalar], reason: str, *breached: str) -> Verdict:
    return Verdict("veto", gate, source, th, reason, breached=breached or tuple(th))


def _cap(gi: GateInput, gate: str, name: str, cap_usd: float, current_usd: float, th: dict[str, Scalar]) -> Verdict:
    """Shared clamp rule: fit the order under ``cap_usd``; veto if what fits is too small."""
    room = cap_usd - current_usd
    if gi.usd <= room + 1e-9:
        return _ok(gate, "risk_limits", th)
    ratio = gi.cfg.risk_limits.global_.min_clamp_ratio
    th = {**th, "min_clamp_ratio": ratio}
    if room <= 0 or room < ratio * gi.requested_usd:
        return _veto(gate, "risk_limits", th,
                     f"{name}: {current_usd:.2f} + {gi.usd:.2f} USD over cap {cap_usd:.2f} USD "
                     f"(room {max(room, 0.0):.2f} < {ratio:.0%} of request)", name)
    return Verdict("clamp", gate, "risk_limits", th,
                   f"{name}: clamped {gi.usd:.2f} -> {room:.2f} USD (cap {cap_usd:.2f} USD)",
                   usd=room, breached=(name,))


def _hhmm(s: str) -> int:
    h, m = s.split(":")
    return int(h) * 60 + int(m)


# --------------------------------------------------------------------------- gates


def trading_window(gi: GateInput) -> Verdict:
    tw = gi.cfg.runtime.trading_window
    th: dict[str, Scalar] = {"trading_window": f"{tw.start_utc}-{tw.end_utc}" if tw.enabled else "off"}
    if not tw.enabled:
        return _ok("trading_window", "runtime", th)
    m, a, b = gi.view.minute_of_day, _hhmm(tw.start_utc), _hhmm(tw.end_utc)
    inside = a <= m <= b if a <= b else (m >= a or m <= b)
    if inside:
        return _ok("trading_window", "runtime", th)
    return _veto("trading_window", "runtime", th, f"{m // 60:02d}:{m % 60:02d} UTC outside {th['trading_window']}")


def nav_freshness(gi: GateInput) -> Verdict:
    lim = gi.cfg.risk_limits.global_.nav_freshness_seconds
    th: dict[str, Scalar] = {"nav_freshness_seconds": lim}
    age = gi.view.nav_age_s
    if gi.view.nav_usd is None or age is None:
        return _veto("nav_freshness", "nav_guard", th, "no NAV reading yet")
    if not nav_fresh(age, lim):
        return _veto("nav_freshness", "nav_guard", th, f"nav_age_s {age:.1f} > {lim:g}")
    return _ok("nav_freshness", "nav_guard", th)


def nav_sources(gi: GateInput) -> Verdict:
    th: dict[str, Scalar] = {"nav_sources_ok_required": True}
    if not gi.view.nav_sources_ok:
        return _veto("nav_sources", "nav_guard", th, "last NAV reading has sources_ok = false",
                     "nav_sources_ok_required")
    return _ok("nav_sources", "nav_guard", th)


def alt_ext_disabled(gi: GateInput) -> Verdict:
    tl = gi.cfg.risk_limits.tiers.get(gi.view.tier)
    on = bool(tl and tl.disable_on_stale_or_dd)
    g = gi.cfg.risk_limits.global_
    th: dict[str, Scalar] = {f"tiers.{gi.view.tier}.disable_on_stale_or_dd": on}
    if not on:
        return _ok("alt_ext_disabled", "risk_limits", th)
    v2 = gi.view.rules_version >= 2
    age = gi.view.nav_age_s
    fresh = nav_fresh(age, g.nav_freshness_seconds)
    if v2:
        th["nav_freshness_seconds"] = g.nav_freshness_seconds
        th["nav_sources_ok_required"] = True
    else:  # rules v1 recorded a threshold it did not compare (engine/rules/versions.py)
        th["nav_stale_after_seconds"] = g.nav_stale_after_seconds
    th["dd_cautious_pct"] = g.dd_cautious_pct
    stale = not fresh or not gi.view.nav_sources_ok
    if stale or gi.view.dd_frac >= g.dd_cautious_pct:
        if not stale:
            why, broke = f"dd_frac {gi.view.dd_frac:.4f} >= {g.dd_cautious_pct}", "dd_cautious_pct"
        elif not v2:
            why, broke = "NAV stale or sources not ok", "nav_stale_after_seconds"
        elif not fresh:
            why = "no NAV reading yet" if age is None else f"nav_age_s {age:.1f} > {g.nav_freshness_seconds:g}"
            broke = "nav_freshness_seconds"
        else:
            why, broke = "last NAV reading has sources_ok = false", "nav_sources_ok_required"
        return _veto("alt_ext_disabled", "risk_limits", th, f"{gi.view.tier} disabled: {why}", broke)
    return _ok("alt_ext_disabled", "risk_limits", th)


def expectancy_gate(gi: GateInput) -> Verdict:
    """``signal_gate.expectancy_min``: the symbol's rolling expectancy per round trip (fraction of
    entry notional, net of fees and funding) must not be below the minimum, once it has a sample."""
    sg = gi.cfg.runtime.signal_gate
    th: dict[str, Scalar] = {"expectancy_min": sg.expectancy_min, "expectancy_min_trades": sg.expectancy_min_trades,
                             "expectancy_window": sg.expectancy_window}
    e, n = gi.view.expectancy_frac, gi.view.expectancy_trades
    if e is None or n < sg.expectancy_min_trades or e >= sg.expectancy_min:
        return _ok("expectancy", "signal_gate", th)
    return _veto("expectancy", "signal_gate", th,
                 f"expectancy_frac {e:.6f} < expectancy_min {sg.expectancy_min:g} over {n} round trips",
                 "expectancy_min")


def drawdown_limit(gi: GateInput) -> Verdict:
    lim = gi.cfg.risk_limits.global_.max_drawdown_pct
    th: dict[str, Scalar] = {"max_drawdown_pct": lim}
    if gi.view.dd_frac >= lim:
        return _veto("drawdown_limit", "risk_limits", th, f"dd_frac {gi.view.dd_frac:.4f} >= {lim}")
    return _ok("drawdown_limit", "risk_limits", th)


def daily_loss_limit(gi: GateInput) -> Verdict:
    lim = gi.cfg.risk_limits.global_.daily_loss_limit_pct
    th: dict[str, Scalar] = {"daily_loss_limit_pct": lim}
    if gi.view.daily_loss_frac >= lim:
        return _veto("daily_loss_limit", "risk_limits", th,
                     f"daily_loss_frac {gi.view.daily_loss_frac:.4f} >= {lim}")
    return _ok("daily_loss_limit", "risk_limits", th)


def liquidation_buffer(gi: GateInput) -> Verdict:
    """New exposure stays away from liquidation: account margin ratio and the position's distance."""
    g = gi.cfg.risk_limits.global_
    th: dict[str, Scalar] = {"max_margin_ratio": g.max_margin_ratio,
                             "min_liquidation_distance_frac": g.min_liquidation_distance_frac}
    mr = gi.view.margin_ratio
    if mr is not None and mr >= g.max_margin_ratio:
        return _veto("liquidation_buffer", "risk_limits", th,
                     f"margin_ratio {mr:.4f} >= max {g.max_margin_ratio}", "max_margin_ratio")
    d = gi.view.liquidation_distance_frac
    if d is not None and d < g.min_liquidation_distance_frac:
        return _veto("liquidation_buffer", "risk_limits", th,
                     f"liquidation_distance_frac {d:.4f} < min {g.min_liquidation_distance_frac}",
                     "min_liquidation_distance_frac")
    return _ok("liquidation_buffer", "risk_limits", th)


def dd_state_gate(gi: GateInput) -> Verdict:
    """The drawdown policy's state (``engine.rules.drawdown``): defensive vetoes, cautious cuts the size.

    Under rules v3 the state has hysteresis and can be re-based by a reset or the
    automatic rule; the gate then also records the exit and automatic-rule thresholds.
    """
    g = gi.cfg.risk_limits.global_
    th: dict[str, Scalar] = {"dd_cautious_pct": g.dd_cautious_pct, "dd_defensive_pct": g.dd_defensive_pct,
                             "cautious_size_mult": g.cautious_size_mult}
    v3 = gi.view.rules_version >= HYSTERESIS_RULES
    dd = gi.view.dd_frac
    if v3:
        th.update(DdParams.of(gi.cfg, gi.view.rules_version).thresholds())
        pol = gi.view.dd_policy.get("dd_policy_frac")
        dd = pol if isinstance(pol, float) else dd
    st = gi.view.dd_state
    over = gi.view.dd_policy.get("dd_override") if v3 else None
    note = f", {over} in force" if over else ""
    if st == "defensive":
        what = "dd_policy_frac" if v3 else "dd_frac"
        return _veto("dd_state", "dd_guard", th, f"dd_state defensive ({what} {dd:.4f}{note})",
                     "dd_defensive_pct")
    if st == "cautious":
        new = gi.usd * g.cautious_size_mult
        return Verdict("clamp", "dd_state", "dd_guard", th,
                       f"dd_state cautious: size x{g.cautious_size_mult:g}{note}", usd=new,
                       breached=("dd_cautious_pct",))
    return _ok("dd_state", "dd_guard", th)


def atr_regime_gate(gi: GateInput) -> Verdict:
    g = gi.cfg.risk_limits.global_
    tl = gi.cfg.risk_limits.tiers.get(gi.view.tier)
    ar = gi.cfg.strategy.atr_regime
    th: dict[str, Scalar] = {"atr_high_ratio": ar.high_ratio, "atr_low_ratio": ar.low_ratio}
    if tl is None or not tl.size_down_high_vol:
        return _ok("atr_regime", "risk_limits", th)
    th["high_vol_size_mult"] = g.high_vol_size_mult
    if gi.view.atr_regime == "high":
        return Verdict("clamp", "atr_regime", "risk_limits", th,
                       f"atr_regime high (ratio {gi.view.atr_ratio:.2f}): size x{g.high_vol_size_mult:g}",
                       usd=gi.usd * g.high_vol_size_mult, breached=("atr_high_ratio",))
    return _ok("atr_regime", "risk_limits", th)


def max_trade_nav(gi: GateInput) -> Verdict:
    lim = gi.cfg.risk_limits.global_.max_trade_nav_pct
    nav = gi.view.nav_usd or 0.0
    th: dict[str, Scalar] = {"max_trade_nav_pct": lim}
    cap = lim * nav
    if gi.usd <= cap + 1e-9:
        return _ok("max_trade_nav", "risk_limits", th)
    if cap <= 0:
        return _veto("max_trade_nav", "risk_limits", th, "NAV <= 0")
    return Verdict("clamp", "max_trade_nav", "risk_limits", th,
                   f"trade {gi.usd:.2f} USD > {lim:.2%} of NAV ({cap:.2f} USD)", usd=cap,
                   breached=("max_trade_nav_pct",))


def max_open_positions(gi: GateInput) -> Verdict:
    lim = gi.cfg.risk_limits.global_.max_open_positions
    th: dict[str, Scalar] = {"max_open_positions": lim}
    opening = abs(gi.view.exposure_qty) <= 1e-12
    if opening and gi.view.open_positions_count >= lim:
        return _veto("max_open_positions", "risk_limits", th,
                     f"{gi.view.open_positions_count} open >= max {lim}")
    return _ok("max_open_positions", "risk_limits", th)


def symbol_cap(gi: GateInput) -> Verdict:
    tl = gi.cfg.risk_limits.tiers.get(gi.view.tier)
    pct = tl.per_symbol_nav_pct if tl else 0.0
    th: dict[str, Scalar] = {"per_symbol_nav_pct": pct}
    return _cap(gi, "symbol_cap", "per_symbol_nav_pct", pct * (gi.view.nav_usd or 0.0), gi.view.symbol_gross, th)


def tier_cap(gi: GateInput) -> Verdict:
    tl = gi.cfg.risk_limits.tiers.get(gi.view.tier)
    pct = tl.tier_gross_nav_pct if tl else 0.0
    th: dict[str, Scalar] = {"tier_gross_nav_pct": pct}
    return _cap(gi, "tier_cap", "tier_gross_nav_pct", pct * (gi.view.nav_usd or 0.0), gi.view.tier_gross, th)


def correlation_cap(gi: GateInput) -> Verdict:
    groups = gi.cfg.correlation_groups.groups
    nav = gi.view.nav_usd or 0.0
    th: dict[str, Scalar] = {
        f"correlation.{name}.max_gross_nav_pct": groups[name].max_gross_nav_pct for name in sorted(gi.view.group_gross)
    }
    usd = gi.usd
    clamp: Verdict | None = None
    for name in sorted(gi.view.group_gross):
        key = f"correlation.{name}.max_gross_nav_pct"
        probe = GateInput(gi.intent, gi.view, gi.cfg, gi.price, gi.requested_usd, usd, gi.increasing)
        v = _cap(probe, "correlation_cap", key, groups[name].max_gross_nav_pct * nav, gi.view.group_gross[name], th)
        if v.kind == "veto":
            return v
        if v.kind == "clamp":
            usd = v.usd if v.usd is not None else usd
            clamp = v
    return clamp if clamp is not None else _ok("correlation_cap", "risk_limits", th)


def portfolio_gross(gi: GateInput) -> Verdict:
    mult = gi.cfg.risk_limits.global_.max_gross_nav_mult
    th: dict[str, Scalar] = {"max_gross_nav_mult": mult}
    return _cap(gi, "portfolio_gross", "max_gross_nav_mult", mult * (gi.view.nav_usd or 0.0),
                gi.view.portfolio_gross, th)


def _spec(gi: GateInput) -> SymbolFilters | None:
    """The symbol's exchange filters: the venue's (folded into the view), else the config's."""
    lot: SymbolFilters | None = getattr(gi.view, "lot", None)
    return lot if lot is not None else effective({}, gi.cfg.universe.symbols, gi.intent.symbol)


def lot_size(gi: GateInput) -> Verdict:
    spec = _spec(gi)
    if spec is None:
        return _veto("lot_size", "exchange_filters", {"universe": "missing"},
                     f"{gi.intent.symbol} is not in the universe")
    th: dict[str, Scalar] = {"step_size": spec.step_size, "min_qty": spec.min_qty}
    raw = gi.intent.qty if not gi.increasing else gi.usd / gi.price
    qty = round_step_down(min(raw, gi.intent.qty), spec.step_size)
    if qty < spec.min_qty - 1e-12:
        return _veto("lot_size", "exchange_filters", th,
                     f"qty {raw:.8g} rounds to {qty:g} < min_qty {spec.min_qty:g} (step {spec.step_size:g})",
                     "min_qty")
    v = _ok("lot_size", "exchange_filters", th)
    v.qty = qty
    return v


def min_notional(gi: GateInput) -> Verdict:
    spec = _spec(gi)
    mn = spec.min_notional if spec else 0.0
    th: dict[str, Scalar] = {"min_notional": mn}
    qty = gi.qty_override if gi.qty_override is not None else gi.usd / gi.price
    notional = qty * gi.price
    if notional < mn - 1e-9:
        return _veto("min_notional", "exchange_filters", th, f"notional {notional:.2f} < min_notional {mn:g} USD")
    return _ok("min_notional", "exchange_filters", th)


# Rules v2 (engine/rules/versions.py): the size cuts (cautious DD, high volatility) run
# after the per-trade NAV cap, so a cut always binds on what would otherwise be approved
# and is never recorded as the clamp of a trade it did not change.
GATES_V2: tuple[Gate, ...] = (
    Gate("trading_window", trading_window),
    Gate("nav_freshness", nav_freshness),
    Gate("nav_sources", nav_sources),
    Gate("alt_ext_disabled", alt_ext_disabled),
    Gate("expectancy", expectancy_gate),
    Gate("drawdown_limit", drawdown_limit),
    Gate("daily_loss_limit", daily_loss_limit),
    Gate("max_trade_nav", max_trade_nav),
    Gate("dd_state", dd_state_gate),
    Gate("atr_regime", atr_regime_gate),
    Gate("max_open_positions", max_open_positions),
    Gate("symbol_cap", symbol_cap),
    Gate("tier_cap", tier_cap),
    Gate("correlation_cap", correlation_cap),
    Gate("portfolio_gross", portfolio_gross),
    Gate("lot_size", lot_size, on_reducing=True),
    Gate("min_notional", min_notional),
)

# Rules v4: the liquidation buffer after the daily loss limit.
_AT = next(i for i, g in enumerate(GATES_V2) if g.name == "daily_loss_limit") + 1
GATES: tuple[Gate, ...] = (*GATES_V2[:_AT], Gate("liquidation_buffer", liquidation_buffer), *GATES_V2[_AT:])

GATE_NAMES: tuple[str, ...] = tuple(g.name for g in GATES)

_V1_ORDER = ("trading_window", "nav_freshness", "nav_sources", "alt_ext_disabled", "drawdown_limit",
             "daily_loss_limit", "dd_state", "atr_regime", "max_trade_nav", "max_open_positions", "symbol_cap",
             "tier_cap", "correlation_cap", "portfolio_gross", "lot_size", "min_notional")
GATES_V1: tuple[Gate, ...] = tuple(next(g for g in GATES_V2 if g.name == n) for n in _V1_ORDER)


def gates_for(rules_version: int) -> tuple[Gate, ...]:
    """The gates, in order, of a rules version (1: the cuts before the trade cap; 5: liquidation buffer)."""
    if rules_version >= LIQUIDATION_BUFFER_RULES:
        return GATES
    return GATES_V2 if rules_version >= 2 else GATES_V1
