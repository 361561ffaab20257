"""Config loading: strict schemas, percentage normalisation, errors naming file and key."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config.loader import (
    REPO_CONFIG_DIR,
    ConfigError,
    apply_overrides,
    from_dict,
    load_config,
    normalize_percentage,
)


@pytest.fixture
def cfg_dir(tmp_path: Path) -> Path:
    d = tmp_path / "cfg"
    shutil.copytree(REPO_CONFIG_DIR, d, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return d


def _edit(d: Path, name: str, fn) -> None:
    p = d / name
    data = json.loads(p.read_text())
    fn(data)
    p.write_text(json.dumps(data))


def test_shipped_defaults_load_and_hash_is_stable() -> None:
    a, b = load_config(), load_config()
    assert a.config_hash == b.config_hash and len(a.config_hash) == 64
    assert a.normalisations == []
    assert set(a.config.risk_limits.tiers) == {"CORE", "SATELLITE", "TACTICAL", "ALT-EXT"}


def test_percentage_above_one_is_normalised_once_and_reported(cfg_dir: Path) -> None:
    _edit(cfg_dir, "risk_limits.json", lambda d: d["global"].__setitem__("max_trade_nav_pct", 6))
    loaded = load_config(cfg_dir)
    assert loaded.config.risk_limits.global_.max_trade_nav_pct == pytest.approx(0.06)
    assert any("global.max_trade_nav_pct: 6 -> 0.06" in n for n in loaded.normalisations)


def test_unknown_key_is_refused_with_file_and_key(cfg_dir: Path) -> None:
    _edit(cfg_dir, "risk_limits.json", lambda d: d["global"].__setitem__("max_tarde_nav_pct", 0.1))
    with pytest.raises(ConfigError) as e:
        load_config(cfg_dir)
    assert e.value.file == "risk_limits.json"
    assert e.value.key == "global.max_tarde_nav_pct"
    assert "unknown key" in str(e.value)


def test_wrong_type_names_the_key(cfg_dir: Path) -> None:
    _edit(cfg_dir, "runtime.json", lambda d: d["router"].__setitem__("max_reprices", "two"))
    with pytest.raises(ConfigError) as e:
        load_config(cfg_dir)
    assert e.value.file == "runtime.json" and e.value.key == "router.max_reprices"


def test_invalid_json_names_file_and_position(cfg_dir: Path) -> None:
    (cfg_dir / "alerts.json").write_text('{"daily_cap": 3,,}')
    with pytest.raises(ConfigError) as e:
        load_config(cfg_dir)
    assert e.value.file == "alerts.json" and "line 1" in e.value.key


def test_cross_file_rule_unknown_symbol_in_correlation_group(cfg_dir: Path) -> None:
    _edit(cfg_dir, "correlation_groups.json", lambda d: d["groups"]["majors"]["symbols"].append("DOGEUSDT"))
    with pytest.raises(ConfigError, match="DOGEUSDT is not in the universe"):
        load_config(cfg_dir)


def test_unknown_config_file_is_refused(cfg_dir: Path) -> None:
    (cfg_dir / "risk_limit.json").write_text("{}")
    with pytest.raises(ConfigError, match="unknown config file"):
        load_config(cfg_dir)


def test_recorded_dict_rebuilds_the_same_config_and_hash() -> None:
    a = load_config()
    b = from_dict(a.as_dict())
    assert b.config == a.config and b.config_hash == a.config_hash


def test_overrides_change_a_key_and_refuse_unknown_ones() -> None:
    base = load_config().as_dict()
    new, changes = apply_overrides(base, ["risk.max_trade_nav_pct=0.08", "router.max_reprices=3"])
    assert new["risk_limits"]["global"]["max_trade_nav_pct"] == 0.08
    assert changes[0]["key"] == "risk_limits.global.max_trade_nav_pct"
    assert from_dict(new).config.runtime.router.max_reprices == 3
    with pytest.raises(ConfigError, match="unknown key"):
        apply_overrides(base, ["risk.no_such_cap=1"])


@given(st.floats(min_value=0, max_value=100, allow_nan=False))
def test_normalize_percentage_is_idempotent(x: float) -> None:
    once = normalize_percentage(x)
    assert normalize_percentage(once) == once
    assert 0 <= once <= 1


def _hedge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hedge.cli", *args], capture_output=True, text=True, timeout=120)


def test_cli_bad_config_is_one_line_naming_the_key_and_exit_2(cfg_dir: Path) -> None:
    _edit(cfg_dir, "risk_limits.json", lambda d: d["global"].__setitem__("bogus_cap", 1))
    r = _hedge("config", "check", str(cfg_dir))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "risk_limits.json: global.bogus_cap: unknown key" in lines[0]
    assert "Traceback" not in r.stderr


def test_cli_config_check_reports_normalisation_and_show_prints_hash(cfg_dir: Path) -> None:
    _edit(cfg_dir, "risk_limits.json", lambda d: d["global"].__setitem__("daily_loss_limit_pct", 3))
    r = _hedge("config", "check", str(cfg_dir))
    assert r.returncode == 0 and "normalised" in r.stdout and "0.03" in r.stdout
    r = _hedge("config", "show", "--config", str(cfg_dir))
    shown = json.loads(r.stdout)
    assert shown["config"]["risk_limits"]["global"]["daily_loss_limit_pct"] == 0.03
    assert shown["config_hash"] == load_config(cfg_dir).config_hash


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=12), st.one_of(st.integers(), st.text(), st.floats(allow_nan=False), st.none()), max_size=4))
def test_any_garbage_risk_file_gives_a_config_error_not_a_crash(tmp_path_factory, garbage: dict) -> None:
    d = tmp_path_factory.mktemp("g")
    for f in REPO_CONFIG_DIR.glob("*.json"):
        shutil.copy(f, d / f.name)
    tiers = json.loads((REPO_CONFIG_DIR / "risk_limits.json").read_text())["tiers"]
    (d / "risk_limits.json").write_text(json.dumps({"global": garbage, "tiers": tiers}))
    try:
        loaded = load_config(d)
    except ConfigError as exc:
        assert exc.file == "risk_limits.json"
    else:  # only known keys with valid values can load
        assert set(garbage) <= set(loaded.as_dict()["risk_limits"]["global"])
