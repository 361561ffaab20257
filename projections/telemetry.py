"""The rest of the seeds' telemetry contract, as folds and renderings.

* ``MarketDataView`` - per symbol: last mark, last trade price (kline close),
  funding rate (from ticks or settlements) -> ``funding_snapshot.json`` and
  ``basis_snapshot.json``;
* ``LatencyView`` - router latency decision -> ack -> first fill and TWAP use
  (added to ``router_health.json``);
* ``ErrorsView`` - the last venue errors, sanitised -> ``execution_health.json``;
* renderers of the seeds' shapes built from the other views: ``nav.json``,
  ``positions.json`` (a top-level list), ``execution_health.json``,
  ``synced_state.json``, ``v6_runtime_probe.json``.
"""

from __future__ import annotations

import re
from collections import OrderedDict, deque
from typing import Any

from config.schema import HedgeConfig
from engine.rules.indicators import percentile
from engine.rules.units import HOUR_NS, NS
from eventlog.events import (
    FundingApplied,
    OrderAccepted,
    OrderFilled,
    OrderSubmitted,
    RoutePlanned,
    VenueError,
)

WINDOW = 500
ERRORS_KEPT = 20
PLANS_MAX = 10_000
_SECRETISH = re.compile(r"(?i)(signature|apikey|api_key|secret|token|password)=?[^\s&,;]*|[A-Za-z0-9]{24,}")


def sanitise(text: str) -> str:
    """An error message without anything that could be a credential (long tokens, key=value secrets)."""
    return _SECRETISH.sub("<redacted>", text)[:300]


