"""Router view: maker fill rate, fallback ratio, slippage percentiles, health score.

Windows are bounded (the last ``WINDOW`` fills and maker-first plans, globally and
per symbol), so memory stays flat however long the log grows. Every configured
symbol gets a row even when idle (nulls and zeros).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import TYPE_CHECKING, Any

from eventlog.events import OrderFilled, OrderRejected, OrderSubmitted, RoutePlanned, RouterFallback
from projections.indicators import percentile

if TYPE_CHECKING:
    from projections.fold import Projector

NS = 1_000_000_000
WINDOW = 500
ORDERS_MAX = 50_000  # order id -> (plan id, tif) for fills (bounded LRU)
FALLBACK_PLANS_MAX = 10_000
DEFAULT_MAX_SLIP_BPS = 10.0


class RouterStats:
    """Windowed stats for one scope (the whole book or one symbol)."""

    __slots__ = ("fills", "fills_n", "last_fill_ns", "orders_n", "plans", "plans_n", "rejects_n")

    def __init__(self) -> None:
        self.fills: deque[tuple[bool, float]] = deque(maxlen=WINDOW)  # (is_maker, slippage_bps)
        self.plans: OrderedDict[str, bool] = OrderedDict()  # maker-first plan -> fell back
        self.fills_n = 0
        self.orders_n = 0
        self.plans_n = 0
        self.rejects_n = 0
        self.last_fill_ns: int | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}

    def __setstate__(self, s: dict[str, Any]) -> None:
        for k, v in s.items():
            setattr(self, k, v)

    def add_plan(self, plan_id: str) -> None:
        self.plans_n += 1
        self.plans[plan_id] = False
        if len(self.plans) > WINDOW:
            self.plans.popitem(last=False)

    def render(self, max_slip_bps: float) -> dict[str, Any]:
        fills = self.fills
        maker = sum(1 for m, _ in fills if m) / len(fills) if fills else None
        fb = sum(self.plans.values()) / len(self.plans) if self.plans else None
        slips = [s for _, s in fills]
        p50 = percentile(slips, 0.5)
        q95 = percentile(slips, 0.95)
        score = health_score(maker, fb, q95, max_slip_bps)
        return {
            "maker_fill_rate": maker, "fallback_ratio": fb, "slippage_p50": p50, "slip_q95": q95,
            "router_health_score": score, "quality": quality(score), "fills": self.fills_n,
            "orders": self.orders_n, "post_only_rejects": self.rejects_n,
        }


def health_score(maker: float | None, fallback: float | None, q95: float | None, max_slip_bps: float) -> float | None:
    """0..1: 0.4 maker fill + 0.3 (1 - fallback) + 0.3 slippage headroom; null without fills."""
    if maker is None:
        return None
    fb = fallback if fallback is not None else 0.0
    slip = max(0.0, 1.0 - max(0.0, q95 or 0.0) / max_slip_bps) if max_slip_bps > 0 else 0.0
    return round(0.4 * maker + 0.3 * (1.0 - fb) + 0.3 * slip, 12)


def quality(score: float | None) -> str:
    if score is None:
        return "unknown"
    if score >= 0.75:
        return "good"
    if score >= 0.5:
        return "ok"
    return "degraded"


class RouterView:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.all = RouterStats()
        self.by_sym: dict[str, RouterStats] = {}
        self.orders: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self.fallback_plans: OrderedDict[str, None] = OrderedDict()

    def _sym(self, sym: str) -> RouterStats:
        st = self.by_sym.get(sym)
        if st is None:
            st = self.by_sym[sym] = RouterStats()
        return st

    # -- fold ----------------------------------------------------------------------

    def on_plan(self, ev: RoutePlanned) -> None:
        if ev.style == "maker_first":
            self.all.add_plan(ev.plan_id)
            self._sym(ev.symbol).add_plan(ev.plan_id)

    def on_fallback(self, ev: RouterFallback) -> None:
        for st in (self.all, self._sym(ev.symbol)):
            if ev.plan_id in st.plans:
                st.plans[ev.plan_id] = True
        self.fallback_plans[ev.plan_id] = None
        if len(self.fallback_plans) > FALLBACK_PLANS_MAX:
            self.fallback_plans.popitem(last=False)

    def on_submitted(self, ev: OrderSubmitted) -> None:
        self.all.orders_n += 1
        self._sym(ev.symbol).orders_n += 1
        self.orders[ev.order_id] = (ev.plan_id, ev.time_in_force)
        if len(self.orders) > ORDERS_MAX:
            self.orders.popitem(last=False)

    def on_rejected(self, ev: OrderRejected) -> None:
        o = self.orders.get(ev.order_id)
        if ev.code == -5022 or (o is not None and o[1] == "GTX"):
            self.all.rejects_n += 1
            self._sym(ev.symbol).rejects_n += 1

    def on_fill(self, ev: OrderFilled) -> None:
        item = (ev.is_maker, ev.slippage_bps)
        for st in (self.all, self._sym(ev.symbol)):
            st.fills.append(item)
            st.fills_n += 1
            st.last_fill_ns = ev.ts_event_ns

    def fill_context(self, order_id: str, is_maker: bool) -> tuple[str | None, bool]:
        """(plan id, fell back to taker) of a fill, for the audit table."""
        o = self.orders.get(order_id)
        if o is None:
            return None, False
        return o[0], (not is_maker) and o[0] in self.fallback_plans

    # -- outputs -------------------------------------------------------------------

    def max_slip(self, p: Projector, sym: str | None = None) -> float:
        buckets = p.cfg.liquidity_buckets.buckets
        specs = p.cfg.universe.symbols
        if sym is not None:
            spec = specs.get(sym)
            b = buckets.get(spec.liquidity_bucket) if spec else None
            return b.max_slippage_bps if b else DEFAULT_MAX_SLIP_BPS
        vals = [buckets[s.liquidity_bucket].max_slippage_bps for s in specs.values() if s.liquidity_bucket in buckets]
        return sum(vals) / len(vals) if vals else DEFAULT_MAX_SLIP_BPS

    def render(self, p: Projector) -> dict[str, Any]:
        doc = self.all.render(self.max_slip(p))
        doc["plans"] = self.all.plans_n
        rows = []
        for sym in sorted(set(p.symbols) | set(self.by_sym)):
            st = self.by_sym.get(sym) or RouterStats()
            row = st.render(self.max_slip(p, sym))
            row["symbol"] = sym
            row["last_fill_ts"] = st.last_fill_ns / NS if st.last_fill_ns is not None else None
            rows.append(row)
        doc["symbols"] = rows
        return doc
