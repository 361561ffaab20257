"""The drawdown policy rule (engine/rules/drawdown.py) and the entry drought (engine/rules/drought.py).

Pure rules: hysteresis does not flap around a threshold, the automatic rule re-bases so the
state holds, a reset's override lasts until a new high, the config refuses exits that are
not below their entries, and the drought says why.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config.loader import ConfigError, apply_overrides, from_dict, load_config
from engine.rules.drawdown import DdParams, DrawdownBook, next_state, rebased_ref
from engine.rules.drought import EntryDrought
from engine.rules.units import DAY_NS, HOUR_NS

P = DdParams(cautious_in=0.04, cautious_out=0.03, defensive_in=0.08, defensive_out=0.06, auto_days=7.0,
             auto_to="cautious", hysteresis=True)
T0 = 1_763_596_800 * 1_000_000_000  # 2025-11-20 00:00 UTC


def _walk(book: DrawdownBook, navs: list[float], p: DdParams = P, step_ns: int = 300 * 10**9) -> list[str]:
    """Fold NAV readings like the engine (on_nav, decide, apply); returns the states entered."""
    changes = []
    for i, nav in enumerate(navs):
        ts = T0 + i * step_ns
        book.on_nav(nav)
        ch = book.decide(ts, p)
        if ch is not None:
            book.on_changed(ch.to_state, ts, ch.cause, ch.ref_nav, ch.reason)
            changes.append(ch.to_state)
    return changes


def test_thresholds_in_and_out() -> None:
    assert [next_state("normal", d, P) for d in (0.0, 0.0399, 0.04, 0.0799, 0.08)] == [
        "normal", "normal", "cautious", "cautious", "defensive"]
    assert [next_state("cautious", d, P) for d in (0.031, 0.03, 0.0299, 0.08)] == [
        "cautious", "cautious", "normal", "defensive"]
    assert [next_state("defensive", d, P) for d in (0.07, 0.06, 0.0599, 0.0299)] == [
        "defensive", "defensive", "cautious", "normal"]


def test_hysteresis_does_not_flap_around_a_threshold() -> None:
    # DD oscillates 3.5% <-> 4.5% for a day: the stateless rule flips every swing, the policy once
    flap = [100_000.0] + [95_500.0 if (i // 3) % 2 else 96_500.0 for i in range(288)]
    assert _walk(DrawdownBook(), flap) == ["cautious"]
    legacy = replace(P, hysteresis=False)
    states = [next_state("normal", 1 - n / 100_000.0, legacy) for n in flap]
    assert sum(1 for a, b in itertools.pairwise(states) if a != b) > 40
    # and it does leave once the drawdown is really below the exit threshold
    assert _walk(DrawdownBook(), [*flap, 97_100.0]) == ["cautious", "normal"]


@given(st.lists(st.floats(0.0, 0.2), min_size=1, max_size=200))
def test_a_change_needs_a_crossing_of_the_band(dds: list[float]) -> None:
    """Between two changes the drawdown crossed an exit or entry threshold; in a band it holds."""
    state = "normal"
    for dd in dds:
        new = next_state(state, dd, P)
        if new != state:
            if new == "defensive":
                assert dd >= P.defensive_in
            elif new == "cautious":
                assert dd >= P.cautious_in if state == "normal" else dd < P.defensive_out
            else:
                assert dd < P.cautious_out
        state = new
    # inside (cautious_out, defensive_in) a cautious state never moves
    assert all(next_state("cautious", d, P) == "cautious" for d in dds if P.cautious_out <= d < P.defensive_in)


def test_automatic_rule_after_n_days_defensive_rebases_to_cautious() -> None:
    book = DrawdownBook()
    day = 288  # 5m readings a day
    navs = [100_000.0, 91_000.0] + [91_000.0] * (7 * day + 2)
    changes = _walk(book, navs)
    assert changes == ["defensive", "cautious"]
    assert book.state == "cautious" and book.override is not None and book.override["kind"] == "auto_rule"
    assert book.ref == pytest.approx(rebased_ref(91_000.0, "cautious", P))
    assert book.dd == pytest.approx(P.cautious_in)  # at cautious' entry threshold: it holds
    assert _walk(book, [91_000.0] * 100) == []
    # a further loss of ~4% is defensive again; recovering to a new high clears the override
    assert _walk(book, [87_000.0]) == ["defensive"]
    _walk(book, [101_000.0])
    assert book.override is None and book.ref == book.peak == 101_000.0


def test_automatic_rule_is_off_at_zero_days() -> None:
    off = replace(P, auto_days=0.0)
    assert _walk(DrawdownBook(), [100_000.0, 91_000.0] + [91_000.0] * 3000, off) == ["defensive"]


def test_reset_rebases_and_is_in_force_until_a_new_high() -> None:
    book = DrawdownBook()
    _walk(book, [100_000.0, 90_000.0])
    assert book.state == "defensive"
    book.on_reset("normal", T0 + DAY_NS, None, P, seq=42, by="ops@host", reason="reviewed")
    assert book.state == "normal" and book.ref == 90_000.0 and book.dd == 0.0
    obs = book.observations()
    assert obs["dd_override"] == "operator_reset" and obs["dd_override_seq"] == 42
    assert obs["dd_override_by"] == "ops@host" and obs["dd_override_reason"] == "reviewed"
    _walk(book, [99_000.0])
    assert book.override is not None  # still below the high-water mark
    _walk(book, [100_500.0])
    assert book.override is None and book.observations()["dd_override"] is None


def test_legacy_rules_decide_nothing() -> None:
    legacy = replace(P, hysteresis=False)
    assert _walk(DrawdownBook(), [100_000.0, 90_000.0], legacy) == []


def test_config_refuses_exit_not_below_entry() -> None:
    base = load_config().as_dict()
    for sets, key in ((["risk.dd_cautious_exit_pct=0.04"], "dd_cautious_exit_pct"),
                      (["risk.dd_defensive_exit_pct=0.09"], "dd_defensive_exit_pct"),
                      (["risk.dd_cautious_exit_pct=0.035", "risk.dd_defensive_exit_pct=0.02"],
                       "dd_defensive_exit_pct")):
        with pytest.raises(ConfigError) as exc:
            from_dict(apply_overrides(base, sets)[0])
        assert "risk_limits.json" in str(exc.value) and key in str(exc.value)
    # unset exits are 0.75 x the entry, documented in docs/risk.md
    p = DdParams.of(from_dict(apply_overrides(base, ["risk.dd_cautious_pct=0.02"])[0]).config)
    assert p.cautious_out == pytest.approx(0.015) and p.defensive_out == pytest.approx(0.06)


def test_drought_says_why() -> None:
    d = EntryDrought()
    d.on_start(T0)
    d.on_decision(T0 + HOUR_NS, "allow", "pass", True)
    for i in range(5):
        d.on_decision(T0 + (2 + i) * HOUR_NS, "veto", "dd_state", True)
    d.on_decision(T0 + 8 * HOUR_NS, "veto", "symbol_cap", False)  # an exit is not an entry
    now = T0 + 80 * HOUR_NS
    assert d.status(T0 + 60 * HOUR_NS, 72.0, "defensive", T0) is None
    st_ = d.status(now, 72.0, "defensive", T0 + 90 * 60 * 10**9)
    assert st_ is not None and st_["entries_vetoed"] == 5 and st_["vetoes_by_gate"] == {"dd_state": 5}
    assert st_["reason"] == "defensive since 2025-11-20 01:30: 5 entries vetoed"
    assert d.status(now, 72.0, "normal", None)["reason"].startswith(  # type: ignore[index]
        "no entry since 2025-11-20 01:00: 5 entries vetoed, most by dd_state (5)")
    d.on_decision(now, "clamp", "dd_state", True)  # an entry (cut to size) ends it
    assert d.status(now + HOUR_NS, 72.0, "cautious", None) is None


def test_no_drought_without_a_vetoed_entry() -> None:
    d = EntryDrought()
    d.on_start(T0)
    assert d.status(T0 + 1000 * HOUR_NS, 72.0, "normal", None) is None
