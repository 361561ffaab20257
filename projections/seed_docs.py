"""The seeds' state files rendered from the projector's views (issue 16).

Kept apart from ``projections.fold`` so the fold stays the list of handlers and
the classic documents; every file here is documented in ``docs/state_contract.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from projections.suggestions import render_allocation_suggestions, render_router_suggestions
from projections.telemetry import (
    render_execution_health,
    render_nav,
    render_positions_list,
    render_probe,
    render_synced,
)
from projections.var import VAR_HOURS, var_cvar

if TYPE_CHECKING:
    from projections.fold import Projector

SEED_FILES = (
    "nav.json", "expectancy_v6.json", "symbol_scores_v6.json", "hybrid_scores.json", "funding_snapshot.json",
    "basis_snapshot.json", "execution_health.json", "synced_state.json", "v6_runtime_probe.json",
    "router_policy_suggestions_v6.json", "risk_allocation_suggestions_v6.json",
)


def render_seed_documents(p: Projector, docs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every object-shaped seed file (``positions.json``, a list, is ``Projector.list_documents``)."""
    risk = docs["risk_snapshot.json"]
    navs = [pt[1] for pt in list(p.nav.hourly)[-(VAR_HOURS + 1):]]
    risk["var"] = var_cvar(navs, p.nav.nav)
    for k in ("var_95_frac", "cvar_95_frac", "var_99_frac", "cvar_99_frac"):
        risk[k] = risk["var"][k]
    zar = p.cfg.runtime.usd_zar_rate
    aum = docs["aum_v7.json"]
    aum["usd_zar_rate"] = zar
    aum["total_zar"] = aum["total_usd"] * zar if zar is not None and aum["total_usd"] is not None else None
    nav_state = docs["nav_state.json"]
    nav_state["usd_zar_rate"] = zar
    nav_state["nav_zar"] = nav_state["nav_usd"] * zar if zar is not None and nav_state["nav_usd"] is not None else None
    nav = render_nav(nav_state, p)
    positions = render_positions_list(docs["positions_state.json"])
    return {
        "nav.json": nav,
        "expectancy_v6.json": p.intel.render_expectancy(p),
        "symbol_scores_v6.json": p.intel.render_scores(p),
        "hybrid_scores.json": p.intel.render_hybrid(p),
        "funding_snapshot.json": p.market.render_funding(p),
        "basis_snapshot.json": p.market.render_basis(p),
        "execution_health.json": render_execution_health(p, docs["router_health.json"], risk),
        "synced_state.json": render_synced(p, positions, nav),
        "v6_runtime_probe.json": render_probe(p),
        "router_policy_suggestions_v6.json": render_router_suggestions(p),
        "risk_allocation_suggestions_v6.json": render_allocation_suggestions(p),
    }
