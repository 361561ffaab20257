"""Risk after the trade on a real engine: cap-drift trims and the loss-limit actions.

Real parts: the engine's loop on the simulated venue over a scripted market, the log
writer and SQLite store, the router and the sim's matching (the trims are real
reduce-only orders that fill), replay verification, ``explain`` and the projector's
``risk_vetoes.jsonl`` lines. Each figure is recomputed here from the log (positions,
marks and NAV readings), not taken from the engine.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import msgspec

from config.loader import apply_overrides, from_dict, load_config
from engine.bootstrap import build_sim_engine
from engine.core import Emit, decide
from engine.rules.units import DAY_NS
from engine.state import EngineState, evolve
from engine.venues.scripted import ScriptedMarket
from eventlog.events import (
    MarketTick,
    NavSnapshot,
    OrderFilled,
    OrderSubmitted,
    PositionSnapshot,
    RiskDecided,
    RoutePlanned,
)
from eventlog.store import EventStore
from projections.fold import Projector
from replay.explain import explain
from replay.render import explain_text
from replay.source import load_session
from replay.verify import verify_session
from tests.unit.test_replay_props import FAST, START_MS, SYMBOLS

Bar = dict[str, tuple[float, float, float, float, float]]
WIDE_STOPS = ["strategy.sl_atr_mult=8", "strategy.fast_ema=20", "strategy.slow_ema=100"]  # exits lag a slide


def drift_bars(i: int) -> Bar:
    """A steady rally (entries), then SOL alone keeps climbing while the others stay flat."""
    out: Bar = {}
    for s, (p, _) in SYMBOLS.items():
        f = 1.0 + 0.003 * min(i, 70) - (0.01 if i % 25 > 20 and i < 70 else 0.0)
        if s == "SOLUSDT" and i >= 70:
            f *= 1.0 + 0.004 * (i - 70)
        out[s] = (p * f, p * f * 1.004, p * f * 0.998, p * f * 1.003, 1_000.0)
    return out


def crash_bars(i: int) -> Bar:
    """Quiet, a rally into the next UTC day (long positions), then a slide of 0.6% a bar (stops wide: strategy.sl_atr_mult=8)."""
    if i < 200:
        f = 1.0 + (0.002 if i % 2 else 0.0)
    elif i < 300:
        f = 1.0 + 0.003 * (i - 200)
    else:
        f = 1.3 * (1.0 - 0.006 * (i - 300))
    return {s: (p * f, p * f * 1.004, p * f * 0.998, p * f * 1.003, 1_000.0) for s, (p, _) in SYMBOLS.items()}


def session(home: Path, sets: list[str], bars: Any, n: int) -> str:
    loaded = from_dict(apply_overrides(load_config().as_dict(), [*FAST, *sets])[0])
    market = ScriptedMarket(list(SYMBOLS), start_ms=START_MS)
    sid = str(uuid.uuid4())
    with EventStore.open(home) as store:
        eng = build_sim_engine(loaded, list(SYMBOLS), market, store, sid)
        for i in range(n):
            market.push(bars(i))
            eng.apply(eng.venue.next_updates())
        eng.end("bars")
        eng.writer.close()
    return sid


def events(home: Path, sid: str) -> list[Any]:
    with EventStore.open(home) as store:
        return list(store.read(session=sid))


def readings(evs: list[Any]) -> list[tuple[int, float, dict[str, float]]]:
    """At each NAV reading: (time, NAV, symbol -> gross / NAV), from positions x marks in the log."""
    qty: dict[str, float] = {}
    mark: dict[str, float] = {}
    out = []
    for e in evs:
        if isinstance(e, PositionSnapshot):
            qty[e.symbol] = e.qty
        elif isinstance(e, MarketTick) and e.mark is not None:
            mark[e.symbol] = e.mark
        elif isinstance(e, NavSnapshot) and e.nav_usd > 0:
            out.append((e.ts_event_ns, e.nav_usd,
                        {s: abs(q) * mark.get(s, 0.0) / e.nav_usd for s, q in qty.items() if q}))
    return out


def worst_daily_loss(evs: list[Any]) -> float:
    """Worst loss from a UTC day's first NAV reading, recomputed from the readings."""
    start: dict[int, float] = {}
    worst = 0.0
    for ts, nav, _ in readings(evs):
        d = ts // DAY_NS
        start.setdefault(d, nav)
        worst = max(worst, (start[d] - nav) / start[d])
    return worst


