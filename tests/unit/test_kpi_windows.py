"""KPI windows in kpis_v7.json: since inception, last 30 days, this session - each labelled."""

from __future__ import annotations

from typing import Any

import pytest

from eventlog import events as E
from tests.unit.test_projection_fold import fold, synth_events

DAY_S = 86_400


def _trade(side: str, pnl: float = 0.0) -> tuple[Any, ...]:
    return ("trade", "ETHUSDT", side, "allow", True, False, 0.0, pnl, False)


def _windows(ops: list[tuple[Any, ...]]) -> tuple[dict[str, Any], list[E.Event]]:
    events = synth_events(ops)
    return fold(events).documents()["kpis_v7.json"]["windows"], events


def test_every_window_is_labelled_and_the_empty_log_has_no_numbers() -> None:
    w, _ = _windows([])
    assert {k: v["label"] for k, v in w.items()} == {
        "inception": "since inception", "last_30d": "last 30 days", "session": "this session"}
    for v in w.values():
        assert v["trades"] == 0 and v["expectancy_usd"] is None and v["return_frac"] is None
        assert v["fee_pnl_state"] == "unknown" and v["sharpe"] is None


def test_last_30_days_drops_what_is_older_and_inception_keeps_it() -> None:
    ops = [("nav", 0.0), _trade("BUY"), _trade("SELL", 50.0),  # a winning trip, then 31 days pass
           ("jump", 31 * DAY_S), ("nav", 0.10), _trade("BUY"), _trade("SELL", -20.0), ("nav", -0.05)]
    w, events = _windows(ops)
    fees = [f.fee_usd for f in events if isinstance(f, E.OrderFilled)]
    assert w["inception"]["trades"] == 2 and w["last_30d"]["trades"] == 1
    assert w["inception"]["expectancy_usd"] == pytest.approx((50 - fees[0] - fees[1] - 20 - fees[2] - fees[3]) / 2)
    assert w["last_30d"]["expectancy_usd"] == pytest.approx(-20 - fees[2] - fees[3])
    assert w["last_30d"]["win_rate"] == 0.0 and w["inception"]["win_rate"] == 0.5
    assert w["last_30d"]["fills"] == 2 and w["inception"]["fills"] == 4
    assert w["last_30d"]["fee_pnl_state"] == "losing" and w["inception"]["fee_pnl_ratio"] is not None
    # return: inception from the first NAV; last 30 days from the last NAV before the window
    assert w["inception"]["return_frac"] == pytest.approx(1.10 * 0.95 - 1)
    assert w["last_30d"]["return_frac"] == pytest.approx(1.10 * 0.95 - 1)  # base: the 100k point, pruned
    assert w["last_30d"]["from_ts"] == pytest.approx(w["last_30d"]["to_ts"] - 30 * DAY_S)


def test_this_session_restarts_at_a_resumed_session_inception_does_not() -> None:
    ops = [("nav", 0.0), _trade("BUY"), _trade("SELL", 30.0), ("jump", 600), ("session", True), ("nav", 0.01),
           _trade("BUY"), _trade("SELL", 10.0)]
    w, _ = _windows(ops)
    assert w["session"]["trades"] == 1 and w["inception"]["trades"] == 2
    assert w["session"]["realized_pnl_usd"] == 10.0 and w["inception"]["realized_pnl_usd"] == 40.0
    assert w["session"]["from_ts"] > w["inception"]["from_ts"]


def test_a_new_account_view_restarts_every_window() -> None:
    w, _ = _windows([("nav", 0.0), _trade("BUY"), _trade("SELL", 30.0), ("session", False), ("nav", 0.0)])
    assert all(v["trades"] == 0 for v in w.values())


def test_one_session_window_equals_the_session_sums() -> None:
    ops = [("nav", 0.0), _trade("BUY"), ("funding", "ETHUSDT", -1.5), _trade("SELL", 12.5), _trade("SELL"),
           _trade("BUY", -3.0)]
    docs = fold(synth_events(ops)).documents()["kpis_v7.json"]
    perf, w = docs["performance"], docs["windows"]["session"]
    assert w["trades"] == perf["trades"] == 2
    assert w["realized_pnl_usd"] == pytest.approx(perf["realized_pnl_usd"])
    assert w["fees_usd"] == pytest.approx(perf["fees_usd"]) and w["funding_usd"] == pytest.approx(perf["funding_usd"])
    assert w["expectancy_usd"] == pytest.approx(perf["expectancy_usd"])
