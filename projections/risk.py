"""Risk view: decisions and veto diagnostics, per-symbol volatility (Wilder ATR), PnL windows.

Vetoes and clamps become lines of ``execution/risk_vetoes.jsonl`` (queued here,
appended by the runner). ATR uses ``engine.rules.indicators.WilderAtr`` with the
period/baseline of the session's config, exactly the object risk uses; expectancy
(over round trips) and the fee / PnL ratio are ``engine.rules.perf``.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from config.schema import HedgeConfig
from engine.rules.drought import EntryDrought
from engine.rules.indicators import WilderAtr, atr_regime
from engine.rules.perf import RoundTrips, fee_ratio
from engine.rules.units import NS
from eventlog.events import KlineClosed, OrderFilled, RiskDecided

FEE_WINDOW = 200
EXPECTANCY_WINDOW = 100


def veto_line(ev: RiskDecided) -> dict[str, Any]:
    """The ``risk_vetoes.jsonl`` record of a veto or clamp."""
    return {
        "seq": ev.seq, "decision_id": ev.decision_id, "ts": ev.ts_event_ns / NS,
        "session_id": ev.session_id, "symbol": ev.symbol, "outcome": ev.outcome, "gate": ev.gate,
        "reasons": list(ev.reasons), "thresholds": dict(ev.thresholds),
        "observations": dict(ev.observations), "breached": list(ev.breached),
        "config_hash": ev.config_hash, "intent_id": ev.intent_id,
        "requested_qty": ev.requested_qty, "approved_qty": ev.approved_qty, "source": ev.source,
        # the seeds' names (engineering guide: jq '{reason: .veto_reason, observed, limits}'), additive
        "veto_reason": "; ".join(ev.reasons) if ev.reasons else ev.gate,
        "observed": dict(ev.observations), "limits": dict(ev.thresholds),
    }


class RiskView:
    def __init__(self) -> None:
        self.pending_lines: list[dict[str, Any]] = []  # drained by the runner (not session state)
        self.reset()

    def reset(self) -> None:
        self.outcomes = {"allow": 0, "clamp": 0, "veto": 0}
        self.by_gate: dict[str, int] = {}
        self.by_symbol: dict[str, int] = {}
        self.by_gate_symbol: dict[str, dict[str, int]] = {}
        self.last_veto: dict[str, Any] | None = None
        self.sym_last: dict[str, tuple[str, str]] = {}  # symbol -> (outcome, gate)
        self.atr: dict[str, WilderAtr] = {}
        self.close: dict[str, float] = {}
        self.last_ns: dict[str, int | None] = {
            "tick": None, "kline": None, "nav": None, "decision": None, "fill": None,
        }
        self.venue_errors: dict[str, int] = {}
        self.alerts = {"sent": 0, "failed": 0}
        # performance
        self.realized = 0.0
        self.fees = 0.0
        self.funding = 0.0
        self.fee_win: deque[tuple[float, float]] = deque(maxlen=FEE_WINDOW)  # (fee, realized)
        self.round_trips = RoundTrips(EXPECTANCY_WINDOW)
        self.drought = EntryDrought()  # entries allowed / vetoed (engine/rules/drought.py)

    # -- fold ----------------------------------------------------------------------

    def on_decision(self, ev: RiskDecided) -> None:
        self.last_ns["decision"] = ev.ts_event_ns
        o = ev.outcome
        self.outcomes[o] = self.outcomes.get(o, 0) + 1
        self.sym_last[ev.symbol] = (o, ev.gate)
        self.drought.on_decision(ev.ts_event_ns, o, ev.gate, ev.observations.get("risk_increasing") is True)
        if o == "allow":
            return
        line = veto_line(ev)
        self.pending_lines.append(line)
        if o == "veto":
            self.by_gate[ev.gate] = self.by_gate.get(ev.gate, 0) + 1
            self.by_symbol[ev.symbol] = self.by_symbol.get(ev.symbol, 0) + 1
            g = self.by_gate_symbol.setdefault(ev.gate, {})
            g[ev.symbol] = g.get(ev.symbol, 0) + 1
            self.last_veto = line

    def on_kline(self, ev: KlineClosed, cfg: HedgeConfig) -> None:
        self.last_ns["kline"] = ev.ts_event_ns
        if ev.interval != cfg.universe.interval:
            return
        w = self.atr.get(ev.symbol)
        if w is None:
            a = cfg.strategy.atr_regime
            w = self.atr[ev.symbol] = WilderAtr(a.period, a.baseline_bars)
        w.update(ev.high, ev.low, ev.close)
        self.close[ev.symbol] = ev.close

    def on_fill(self, ev: OrderFilled) -> float | None:
        """Fold a fill; the net PnL of the round trip it closed, if any."""
        self.last_ns["fill"] = ev.ts_event_ns
        self.realized += ev.realized_pnl
        self.fees += ev.fee_usd
        self.fee_win.append((ev.fee_usd, ev.realized_pnl))
        trip = self.round_trips.on_fill(ev.symbol, ev.side, ev.qty, ev.price, ev.fee_usd, ev.realized_pnl,
                                        ev.ts_event_ns)
        return None if trip is None else trip.net_usd

    def on_funding(self, symbol: str, amount: float) -> None:
        self.funding += amount
        self.round_trips.on_funding(symbol, amount)

    @property
    def trades(self) -> int:
        """Closed round trips (engine.rules.perf), all time."""
        return self.round_trips.trips

    # -- derived -------------------------------------------------------------------

    def vol(self, sym: str, cfg: HedgeConfig) -> dict[str, Any]:
        w = self.atr.get(sym)
        a = cfg.strategy.atr_regime
        atr = w.atr if w else None
        ratio = w.ratio if w else None
        close = self.close.get(sym)
        return {
            "atr": atr, "atr_pct": (atr / close) if atr is not None and close else None,
            "atr_ratio": ratio, "atr_regime": atr_regime(ratio, a.low_ratio, a.high_ratio),
            "last_close": close,
        }

    def portfolio_atr(self, cfg: HedgeConfig) -> tuple[float | None, str]:
        a = cfg.strategy.atr_regime
        ratios = [r for r in (self.atr[s].ratio for s in sorted(self.atr)) if r is not None]
        ratio = sum(ratios) / len(ratios) if ratios else None
        return ratio, atr_regime(ratio, a.low_ratio, a.high_ratio)

    def fee_pnl(self) -> tuple[float | None, str, float, float]:
        """(fee / gross PnL ratio, its state, fees, gross realised PnL) over the last ``FEE_WINDOW`` fills."""
        fees = sum(f for f, _ in self.fee_win)
        gross = sum(r for _, r in self.fee_win)
        ratio, state = fee_ratio(fees, gross, len(self.fee_win))
        return ratio, state, fees, gross

    def expectancy(self) -> tuple[float | None, str, float | None]:
        """Over the last ``EXPECTANCY_WINDOW`` closed round trips, net of all fees and funding."""
        return self.round_trips.expectancy()

    # -- outputs -------------------------------------------------------------------

    def render_diagnostics(self, *, now_ns: int, events_total: int, session_started_ns: int | None,
                           end_reason: str | None, config_error: str | None,
                           exits: dict[str, int]) -> dict[str, Any]:
        """``diagnostics.json``; ``exits`` is the positions view's exit counters."""
        ts = {k: (v / NS if v is not None else None) for k, v in self.last_ns.items()}
        return {
            "veto_counters": {
                "total": self.outcomes.get("veto", 0), "clamps": self.outcomes.get("clamp", 0),
                "allows": self.outcomes.get("allow", 0), "decisions": sum(self.outcomes.values()),
                "by_gate": dict(sorted(self.by_gate.items())),
                "by_symbol": dict(sorted(self.by_symbol.items())),
                "by_gate_symbol": {g: dict(sorted(v.items())) for g, v in sorted(self.by_gate_symbol.items())},
            },
            "last_veto": self.last_veto,
            "liveness": {
                "last_event_ts": now_ns / NS if now_ns else None,
                "last_tick_ts": ts["tick"], "last_kline_ts": ts["kline"], "last_nav_ts": ts["nav"],
                "last_decision_ts": ts["decision"], "last_fill_ts": ts["fill"],
                "events_total": events_total,
                "session_started_ts": session_started_ns / NS if session_started_ns else None,
                "session_ended": end_reason is not None, "end_reason": end_reason,
            },
            "exit_pipeline": dict(exits),
            "venue_errors": {"total": sum(self.venue_errors.values()), "by_kind": dict(sorted(self.venue_errors.items()))},
            "alerts": dict(self.alerts),
            "config_error": config_error,
        }