def strict_post_trade_drafts(evs: list[Any]) -> int:
    """Every post-trade decision the engine drafts (and its plan) validates strictly; how many there were."""
    state = EngineState()
    n = 0
    for ev in evs:
        evolve(state, ev)
        for a in decide(state, ev):
            if isinstance(a, Emit) and isinstance(a.event, RiskDecided | RoutePlanned) and (
                    getattr(a.event, "outcome", "") in ("trim", "flatten") or getattr(a.event, "intent_id", 1) == ""):
                assert msgspec.convert(msgspec.to_builtins(a.event), type(a.event), strict=True) == a.event
                n += 1
    return n


def verified(home: Path, sid: str) -> bool:
    with EventStore.open(home) as store:
        return verify_session(store, load_session(store, sid)).ok


def test_cap_drift_trims_back_to_the_cap_and_replay_explain_agree(home: Path) -> None:
    cap, tol = 0.2, 0.02  # SOLUSDT is SATELLITE: 20% of NAV
    sid_off = session(home, [], drift_bars, 160)
    sid_on = session(home / "on", ["risk.cap_drift_tolerance_frac=0.02"], drift_bars, 160)
    before = [r for _, _, r in readings(events(home, sid_off)) if r.get("SOLUSDT", 0.0) > cap * (1 + tol)]
    evs = events(home / "on", sid_on)
    assert len(before) > 20  # without the rule SOL drifts well over its cap
    trims = [e for e in evs if isinstance(e, RiskDecided) and e.gate == "cap_drift"]
    assert trims and all(t.outcome == "trim" and t.symbol == "SOLUSDT" and t.side == "SELL" for t in trims)
    for t in trims:  # each brings SOL back to the cap at the decision's mark and NAV (within one step)
        o = t.observations
        after = (abs(float(o["position_qty"])) - t.approved_qty) * float(o["price"])
        cap_usd = cap * float(o["nav_usd"])
        assert cap_usd - 0.01 * float(o["price"]) < after <= cap_usd + 1e-6
    # each trim is one reduce-only taker order that fills
    plans = {e.decision_id: e for e in evs if isinstance(e, RoutePlanned)}
    orders = {e.plan_id: e for e in evs if isinstance(e, OrderSubmitted)}
    fills = {e.order_id for e in evs if isinstance(e, OrderFilled)}
    for t in trims:
        p = plans[t.decision_id]
        assert p.reduce_only and p.style == "taker" and p.qty == t.approved_qty
        assert orders[p.plan_id].reduce_only and orders[p.plan_id].order_id in fills
    # with the rule, a reading over cap x (1 + tolerance) is the one where the trim is decided
    trim_ts = {t.ts_event_ns for t in trims}
    over = [(ts, r) for ts, _, r in readings(evs) if r.get("SOLUSDT", 0.0) > cap * (1 + tol)]
    assert over and all(ts in trim_ts for ts, _ in over)
    assert len(over) < len(before) / 5
    assert verified(home / "on", sid_on)
    assert strict_post_trade_drafts(evs) == 2 * len(trims)  # each trim and its plan
    with EventStore.open(home / "on") as store:
        doc = explain(store, trims[0].decision_id, check=True)
    assert doc["rederived"]["identical"] and doc["outcome"] == "trim" and doc["gate"] == "cap_drift"
    checks = {c["threshold"]: c for c in doc["checks"]}
    assert checks["per_symbol_nav_pct"]["breached"] and checks["per_symbol_nav_pct"]["config_value"] == cap
    assert checks["cap_drift_tolerance_frac"]["config_value"] == tol
    assert "symbol_gross" in checks["per_symbol_nav_pct"]["observations"]
    assert doc["followed_by"] and doc["followed_by"][0]["type"] == "RoutePlanned"
    text = explain_text(doc)
    assert "TRIM" in text and "cap_drift" in text and "per_symbol_nav_pct" in text
    # risk_vetoes.jsonl carries each trim like a veto: gate, thresholds, observations
    p = Projector()
    with EventStore.open(home / "on") as store:
        p.apply_all(store.read())
    lines = [x for x in p.risk.pending_lines if x["gate"] == "cap_drift"]
    assert len(lines) == len(trims) and lines[0]["limits"]["cap_drift_tolerance_frac"] == tol
    assert lines[0]["observed"]["symbol_gross"] > 0 and lines[0]["outcome"] == "trim"


