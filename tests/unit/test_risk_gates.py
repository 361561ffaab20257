"""check_order: every gate on its veto (or clamp) side and its allow side, with the evidence."""

from __future__ import annotations

from typing import Any

import pytest

from config.loader import LoadedConfig, apply_overrides, from_dict, load_config
from engine.gates import GATE_NAMES
from engine.risk import RiskView, check_order
from engine.rules.indicators import dd_state
from eventlog.events import IntentEmitted

NOW = 1_751_400_000 * 1_000_000_000
PRICES = {"BTCUSDT": 60_000.0, "ETHUSDT": 3_000.0, "SOLUSDT": 150.0, "AVAXUSDT": 25.0, "WIFUSDT": 2.0}
REQUIRED_OBS = ("current_gross_notional", "tier_gross_notional", "expectancy_frac", "expectancy_trades", "nav_usd", "nav_age_s", "nav_sources_ok", "symbol_gross", "tier_gross", "portfolio_gross",
                "open_positions_count", "dd_frac", "daily_loss_frac", "atr_regime", "atr_ratio", "dd_state")


@pytest.fixture(scope="module")
def loaded() -> LoadedConfig:
    return load_config()


def _cfg(loaded: LoadedConfig, *sets: str) -> LoadedConfig:
    if not sets:
        return loaded
    d, _ = apply_overrides(loaded.as_dict(), list(sets))
    return from_dict(d)


def _intent(symbol: str = "BTCUSDT", qty: float = 0.05, side: str = "BUY", reduce_only: bool = False) -> IntentEmitted:
    return IntentEmitted(session_id="00000000-0000-0000-0000-000000000001", session_seq=42, stream="strategy",
                         ts_event_ns=NOW, ts_init_ns=NOW, intent_id="t-I41-0", symbol=symbol, side=side,  # type: ignore[arg-type]
                         qty=qty, notional_usd=qty * PRICES[symbol], price=PRICES[symbol], reduce_only=reduce_only)


def _view(loaded: LoadedConfig, symbol: str = "BTCUSDT", **kw: Any) -> RiskView:
    cfg = loaded.config
    g = cfg.risk_limits.global_
    base: dict[str, Any] = dict(symbol=symbol, tier=cfg.tier_of(symbol), price=PRICES[symbol], nav_usd=100_000.0,
                                nav_age_s=1.0, nav_sources_ok=True, atr_ratio=1.0, atr_regime="normal",
                                minute_of_day=720, refs={"nav": 10, "tick": 11, "kline": 12, "intent": 42})
    base["group_gross"] = {n: 0.0 for n, grp in cfg.correlation_groups.groups.items() if symbol in grp.symbols}
    base.update(kw)
    base["dd_state"] = dd_state(base.get("dd_frac", 0.0), g.dd_cautious_pct, g.dd_defensive_pct)
    return RiskView(**base)


def _decide(loaded: LoadedConfig, intent: IntentEmitted, view: RiskView) -> dict[str, Any]:
    return check_order(intent, view, loaded.config, NOW, config_hash=loaded.config_hash, decision_id="t-D42")


def _assert_evidence(d: dict[str, Any], gate: str, threshold: str) -> None:
    assert d["gate"] == gate
    assert d["thresholds"], "a veto or clamp must carry thresholds"
    assert threshold in d["thresholds"]
    assert d["breached"] and set(d["breached"]) <= set(d["thresholds"])
    for k in REQUIRED_OBS:
        assert k in d["observations"], k
    assert d["reasons"] and d["reasons"][0].startswith(gate)
    assert d["state_refs"]["nav"] == 10 and d["state_refs"]["intent"] == 42


