"""``hedge explain`` presentation: every threshold any gate can emit is traced to its config
path (whose value it equals) and paired with observations the decision records.

The gates are the engine's own (``engine.gates.GATES``), run through ``check_order`` on
views Hypothesis makes up, so a new gate or a renamed threshold shows up here.
"""

from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from config.loader import apply_overrides, from_dict, load_config
from engine.risk import RiskView, check_order
from engine.rules.indicators import atr_regime, dd_state
from eventlog.events import IntentEmitted, RiskDecided
from replay.explain import BUILT_IN, config_path, lookup, related
from replay.render import fmt

BASE = load_config()
TRADING_WINDOW_ON = from_dict(apply_overrides(BASE.as_dict(), ["runtime.trading_window.enabled=true"])[0])


@st.composite
def decisions(draw: st.DrawFn) -> tuple[RiskDecided, dict]:  # type: ignore[type-arg]
    loaded = draw(st.sampled_from([BASE, TRADING_WINDOW_ON]))
    cfg = loaded.config
    symbol = draw(st.sampled_from(sorted(cfg.universe.symbols)))
    price = draw(st.floats(0.5, 100_000))
    nav = draw(st.one_of(st.none(), st.floats(1_000, 1e7)))
    f = st.floats(0, 2e6)
    ratio = draw(st.one_of(st.none(), st.floats(0.2, 3)))
    dd = draw(st.floats(0, 0.3))
    g, ar = cfg.risk_limits.global_, cfg.strategy.atr_regime
    view = RiskView(
        symbol=symbol, tier=cfg.tier_of(symbol), price=price, nav_usd=nav,
        nav_age_s=None if nav is None else draw(st.floats(0, 7200)), nav_sources_ok=draw(st.booleans()),
        position_qty=0.0, exposure_qty=draw(st.sampled_from([0.0, 1.0, -2.0])),
        symbol_gross=draw(f), tier_gross=draw(f), portfolio_gross=draw(f),
        group_gross={g: draw(f) for g, grp in cfg.correlation_groups.groups.items() if symbol in grp.symbols},
        open_positions_count=draw(st.integers(0, 6)), peak_nav=nav or 0.0, dd_frac=dd,
        daily_loss_frac=draw(st.floats(0, 0.1)), atr_ratio=ratio,
        atr_regime=atr_regime(ratio, ar.low_ratio, ar.high_ratio),
        dd_state=dd_state(dd, g.dd_cautious_pct, g.dd_defensive_pct),
        minute_of_day=draw(st.integers(0, 1439)),
    )
    qty = draw(st.floats(0.001, 1_000))
    intent = IntentEmitted(session_id="s", session_seq=1, stream="strategy", ts_event_ns=0, ts_init_ns=0,
                           intent_id="i", symbol=symbol, side=draw(st.sampled_from(["BUY", "SELL"])), qty=qty,
                           notional_usd=qty * price, price=price, reduce_only=draw(st.booleans()))
    fields = check_order(intent, view, cfg, 0, config_hash=loaded.config_hash, decision_id="d")
    dec = RiskDecided(session_id="s", session_seq=2, stream="risk", ts_event_ns=0, ts_init_ns=0, **fields)
    return dec, loaded.as_dict()


@settings(max_examples=300, deadline=None)
@given(decisions())
def test_every_threshold_traces_to_its_config_value_and_observations(case: tuple[RiskDecided, dict]) -> None:  # type: ignore[type-arg]
    dec, cfg = case
    obs = {**dec.observations, "requested_qty": dec.requested_qty}
    assert dec.thresholds
    for name, value in dec.thresholds.items():
        path = config_path(name, dec)
        if name in BUILT_IN:
            assert path is None
        else:
            assert path is not None and lookup(cfg, path) == value, (name, path)
        if name != "universe":
            assert related(name, obs), name  # a threshold is never shown without what it was compared to
    for name in dec.breached:
        assert name in dec.thresholds


def test_lookup_and_paths() -> None:
    cfg = BASE.as_dict()
    dec = msgspec.structs.replace(
        RiskDecided(session_id="s", session_seq=1, stream="risk", ts_event_ns=0, ts_init_ns=0, decision_id="d",
                    intent_id="i", symbol="SOLUSDT", outcome="veto", gate="symbol_cap", reasons=[], thresholds={},
                    observations={"tier": "SATELLITE"}, config_hash="h", requested_qty=1.0, approved_qty=0.0,
                    approved_notional_usd=0.0))
    assert config_path("per_symbol_nav_pct", dec) == "risk_limits.tiers.SATELLITE.per_symbol_nav_pct"
    assert config_path("correlation.majors.max_gross_nav_pct", dec) == "correlation_groups.groups.majors.max_gross_nav_pct"
    assert config_path("min_notional", dec) == "universe.symbols.SOLUSDT.min_notional"
    assert lookup(cfg, "risk_limits.global.no_such") == "<absent>"
    assert lookup(cfg, "runtime.trading_window") == "off"


def test_fmt_reads_like_a_person_writes() -> None:
    assert [fmt(v) for v in (None, True, 0.05, 12345.678, 3600.0, 3, 250_000, 1e-6, "x")] == [
        "n/a", "true", "0.05", "12,345.68", "3,600", "3", "250,000", "1e-06", "x"]