def test_daily_loss_flatten_halt_bounds_the_day_and_block_does_not(home: Path) -> None:
    n = 330
    sid_block = session(home, WIDE_STOPS, crash_bars, n)
    sid_flat = session(home / "f", [*WIDE_STOPS, "risk.daily_loss_action=flatten_halt"], crash_bars, n)
    block, flat = events(home, sid_block), events(home / "f", sid_flat)
    assert worst_daily_loss(block) > 0.045  # today's behaviour: entries blocked, positions ride the slide
    worst = worst_daily_loss(flat)
    assert worst < 0.03 + 0.012  # the limit plus at most about a bar of the slide on the book
    decs = [e for e in flat if isinstance(e, RiskDecided) and e.gate == "daily_loss_limit" and e.outcome == "flatten"]
    assert decs and {d.symbol for d in decs} <= set(SYMBOLS)
    first = decs[0]
    assert first.observations["daily_loss_frac"] >= 0.03 and first.thresholds["daily_loss_action"] == "flatten_halt"
    # flat after the flatten's fills, and no entry allowed again that day
    last_pos: dict[str, float] = {}
    for e in flat:
        if isinstance(e, PositionSnapshot):
            last_pos[e.symbol] = e.qty
    assert all(q == 0 for q in last_pos.values())
    later = [e for e in flat if isinstance(e, RiskDecided) and e.seq > first.seq
             and e.observations.get("risk_increasing") is True]
    assert all(e.outcome == "veto" for e in later)
    assert verified(home / "f", sid_flat)
    assert strict_post_trade_drafts(flat) >= len(decs)
    with EventStore.open(home / "f") as store:
        doc = explain(store, first.decision_id, check=True)
    assert doc["rederived"]["identical"] and doc["outcome"] == "flatten"
    assert {c["threshold"] for c in doc["checks"]} == {"daily_loss_limit_pct", "daily_loss_action"}
    assert "daily_loss_frac" in next(c for c in doc["checks"] if c["threshold"] == "daily_loss_limit_pct")[
        "observations"]


def test_daily_loss_reduce_trims_each_position_once(home: Path) -> None:
    n = 330
    sid = session(home, [*WIDE_STOPS, "risk.daily_loss_action=reduce", "risk.breach_reduce_frac=0.5"],
                  crash_bars, n)
    evs = events(home, sid)
    decs = [e for e in evs if isinstance(e, RiskDecided) and e.gate == "daily_loss_limit" and e.outcome != "veto"]
    assert decs and len({d.symbol for d in decs}) == len(decs)  # once per position per breach
    assert len({d.ts_event_ns for d in decs}) == 1
    for d in decs:
        q = abs(float(d.observations["position_qty"]))
        assert d.approved_qty >= q * 0.5 - 1e-9 and d.approved_qty - q * 0.5 < 0.01 + 1e-9
    assert verified(home, sid)


def test_max_drawdown_flatten_halt_closes_everything_and_replays(home: Path) -> None:
    dd = ["risk.max_drawdown_pct=0.04", "risk.dd_cautious_pct=0.02", "risk.dd_defensive_pct=0.03",
          "risk.max_drawdown_action=flatten_halt", "risk.daily_loss_limit_pct=0.5"]
    sid = session(home, [*WIDE_STOPS, *dd], crash_bars, 330)
    evs = events(home, sid)
    decs = [e for e in evs if isinstance(e, RiskDecided) and e.gate == "drawdown_limit" and e.outcome == "flatten"]
    assert decs and all(d.observations["dd_frac"] >= 0.04 for d in decs)
    assert decs[0].thresholds == {"max_drawdown_pct": 0.04, "max_drawdown_action": "flatten_halt"}
    last_pos: dict[str, float] = {}
    for e in evs:
        if isinstance(e, PositionSnapshot):
            last_pos[e.symbol] = e.qty
    assert all(q == 0 for q in last_pos.values())
    peak = max(nav for _, nav, _ in readings(evs))
    assert (peak - readings(evs)[-1][1]) / peak < 0.04 + 0.012  # bounded near the limit
    assert verified(home, sid)