# (gate, threshold, config overrides, intent kwargs, view kwargs)
VETOES = [
    ("trading_window", "trading_window", ("runtime.trading_window.enabled=true", "runtime.trading_window.start_utc=\"09:00\"",
                                          "runtime.trading_window.end_utc=\"17:00\""), {}, {"minute_of_day": 60}),
    ("nav_freshness", "nav_freshness_seconds", (), {}, {"nav_age_s": 120.0}),
    ("nav_sources", "nav_sources_ok_required", (), {}, {"nav_sources_ok": False}),
    ("alt_ext_disabled", "dd_cautious_pct", (), {"symbol": "WIFUSDT", "qty": 1000},
     {"symbol": "WIFUSDT", "dd_frac": 0.05}),
    ("expectancy", "expectancy_min", ("runtime.signal_gate.expectancy_min=-0.002",), {},
     {"expectancy_frac": -0.005, "expectancy_trades": 12}),
    ("drawdown_limit", "max_drawdown_pct", (), {}, {"dd_frac": 0.2}),
    ("daily_loss_limit", "daily_loss_limit_pct", (), {}, {"daily_loss_frac": 0.05}),
    ("liquidation_buffer", "max_margin_ratio", (), {}, {"margin_ratio": 0.6, "rules_version": 5}),
    ("liquidation_buffer", "min_liquidation_distance_frac", (), {},
     {"liquidation_distance_frac": 0.03, "rules_version": 5}),
    ("dd_state", "dd_defensive_pct", (), {}, {"dd_frac": 0.09}),
    ("max_open_positions", "max_open_positions", (), {}, {"open_positions_count": 3}),
    ("symbol_cap", "per_symbol_nav_pct", (), {}, {"symbol_gross": 29_900.0}),
    ("tier_cap", "tier_gross_nav_pct", (), {}, {"tier_gross": 59_900.0}),
    ("correlation_cap", "correlation.majors.max_gross_nav_pct", (), {}, {"group_gross": {"majors": 49_900.0}}),
    ("portfolio_gross", "max_gross_nav_mult", (), {}, {"portfolio_gross": 149_900.0}),
    ("lot_size", "min_qty", (), {"symbol": "SOLUSDT", "qty": 0.005}, {"symbol": "SOLUSDT"}),
    ("min_notional", "min_notional", (), {"qty": 0.001}, {}),
]


@pytest.mark.parametrize(("gate", "threshold", "sets", "ikw", "vkw"), VETOES, ids=[v[0] for v in VETOES])
def test_veto_records_gate_thresholds_and_observations(loaded, gate, threshold, sets, ikw, vkw) -> None:
    lc = _cfg(loaded, *sets)
    d = _decide(lc, _intent(**ikw), _view(lc, **vkw))
    assert d["outcome"] == "veto"
    assert d["approved_qty"] == 0.0
    _assert_evidence(d, gate, threshold)
    assert d["config_hash"] == lc.config_hash


@pytest.mark.parametrize(("gate", "threshold", "sets", "ikw", "vkw"), VETOES, ids=[v[0] for v in VETOES])
def test_allow_side_of_each_gate_passes_with_the_same_thresholds_checked(loaded, gate, threshold, sets, ikw, vkw) -> None:
    lc = _cfg(loaded, *sets)
    ikw = {**ikw, "qty": {"SOLUSDT": 10.0, "WIFUSDT": 1000.0}.get(ikw.get("symbol", ""), 0.05)}
    vkw = {k: vkw[k] for k in ("symbol", "rules_version") if k in vkw}
    d = _decide(lc, _intent(**ikw), _view(lc, **vkw))
    assert d["outcome"] == "allow", d["reasons"]
    assert d["gate"] == "pass"
    assert threshold in d["thresholds"]
    assert d["breached"] == []
    assert d["approved_qty"] == ikw["qty"]


def test_liquidation_buffer_is_rules_v5_and_observed() -> None:
    from engine.gates import gates_for

    assert "liquidation_buffer" in [g.name for g in gates_for(5)]
    assert "liquidation_buffer" not in [g.name for g in gates_for(4)]  # old sessions replay as recorded


def test_liquidation_buffer_observes_margin_ratio_and_distance(loaded) -> None:
    d = _decide(loaded, _intent(), _view(loaded, margin_ratio=0.2, liquidation_distance_frac=0.3, rules_version=5))
    assert d["observations"]["margin_ratio"] == 0.2 and d["observations"]["liquidation_distance_frac"] == 0.3
    old = _decide(loaded, _intent(), _view(loaded, margin_ratio=0.9, rules_version=4))
    assert "margin_ratio" not in old["observations"] and old["gate"] != "liquidation_buffer"
    exit_ = _decide(loaded, _intent(side="SELL", reduce_only=True),
                    _view(loaded, margin_ratio=0.9, position_qty=0.05, exposure_qty=0.05, rules_version=5))
    assert exit_["outcome"] == "allow"  # an exit is never blocked by the buffer


def test_every_gate_is_covered_by_a_veto_case() -> None:
    covered = {v[0] for v in VETOES}
    clamp_only = {"atr_regime", "max_trade_nav"}
    assert set(GATE_NAMES) - covered == clamp_only


