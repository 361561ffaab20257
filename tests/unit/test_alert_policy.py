"""The alert policy is a pure fold: what it says, when, and how rarely."""

from __future__ import annotations

import collections
import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from projections.alerts.policy import AlertPolicy, alert_id_for, alerts_for
from tests.fakes.alert_sessions import BAR_MS, SessionBuilder, session_config

DAY_BARS = 288


def _session(nav_path: list[float] | None = None, vol_path: list[float] | None = None, bars: int = 0,
             **alerts: object) -> tuple[SessionBuilder, list]:
    b = SessionBuilder(config=session_config(**alerts))
    n = bars or len(nav_path or vol_path or [])
    return b, [b.started(), *b.bars(n, nav_path=nav_path, vol_path=vol_path)]


def test_no_alert_when_nothing_material_changes() -> None:
    _, events = _session([100_000.0] * (5 * DAY_BARS))
    assert alerts_for(events) == []


def test_dd_escalation_alerts_immediately_normal_cautious_defensive() -> None:
    # risk_limits.json: cautious at 4% DD, defensive at 8%
    path = [100_000.0] * 100 + [95_000.0] * 100 + [91_000.0] * 100
    _, events = _session(path)
    alerts = alerts_for(events)
    assert [a.kind for a in alerts] == ["dd_escalation", "dd_escalation"]
    assert all(a.urgent for a in alerts)
    assert "normal -> cautious" in alerts[0].reasons[0]
    assert "cautious -> defensive" in alerts[1].reasons[0]
    assert "DD 5.0% (cautious)" in alerts[0].text and "DD 9.0% (defensive)" in alerts[1].text
    # fired on the NAV reading that crossed, not at the next 4h close
    assert alerts[0].trigger_session_seq == events[1 + 100 * 4 + 3].session_seq


