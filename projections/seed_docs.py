"""The seeds' state files rendered from the projector's views (issue 16).

Kept apart from ``projections.fold`` so the fold stays the list of handlers and
the classic documents; every file here is documented in ``docs/state_contract.md``.
The renderers are given the views and values they read (``SeedViews``), never the
whole ``Projector``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from config.schema import HedgeConfig
from projections.intel.view import IntelView
from projections.nav import NavView
from projections.risk import RiskView
from projections.suggestions import (
    TuningFold,
    render_allocation_suggestions,
    render_router_suggestions,
)
from projections.telemetry import (
    ErrorsView,
    MarketDataView,
    render_execution_health,
    render_nav,
    render_positions_list,
    render_probe,
    render_synced,
)
from projections.var import VAR_HOURS, var_cvar

SEED_FILES = (
    "nav.json", "expectancy_v6.json", "symbol_scores_v6.json", "hybrid_scores.json", "funding_snapshot.json",
    "basis_snapshot.json", "execution_health.json", "synced_state.json", "v6_runtime_probe.json",
    "router_policy_suggestions_v6.json", "risk_allocation_suggestions_v6.json",
)


@dataclass(frozen=True, slots=True)
class SeedViews:
    """What the seed files read: the config in force, the time, the session's flags and six views."""

    cfg: HedgeConfig
    now_ns: int
    symbols: list[str]
    config_hash: str | None
    flag_env: list[str]
    flags_ns: int
    nav: NavView
    risk: RiskView
    intel: IntelView
    market: MarketDataView
    errors: ErrorsView
    tuning: TuningFold


def render_seed_documents(v: SeedViews, docs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every object-shaped seed file (``positions.json``, a list, is ``Projector.list_documents``)."""
    cfg, symbols = v.cfg, v.symbols
    risk = docs["risk_snapshot.json"]
    navs = [pt[1] for pt in list(v.nav.hourly)[-(VAR_HOURS + 1):]]
    risk["var"] = var_cvar(navs, v.nav.nav)
    for k in ("var_95_frac", "cvar_95_frac", "var_99_frac", "cvar_99_frac"):
        risk[k] = risk["var"][k]
    zar = cfg.runtime.usd_zar_rate
    aum = docs["aum_v7.json"]
    aum["usd_zar_rate"] = zar
    aum["total_zar"] = aum["total_usd"] * zar if zar is not None and aum["total_usd"] is not None else None
    nav_state = docs["nav_state.json"]
    nav_state["usd_zar_rate"] = zar
    nav_state["nav_zar"] = nav_state["nav_usd"] * zar if zar is not None and nav_state["nav_usd"] is not None else None
    nav = render_nav(nav_state, zar, v.now_ns)
    positions = render_positions_list(docs["positions_state.json"])
    return {
        "nav.json": nav,
        "expectancy_v6.json": v.intel.render_expectancy(cfg, symbols),
        "symbol_scores_v6.json": v.intel.render_scores(cfg, symbols),
        "hybrid_scores.json": v.intel.render_hybrid(cfg, symbols),
        "funding_snapshot.json": v.market.render_funding(cfg, symbols, v.now_ns),
        "basis_snapshot.json": v.market.render_basis(symbols),
        "execution_health.json": render_execution_health(docs["router_health.json"], risk, v.risk.by_gate,
                                                         v.errors, v.risk.venue_errors),
        "synced_state.json": render_synced(cfg, positions, nav),
        "v6_runtime_probe.json": render_probe(cfg, v.config_hash, v.flag_env, v.flags_ns),
        "router_policy_suggestions_v6.json": render_router_suggestions(cfg, v.tuning, symbols),
        "risk_allocation_suggestions_v6.json": render_allocation_suggestions(cfg, v.intel.book, v.tuning, symbols),
    }
