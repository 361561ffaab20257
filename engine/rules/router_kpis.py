"""Router KPIs: maker fill rate, fallback ratio, slippage percentiles, health score, quality.

One definition used by the router projection (``router_health.json``, the
dashboard) and the alert policy (``router_floor``, the summary), over the same
window: the last ``ROUTER_WINDOW`` fills and the last ``ROUTER_WINDOW`` post-only
slices.

* **maker fill rate** - maker notional / filled notional of the fills in the
  window (``maker_fill_rate``); by count as ``maker_fill_rate_count``.
* **fallback ratio** - share of post-only slices that fell back to taker
  (``RouterFallback``). A post-only slice is the first GTX order of a slice: the
  single slice of a maker-first plan *and* every slice of a TWAP plan.
* **slippage** - p50 / p95 of the fills' ``slippage_bps`` (positive = worse).
* **health score** (0..1) = 0.4 maker fill rate (notional) + 0.3 (1 - fallback
  ratio) + 0.3 slippage headroom, where the headroom is ``1 - p95 / allowance``
  and the allowance is the mean ``max_slippage_bps`` of the symbols *that traded*
  in the window. None without fills. Quality: good >= 0.75, ok >= 0.5, else degraded.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import Any

from engine.rules.indicators import percentile

ROUTER_WINDOW = 500
DEFAULT_MAX_SLIP_BPS = 10.0


def health_score(maker: float | None, fallback: float | None, q95: float | None, max_slip_bps: float) -> float | None:
    """0..1: 0.4 maker fill + 0.3 (1 - fallback) + 0.3 slippage headroom; None without fills."""
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


Fill = tuple[bool, float, float, str]  # is_maker, notional USD, slippage bps, symbol


class RouterWindow:
    """Windowed router KPIs for one scope (the whole book or one symbol)."""

    __slots__ = ("fills", "fills_n", "last_fill_ns", "orders_n", "rejects_n", "slices", "slices_n")

    def __init__(self, window: int = ROUTER_WINDOW) -> None:
        self.fills: deque[Fill] = deque(maxlen=window)
        self.slices: OrderedDict[str, bool] = OrderedDict()  # post-only slice key -> fell back
        self.fills_n = 0
        self.orders_n = 0
        self.slices_n = 0
        self.rejects_n = 0
        self.last_fill_ns: int | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}

    def __setstate__(self, s: dict[str, Any]) -> None:
        for k, v in s.items():
            setattr(self, k, v)

    def add_slice(self, key: str) -> None:
        if key in self.slices:
            return
        self.slices_n += 1
        self.slices[key] = False
        if len(self.slices) > (self.fills.maxlen or ROUTER_WINDOW):
            self.slices.popitem(last=False)

    def fell_back(self, key: str) -> None:
        if key in self.slices:
            self.slices[key] = True

    def add_fill(self, is_maker: bool, notional: float, slippage_bps: float, symbol: str, ts_ns: int) -> None:
        self.fills.append((is_maker, notional, slippage_bps, symbol))
        self.fills_n += 1
        self.last_fill_ns = ts_ns

    def maker_rates(self) -> tuple[float | None, float | None]:
        """(maker share by notional, maker share by count) of the fills in the window."""
        fills = self.fills
        if not fills:
            return None, None
        by_count = sum(1 for f in fills if f[0]) / len(fills)
        total = sum(f[1] for f in fills)
        by_notional = sum(f[1] for f in fills if f[0]) / total if total > 0 else by_count
        return by_notional, by_count

    def fallback_ratio(self) -> float | None:
        return sum(self.slices.values()) / len(self.slices) if self.slices else None

    def traded_symbols(self) -> list[str]:
        return sorted({f[3] for f in self.fills})

    def render(self, allowance_bps: float) -> dict[str, Any]:
        maker, maker_count = self.maker_rates()
        fb = self.fallback_ratio()
        slips = [f[2] for f in self.fills]
        q95 = percentile(slips, 0.95)
        score = health_score(maker, fb, q95, allowance_bps)
        return {
            "maker_fill_rate": maker, "maker_fill_rate_count": maker_count, "fallback_ratio": fb,
            "slippage_p50": percentile(slips, 0.5), "slip_q95": q95, "slip_allowance_bps": allowance_bps,
            "router_health_score": score, "quality": quality(score), "fills": self.fills_n,
            "orders": self.orders_n, "post_only_rejects": self.rejects_n,
            "post_only_slices": self.slices_n,
            "window_fills": len(self.fills), "window_slices": len(self.slices),
        }


def slip_allowance(per_symbol_bps: dict[str, float], traded: list[str]) -> float:
    """Mean ``max_slippage_bps`` over the traded symbols (default when none is known)."""
    vals = [per_symbol_bps[s] for s in traded if s in per_symbol_bps]
    return sum(vals) / len(vals) if vals else DEFAULT_MAX_SLIP_BPS


ORDERS_MAX = 50_000  # order id -> (plan id, tif, slice key) for fills and fallbacks (bounded LRU)


class RouterKpis:
    """Fold of the router's events into a book-wide window and one window per symbol."""

    __slots__ = ("all", "by_sym", "orders", "window")

    def __init__(self, window: int = ROUTER_WINDOW) -> None:
        self.window = window
        self.all = RouterWindow(window)
        self.by_sym: dict[str, RouterWindow] = {}
        self.orders: OrderedDict[str, tuple[str, str, str]] = OrderedDict()

    def __getstate__(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}

    def __setstate__(self, s: dict[str, Any]) -> None:
        for k, v in s.items():
            setattr(self, k, v)

    def sym(self, symbol: str) -> RouterWindow:
        w = self.by_sym.get(symbol)
        if w is None:
            w = self.by_sym[symbol] = RouterWindow(self.window)
        return w

    def _scopes(self, symbol: str) -> tuple[RouterWindow, RouterWindow]:
        return self.all, self.sym(symbol)

    def on_submitted(self, order_id: str, plan_id: str, symbol: str, tif: str, slice_index: int) -> None:
        key = f"{plan_id}:{slice_index}"
        self.orders[order_id] = (plan_id, tif, key)
        if len(self.orders) > ORDERS_MAX:
            self.orders.popitem(last=False)
        for w in self._scopes(symbol):
            w.orders_n += 1
            if tif == "GTX":
                w.add_slice(key)

    def on_rejected(self, order_id: str, symbol: str, code: int) -> None:
        o = self.orders.get(order_id)
        if code == -5022 or (o is not None and o[1] == "GTX"):
            for w in self._scopes(symbol):
                w.rejects_n += 1

    def on_fallback(self, order_id: str, symbol: str) -> None:
        o = self.orders.get(order_id)
        if o is None:
            return
        for w in self._scopes(symbol):
            w.fell_back(o[2])

    def on_fill(self, is_maker: bool, qty: float, price: float, slippage_bps: float, symbol: str, ts_ns: int) -> None:
        n = abs(qty * price)
        for w in self._scopes(symbol):
            w.add_fill(is_maker, n, slippage_bps, symbol, ts_ns)

    def render(self, allowance_bps: dict[str, float]) -> dict[str, Any]:
        """The book-wide KPIs (slippage allowance over the symbols traded in the window)."""
        return self.all.render(slip_allowance(allowance_bps, self.all.traded_symbols()))

    def health(self, allowance_bps: dict[str, float]) -> float | None:
        return self.render(allowance_bps)["router_health_score"]
