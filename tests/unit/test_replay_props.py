"""Replay properties on sessions Hypothesis makes up: any recorded session replays identically,
and re-simulating it with its own config reproduces its results.

Real parts: the engine's loop on the simulated venue over a scripted market (prices drawn by
Hypothesis, halts included), the real log writer and SQLite store; replay reads that log.
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from config.loader import apply_overrides, from_dict, load_config
from engine.bootstrap import build_sim_engine
from engine.venues.scripted import ScriptedMarket
from eventlog.store import EventStore
from replay.source import load_session
from replay.verify import expand, verify_session
from replay.whatif import run_what_if

START_MS = 1_751_328_000_000
SYMBOLS = {"BTCUSDT": (60_000.0, 0.1), "ETHUSDT": (3_000.0, 0.01), "SOLUSDT": (150.0, 0.01)}
# a fast strategy so a few hundred bars give intents, vetoes, clamps and fills
FAST = ["strategy.min_bars=30", "strategy.breakout_bars=12", "strategy.fast_ema=5", "strategy.slow_ema=20",
        "strategy.cooldown_bars=2", "strategy.retry_after_veto_bars=1", "strategy.atr_regime.baseline_bars=40",
        "runtime.sim.nav_every_bars=1"]


def _bars(draw: Any, n: int, drift: float) -> list[dict[str, tuple[float, float, float, float, float]]]:
    rets = draw(st.lists(st.floats(-0.02, 0.02), min_size=n, max_size=n))
    halts = set(draw(st.lists(st.integers(0, n - 1), max_size=3)))
    price = {s: p for s, (p, _) in SYMBOLS.items()}
    steps = []
    for i, r in enumerate(rets):
        step = {}
        for k, (s, (_, tick)) in enumerate(SYMBOLS.items()):
            o = price[s]
            if i in halts:
                step[s] = (o, o, o, o, 0.0)
                continue
            c = round(max(o * (1 + drift + r * (1 + 0.3 * k)), tick) / tick) * tick
            h = round(max(o, c) * (1 + abs(r) / 3) / tick) * tick
            lo = round(min(o, c) * (1 - abs(r) / 3) / tick) * tick
            step[s] = (o, max(h, o, c), min(lo, o, c), c, 1_000.0 * (1 + abs(r) * 50))
            price[s] = c
        steps.append(step)
    return steps


@st.composite
def sessions(draw: Any) -> tuple[list[str], list[dict[str, tuple[float, float, float, float, float]]]]:
    n = draw(st.integers(60, 220))
    drift = draw(st.sampled_from([-0.004, -0.001, 0.0, 0.001, 0.004]))
    sets = [
        f"risk.max_open_positions={draw(st.integers(1, 3))}",
        f"risk.max_trade_nav_pct={draw(st.sampled_from([0.01, 0.03, 0.06, 0.2]))}",
        f"router.maker_first={draw(st.sampled_from(['true', 'false']))}",
        f"strategy.per_trade_nav_pct={draw(st.sampled_from([0.02, 0.1, 0.3]))}",
    ]
    return sets, _bars(draw, n, drift)


def record(home: Path, sets: list[str], steps: list[dict[str, Any]]) -> str:
    """A real session over ``steps`` with the engine's loop; returns its id."""
    d, _ = apply_overrides(load_config().as_dict(), [*FAST, *sets])
    loaded = from_dict(d)
    market = ScriptedMarket(list(SYMBOLS), start_ms=START_MS)
    for s in steps:
        market.push(s)
    sid = str(uuid.uuid4())
    with EventStore.open(home) as store:
        eng = build_sim_engine(loaded, list(SYMBOLS), market, store, sid)
        eng.end(eng.run())
        eng.writer.close()
    return sid


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(sessions())
def test_any_recorded_session_replays_identically_and_reproduces_under_its_own_config(case: Any) -> None:
    sets, steps = case
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        sid = record(home, sets, steps)
        with EventStore.open(home, create=False) as store:
            session = load_session(store, sid[:13])
            res = verify_session(store, session)
            decided = sum(1 for _ in store.read(session=sid, types=("RiskDecided",)))
            intents = sum(1 for _ in store.read(session=sid, types=("IntentEmitted",)))
            event(f"decisions: {'none' if not decided else 'some'}, fills: {'none' if not res.checked['OrderFilled'] else 'some'}")
            assert res.ok, res.to_dict(max_diffs=5)
            assert res.checked["RiskDecided"] == decided and res.checked["IntentEmitted"] == intents
            assert res.identical == res.total_checked and res.bar_steps == len(steps)
            again = run_what_if(store, session, [])
        assert again.what_if.metrics == again.recorded
        assert again.recorded.bars == len(steps) * len(SYMBOLS)


