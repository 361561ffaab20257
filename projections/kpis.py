"""Assembled views: ``risk_snapshot.json`` and ``kpis_v7.json`` (the dashboard's contract).

Both are rendered from the other views' fold state (handed in as a ``Views``
bundle, not the whole projector); nothing is computed from files or the clock.
Every configured symbol appears even when it has no data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from config.schema import HedgeConfig
from engine.rules.freshness import freshness_label
from engine.rules.perf import sharpe_state
from projections.nav import NavView
from projections.positions import PositionsView
from projections.risk import RiskView

__all__ = ["Views", "render_kpis", "render_risk_snapshot", "risk_mode", "sharpe_state"]


@dataclass(frozen=True, slots=True)
class Views:
    """What the assembled documents read: the config in force, the time, and the three views."""

    cfg: HedgeConfig
    now_ns: int
    config_hash: str | None
    symbols: list[str]
    nav: NavView
    positions: PositionsView
    risk: RiskView


def risk_mode(v: Views) -> str:
    """normal / cautious / defensive from DD; nav_stale beats them; unknown without NAV."""
    _age, fresh = v.nav.freshness(v.cfg, v.now_ns)
    if fresh is None:
        return "unknown"
    if not fresh:
        return "nav_stale"
    return v.nav.dd_state(v.cfg)


def _symbol_risk(v: Views, sym: str) -> dict[str, Any]:
    pos = v.positions.pos.get(sym)
    qty = pos.qty if pos else 0.0
    notional = abs(pos.qty * pos.mark) if pos and pos.mark is not None else (0.0 if pos is None else None)
    nav = v.nav.nav
    last = v.risk.sym_last.get(sym)
    return {
        "position_qty": qty, "notional_usd": notional,
        "nav_frac": (notional / nav) if notional is not None and nav else None,
        "dd_today_pct": v.positions.dd_today(sym, v.now_ns),
        "dd_state": v.positions.symbol_dd_state(sym, v.cfg, v.now_ns),
        "last_outcome": last[0] if last else None, "last_gate": last[1] if last else None,
        "vetoes": v.risk.by_symbol.get(sym, 0),
    }


def entry_drought(v: Views, state: str, policy: dict[str, Any]) -> dict[str, Any] | None:
    """No entry for ``alerts.entry_drought_hours``: since when, why (engine/rules/drought.py); else None."""
    since = v.nav.dd_book.since_ns if policy["hysteresis"] else None
    return v.risk.drought.status(v.now_ns, v.cfg.alerts.entry_drought_hours, state, since)


def render_risk_snapshot(v: Views, router: dict[str, Any]) -> dict[str, Any]:
    g = v.cfg.risk_limits.global_
    dd = v.nav.dd_frac
    daily = v.nav.daily_loss_frac
    nav = v.nav.nav
    gross = v.positions.gross()
    state = v.nav.dd_state(v.cfg)
    policy = v.nav.dd_policy(v.cfg)
    return {
        "dd_state": {
            "state": state, "dd_frac": dd, "cautious_frac": g.dd_cautious_pct,
            "defensive_frac": g.dd_defensive_pct, "max_drawdown_frac": g.max_drawdown_pct,
            **policy,
        },
        "entry_drought": entry_drought(v, state, policy),
        "dd_frac": dd, "dd_pct": dd,
        "daily_loss_frac": daily, "daily_loss_pct": daily,
        "risk_mode": risk_mode(v),
        "nav_usd": nav,
        "gross_notional_usd": gross,
        "gross_nav_mult": (gross / nav) if nav else None,
        "open_positions": len(v.positions.pos),
        # the venue's account margin (USD-M cross): maintenance margin / margin balance; 1 = liquidation
        "margin_ratio": v.nav.last.margin_ratio if v.nav.last is not None else None,
        "maint_margin_usd": v.nav.last.maint_margin_usd if v.nav.last is not None else None,
        "liquidations": v.positions.liquidations,
        "thresholds": {
            "max_drawdown_pct": g.max_drawdown_pct, "daily_loss_limit_pct": g.daily_loss_limit_pct,
            "dd_cautious_pct": g.dd_cautious_pct, "dd_defensive_pct": g.dd_defensive_pct,
            "dd_cautious_exit_pct": policy["cautious_exit_frac"], "dd_defensive_exit_pct": policy["defensive_exit_frac"],
            "dd_auto_recover_days": g.dd_auto_recover_days, "entry_drought_hours": v.cfg.alerts.entry_drought_hours,
            "nav_stale_after_seconds": g.nav_stale_after_seconds,
            "nav_freshness_seconds": g.nav_freshness_seconds,
            "max_gross_nav_mult": g.max_gross_nav_mult, "max_open_positions": g.max_open_positions,
        },
        "config_hash": v.config_hash,
        "decisions": {k: v.risk.outcomes.get(k, 0) for k in ("allow", "clamp", "veto")},
        "router_stats": {k: router[k] for k in (
            "maker_fill_rate", "maker_fill_rate_count", "fallback_ratio", "slippage_p50", "slip_q95",
            "router_health_score")},
        "symbols": [
            {"symbol": s, "tier": v.cfg.tier_of(s), "risk": _symbol_risk(v, s), "vol": v.risk.vol(s, v.cfg)}
            for s in v.symbols
        ],
    }


def render_kpis(v: Views, router: dict[str, Any], aum: dict[str, Any]) -> dict[str, Any]:
    nav = v.nav.nav
    age, fresh = v.nav.freshness(v.cfg, v.now_ns)
    dd = v.nav.dd_frac
    gross = v.positions.gross()
    atr_ratio, atr_reg = v.risk.portfolio_atr(v.cfg)
    fee_ratio, fee_state, fees_w, gross_w = v.risk.fee_pnl()
    exp, exp_state, win = v.risk.expectancy()
    sharpe = v.nav.sharpe()
    start, day_start = v.nav.start, v.nav.day_start
    symbols = {}
    for s in v.symbols:
        vol = v.risk.vol(s, v.cfg)
        pos = v.positions.pos.get(s)
        symbols[s] = {
            "atr": vol["atr"], "atr_pct": vol["atr_pct"], "atr_ratio": vol["atr_ratio"],
            "atr_regime": vol["atr_regime"], "last_close": vol["last_close"],
            "dd_state": v.positions.symbol_dd_state(s, v.cfg, v.now_ns),
            "dd_today_pct": v.positions.dd_today(s, v.now_ns),
            "position_qty": pos.qty if pos else 0.0,
        }
    return {
        "nav": {
            "nav_usd": nav, "peak_nav_usd": v.nav.peak, "age_s": age, "nav_age_s": age,
            "fresh": fresh, "freshness": freshness_label(fresh),
            "sources_ok": v.nav.last.sources_ok if v.nav.last else None,
            "aum_total_usd": aum["total"]["value"],
            "return_frac": (nav / start - 1.0) if nav is not None and start else None,
            "daily_pnl_usd": (nav - day_start) if nav is not None and day_start is not None else None,
        },
        "risk": {
            "dd_state": v.nav.dd_state(v.cfg), "drawdown_pct": dd, "dd_frac": dd,
            "daily_loss_frac": v.nav.daily_loss_frac, "risk_mode": risk_mode(v),
            "atr_regime": atr_reg, "atr_ratio": atr_ratio,
            "fee_pnl_ratio": fee_ratio, "fee_pnl_state": fee_state,
            "fees_usd_window": fees_w, "gross_pnl_usd_window": gross_w,
            "gross_nav_mult": (gross / nav) if nav else None,
            "open_positions": len(v.positions.pos),
            "vetoes_total": v.risk.outcomes.get("veto", 0),
        },
        "router": {k: router[k] for k in (
            "quality", "router_health_score", "maker_fill_rate", "maker_fill_rate_count", "fallback_ratio",
            "slippage_p50", "slip_q95", "fills", "post_only_rejects")},
        "performance": {
            "sharpe": sharpe, "sharpe_state": sharpe_state(sharpe),
            "expectancy_usd": exp, "expectancy_state": exp_state, "win_rate": win,
            "trades": v.risk.trades, "realized_pnl_usd": v.risk.realized,
            "fees_usd": v.risk.fees, "funding_usd": v.risk.funding,
        },
        "symbols": symbols,
    }
