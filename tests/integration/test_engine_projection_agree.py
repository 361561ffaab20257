"""Engine and projections agree: the same log folded through ``engine.state`` and through
``projections/`` (and the alert policy and the what-if metrics) gives the same shared numbers.

The logs: a generated ``hedge run`` session, a real-data session on ``../shared/market``
(skipped when absent), synthetic logs with NAV readings whose sources were not ok
(Hypothesis), and the issue's own example (100 ok, 120 not ok, 110 ok). The numbers: NAV
peak / day start / drawdown / max drawdown (the one ``sources_ok`` rule), ATR per symbol,
positions and average entry, round trips / expectancy / win rate, session fees, realised
PnL, funding and the fee / PnL ratio, Sharpe, and the router KPIs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.rules.perf import fee_ratio
from engine.state import EngineState
from engine.state import fold as engine_fold
from eventlog import events as E
from eventlog.store import EventStore
from projections.alerts.policy import SessionAlertPolicy
from projections.fold import Projector
from replay.compare import MetricsFold
from tests.unit.test_projection_fold import op_st, synth_events

MARKET = Path(__file__).resolve().parents[3] / "shared" / "market"
TOL = {"rel": 1e-9, "abs": 1e-9}


def _run(home: Path, *args: str) -> list[E.Event]:
    from hedge.cli import main

    assert main(["run", "--home", str(home), "--no-projections", "--quiet", *args]) == 0
    with EventStore.open(home, create=False) as store:
        return list(store.read())


class Folds:
    """One log folded by every reader that shares numbers."""

    def __init__(self, events: list[E.Event]):
        self.events = events
        self.engine: EngineState = engine_fold(events)
        proj = Projector()
        proj.apply_all(events)
        self.docs = proj.documents()
        started = next(e for e in events if isinstance(e, E.SessionStarted))
        self.alerts = SessionAlertPolicy(started)
        self.metrics = MetricsFold()
        for ev in events:
            if ev.session_id == started.session_id and not isinstance(ev, E.SessionStarted):
                self.alerts.apply(ev)
                self.metrics.apply(ev)


def assert_nav_agrees(f: Folds) -> None:
    track = f.engine.nav_track
    nav = f.docs["nav_state.json"]
    assert nav["peak_nav_usd"] == track.peak
    assert nav["day_start_nav_usd"] == track.day_start
    assert nav["drawdown_frac"] == track.drawdown
    assert nav["start_nav_usd"] == track.start
    assert f.alerts.track.peak == track.peak and f.alerts.track.day_start == track.day_start
    assert f.metrics.result().max_dd_frac == pytest.approx(track.max_dd, abs=1e-8)
    assert f.metrics.result().start_nav_usd == track.start


def assert_atr_agrees(f: Folds) -> None:
    kpi = f.docs["kpis_v7.json"]["symbols"]
    for sym, s in f.engine.syms.items():
        if sym in kpi:
            assert kpi[sym]["atr"] == s.atr.atr, sym


def assert_positions_agree(f: Folds) -> None:
    rows = {r["symbol"]: r for r in f.docs["positions_state.json"]["positions"]}
    held = {sym: s for sym, s in f.engine.syms.items() if s.pos_qty != 0.0}
    assert set(rows) == set(held)
    for sym, s in held.items():
        assert rows[sym]["qty"] == s.pos_qty and rows[sym]["entry_price"] == pytest.approx(s.pos_entry, **TOL)
        # the engine's own fill ledger (engine.rules.positions.apply_fill) says the same
        assert s.led_qty == pytest.approx(s.pos_qty, **TOL) and s.led_entry == pytest.approx(s.pos_entry, **TOL)


def assert_perf_agrees(f: Folds) -> None:
    kpis = f.docs["kpis_v7.json"]
    perf, risk = kpis["performance"], kpis["risk"]
    trips = f.engine.intel.rolling(None, 100)
    assert perf["trades"] == f.engine.intel.totals.stats().round_trips
    if trips.round_trips:
        assert perf["expectancy_usd"] == pytest.approx(trips.expectancy_usd, **TOL)
        assert perf["win_rate"] == pytest.approx(trips.win_rate, **TOL)
    else:
        assert perf["expectancy_usd"] is None
    s = f.engine.summary
    assert perf["fees_usd"] == pytest.approx(s.fees_usd, **TOL)
    assert perf["realized_pnl_usd"] == pytest.approx(s.realized_pnl, **TOL)
    assert perf["funding_usd"] == pytest.approx(s.funding_usd, **TOL)
    if s.fills <= 200:  # the KPI's fee window holds every fill of the session
        ratio, state = fee_ratio(s.fees_usd, s.realized_pnl, s.fills)
        assert risk["fee_pnl_state"] == state
        assert risk["fee_pnl_ratio"] == (None if ratio is None else pytest.approx(ratio, **TOL))
    m = f.metrics.result()
    assert m.fees_usd == pytest.approx(s.fees_usd, abs=1e-6) and m.trades == s.fills
    if perf["sharpe"] is None:
        assert m.sharpe is None
    else:
        assert m.sharpe == pytest.approx(perf["sharpe"], abs=1e-6)


def assert_router_agrees(f: Folds) -> None:
    dash = f.docs["router_health.json"]
    mine = f.alerts.router_kpis()
    for k in ("maker_fill_rate", "maker_fill_rate_count", "fallback_ratio", "slippage_p50", "slip_q95",
              "router_health_score", "quality", "fills", "orders", "post_only_rejects", "post_only_slices",
              "window_fills", "window_slices"):
        assert mine[k] == dash[k], k
    assert dash["orders"] == f.engine.router.submitted
    assert dash["fills"] == f.engine.summary.fills


def assert_all_agree(f: Folds) -> None:
    assert_nav_agrees(f)
    assert_atr_agrees(f)
    assert_positions_agree(f)
    assert_perf_agrees(f)
    assert_router_agrees(f)


def test_the_issues_example_peak_and_drawdown_are_the_engines() -> None:
    """100 (ok), 120 (not ok), 110 (ok): peak 110 and drawdown 0 everywhere (the dashboard said 120 / 8.3%)."""
    events = synth_events([("nav", 0.0, True), ("nav", 0.2, False), ("nav", 110 / 120 - 1, True)])
    f = Folds(events)
    assert f.engine.nav_track.peak == pytest.approx(110_000.0)
    assert f.docs["nav_state.json"]["peak_nav_usd"] == pytest.approx(110_000.0)
    assert f.docs["nav_state.json"]["drawdown_frac"] == 0.0
    assert_nav_agrees(f)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(op_st.filter(lambda op: op[0] not in ("session", "end")), max_size=60))
def test_synthetic_logs_agree(ops: list[Any]) -> None:
    events = synth_events(ops)
    f = Folds(events)
    assert_nav_agrees(f)
    assert_atr_agrees(f)
    assert_perf_agrees(f)
    assert_router_agrees(f)


def test_a_generated_session_agrees(tmp_path: Path) -> None:
    events = _run(tmp_path / "home", "--bars", "3000")
    f = Folds(events)
    assert f.engine.summary.fills > 50 and f.engine.intel.totals.stats().round_trips > 5  # it traded
    assert_all_agree(f)


@pytest.mark.skipif(not (MARKET / "BTCUSDT.csv").exists(), reason="../shared/market is absent")
def test_a_real_data_session_agrees(tmp_path: Path) -> None:
    events = _run(tmp_path / "home", "--data", str(MARKET), "--until", "2025-07-28")
    f = Folds(events)
    assert f.engine.summary.fills > 20
    assert_all_agree(f)


def test_the_checker_can_fail() -> None:
    """A projection that ignored the sources_ok rule (the old NAV view) would be caught."""
    events = synth_events([("nav", 0.0, True), ("nav", 0.2, False), ("nav", -0.05, True)])
    f = Folds(events)
    f.docs["nav_state.json"]["peak_nav_usd"] = 120_000.0  # what the old projection reported
    with pytest.raises(AssertionError):
        assert_nav_agrees(f)

