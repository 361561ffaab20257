"""NAV view: NAV, freshness, drawdown, daily loss, bounded NAV history, AUM buckets.

NAV is the futures wallet (``NavSnapshot.nav_usd``), nothing else. Off-exchange
holdings only enter the AUM file, never NAV. Peak, day start, drawdown and daily
loss are the shared ``engine.rules.nav.NavTrack`` (the engine's own fold, with its
one ``sources_ok`` rule); freshness is ``engine.rules.freshness`` (the gate's limit).
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from config.schema import HedgeConfig
from engine.rules.drawdown import HYSTERESIS_RULES, DdParams, DrawdownBook
from engine.rules.freshness import freshness_label, nav_fresh
from engine.rules.indicators import dd_state
from engine.rules.nav import NavTrack
from engine.rules.perf import sharpe
from engine.rules.units import DAY_NS, HOUR_NS, NS
from engine.rules.valuation import holding_price, unpriceable_reason
from eventlog.events import NavSnapshot, OffExchangeValued

HOURLY_MAX = 2160  # 90 days of hourly points
RECENT_MAX = 288  # last readings (a day of 5m bars)
SHARPE_HOURS = 720

FUTURES_BUCKET = ("futures_nav_usd", "Futures NAV")
_LABELS = {"BTC": "BTC (spot)", "XAUT": "XAUT (gold)"}

Point = tuple[float, float, float]  # ts, nav, drawdown_frac


def bucket_key(asset: str) -> str:
    return f"{asset.lower()}_spot_usd"


def _ts(ns: int | None) -> float | None:
    return None if ns is None else ns / NS


class NavView:
    """Fold of ``NavSnapshot`` / ``OffExchangeValued`` for the current session."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.last: NavSnapshot | None = None
        self.track = NavTrack()
        self.hour: int | None = None
        self.hourly: deque[Point] = deque(maxlen=HOURLY_MAX)
        self.daily: list[Point] = []  # one point per UTC day, unbounded: the whole history, downsampled
        self.day: int | None = None
        self.recent: deque[Point] = deque(maxlen=RECENT_MAX)
        self.offex: OffExchangeValued | None = None
        self.dd_book = DrawdownBook()  # the drawdown policy (engine/rules/drawdown.py), rules v3
        self.rules_version = 1

    # -- fold ----------------------------------------------------------------------

    def on_nav(self, ev: NavSnapshot) -> bool:
        """Fold a reading; True when it counted (the ``sources_ok`` rule)."""
        nav = ev.nav_usd
        if not math.isfinite(nav):
            return False
        self.last = ev
        if not self.track.update(nav, ev.ts_event_ns, ev.sources_ok):
            return False  # shown as the last reading, but not history, peak or day start
        self.dd_book.on_nav(nav)
        pt = (ev.ts_event_ns / NS, nav, self.track.drawdown or 0.0)
        hour = ev.ts_event_ns // HOUR_NS
        if self.hourly and hour == self.hour:
            self.hourly[-1] = pt
        else:
            self.hourly.append(pt)
            self.hour = hour
        self.recent.append(pt)
        day = ev.ts_event_ns // DAY_NS
        if self.daily and day == self.day:
            self.daily[-1] = pt
        else:
            self.daily.append(pt)
            self.day = day
        return True

    def on_offexchange(self, ev: OffExchangeValued) -> None:
        self.offex = ev

    # -- derived -------------------------------------------------------------------

    @property
    def nav(self) -> float | None:
        return self.last.nav_usd if self.last is not None else None

    @property
    def start(self) -> float | None:
        return self.track.start

    @property
    def peak(self) -> float | None:
        return self.track.peak

    @property
    def day_start(self) -> float | None:
        return self.track.day_start

    @property
    def dd_frac(self) -> float | None:
        return self.track.drawdown

    @property
    def daily_loss_frac(self) -> float | None:
        return self.track.daily_loss

    def age_s(self, now_ns: int) -> float | None:
        if self.last is None:
            return None
        return max(0, now_ns - self.last.ts_event_ns) / NS

    def dd_state(self, cfg: HedgeConfig) -> str:
        """The engine's ``dd_state``: the policy's fold (rules v3) or the stateless rule (v1/v2)."""
        if self.rules_version >= HYSTERESIS_RULES:
            return self.dd_book.state
        g = cfg.risk_limits.global_
        return dd_state(self.dd_frac, g.dd_cautious_pct, g.dd_defensive_pct)

    def dd_policy(self, cfg: HedgeConfig) -> dict[str, Any]:
        """The drawdown policy's figures for ``risk_snapshot.json`` (additive to ``dd_state``)."""
        p = DdParams.of(cfg, self.rules_version)
        b = self.dd_book
        v3 = self.rules_version >= HYSTERESIS_RULES
        o = b.override if v3 else None
        return {
            "hysteresis": v3, "cautious_exit_frac": p.cautious_out, "defensive_exit_frac": p.defensive_out,
            "auto_recover_days": p.auto_days, "auto_recover_to": p.auto_to,
            "since_ts": (b.since_ns / NS if b.since_ns is not None else None) if v3 else None,
            "policy_dd_frac": b.dd if v3 else self.dd_frac, "ref_nav_usd": b.ref if v3 else self.peak,
            "override": dict(o) if o else None,
        }

    def sharpe(self) -> float | None:
        """Annualised Sharpe of hourly NAV returns over the last ``SHARPE_HOURS`` (engine.rules.perf)."""
        return sharpe([p[1] for p in list(self.hourly)[-(SHARPE_HOURS + 1):]])

    # -- outputs -------------------------------------------------------------------

    def freshness(self, cfg: HedgeConfig, now_ns: int) -> tuple[float | None, bool | None]:
        age = self.age_s(now_ns)
        return age, nav_fresh(age, cfg.risk_limits.global_.nav_freshness_seconds)

    def render_state(self, cfg: HedgeConfig, now_ns: int, aum: dict[str, Any]) -> dict[str, Any]:
        ev = self.last
        stale_after = cfg.risk_limits.global_.nav_freshness_seconds
        age, fresh = self.freshness(cfg, now_ns)
        nav = self.nav
        dd = self.dd_frac
        start, day_start = self.start, self.day_start
        offex = {b["asset"]: b["value"] for b in aum["buckets"] if b.get("asset")}
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
            "freshness": freshness_label(fresh),
            "sources_ok": ev.sources_ok if ev else None,
            "source": ev.source if ev else None,
            "start_nav_usd": start,
            "return_frac": (nav / start - 1.0) if nav is not None and start else None,
            "peak_nav_usd": self.peak,
            "drawdown_frac": dd,
            "drawdown_pct": dd,
            "day_start_nav_usd": day_start,
            "daily_pnl_usd": (nav - day_start) if nav is not None and day_start is not None else None,
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

        return {"daily": [{"ts": t, "nav_usd": n, "drawdown_frac": d} for t, n, d in self.daily],
                "hourly": pts(self.hourly), "recent": pts(self.recent),
                "hourly_max": HOURLY_MAX, "recent_max": RECENT_MAX}

    def render_aum(self, cfg: HedgeConfig, prices: dict[str, float], price_ns: dict[str, int]) -> dict[str, Any]:
        """AUM buckets: futures NAV + every off-exchange holding of the config, each with value and PnL."""
        doc: dict[str, Any] = {}
        nav = self.nav
        start = self.start
        doc[FUTURES_BUCKET[0]] = {
            "value": nav, "cost_basis": start, "qty": None, "price": None,
            "pnl": (nav - start) if nav is not None and start is not None else None,
        }
        prices_ns: list[int] = []
        holdings, errors = self._holdings(cfg, prices, price_ns, prices_ns)
        order: list[tuple[str, str, str]] = [(FUTURES_BUCKET[0], FUTURES_BUCKET[1], "")]
        for asset in sorted(holdings):
            key = bucket_key(asset)
            doc[key] = holdings[asset]
            order.append((key, _LABELS.get(asset, asset), asset))
        have = [doc[k] for k, _, _ in order if doc[k]["value"] is not None]
        total = sum(b["value"] for b in have) if have else None
        pnls = [b["pnl"] for b in have if b["pnl"] is not None]
        costs = [b["cost_basis"] for b in have if b["cost_basis"] is not None]
        doc["total"] = {"value": total, "pnl": sum(pnls) if pnls else None, "cost_basis": sum(costs) if costs else None}
        doc["total_usd"] = total
        doc["complete"] = len(have) == len(order)
        doc["errors"] = errors
        doc["buckets"] = [
            {"key": k, "label": label, "asset": asset or None, "value": doc[k]["value"], "pnl": doc[k]["pnl"],
             "share": (doc[k]["value"] / total) if total and doc[k]["value"] is not None else None}
            for k, label, asset in order
        ]
        doc["prices_ts"] = _ts(max(prices_ns)) if prices_ns else None
        return doc

    def _holdings(self, cfg: HedgeConfig, prices: dict[str, float], price_ns: dict[str, int],
                  prices_ns: list[int]) -> tuple[dict[str, dict[str, Any]], list[str]]:
        """Every configured holding: from the latest OffExchangeValued row, else priced from the log."""
        valued: dict[str, dict[str, Any]] = {}
        if self.offex is not None:
            for h in self.offex.holdings:
                valued[h.asset.upper()] = {"value": _num(h.value_usd), "pnl": _num(h.pnl_usd),
                                           "cost_basis": _num(h.cost_basis_usd), "qty": _num(h.qty),
                                           "price": _num(h.price_usd)}
            if valued:
                prices_ns.append(self.offex.ts_event_ns)
        out: dict[str, dict[str, Any]] = {}
        errors: list[str] = []
        for name, hold in sorted(cfg.offexchange.holdings.items()):
            asset = name.upper()
            if asset in valued:
                out[asset] = valued.pop(asset)
                continue
            sym = hold.price_symbol
            price, source = holding_price(hold, prices.get(sym) if sym else None)
            if price is None:
                errors.append(unpriceable_reason(asset, hold))
                out[asset] = {"value": None, "pnl": None, "cost_basis": hold.cost_basis_usd, "qty": hold.qty,
                              "price": None, "error": "unpriceable"}
                continue
            if sym and source == sym:
                prices_ns.append(price_ns[sym])
            value = hold.qty * price
            out[asset] = {"value": value, "qty": hold.qty, "price": price, "cost_basis": hold.cost_basis_usd,
                          "pnl": value - hold.cost_basis_usd}
        out.update(valued)  # valued in the log but no longer configured: still part of AUM
        return out, errors


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    f = float(v)
    return f if math.isfinite(f) else None
