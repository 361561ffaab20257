"""Assembled views: ``risk_snapshot.json`` and ``kpis_v7.json`` (the dashboard's contract).

Both are rendered from the other views' fold state; nothing is computed from
files or the clock. Every configured symbol appears even when it has no data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from projections.fold import Projector


def risk_mode(p: Projector) -> str:
    """normal / cautious / defensive from DD; nav_stale beats them; unknown without NAV."""
    _age, fresh = p.nav.freshness(p)
    if fresh is None:
        return "unknown"
    if not fresh:
        return "nav_stale"
    return p.nav.dd_state(p)


def sharpe_state(sharpe: float | None) -> str:
    if sharpe is None:
        return "unknown"
    if sharpe > 1.0:
        return "strong"
    if sharpe > 0.25:
        return "positive"
    if sharpe < -0.25:
        return "negative"
    return "flat"


def _symbol_risk(p: Projector, sym: str) -> dict[str, Any]:
    pos = p.positions.pos.get(sym)
    qty = pos.qty if pos else 0.0
    notional = abs(pos.qty * pos.mark) if pos and pos.mark is not None else (0.0 if pos is None else None)
    nav = p.nav.nav
    last = p.risk.sym_last.get(sym)
    return {
        "position_qty": qty, "notional_usd": notional,
        "nav_frac": (notional / nav) if notional is not None and nav else None,
        "dd_today_pct": p.positions.dd_today(sym, p.now_ns),
        "dd_state": p.positions.symbol_dd_state(sym, p),
        "last_outcome": last[0] if last else None, "last_gate": last[1] if last else None,
        "vetoes": p.risk.by_symbol.get(sym, 0),
    }


def render_risk_snapshot(p: Projector, router: dict[str, Any]) -> dict[str, Any]:
    g = p.cfg.risk_limits.global_
    dd = p.nav.dd_frac
    daily = p.nav.daily_loss_frac
    nav = p.nav.nav
    gross = p.positions.gross()
    return {
        "dd_state": {
            "state": p.nav.dd_state(p), "dd_frac": dd, "cautious_frac": g.dd_cautious_pct,
            "defensive_frac": g.dd_defensive_pct, "max_drawdown_frac": g.max_drawdown_pct,
        },
        "dd_frac": dd, "dd_pct": dd,
        "daily_loss_frac": daily, "daily_loss_pct": daily,
        "risk_mode": risk_mode(p),
        "nav_usd": nav,
        "gross_notional_usd": gross,
        "gross_nav_mult": (gross / nav) if nav else None,
        "open_positions": len(p.positions.pos),
        "thresholds": {
            "max_drawdown_pct": g.max_drawdown_pct, "daily_loss_limit_pct": g.daily_loss_limit_pct,
            "dd_cautious_pct": g.dd_cautious_pct, "dd_defensive_pct": g.dd_defensive_pct,
            "nav_stale_after_seconds": g.nav_stale_after_seconds,
            "nav_freshness_seconds": g.nav_freshness_seconds,
            "max_gross_nav_mult": g.max_gross_nav_mult, "max_open_positions": g.max_open_positions,
        },
        "config_hash": p.config_hash,
        "decisions": {k: p.risk.outcomes.get(k, 0) for k in ("allow", "clamp", "veto")},
        "router_stats": {k: router[k] for k in (
            "maker_fill_rate", "fallback_ratio", "slippage_p50", "slip_q95", "router_health_score")},
        "symbols": [
            {"symbol": s, "tier": p.cfg.tier_of(s), "risk": _symbol_risk(p, s), "vol": p.risk.vol(s, p)}
            for s in p.symbols
        ],
    }


def render_kpis(p: Projector, router: dict[str, Any], aum: dict[str, Any]) -> dict[str, Any]:
    nav = p.nav.nav
    age, fresh = p.nav.freshness(p)
    dd = p.nav.dd_frac
    gross = p.positions.gross()
    atr_ratio, atr_reg = p.risk.portfolio_atr(p)
    fee_ratio, fees_w, gross_w = p.risk.fee_pnl()
    exp, exp_state, win = p.risk.expectancy()
    sharpe = p.nav.sharpe()
    symbols = {}
    for s in p.symbols:
        v = p.risk.vol(s, p)
        pos = p.positions.pos.get(s)
        symbols[s] = {
            "atr": v["atr"], "atr_pct": v["atr_pct"], "atr_ratio": v["atr_ratio"],
            "atr_regime": v["atr_regime"], "last_close": v["last_close"],
            "dd_state": p.positions.symbol_dd_state(s, p),
            "dd_today_pct": p.positions.dd_today(s, p.now_ns),
            "position_qty": pos.qty if pos else 0.0,
        }
    return {
        "nav": {
            "nav_usd": nav, "peak_nav_usd": p.nav.peak, "age_s": age, "nav_age_s": age,
            "fresh": fresh, "freshness": "unknown" if fresh is None else ("fresh" if fresh else "stale"),
            "sources_ok": p.nav.last.sources_ok if p.nav.last else None,
            "aum_total_usd": aum["total"]["value"],
            "return_frac": (nav / p.nav.start - 1.0) if nav is not None and p.nav.start else None,
            "daily_pnl_usd": (nav - p.nav.day_start) if nav is not None and p.nav.day_start is not None else None,
        },
        "risk": {
            "dd_state": p.nav.dd_state(p), "drawdown_pct": dd, "dd_frac": dd,
            "daily_loss_frac": p.nav.daily_loss_frac, "risk_mode": risk_mode(p),
            "atr_regime": atr_reg, "atr_ratio": atr_ratio,
            "fee_pnl_ratio": fee_ratio, "fees_usd_window": fees_w, "gross_pnl_usd_window": gross_w,
            "gross_nav_mult": (gross / nav) if nav else None,
            "open_positions": len(p.positions.pos),
            "vetoes_total": p.risk.outcomes.get("veto", 0),
        },
        "router": {k: router[k] for k in (
            "quality", "router_health_score", "maker_fill_rate", "fallback_ratio", "slippage_p50",
            "slip_q95", "fills", "post_only_rejects")},
        "performance": {
            "sharpe": sharpe, "sharpe_state": sharpe_state(sharpe),
            "expectancy_usd": exp, "expectancy_state": exp_state, "win_rate": win,
            "trades": p.risk.trades, "realized_pnl_usd": p.risk.realized,
            "fees_usd": p.risk.fees, "funding_usd": p.risk.funding,
        },
        "symbols": symbols,
    }
