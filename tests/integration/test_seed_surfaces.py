"""Issue 16 on real data: conviction sizing equals the projection's rule, the guide's debugging
commands return real values, every seed surface matches the manifest."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from eventlog.events import IntentEmitted, RiskDecided, SessionStarted
from eventlog.store import EventStore
from hedge.cli import main
from projections.contract import validate_home
from projections.files import read_json, read_jsonl
from projections.fold import Projector

SEED_SURFACES = ("nav.json", "positions.json", "expectancy_v6.json", "symbol_scores_v6.json", "hybrid_scores.json",
                 "funding_snapshot.json", "basis_snapshot.json", "execution_health.json", "synced_state.json",
                 "v6_runtime_probe.json")


@pytest.fixture(scope="module")
def intel_home(market_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("intel") / "home"
    mp = pytest.MonkeyPatch()
    mp.setenv("INTEL_V6_ENABLED", "1")
    try:
        assert main(["run", "--home", str(home), "--data", str(market_dir), "--bars", "3000", "--quiet"]) == 0
    finally:
        mp.undo()
    return home


@pytest.mark.market
def test_every_seed_surface_exists_and_matches_the_manifest(intel_home: Path) -> None:
    problems = validate_home(intel_home)
    for name in SEED_SURFACES:
        assert (intel_home / "state" / name).exists(), name
        assert problems[name] == [], (name, problems[name][:3])
    probe = read_json(intel_home / "state" / "v6_runtime_probe.json")
    assert probe["flags"]["intel_v6_enabled"] is True and probe["env_overrides"] == ["intel_v6_enabled"]
    exp = read_json(intel_home / "state" / "expectancy_v6.json")
    assert exp["overall"]["all"]["round_trips"] > 0
    assert isinstance(json.loads((intel_home / "state" / "positions.json").read_text()), list)


@pytest.mark.market
def test_engine_conviction_equals_the_projection_rule_at_every_entry(intel_home: Path) -> None:
    p = Projector()
    checked = 0
    started: SessionStarted | None = None
    with EventStore.open(intel_home, create=False) as store:
        for ev in store.read(1):
            p.apply(ev)
            if type(ev) is SessionStarted:
                started = ev
                assert ev.config["runtime"]["v6_flags"]["intel_v6_enabled"] is True
                assert ev.params["v6_flags"]["intel_v6_enabled"] is True
            if type(ev) is IntentEmitted and not ev.reduce_only:
                sig = ev.signal
                assert "conviction" in sig, ev.intent_id
                edge = sig["donchian_high"] if ev.side == "BUY" else sig["donchian_low"]
                atr = p.intel.book.syms[ev.symbol].atr.atr
                want = p.intel.book.entry_conviction(ev.symbol, ev.price, float(edge), atr, p.cfg)  # type: ignore[arg-type]
                assert {k: sig[k] for k in want} == want
                assert ev.notional_usd == pytest.approx(float(sig["unscaled_notional_usd"]) * float(sig["conviction"]),
                                                        rel=1e-6)
                checked += 1
            if type(ev) is RiskDecided and "conviction" in ev.observations:
                assert ev.observations["conviction"] == p.intel.last_entry[ev.symbol].signal["conviction"]
    assert started is not None and checked > 10


@pytest.mark.market
@pytest.mark.skipif(shutil.which("jq") is None, reason="jq not installed")
def test_the_guides_debugging_commands_return_real_values(intel_home: Path) -> None:
    vetoes = intel_home / "execution" / "risk_vetoes.jsonl"
    out = subprocess.run(f"tail -100 {vetoes} | jq -c '{{reason: .veto_reason, observed, limits}}'", shell=True,
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert out
    for line in out:
        d = json.loads(line)
        assert d["reason"] and d["observed"] and d["limits"]
        assert "current_gross_notional" in d["observed"] and "tier_gross_notional" in d["observed"]
    age = subprocess.run(["jq", ".nav_age_s", str(intel_home / "state" / "nav_state.json")],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert age != "null" and float(age) >= 0
    q = (".entries | to_entries | map(select(.value.tp_sl.tp == null and .value.tp_sl.sl == null))")
    ledger = subprocess.run(["jq", "-c", q, str(intel_home / "state" / "positions_ledger.json")],
                            capture_output=True, text=True, check=True).stdout.strip()
    assert isinstance(json.loads(ledger), list)
    entries = read_json(intel_home / "state" / "positions_ledger.json")["entries"]
    assert entries and all(e["tp_sl"]["tp"] is not None for e in entries.values())
    assert all("veto_reason" in r for r in read_jsonl(vetoes))


@pytest.mark.market
def test_execution_logs_follow_the_seed_schema_and_the_fallback_query_works(intel_home: Path) -> None:
    ex = intel_home / "execution"
    events = read_jsonl(ex / "events.jsonl")
    assert {e["type"] for e in events} >= {"order", "fill"}
    assert {e["type"] for e in events} <= {"order", "fill", "cancel", "refresh", "error", "router"}
    for e in events:
        assert e["ts"].endswith("Z") and "T" in e["ts"] and isinstance(e["metadata"], dict)
    assert [e["seq"] for e in events] == sorted({e["seq"] for e in events})
    fills = [e for e in events if e["type"] == "fill"]
    executed = read_jsonl(ex / "orders_executed.jsonl")
    assert len(executed) == len(fills) == len(read_jsonl(ex / "order_metrics.jsonl"))
    if shutil.which("jq"):
        out = subprocess.run(f"tail -5000 {ex / 'orders_executed.jsonl'} | jq -c 'select(.fallback==true)'",
                             shell=True, capture_output=True, text=True, check=True).stdout.splitlines()
        assert out and all(json.loads(x)["is_maker"] is False for x in out)
