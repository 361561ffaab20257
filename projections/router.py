"""Router view: ``router_health.json`` from the shared router KPIs (``engine.rules.router_kpis``).

Windows are bounded (the last ``ROUTER_WINDOW`` fills and post-only slices,
globally and per symbol), so memory stays flat however long the log grows.
Every configured symbol gets a row even when idle (nulls and zeros).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from config.schema import HedgeConfig
from engine.rules.router_kpis import DEFAULT_MAX_SLIP_BPS, RouterKpis, RouterWindow
from engine.rules.units import NS
from eventlog.events import OrderFilled, OrderRejected, OrderSubmitted, RoutePlanned, RouterFallback

FALLBACK_PLANS_MAX = 10_000


def slip_allowances(cfg: HedgeConfig) -> dict[str, float]:
    """Each configured symbol's slippage allowance (its liquidity bucket's ``max_slippage_bps``)."""
    buckets = cfg.liquidity_buckets.buckets
    out = {}
    for sym, spec in cfg.universe.symbols.items():
        b = buckets.get(spec.liquidity_bucket)
        out[sym] = b.max_slippage_bps if b else DEFAULT_MAX_SLIP_BPS
    return out


class RouterView:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.kpis = RouterKpis()
        self.plans_n = 0
        self.fallback_plans: OrderedDict[str, None] = OrderedDict()

    # -- fold ----------------------------------------------------------------------

    def on_plan(self, ev: RoutePlanned) -> None:
        self.plans_n += 1

    def on_fallback(self, ev: RouterFallback) -> None:
        self.kpis.on_fallback(ev.order_id, ev.symbol)
        self.fallback_plans[ev.plan_id] = None
        if len(self.fallback_plans) > FALLBACK_PLANS_MAX:
            self.fallback_plans.popitem(last=False)

    def on_submitted(self, ev: OrderSubmitted) -> None:
        self.kpis.on_submitted(ev.order_id, ev.plan_id, ev.symbol, ev.time_in_force, ev.slice_index)

    def on_rejected(self, ev: OrderRejected) -> None:
        self.kpis.on_rejected(ev.order_id, ev.symbol, ev.code)

    def on_fill(self, ev: OrderFilled) -> None:
        self.kpis.on_fill(ev.is_maker, ev.qty, ev.price, ev.slippage_bps, ev.symbol, ev.ts_event_ns)

    def fill_context(self, order_id: str, is_maker: bool) -> tuple[str | None, bool]:
        """(plan id, fell back to taker) of a fill, for the audit table."""
        o = self.kpis.orders.get(order_id)
        if o is None:
            return None, False
        return o[0], (not is_maker) and o[0] in self.fallback_plans

    # -- outputs -------------------------------------------------------------------

    def render(self, cfg: HedgeConfig, symbols: list[str]) -> dict[str, Any]:
        allow = slip_allowances(cfg)
        doc = self.kpis.render(allow)
        doc["plans"] = self.plans_n
        rows = []
        for sym in sorted(set(symbols) | set(self.kpis.by_sym)):
            w = self.kpis.by_sym.get(sym) or RouterWindow()
            row = w.render(allow.get(sym, DEFAULT_MAX_SLIP_BPS))
            row["symbol"] = sym
            row["last_fill_ts"] = w.last_fill_ns / NS if w.last_fill_ns is not None else None
            rows.append(row)
        doc["symbols"] = rows
        return doc
