"""The what-if comparison fold: counts add up, drawdown and Sharpe follow their definitions."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.rules.perf import MIN_RETURNS as MIN_HOURS
from eventlog.events import NavSnapshot, RiskDecided
from replay.compare import MetricsFold, comparison_rows, comparison_text, sharpe

HOUR = 3600 * 1_000_000_000


def nav(ts: int, value: float, ok: bool = True) -> NavSnapshot:
    return NavSnapshot(session_id="s", session_seq=1, stream="account", ts_event_ns=ts, ts_init_ns=ts,
                       nav_usd=value, wallet_balance=value, unrealized_pnl=0.0, available_balance=value,
                       sources_ok=ok)


def decision(outcome: str, gate: str) -> RiskDecided:
    return RiskDecided(session_id="s", session_seq=1, stream="risk", ts_event_ns=0, ts_init_ns=0, decision_id="d",
                       intent_id="i", symbol="BTCUSDT", outcome=outcome, gate=gate, reasons=[], thresholds={},  # type: ignore[arg-type]
                       observations={}, config_hash="h", requested_qty=1.0, approved_qty=0.0,
                       approved_notional_usd=0.0)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(50_000, 150_000), st.booleans(), st.integers(0, 3)), min_size=1, max_size=200),
       st.lists(st.tuples(st.sampled_from(["allow", "clamp", "veto"]), st.sampled_from(["a", "b", "pass"]))))
def test_fold_matches_definitions(navs: list[tuple[float, bool, int]], decs: list[tuple[str, str]]) -> None:
    fold = MetricsFold()
    ts = 0
    for value, ok, gap_h in navs:
        ts += gap_h * HOUR + 1
        fold.apply(nav(ts, value, ok))
    for outcome, gate in decs:
        fold.apply(decision(outcome, gate))
    m = fold.result()
    good = [v for v, ok, _ in navs if ok]
    assert m.vetoes == sum(m.vetoes_by_gate.values()) == sum(1 for o, _ in decs if o == "veto")
    assert m.allows + m.clamps + m.vetoes == len(decs)
    if not good:
        assert m.final_nav_usd is None and m.max_dd_frac == 0.0 and m.return_frac is None
        return
    peak, dd = 0.0, 0.0
    for v in good:
        peak = max(peak, v)
        dd = max(dd, (peak - v) / peak)
    assert math.isclose(m.max_dd_frac, dd, abs_tol=1e-8) and 0 <= m.max_dd_frac < 1
    assert m.final_nav_usd == good[-1] and m.start_nav_usd == good[0]


def test_sharpe_needs_a_day_of_hours_and_variance() -> None:
    assert sharpe([100.0 + i for i in range(MIN_HOURS)]) is None  # 23 returns
    assert sharpe([100.0 * 1.001**i for i in range(48)]) is None  # constant return: no variance
    series = [100.0]
    for i in range(100):
        series.append(series[-1] * (1.002 if i % 2 else 0.9995))
    s = sharpe(series)
    assert s is not None and s > 0
    assert (sharpe([2 * 100.0 - x for x in series]) or 0) < 0


def test_last_reading_of_each_hour_is_the_hourly_point() -> None:
    fold = MetricsFold()
    for h in range(30):
        fold.apply(nav(h * HOUR + 1, 1_000.0))  # the first reading of the hour is overwritten...
        fold.apply(nav(h * HOUR + 2, 100_000.0 + h * (10 if h % 2 else -3)))  # ...by the last
    assert fold.hourly == [100_000.0 + h * (10 if h % 2 else -3) for h in range(30)]


def test_table_shows_every_gate_of_either_side_and_the_change() -> None:
    a, b = MetricsFold(), MetricsFold()
    a.apply(decision("veto", "symbol_cap"))
    a.apply(decision("veto", "symbol_cap"))
    b.apply(decision("veto", "max_open_positions"))
    doc = {"session_id": "s", "venue": "sim", "bar_steps": 10, "elapsed_s": 0.1, "changes": [],
           "config_hash": "a" * 64, "what_if_config_hash": "b" * 64, "what_if_session_id": "w", "notes": [],
           "recorded": a.result().to_dict(), "what_if": b.result().to_dict(), "baseline": None, "out_dir": None}
    rows = {label.strip(): vals for label, vals, _ in comparison_rows(doc)}
    assert rows["symbol_cap"] == {"recorded": 2, "what-if": 0}
    assert rows["max_open_positions"] == {"recorded": 0, "what-if": 1}
    line = next(ln for ln in comparison_text(doc).splitlines() if ln.strip().startswith("symbol_cap"))
    assert line.split()[1:] == ["2", "0", "-2"]
