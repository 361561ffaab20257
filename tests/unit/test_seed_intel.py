"""Issue 16 rules: round trips and expectancy, scores and conviction, VaR/CVaR, flags, config files."""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

import pytest

from config.flags import FLAG_ENV, env_overrides, flags_of, with_env_flags
from config.loader import REPO_CONFIG_DIR, ConfigError, load_config
from engine.rules.intel import IntelBook, trip_stats
from engine.rules.intel.roundtrips import OpenTrip
from engine.rules.intel.scores import conviction, hybrid_score, signal_strength
from projections.telemetry import sanitise
from projections.var import var_cvar

CFG = load_config().config


def test_round_trip_nets_fees_and_funding_and_closes_on_flat() -> None:
    t = OpenTrip("BTCUSDT")
    assert t.on_fill("BUY", 1.0, 100.0, 0.05, 0.0, 1) is None
    t.on_funding(-0.25)
    assert t.on_fill("BUY", 1.0, 110.0, 0.05, 0.0, 2) is None
    trip = t.on_fill("SELL", 2.0, 120.0, 0.10, 30.0, 3)
    assert trip is not None and trip.side == "long"
    assert trip.entry_notional_usd == 210.0
    assert trip.net_usd == pytest.approx(30.0 - 0.2 - 0.25)
    assert trip.return_frac == pytest.approx((30.0 - 0.45) / 210.0)
    assert t.qty == 0.0 and t.fees == 0.0


def test_a_flip_closes_the_trip_and_opens_the_next_with_the_remainder() -> None:
    t = OpenTrip("ETHUSDT")
    t.on_fill("SELL", 1.0, 50.0, 0.0, 0.0, 1)
    trip = t.on_fill("BUY", 3.0, 40.0, 0.0, 10.0, 2)
    assert trip is not None and trip.side == "short" and trip.net_usd == 10.0
    assert t.qty == 2.0 and t.entry_notional == 80.0


def test_trip_stats_win_rate_average_win_loss_and_expectancy() -> None:
    book = IntelBook()
    for i, (px_out, fee) in enumerate([(110.0, 1.0), (95.0, 1.0), (120.0, 1.0)]):
        book.on_fill("BTCUSDT", "BUY", 1.0, 100.0, fee, 0.0, True, 0.0, i * 10, CFG)
        book.on_fill("BTCUSDT", "SELL", 1.0, px_out, 0.0, px_out - 100.0, False, 2.0, i * 10 + 5, CFG)
    s = book.rolling("BTCUSDT", 50)
    assert (s.round_trips, s.wins, s.losses) == (3, 2, 1)
    assert s.win_rate == pytest.approx(2 / 3)
    assert s.avg_win_usd == pytest.approx((9.0 + 19.0) / 2) and s.avg_loss_usd == pytest.approx(-6.0)
    assert s.expectancy_usd == pytest.approx((9.0 - 6.0 + 19.0) / 3)
    assert book.rolling("BTCUSDT", 2).round_trips == 2
    assert book.totals.stats().as_dict() == trip_stats(list(book.recent)).as_dict()
    maker, slip, n = book.router_quality("BTCUSDT")
    assert (maker, slip, n) == (0.5, 1.0, 6)


def test_score_components_are_neutral_without_data_and_conviction_stays_in_range() -> None:
    book = IntelBook()
    sc = book.score("SOLUSDT", CFG)
    assert sc.components["expectancy"] == 0.5 and sc.components["router"] == 0.5
    assert 0.0 <= sc.score <= 1.0
    ic = CFG.strategy.intel
    assert signal_strength(105.0, 100.0, 2.0) == 1.0 and signal_strength(101.0, 100.0, 2.0) == 0.5
    assert signal_strength(101.0, None, 2.0) is None
    for sig in (None, 0.0, 1.0):
        c = conviction(ic, hybrid_score(ic, sig, sc.score))
        assert ic.conviction_min <= c <= ic.conviction_max


def test_var_cvar_match_a_by_hand_historical_computation() -> None:
    navs = [100.0]
    rets = [0.01, -0.02, 0.005, -0.03, 0.0, 0.02, -0.01] * 5
    for r in rets:
        navs.append(navs[-1] * (1 + r))
    out = var_cvar(navs, 1000.0)
    got = sorted(b / a - 1 for a, b in itertools.pairwise(navs))
    q95 = got[int((len(got) - 1) * 0.05)]  # polars "lower" interpolation
    assert out["var_95_frac"] == pytest.approx(-q95)
    tail = [r for r in got if r <= q95]
    assert out["cvar_95_frac"] == pytest.approx(-sum(tail) / len(tail))
    assert out["cvar_99_frac"] >= out["var_99_frac"] > 0 and out["var_95_usd"] == pytest.approx(-q95 * 1000)
    assert var_cvar(navs[:10], 1.0)["var_95_frac"] is None


