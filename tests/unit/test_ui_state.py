"""ui.state + ui.model: state files in, cards and rows out; torn or missing files show n/a."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fakes import state_fixture
from ui import model, state


@pytest.fixture
def fixture_home(tmp_path: Path) -> Path:
    return state_fixture.write(tmp_path / "home")


def cards(s: state.Snapshot) -> dict[str, model.Card]:
    return {c.key: c for c in model.risk_cards(s) + model.overview_cards(s)}


def test_cards_show_the_state_values_formatted(fixture_home: Path) -> None:
    c = cards(state.load(fixture_home))
    assert c["nav"].value == "$10,482.37"
    assert c["aum"].value == "$54,852.87"
    assert c["dd_atr"].value == "0.45% / 1.07"
    assert c["router_fill"].value == "64% / 24%"
    assert c["nav_age"].value == "42s"
    assert (c["dd_state"].value, c["atr_regime"].value, c["router_quality"].value) == ("normal", "normal", "ok")
    assert c["fee_pnl"].value == "8.3%"


def test_performance_cards_show_sharpe_expectancy_and_net_pnl(fixture_home: Path) -> None:
    p = {c.key: c for c in model.performance_cards(state.load(fixture_home))}
    assert (p["sharpe"].value, p["sharpe"].caption) == ("1.40", "strong")
    assert p["expectancy"].value == "+$3.20" and p["win_rate"].value == "56.0%"
    assert p["realized"].value == "+$149.40" and "net +$135.90" in p["realized"].caption


def test_empty_home_gives_na_everywhere_and_no_exception(tmp_path: Path) -> None:
    s = state.load(tmp_path / "nothing-here")
    assert {c.value for c in model.risk_cards(s) + model.performance_cards(s)} == {"n/a"}
    assert cards(s)["nav"].value == "n/a"
    assert model.aum_slices(s) == [] and model.position_rows(s) == [] and model.veto_rows(s) == []
    assert model.nav_points(s) == [] and model.router_rows(s) == []
    assert model.health(s)["status"] == "no_state"


def test_half_written_and_wrong_type_files_read_as_empty(fixture_home: Path) -> None:
    sd = fixture_home / "state"
    (sd / "nav_state.json").write_text('{"nav_usd": 104', encoding="utf-8")
    (sd / "kpis_v7.json").write_text("[1, 2, 3]", encoding="utf-8")
    (sd / "aum_v7.json").write_bytes(b"\xff\xfe\x00garbage")
    s = state.load(fixture_home)
    assert s.nav_state == {} and s.kpis == {} and s.aum == {}
    assert cards(s)["nav"].value == "n/a"


def test_fields_of_the_wrong_type_show_na(fixture_home: Path) -> None:
    path = fixture_home / "state" / "kpis_v7.json"
    k = json.loads(path.read_text())
    k["risk"] = {"drawdown_pct": "lots", "atr_ratio": None}
    k["router"] = "broken"
    k["symbols"] = ["not", "a", "mapping"]
    path.write_text(json.dumps(k))
    s = state.load(fixture_home)
    c = cards(s)
    assert c["router_quality"].value == "n/a"
    assert c["router_fill"].value == "n/a / n/a"
    assert all(r["ATR regime"] == "n/a" for r in model.position_rows(s))


def test_torn_last_veto_line_is_skipped(fixture_home: Path) -> None:
    path = fixture_home / "execution" / "risk_vetoes.jsonl"
    with path.open("a") as fh:
        fh.write('{"gate": "nav_gu')
    s = state.load(fixture_home)
    assert len(s.vetoes) == 4


def test_positions_join_ledger_tp_sl_and_symbol_kpis(fixture_home: Path) -> None:
    rows = {r["Symbol"]: r for r in model.position_rows(state.load(fixture_home))}
    eth = rows["ETHUSDT"]
    assert (eth["Side"], eth["Qty"], eth["PnL"], eth["Notional"]) == ("SHORT", "-1.2", "-$24.60", "$4,104.60")
    assert (eth["TP"], eth["SL"]) == ("3,150.00", "n/a")
    assert (eth["Symbol DD state"], eth["Symbol DD today"], eth["ATR ratio"], eth["ATR regime"]) == ("cautious", "3.12%", "1.61", "high")


def test_aum_slices_one_per_bucket_with_value_pnl_share(fixture_home: Path) -> None:
    slices = model.aum_slices(state.load(fixture_home))
    assert [s["key"] for s in slices] == ["futures_nav_usd", "btc_spot_usd", "xaut_spot_usd", "usdc_spot_usd"]
    assert slices[1]["value"] == 31_250.0 and slices[1]["pnl"] == 6_250.0
    assert sum(s["share"] for s in slices) == pytest.approx(1.0)


def test_aum_slices_fall_back_to_bucket_objects_without_list(fixture_home: Path) -> None:
    path = fixture_home / "state" / "aum_v7.json"
    a = json.loads(path.read_text())
    del a["buckets"]
    path.write_text(json.dumps(a))
    slices = model.aum_slices(state.load(fixture_home))
    assert [s["label"] for s in slices] == ["Futures NAV", "BTC", "XAUT", "USDC"]
    assert sum(s["share"] for s in slices) == pytest.approx(1.0)


def test_veto_rows_name_the_breaking_threshold_and_its_observation(fixture_home: Path) -> None:
    rows = model.veto_rows(state.load(fixture_home))
    newest = rows[0]
    assert (newest["Gate"], newest["Outcome"]) == ("per-symbol limit", "blocked")
    assert newest["Threshold"] == "per-symbol limit (of NAV) 30.00%"
    assert newest["Observation"] == "symbol exposure $3,100; order size $420; NAV $10,482"
    assert model.breaking_pair(state.load(fixture_home).vetoes[-1]) == (
        "per_symbol_nav_pct = 0.3", "symbol_gross = 3,100; requested_notional_usd = 420; nav_usd = 10,482.4")
    assert model.veto_counts(state.load(fixture_home)) == [("symbol_cap", 2), ("nav_freshness", 1)]


@pytest.mark.parametrize(("name", "observations", "expected"), [
    ("nav_freshness_seconds", {"nav_age_s": 120.0, "nav_usd": 1.0}, ["nav_age_s"]),
    ("correlation.majors.max_gross_nav_pct", {"group_gross.majors": 5.0, "nav_usd": 1.0},
     ["group_gross.majors", "nav_usd"]),
    ("max_symbol_frac", {"symbol_frac_now": 0.3, "nav_usd": 1.0}, ["symbol_frac_now"]),
    ("unknown_limit", {"nav_usd": 1.0}, []),
])
def test_observed_keys_pair_thresholds_with_what_they_limit(name: str, observations: dict, expected: list) -> None:
    assert model.observed_keys(name, observations) == expected


def test_veto_counts_fall_back_to_the_jsonl_tail(fixture_home: Path) -> None:
    (fixture_home / "state" / "diagnostics.json").unlink()
    assert dict(model.veto_counts(state.load(fixture_home))) == {"symbol_cap": 2, "max_trade_nav": 1, "nav_freshness": 1}


def test_nav_points_merge_hourly_history_before_recent_readings(fixture_home: Path) -> None:
    pts = model.nav_points(state.load(fixture_home))
    ts = [p["ts"] for p in pts]
    assert ts == sorted(ts) and len(pts) > 41
    assert pts[-1]["nav_usd"] == pytest.approx(state_fixture.NAV)


def test_signature_changes_when_a_file_changes(fixture_home: Path) -> None:
    before = state.signature(fixture_home)
    (fixture_home / "state" / "nav_state.json").write_text("{}\n" * 3)
    assert state.signature(fixture_home) != before


def test_health_reports_nav_age_and_file_ages(fixture_home: Path) -> None:
    h = model.health(state.load(fixture_home))
    assert h["status"] == "ok" and h["nav_age_s"] == 42.0 and h["nav_freshness"] == "fresh"
    assert h["files_present"] == len(state.STATE_FILES)
    json.dumps(h)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["nav_usd", "risk", "router", "symbols", "buckets", "positions", "entries", "tp_sl",
                         "quality", "value", "pnl", "recent", "hourly", "ts", "breached", "thresholds",
                         "observations", "veto_counters", "by_gate", "BTCUSDT", "BTCUSDT:LONG", "total"]),
        inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(state.STATE_FILES), json_values.filter(lambda v: isinstance(v, dict))
                       | st.dictionaries(st.sampled_from(["nav_usd", "risk", "router", "symbols", "buckets",
                                                          "positions", "entries", "recent", "hourly"]),
                                         json_values, max_size=5)),
       st.lists(st.dictionaries(st.sampled_from(["gate", "ts", "breached", "thresholds", "observations",
                                                 "reasons", "symbol"]), json_values, max_size=6), max_size=4))
def test_model_never_raises_on_arbitrary_json(files: dict, vetoes: list) -> None:
    s = state.Snapshot(home=Path("/nonexistent"), files=files, vetoes=vetoes)
    for f in (model.risk_cards, model.overview_cards, model.performance_cards, model.aum_slices, model.position_rows,
              model.symbol_rows, model.nav_points, model.veto_rows, model.veto_counts,
              model.decision_counts, model.router_rows, model.health):
        f(s)