def test_dd_flapping_around_a_threshold_alerts_once_until_rearmed() -> None:
    flap = [95_000.0 if (i // 6) % 2 else 97_000.0 for i in range(DAY_BARS // 2)]  # 5% <-> 3% DD, 12h
    path = [100_000.0] * 10 + flap
    _, events = _session(path, min_gap_h=24)
    kinds = [a.kind for a in alerts_for(events)]
    assert kinds.count("dd_escalation") == 1


def test_summary_at_4h_close_when_nav_moved_beyond_threshold() -> None:
    path = [100_000.0] * 24 + [104_000.0] * (DAY_BARS - 24)  # +4% at 02:00 on day 1
    _, events = _session(path, nav_move_frac=0.03)
    alerts = alerts_for(events)
    assert [a.kind for a in alerts] == ["summary"]
    a = alerts[0]
    assert "NAV +4.0% since last message" in a.reasons
    assert (a.ts_event_ns // 1_000_000 + 1) % (4 * 3_600_000) == 0  # on a 4h close
    assert "NAV $104,000 (+4.0%)" in a.text
    # decided once both core symbols' closing bars were in: triggered by ETHUSDT's
    trigger = next(e for e in events if e.session_seq == a.trigger_session_seq)
    assert trigger.symbol == "ETHUSDT" and trigger.close_time_ms + 1 == a.ts_event_ns // 1_000_000 + 1


def test_a_4h_close_missing_a_core_bar_is_decided_at_the_next_event() -> None:
    b = SessionBuilder(config=session_config(nav_move_frac=0.03), symbols=("BTCUSDT",))  # no ETHUSDT bars
    path = [100_000.0] * 24 + [104_000.0] * DAY_BARS
    (a,) = alerts_for([b.started(), *b.bars(len(path), nav_path=path)])
    assert a.kind == "summary"


def test_nav_move_below_threshold_says_nothing() -> None:
    _, events = _session([100_000.0] * 24 + [102_000.0] * DAY_BARS, nav_move_frac=0.03)
    assert alerts_for(events) == []


def test_min_gap_between_non_urgent_messages() -> None:
    # NAV steps +4% every 4 hours for 3 days: material news at every close
    path = [100_000.0 * 1.04 ** (i // 48) for i in range(3 * DAY_BARS)]
    _, events = _session(path, nav_move_frac=0.03, min_gap_h=24, daily_cap=10)
    summaries = [a for a in alerts_for(events) if a.kind == "summary"]
    gaps = [(b.ts_event_ns - a.ts_event_ns) / 3.6e12 for a, b in itertools.pairwise(summaries)]
    assert len(summaries) == 3
    assert all(g >= 24 for g in gaps)


def test_daily_cap_holds_and_the_next_message_says_what_was_held_back() -> None:
    path = [100_000.0] * 10 + [95_000.0] * 10 + [91_000.0] * (DAY_BARS * 2)
    _, events = _session(path, daily_cap=1)
    alerts = alerts_for(events)
    per_day = collections.Counter(a.ts_event_ns // 86_400_000_000_000 for a in alerts)
    assert max(per_day.values()) == 1
    assert alerts[0].kind == "dd_escalation"
    # the defensive escalation was capped; the next day's summary reports the state change
    assert alerts[1].kind == "summary" and "DD state cautious -> defensive" in alerts[1].reasons
    assert "held back by the daily cap" in alerts[1].text


def _dashboard_health(events: list) -> float | None:
    """router_health.json's router_health_score over the same events (the projection's fold)."""
    from projections.fold import Projector

    p = Projector()
    p.apply_all(events)
    score: float | None = p.documents()["router_health.json"]["router_health_score"]
    return score


def test_router_health_below_floor_alerts_once_then_rearms_on_the_dashboards_score() -> None:
    b = SessionBuilder(config=session_config(router_min_fills=10))
    ev = [b.started(), *b.bars(2)]
    t = b.start_ms + 2 * BAR_MS
    # maker fills inside the allowance, then takers 40 bps off: the score drops below 0.5
    # (the dashboard's "degraded"), recovers with makers, drops again
    pattern = [(True, 0.5)] * 10 + [(False, 40.0)] * 15 + [(True, 0.5)] * 60 + [(False, 40.0)] * 80
    for i, (maker, slip) in enumerate(pattern):
        ev.append(b.fill(t + i, "BTCUSDT", maker, slippage_bps=slip))
    alerts = [a for a in alerts_for(ev) if a.kind == "router_floor"]
    assert len(alerts) == 2  # once per breach; re-armed by the recovery in between
    for a in alerts:
        upto = [e for e in ev if e.session_seq <= a.trigger_session_seq]
        health = _dashboard_health(upto)
        assert health is not None and health < 0.5
        assert a.reasons[0] == f"router health {health:.2f} fell below the floor 0.50", a.reasons
        assert f"Router: health {health:.2f} (degraded)" in a.text


def test_router_degradation_is_material_for_the_summary() -> None:
    b = SessionBuilder(config=session_config(router_min_fills=10, router_health_floor=0.2,
                                             router_degradation_drop=0.1))
    ev = [b.started(), *b.bars(10)]
    t = b.start_ms + 10 * BAR_MS
    for i, maker in enumerate([True] * 10 + [False] * 6):  # maker share 100% -> 62.5%, above the floor
        ev.append(b.fill(t + i, "BTCUSDT", maker))
    before = _dashboard_health(ev[:-6])
    after = _dashboard_health(ev)
    ev += b.bars(60, start_index=10)
    alerts = alerts_for(ev)
    assert [a.kind for a in alerts] == ["summary"]
    assert before is not None and after is not None and before - after >= 0.1
    assert f"router health {before:.2f} -> {after:.2f}" in alerts[0].reasons


def test_atr_regime_shift_on_a_core_symbol_is_material_but_not_on_others() -> None:
    vol = [1.0] * (2 * DAY_BARS) + [4.0] * DAY_BARS
    b = SessionBuilder(config=session_config(core_symbols=["BTCUSDT"]), symbols=("BTCUSDT",))
    alerts = alerts_for([b.started(), *b.bars(len(vol), vol_path=vol)])
    assert [a.kind for a in alerts] == ["summary"]
    assert "BTCUSDT ATR regime normal -> high" in alerts[0].reasons
    b2 = SessionBuilder(config=session_config(core_symbols=["BTCUSDT"]), symbols=("SOLUSDT",))
    assert alerts_for([b2.started(), *b2.bars(len(vol), vol_path=vol)]) == []


def test_message_is_short_and_says_nav_dd_atr_router_and_why() -> None:
    path = [100_000.0] * 24 + [104_000.0] * DAY_BARS
    _, events = _session(path)
    text = alerts_for(events)[0].text
    lines = text.splitlines()
    assert len(lines) <= 6 and len(text) < 600
    assert lines[0].startswith("gpt-hedge 4h summary")
    assert lines[1].startswith("Why: ")
    assert lines[2].startswith("NAV $") and "DD " in lines[2]
    assert lines[3].startswith("ATR: BTCUSDT") and "ETHUSDT" in lines[3]
    assert lines[4].startswith("Router:")


def test_policy_uses_the_config_recorded_in_the_session() -> None:
    path = [100_000.0] * 24 + [104_000.0] * DAY_BARS
    _, loose = _session(path, nav_move_frac=0.05)
    _, tight = _session(path, nav_move_frac=0.03)
    assert alerts_for(loose) == [] and len(alerts_for(tight)) == 1


def test_alert_ids_derive_from_the_triggering_event() -> None:
    b, events = _session([100_000.0] * 10 + [95_000.0] * 10)
    (a,) = alerts_for(events)
    assert a.alert_id == alert_id_for(b.session_id, a.trigger_session_seq, "dd_escalation")
    assert [x.alert_id for x in alerts_for(events)] == [a.alert_id]  # re-fold: same id


def test_sessions_without_session_started_are_ignored() -> None:
    _b, events = _session([100_000.0] * 10 + [95_000.0] * 10)
    assert alerts_for(events[1:]) == []
    pol = AlertPolicy(sessions=["someone-else"])
    assert [x for e in events for x in pol.apply(e)] == []


_PATH = [100_000.0 * (1 + 0.03 * ((i // 40) % 5 - 2)) for i in range(2 * DAY_BARS)]
_B, _EVENTS = _session(_PATH, nav_move_frac=0.02, min_gap_h=4)
_ALL = alerts_for(_EVENTS)


@settings(max_examples=40, deadline=None)
@given(cut=st.integers(min_value=0, max_value=len(_EVENTS)))
def test_fold_is_causal_a_prefix_of_the_log_gives_a_prefix_of_the_alerts(cut: int) -> None:
    """What a follower decides mid-stream is what a full replay decides (restart safety)."""
    prefix = alerts_for(_EVENTS[:cut])
    assert prefix == _ALL[: len(prefix)]
    assert all(a.trigger_session_seq <= cut for a in prefix)
    assert len(_ALL) >= 3


def test_a_config_change_in_the_log_applies_from_that_event_on() -> None:
    import msgspec

    from config.loader import apply_overrides, from_dict
    from eventlog.events import ConfigChanged

    b = SessionBuilder(config=session_config(nav_move_frac=0.05))
    path = [100_000.0] * 24 + [104_000.0] * DAY_BARS
    events = [b.started(), *b.bars(12, nav_path=path)]
    new_cfg, changes = apply_overrides(b.config, ["alerts.nav_move_frac=0.03", "alerts.core_symbols=[\"BTCUSDT\"]"])
    events.append(b.make(ConfigChanged, b.start_ms + 12 * BAR_MS, "session", config=new_cfg,
                         config_hash=from_dict(new_cfg).config_hash, previous_hash="x", changes=changes))
    events += b.bars(len(path) - 12, nav_path=path, start_index=12)
    (a,) = alerts_for(events)
    assert "NAV +4.0% since last message" in a.reasons
    assert "ATR: BTCUSDT" in a.text and "ETHUSDT" not in a.text.splitlines()[3]
    assert msgspec.to_builtins(a)["kind"] == "summary"


def test_a_session_whose_recorded_config_no_longer_loads_is_skipped_not_fatal() -> None:
    bad = SessionBuilder(config=session_config())
    bad.config = {**bad.config, "alerts": {**bad.config["alerts"], "no_such_key": 1}}
    _, good_events = _session([100_000.0] * 10 + [95_000.0] * 10)
    import msgspec

    from eventlog.events import SessionStarted

    started = msgspec.structs.replace(good_events[0], session_id=bad.session_id, config=bad.config)
    assert isinstance(started, SessionStarted)
    pol = AlertPolicy()
    out = [a for e in [started, *good_events] for a in pol.apply(e)]
    assert bad.session_id in pol.unreadable and "no_such_key" in pol.unreadable[bad.session_id]
    assert [a.kind for a in out] == ["dd_escalation"]
