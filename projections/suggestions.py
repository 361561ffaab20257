"""``router_policy_suggestions_v6.json`` and ``risk_allocation_suggestions_v6.json`` (issue 16).

The proposals come from ``engine.rules.autotune`` over the projector's own folds
(``PolicyEvidence``: router windows of the fills under the policy in force, the
same fold the engine keeps; the ``IntelBook`` of
``symbol_scores_v6.json``), the same rule and the same events the engine applies
them from. ``TuningFold`` keeps what was applied: every ``ConfigChanged`` whose
``source`` is ``autotune`` or ``feedback_allocator``.
"""

from __future__ import annotations

from typing import Any

import msgspec

from config.schema import HedgeConfig
from engine.rules.autotune import (
    MIN_FILLS,
    POLICY_KEYS,
    PolicyEvidence,
    policy_of,
    propose_weight,
    router_proposals,
)
from engine.rules.intel.book import IntelBook
from engine.rules.units import NS
from eventlog.events import (
    ConfigChanged,
    Event,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    RouterFallback,
    SessionStarted,
)

SOURCES = ("autotune", "feedback_allocator")
TUNING_TYPES = frozenset({OrderSubmitted, OrderRejected, RouterFallback, OrderFilled, SessionStarted, ConfigChanged})


class TuningFold:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.evidence = PolicyEvidence()  # router windows under the policy in force (the engine's own fold)
        self.count = dict.fromkeys(SOURCES, 0)
        self.last_ns: dict[str, int | None] = dict.fromkeys(SOURCES)
        self.last_changes: dict[str, list[dict[str, Any]]] = {s: [] for s in SOURCES}
        self.touched: dict[str, set[str]] = {s: set() for s in SOURCES}  # symbols a source ever changed

    def apply(self, ev: Event, cfg: HedgeConfig) -> None:
        """Fold one event of ``TUNING_TYPES`` (after the projector's own handler ran)."""
        t = type(ev)
        if t is SessionStarted:
            self.evidence.on_config(cfg)
        elif t is ConfigChanged:
            self.evidence.on_config(cfg)
            self.on_config_changed(ev)  # type: ignore[arg-type]
        else:
            self.evidence.apply(ev)

    def on_config_changed(self, ev: ConfigChanged) -> None:
        if ev.source not in SOURCES:
            return
        self.count[ev.source] += 1
        self.last_ns[ev.source] = ev.ts_event_ns
        self.last_changes[ev.source] = [msgspec.structs.asdict(c) for c in ev.changes]
        for c in ev.changes:
            parts = c.key.split(".")
            if ev.source == "autotune" and len(parts) >= 4 and parts[2] == "symbols":
                self.touched[ev.source].add(parts[3])
            elif ev.source == "feedback_allocator" and len(parts) >= 3:
                self.touched[ev.source].add(parts[2])

    def applied(self, source: str) -> dict[str, Any]:
        ns = self.last_ns[source]
        return {"count": self.count[source], "last_ts": ns / NS if ns is not None else None,
                "last_changes": self.last_changes[source]}


def render_router_suggestions(cfg: HedgeConfig, tuning: TuningFold, symbols: list[str]) -> dict[str, Any]:
    flags = cfg.runtime.v6_flags
    rows = []
    for sym, (cur, new, ev, why) in router_proposals(tuning.evidence, cfg, symbols).items():
        changes = {k: getattr(new, k) for k in POLICY_KEYS if getattr(new, k) != getattr(cur, k)}
        in_force_by_autotune = sym in tuning.touched["autotune"] and sym in cfg.runtime.router.symbols
        rows.append({
            "symbol": sym, "current": cur.as_dict(), "proposed": new.as_dict(), "changes": changes,
            "evidence": ev, "reasons": why,
            "applied": in_force_by_autotune and not changes,
            "status": "proposed" if changes else "applied" if in_force_by_autotune else "unchanged",
        })
    enabled, apply = flags.router_autotune_v6_enabled, flags.router_autotune_v6_apply_enabled
    return {
        "symbols": rows,
        "proposed_policy": {r["symbol"]: r["proposed"] for r in rows},
        "global_policy": policy_of(cfg.runtime.router, "").as_dict(),
        "router_autotune_v6_enabled": enabled, "router_autotune_v6_apply_enabled": apply,
        "mode": "apply" if enabled and apply else "propose",
        "cadence_h": cfg.runtime.autotune_every_h, "min_fills": MIN_FILLS,
        "applied": tuning.applied("autotune"),
    }


def render_allocation_suggestions(cfg: HedgeConfig, book: IntelBook, tuning: TuningFold,
                                  symbols: list[str]) -> dict[str, Any]:
    on = cfg.runtime.v6_flags.feedback_allocator_v6_enabled
    weights = cfg.strategy.symbol_weights
    rows = []
    for sym in symbols:
        w, why, ev = propose_weight(book, sym, cfg)
        cur = weights.get(sym, 1.0)
        rows.append({"symbol": sym, "suggested_weight": w, "current_weight": cur, "rationale": why,
                     "evidence": ev, "applied": on and cur == w})
    ws: list[float] = [float(r["suggested_weight"]) for r in rows]  # type: ignore[arg-type]
    return {
        "global": {
            "symbols": len(rows), "mean_weight": sum(ws) / len(ws) if ws else None, "sum_weights": sum(ws),
            "method": "weight = 0.5 + symbol score, rounded to 0.05, within [0.25, 1.5]; 1.0 below "
                      "runtime.signal_gate.expectancy_min_trades round trips",
            "feedback_allocator_v6_enabled": on, "cadence_h": cfg.runtime.autotune_every_h,
        },
        "symbols": rows,
        "applied": tuning.applied("feedback_allocator"),
    }