class MarketDataView:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.mark: dict[str, tuple[float, int]] = {}
        self.last: dict[str, tuple[float, int]] = {}
        self.rate: dict[str, tuple[float, int, str]] = {}  # rate, ts, source

    def on_tick_mark(self, sym: str, mark: float | None, rate: float | None, ts: int) -> None:
        if mark is not None and mark > 0:
            self.mark[sym] = (mark, ts)
        if rate is not None:
            self.rate[sym] = (rate, ts, "tick")

    def on_close(self, sym: str, close: float, ts: int) -> None:
        self.last[sym] = (close, ts)

    def on_funding(self, ev: FundingApplied) -> None:
        self.rate[ev.symbol] = (ev.rate, ev.ts_event_ns, "settlement")
        if ev.mark_price > 0:
            self.mark[ev.symbol] = (ev.mark_price, ev.ts_event_ns)

    def render_funding(self, cfg: HedgeConfig, symbols: list[str], now_ns: int) -> dict[str, Any]:
        sim = cfg.runtime.sim
        h = sim.funding_interval_h
        period_ns = int(h * HOUR_NS)
        per_year = 365 * 24 / h
        rows = []
        for sym in sorted(set(symbols) | set(self.rate)):
            r = self.rate.get(sym)
            rate, ts, src = r if r is not None else (None, None, "none")
            nxt = ((now_ns // period_ns) + 1) * period_ns if now_ns and period_ns > 0 else None
            rows.append({
                "symbol": sym, "funding_rate": rate, "next_funding_rate": rate,
                "annualized": rate * per_year if rate is not None else None,
                "next_funding_ts": nxt / NS if nxt is not None else None,
                "rate_ts": ts / NS if ts is not None else None, "source": src,
            })
        return {"symbols": rows, "interval_h": h,
                "note": "next_funding_rate is the last known rate (the venue publishes the predicted rate with the mark)"}

    def render_basis(self, symbols: list[str]) -> dict[str, Any]:
        rows = []
        for sym in sorted(set(symbols) | set(self.mark) | set(self.last)):
            m = self.mark.get(sym)
            la = self.last.get(sym)
            basis = (m[0] - la[0]) if m and la else None
            rows.append({
                "symbol": sym, "mark_price": m[0] if m else None, "last_price": la[0] if la else None,
                "basis": basis, "basis_bps": (basis / la[0] * 10_000.0) if basis is not None and la and la[0] else None,
                "mark_ts": m[1] / NS if m else None, "last_ts": la[1] / NS if la else None,
            })
        return {"symbols": rows, "definition": "basis = mark - last traded price (kline close); bps of last"}


class LatencyView:
    """decision (RoutePlanned) -> ack (OrderAccepted) -> first fill, per plan; TWAP share of plans."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.plans: OrderedDict[str, list[Any]] = OrderedDict()  # plan -> [ts, acked, filled]
        self.orders: OrderedDict[str, str] = OrderedDict()
        self.ack_ms: deque[float] = deque(maxlen=WINDOW)
        self.fill_ms: deque[float] = deque(maxlen=WINDOW)
        self.styles: dict[str, int] = {}
        self.twap_slices = 0

    def on_plan(self, ev: RoutePlanned) -> None:
        self.plans[ev.plan_id] = [ev.ts_event_ns, False, False]
        if len(self.plans) > PLANS_MAX:
            self.plans.popitem(last=False)
        self.styles[ev.style] = self.styles.get(ev.style, 0) + 1
        if ev.style == "twap":
            self.twap_slices += ev.slices

    def on_submitted(self, ev: OrderSubmitted) -> None:
        self.orders[ev.order_id] = ev.plan_id
        if len(self.orders) > PLANS_MAX:
            self.orders.popitem(last=False)

    def _plan(self, order_id: str) -> list[Any] | None:
        pid = self.orders.get(order_id)
        return self.plans.get(pid) if pid is not None else None

    def on_accepted(self, ev: OrderAccepted) -> None:
        pl = self._plan(ev.order_id)
        if pl is not None and not pl[1]:
            pl[1] = True
            self.ack_ms.append((ev.ts_event_ns - pl[0]) / 1e6)

    def on_fill(self, ev: OrderFilled) -> None:
        pl = self._plan(ev.order_id)
        if pl is not None and not pl[2]:
            pl[2] = True
            self.fill_ms.append((ev.ts_event_ns - pl[0]) / 1e6)

    def render(self) -> dict[str, Any]:
        total = sum(self.styles.values())
        ack, fill = list(self.ack_ms), list(self.fill_ms)
        return {
            "latency_ms": {
                "decision_to_ack_p50": percentile(ack, 0.5), "decision_to_ack_p95": percentile(ack, 0.95),
                "decision_to_fill_p50": percentile(fill, 0.5), "decision_to_fill_p95": percentile(fill, 0.95),
                "samples_ack": len(ack), "samples_fill": len(fill),
                "clock": "event time (venue / simulated clock), not wall time",
            },
            "twap": {"plans": self.styles.get("twap", 0), "slices": self.twap_slices,
                     "share": self.styles.get("twap", 0) / total if total else None,
                     "plans_by_style": dict(sorted(self.styles.items()))},
        }


class ErrorsView:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.recent: deque[dict[str, Any]] = deque(maxlen=ERRORS_KEPT)

    def on_error(self, ev: VenueError) -> None:
        self.recent.append({"ts": ev.ts_event_ns / NS, "source": ev.source, "kind": ev.kind,
                            "field": sanitise(ev.field), "message": sanitise(ev.message)})


# ----------------------------------------------------------------------------- renderings


def render_nav(nav_state: dict[str, Any], zar: float | None, now_ns: int) -> dict[str, Any]:
    """``nav.json`` in the seed's shape (values from ``nav_state.json``), ZAR when configured."""
    nav = nav_state.get("nav_total")
    total = nav_state["aum"]["total"]
    return {
        "nav_total": nav, "nav_age_s": nav_state.get("nav_age_s"), "sources_ok": nav_state.get("sources_ok"),
        "aum": dict(nav_state["aum"]), "nav_health_snapshot": dict(nav_state["nav_health_snapshot"]),
        "updated_at": now_ns / NS if now_ns else None, "usd_zar_rate": zar,
        "nav_total_zar": nav * zar if zar is not None and nav is not None else None,
        "aum_total_zar": total * zar if zar is not None and total is not None else None,
    }


def render_positions_list(positions_state: dict[str, Any]) -> list[dict[str, Any]]:
    """``positions.json``: the seed's top-level list."""
    return [{"symbol": r["symbol"], "qty": r["qty"], "entryPrice": r["entryPrice"], "mark_price": r["mark_price"],
             "leverage": r["leverage"], "side": r["side"], "notional": r["notional"], "pnl": r["pnl"]}
            for r in positions_state["positions"]]


def render_execution_health(router: dict[str, Any], risk: dict[str, Any], vetoes_by_gate: dict[str, int],
                            errors: ErrorsView, venue_errors: dict[str, int]) -> dict[str, Any]:
    return {
        "router": {k: router.get(k) for k in ("maker_fill_rate", "fallback_ratio", "slippage_p50", "slip_q95",
                                              "router_health_score", "quality", "latency_ms", "twap")},
        "risk": {"risk_mode": risk["risk_mode"], "dd_state": risk["dd_state"]["state"], "dd_frac": risk["dd_frac"],
                 "daily_loss_frac": risk["daily_loss_frac"], "decisions": risk["decisions"],
                 "vetoes_by_gate": dict(sorted(vetoes_by_gate.items()))},
        "errors": list(errors.recent),
        "errors_total": sum(venue_errors.values()),
    }


def render_probe(cfg: HedgeConfig, config_hash: str | None, flag_env: list[str], flags_ns: int) -> dict[str, Any]:
    from config.flags import flags_of

    return {"engine_version": cfg.runtime.engine_version, "flags": flags_of(cfg),
            "env_overrides": list(flag_env), "config_hash": config_hash,
            "ts": flags_ns / NS if flags_ns else None}


def render_synced(cfg: HedgeConfig, positions: list[dict[str, Any]], nav: dict[str, Any]) -> dict[str, Any]:
    from config.flags import flags_of

    return {"items": positions, "nav": nav.get("nav_total"), "engine_version": cfg.runtime.engine_version,
            "v6_flags": flags_of(cfg), "updated_at": nav.get("updated_at")}
