"""NAV view: NAV, freshness, drawdown, daily loss, bounded NAV history, AUM buckets.

NAV is the futures wallet (``NavSnapshot.nav_usd``), nothing else. Off-exchange
holdings only enter the AUM file, never NAV.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from typing import TYPE_CHECKING, Any

from eventlog.events import NavSnapshot, OffExchangeValued
from projections.indicators import dd_state, drawdown_frac

if TYPE_CHECKING:
    from projections.fold import Projector

NS = 1_000_000_000
HOUR_NS = 3600 * NS
DAY_NS = 86400 * NS
HOURLY_MAX = 2160  # 90 days of hourly points
RECENT_MAX = 288  # last readings (a day of 5m bars)
SHARPE_HOURS = 720
SHARPE_MIN = 24

# off-exchange asset -> AUM bucket key, label
AUM_BUCKETS: tuple[tuple[str, str, str], ...] = (
    ("futures_nav_usd", "Futures NAV", ""),
    ("btc_spot_usd", "BTC (spot)", "BTC"),
    ("xaut_spot_usd", "XAUT (gold)", "XAUT"),
    ("usdc_spot_usd", "USDC", "USDC"),
)

Point = tuple[float, float, float]  # ts, nav, drawdown_frac


def _ts(ns: int | None) -> float | None:
    return None if ns is None else ns / NS


class NavView:
    """Fold of ``NavSnapshot`` / ``OffExchangeValued`` for the current session."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.last: NavSnapshot | None = None
        self.start: float | None = None
        self.peak: float | None = None
        self.day: int | None = None
        self.day_start: float | None = None
        self.hour: int | None = None
        self.hourly: deque[Point] = deque(maxlen=HOURLY_MAX)
        self.recent: deque[Point] = deque(maxlen=RECENT_MAX)
        self.offex: OffExchangeValued | None = None

    # -- fold ----------------------------------------------------------------------

    def on_nav(self, ev: NavSnapshot) -> None:
        nav = ev.nav_usd
        if not math.isfinite(nav):
            return
        self.last = ev
        if self.start is None:
            self.start = nav
        self.peak = nav if self.peak is None else max(self.peak, nav)
        day = ev.ts_event_ns // DAY_NS
        if day != self.day:
            self.day = day
            self.day_start = nav
        pt = (ev.ts_event_ns / NS, nav, drawdown_frac(nav, self.peak))
        hour = ev.ts_event_ns // HOUR_NS
        if self.hourly and hour == self.hour:
            self.hourly[-1] = pt
        else:
            self.hourly.append(pt)
            self.hour = hour
        self.recent.append(pt)

    def on_offexchange(self, ev: OffExchangeValued) -> None:
        self.offex = ev

    # -- derived -------------------------------------------------------------------

    @property
    def nav(self) -> float | None:
        return self.last.nav_usd if self.last is not None else None

    @property
    def dd_frac(self) -> float | None:
        if self.last is None or self.peak is None:
            return None
        return drawdown_frac(self.last.nav_usd, self.peak)

    @property
    def daily_loss_frac(self) -> float | None:
        if self.last is None or not self.day_start:
            return None
        return max(0.0, (self.day_start - self.last.nav_usd) / self.day_start)

    def age_s(self, now_ns: int) -> float | None:
        if self.last is None:
            return None
        return max(0, now_ns - self.last.ts_event_ns) / NS

    def dd_state(self, p: Projector) -> str:
        g = p.cfg.risk_limits.global_
        return dd_state(self.dd_frac, g.dd_cautious_pct, g.dd_defensive_pct)

    def sharpe(self) -> float | None:
        """Annualised Sharpe of hourly NAV returns over the last ``SHARPE_HOURS``."""
        pts = list(self.hourly)[-(SHARPE_HOURS + 1):]
        rets = [b[1] / a[1] - 1.0 for a, b in itertools.pairwise(pts) if a[1] > 0]
        if len(rets) < SHARPE_MIN:
            return None
        mean = sum(rets) / len(rets)
        var = sum((r - mean) ** 2 for r in rets) / (len(rets) - 1)
        if var <= 1e-20 * max(1.0, mean * mean):  # constant returns: float noise is not risk
            return None
        return mean / math.sqrt(var) * math.sqrt(24 * 365)

    # -- outputs -------------------------------------------------------------------

    def freshness(self, p: Projector) -> tuple[float | None, bool | None]:
        age = self.age_s(p.now_ns)
        if age is None:
            return None, None
        return age, age <= p.cfg.risk_limits.global_.nav_stale_after_seconds

    def render_state(self, p: Projector, aum: dict[str, Any]) -> dict[str, Any]:
        ev = self.last
        stale_after = p.cfg.risk_limits.global_.nav_stale_after_seconds
        age, fresh = self.freshness(p)
        nav = self.nav
        dd = self.dd_frac
        offex = {b[2]: aum[b[0]]["value"] for b in AUM_BUCKETS if b[2]}
        return {
            "nav_usd": nav,
            "nav_total": nav,
            "wallet_balance": ev.wallet_balance if ev else None,
            "unrealized_pnl": ev.unrealized_pnl if ev else None,
            "available_balance": ev.available_balance if ev else None,
            "nav_ts": _ts(ev.ts_event_ns) if ev else None,
            "nav_age_s": age,
            "nav_stale_after_s": stale_after,
            "fresh": fresh,
            "stale": None if fresh is None else not fresh,
            "freshness": "unknown" if fresh is None else ("fresh" if fresh else "stale"),
            "sources_ok": ev.sources_ok if ev else None,
            "source": ev.source if ev else None,
            "start_nav_usd": self.start,
            "return_frac": (nav / self.start - 1.0) if nav is not None and self.start else None,
            "peak_nav_usd": self.peak,
            "drawdown_frac": dd,
            "drawdown_pct": dd,
            "day_start_nav_usd": self.day_start,
            "daily_pnl_usd": (nav - self.day_start) if nav is not None and self.day_start is not None else None,
            "daily_loss_frac": self.daily_loss_frac,
            "aum": {"futures": nav, "offexchange": offex, "total": aum["total"]["value"]},
            "nav_health_snapshot": {
                "nav_age_s": age, "sources_ok": ev.sources_ok if ev else None,
                "fresh": fresh, "stale_after_s": stale_after,
            },
        }

    def render_history(self) -> dict[str, Any]:
        def pts(q: deque[Point]) -> list[dict[str, float]]:
            return [{"ts": t, "nav_usd": n, "drawdown_frac": d} for t, n, d in q]

        return {"hourly": pts(self.hourly), "recent": pts(self.recent),
                "hourly_max": HOURLY_MAX, "recent_max": RECENT_MAX}

    def render_aum(self, p: Projector) -> dict[str, Any]:
        """AUM buckets: futures NAV + off-exchange holdings, each with value and PnL."""
        doc: dict[str, Any] = {}
        nav = self.nav
        doc["futures_nav_usd"] = {
            "value": nav, "cost_basis": self.start, "qty": None, "price": None,
            "pnl": (nav - self.start) if nav is not None and self.start is not None else None,
        }
        prices_ns: list[int] = []
        holdings = self._holdings(p, prices_ns)
        for key, _label, asset in AUM_BUCKETS[1:]:
            doc[key] = holdings.get(asset) or {"value": None, "pnl": None, "cost_basis": None, "qty": None, "price": None}
        vals = [doc[k] for k, _, _ in AUM_BUCKETS]
        have = [b for b in vals if b["value"] is not None]
        total = sum(b["value"] for b in have) if have else None
        pnls = [b["pnl"] for b in have if b["pnl"] is not None]
        costs = [b["cost_basis"] for b in have if b["cost_basis"] is not None]
        doc["total"] = {"value": total, "pnl": sum(pnls) if pnls else None, "cost_basis": sum(costs) if costs else None}
        doc["total_usd"] = total
        doc["complete"] = len(have) == len(vals)
        doc["buckets"] = [
            {"key": k, "label": label, "value": doc[k]["value"], "pnl": doc[k]["pnl"],
             "share": (doc[k]["value"] / total) if total and doc[k]["value"] is not None else None}
            for k, label, _ in AUM_BUCKETS
        ]
        doc["prices_ts"] = _ts(max(prices_ns)) if prices_ns else None
        return doc

    def _holdings(self, p: Projector, prices_ns: list[int]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        if self.offex is not None:
            prices_ns.append(self.offex.ts_event_ns)
            for item in self.offex.holdings:
                h = item
                asset = str(h.get("asset", "")).upper()
                value = _num(h.get("value_usd"))
                cost = _num(h.get("cost_basis_usd"))
                pnl = _num(h.get("pnl_usd"))
                if pnl is None and value is not None and cost is not None:
                    pnl = value - cost
                out[asset] = {"value": value, "pnl": pnl, "cost_basis": cost,
                              "qty": _num(h.get("qty")), "price": _num(h.get("price_usd"))}
            return out
        for asset, hold in sorted(p.cfg.offexchange.holdings.items()):
            price: float | None = hold.fixed_price_usd
            if price is None and hold.price_symbol:
                price = p.prices.get(hold.price_symbol)
                if price is not None:
                    prices_ns.append(p.price_ns[hold.price_symbol])
            value = hold.qty * price if price is not None else None
            out[asset.upper()] = {
                "value": value, "qty": hold.qty, "price": price, "cost_basis": hold.cost_basis_usd,
                "pnl": (value - hold.cost_basis_usd) if value is not None else None,
            }
        return out


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    f = float(v)
    return f if math.isfinite(f) else None