def test_sessions_strategy_produces_decisions_of_every_outcome() -> None:
    """Guard for the property above: the made-up markets do exercise allows, clamps and vetoes."""
    steps = []
    price = 60_000.0
    for i in range(200):  # a steady rally with a dip: breakouts, adds, a stop or a flip
        r = 0.004 if i < 120 or i > 150 else -0.006
        c = round(price * (1 + r), 1)
        steps.append({s: (p * price / 60_000, p * max(price, c) / 60_000 * 1.001, p * min(price, c) / 60_000 * 0.999,
                          p * c / 60_000, 1_000.0) for s, (p, _) in SYMBOLS.items()})
        price = c
    with tempfile.TemporaryDirectory() as tmp:
        sid = record(Path(tmp), ["risk.max_open_positions=2", "risk.max_trade_nav_pct=0.03",
                                 "strategy.per_trade_nav_pct=0.1"], steps)
        with EventStore.open(Path(tmp), create=False) as store:
            outcomes = {e.outcome for e in store.read(session=sid, types=("RiskDecided",))}
            res = verify_session(store, load_session(store, "last"))
    assert outcomes == {"allow", "clamp", "veto"}
    assert res.ok and res.checked["OrderFilled"] > 0


def test_expand_names_each_differing_sub_key() -> None:
    diffs = expand(7, 3, "RiskDecided", "thresholds", {"a": 1, "b": 2, "c": {"x": 1}}, {"a": 1, "b": 3, "c": {"x": 2}, "d": 0})
    assert [(d.field, d.recorded, d.replayed) for d in diffs] == [
        ("thresholds.b", 2, 3), ("thresholds.c.x", 1, 2), ("thresholds.d", "<absent>", 0)]
    assert [d.field for d in expand(1, 1, "RiskDecided", "reasons", ["a"], ["b"])] == ["reasons"]


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(sessions(), st.lists(st.sampled_from([
    "risk.max_open_positions=1", "risk.max_open_positions=5", "risk.max_trade_nav_pct=0.01",
    "risk.dd_cautious_pct=0.005", "tiers.CORE.per_symbol_nav_pct=0.02", "router.maker_first=false",
    "router.max_reprices=0", "runtime.fees.taker_frac=0.001"]), min_size=1, max_size=3, unique=True))
def test_a_what_if_session_is_itself_a_session_that_replays_identically(case: Any, sets: list[str]) -> None:
    """The scratch log is written by the engine's own loop: its decisions re-derive from it."""
    base_sets, steps = case
    with tempfile.TemporaryDirectory() as tmp:
        sid = record(Path(tmp) / "real", base_sets, steps)
        with EventStore.open(Path(tmp) / "real", create=False) as store:
            result = run_what_if(store, load_session(store, sid), sets, out_dir=str(Path(tmp) / "out"))
        with EventStore.open(Path(tmp) / "out", create=False) as scratch:
            session = load_session(scratch, result.what_if.session_id)
            assert session.started.params["set"] == sets
            res = verify_session(scratch, session)
        assert res.ok, res.to_dict(max_diffs=5)
        assert res.checked["RiskDecided"] == (result.what_if.metrics.allows + result.what_if.metrics.clamps
                                              + result.what_if.metrics.vetoes)