def test_env_overrides_set_flags_into_the_recorded_config_and_hash() -> None:
    loaded = load_config()
    assert flags_of(loaded.config)["intel_v6_enabled"] is False
    on = with_env_flags(loaded, {"INTEL_V6_ENABLED": "1", "ROUTER_AUTOTUNE_V6_APPLY_ENABLED": "false"})
    assert on.config.runtime.v6_flags.intel_v6_enabled is True
    assert on.config_hash != loaded.config_hash
    assert any("INTEL_V6_ENABLED" in n for n in on.normalisations)
    assert set(FLAG_ENV.values()) >= {"PIPELINE_V6_SHADOW_ENABLED", "FEEDBACK_ALLOCATOR_V6_ENABLED"}
    with pytest.raises(ConfigError, match="RISK_ENGINE_V6_ENABLED"):
        env_overrides({"RISK_ENGINE_V6_ENABLED": "maybe"})


def _copy_config(tmp: Path) -> Path:
    d = tmp / "cfg"
    d.mkdir()
    for p in REPO_CONFIG_DIR.glob("*.json"):
        (d / p.name).write_bytes(p.read_bytes())
    return d


def test_symbol_tiers_json_merges_with_the_universe_and_a_conflict_names_both_files(tmp_path: Path) -> None:
    d = _copy_config(tmp_path)
    (d / "symbol_tiers.json").write_text('{"BTCUSDT": "CORE", "SOLUSDT": "SATELLITE"}')
    assert load_config(d).config.tier_of("SOLUSDT") == "SATELLITE"
    (d / "symbol_tiers.json").write_text('{"SOLUSDT": "TACTICAL"}')
    with pytest.raises(ConfigError) as exc:
        load_config(d)
    assert "symbol_tiers.json" in str(exc.value) and "pairs_universe.json" in str(exc.value)
    (d / "symbol_tiers.json").write_text('{"DOGEUSDT": "TACTICAL"}')
    with pytest.raises(ConfigError, match=r"not in pairs_universe\.json"):
        load_config(d)


def test_runtime_yaml_is_read_and_both_yaml_and_json_is_an_error(tmp_path: Path) -> None:
    d = _copy_config(tmp_path)
    (d / "runtime.json").unlink()
    (d / "runtime.yaml").write_text("signal_gate:\n  expectancy_min: -0.002\nv6_flags:\n  intel_v6_enabled: true\n")
    cfg = load_config(d).config
    assert cfg.runtime.signal_gate.expectancy_min == -0.002 and cfg.runtime.v6_flags.intel_v6_enabled
    (d / "runtime.json").write_text("{}")
    with pytest.raises(ConfigError, match=r"both runtime.json and runtime.yaml"):
        load_config(d)
    (d / "runtime.json").unlink()
    (d / "runtime.yaml").write_text("signal_gate:\n  expectancy_min: 1\nsignal_gate:\n  min_atr_pct: 0\n")
    with pytest.raises(ConfigError, match=r"runtime\.yaml: signal_gate: duplicate key"):
        load_config(d)


def test_duplicate_json_keys_and_dangling_symlinks_are_errors(tmp_path: Path) -> None:
    d = _copy_config(tmp_path)
    (d / "alerts.json").write_text('{"daily_cap": 3, "daily_cap": 4}')
    with pytest.raises(ConfigError, match=r"alerts\.json: daily_cap: duplicate key"):
        load_config(d)
    (d / "alerts.json").unlink()
    os.symlink(tmp_path / "nowhere.json", d / "alerts.json")
    with pytest.raises(ConfigError, match=r"alerts\.json: .*dangling symlink"):
        load_config(d)


def test_sanitise_drops_anything_that_could_be_a_credential() -> None:
    msg = sanitise("HTTP 401 signature=abcdef apiKey=XYZ token 0123456789abcdefABCDEF0123456789 at /fapi")
    assert "abcdef" not in msg and "XYZ" not in msg and "0123456789abcdefABCDEF" not in msg
    assert "HTTP 401" in msg and "/fapi" in msg


def test_rotation_splits_at_the_same_lines_whatever_the_batches_and_never_duplicates(tmp_path: Path) -> None:
    from projections.exec_logs import RotatingJsonl, segments

    recs = [{"seq": i, "payload": "x" * (i % 7 * 10)} for i in range(1, 200)]

    def write(home: Path, batches: list[int]) -> dict[str, bytes]:
        log = RotatingJsonl(home / "events.jsonl", max_bytes=1500)
        i = 0
        for b in batches:
            log.append(recs[i:i + b])
            log = RotatingJsonl(home / "events.jsonl", max_bytes=1500)  # a restart between batches
            log.append(recs[max(0, i - 5):i + b])  # replays some lines already written
            i += b
        return {p.name: p.read_bytes() for p in sorted(home.iterdir())}

    one = write(tmp_path / "a", [199])
    many = write(tmp_path / "b", [1, 10, 33, 2, 80, 73])
    assert one == many
    assert len(segments(tmp_path / "a" / "events.jsonl")) > 3
    assert all(len(b) <= 1500 for b in one.values())
    order = sorted(one, key=lambda n: int(n.rsplit(".", 1)[1]) if n.count(".") > 1 else 10**9)  # oldest first
    seqs = [json.loads(line)["seq"] for name in order for line in one[name].splitlines()]
    assert seqs == list(range(1, 200))