def test_clamp_when_trade_exceeds_max_trade_nav_then_size_is_the_cap(loaded) -> None:
    d = _decide(loaded, _intent(qty=0.2), _view(loaded))
    assert d["outcome"] == "clamp"
    _assert_evidence(d, "max_trade_nav", "max_trade_nav_pct")
    cap = loaded.config.risk_limits.global_.max_trade_nav_pct * 100_000
    assert d["approved_qty"] == pytest.approx(cap / 60_000, abs=0.001)
    assert d["approved_notional_usd"] <= cap + 1e-6


def test_clamp_when_dd_cautious_then_size_multiplied(loaded) -> None:
    d = _decide(loaded, _intent(qty=0.05), _view(loaded, dd_frac=0.05))
    g = loaded.config.risk_limits.global_
    assert d["outcome"] == "clamp"
    _assert_evidence(d, "dd_state", "dd_cautious_pct")
    assert d["approved_qty"] == pytest.approx(0.05 * g.cautious_size_mult, abs=0.001)
    assert d["observations"]["dd_state"] == "cautious"


def test_high_atr_regime_sizes_down_tactical_but_not_core(loaded) -> None:
    tac = _decide(loaded, _intent("AVAXUSDT", qty=100), _view(loaded, "AVAXUSDT", atr_ratio=2.0, atr_regime="high"))
    core = _decide(loaded, _intent(qty=0.05), _view(loaded, atr_ratio=2.0, atr_regime="high"))
    assert tac["outcome"] == "clamp" and tac["gate"] == "atr_regime"
    assert tac["approved_qty"] == 70.0
    assert tac["observations"]["atr_regime"] == "high" and tac["thresholds"]["high_vol_size_mult"] == 0.7
    assert core["outcome"] == "allow"


def test_symbol_cap_clamps_to_the_room_left_when_room_is_large_enough(loaded) -> None:
    d = _decide(loaded, _intent(qty=0.05), _view(loaded, symbol_gross=29_000.0))
    assert d["outcome"] == "clamp" and d["gate"] == "symbol_cap"
    assert d["approved_notional_usd"] <= 1_000.0 + 1e-6
    assert d["approved_qty"] == pytest.approx(1_000 / 60_000, abs=0.001)


def test_exit_with_stale_nav_is_allowed_because_it_only_reduces(loaded) -> None:
    d = _decide(loaded, _intent(side="SELL", qty=0.1, reduce_only=True),
                _view(loaded, nav_age_s=5_000.0, nav_sources_ok=False, position_qty=0.1, exposure_qty=0.1,
                      dd_frac=0.3))
    assert d["outcome"] == "allow"
    assert d["approved_qty"] == 0.1
    assert d["observations"]["risk_increasing"] is False
    assert "step_size" in d["thresholds"]


def test_first_veto_decides_but_breached_names_every_broken_threshold(loaded) -> None:
    d = _decide(loaded, _intent(qty=0.05), _view(loaded, nav_age_s=500.0, dd_frac=0.2, portfolio_gross=149_999.0))
    assert d["gate"] == "nav_freshness"
    assert {"nav_freshness_seconds", "max_drawdown_pct", "max_gross_nav_mult"} <= set(d["breached"])


def test_no_nav_reading_is_a_nav_freshness_veto(loaded) -> None:
    d = _decide(loaded, _intent(), _view(loaded, nav_usd=None, nav_age_s=None))
    assert d["outcome"] == "veto" and d["gate"] == "nav_freshness"
    assert d["observations"]["nav_usd"] is None


def test_expectancy_gate_waits_for_a_sample_then_binds(loaded) -> None:
    lc = _cfg(loaded, "runtime.signal_gate.expectancy_min=-0.002")
    few = _decide(lc, _intent(), _view(lc, expectancy_frac=-0.5, expectancy_trades=3))
    assert few["outcome"] == "allow" and few["observations"]["expectancy_trades"] == 3
    many = _decide(lc, _intent(), _view(lc, expectancy_frac=-0.5, expectancy_trades=10))
    assert many["outcome"] == "veto" and many["gate"] == "expectancy" and many["source"] == "signal_gate"
    assert many["observations"]["expectancy_frac"] == -0.5
    assert many["thresholds"]["expectancy_min_trades"] == 10
    # the seeds' gross names carry the same values as today's
    o = many["observations"]
    assert o["current_gross_notional"] == o["portfolio_gross"] and o["tier_gross_notional"] == o["tier_gross"]
