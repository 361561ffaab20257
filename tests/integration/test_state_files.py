"""State files after a real ``hedge run`` on the real 5m klines: present, valid, consistent.

Checks every file against ``state_manifest.json`` and ``docs/state_contract.md``,
the seeds' telemetry invariants, ATR against an independent TA-Lib-definition
computation over the bars in the log, and that no secret leaks into any output.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from config.loader import normalize_percentage
from eventlog.events import KlineClosed
from eventlog.store import EventStore
from hedge.cli import main
from projections.contract import load_manifest, validate_home
from projections.files import StateFileError, read_json, read_jsonl

REPO = Path(__file__).resolve().parents[2]
SECRET = "sk-test-DO-NOT-LEAK-7f3a9c"


@pytest.fixture(scope="module")
def real_home(market_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("real") / "home"
    mp = pytest.MonkeyPatch()
    mp.setenv("BINANCE_API_SECRET", SECRET)
    mp.setenv("TELEGRAM_BOT_TOKEN", SECRET)
    try:
        assert main(["run", "--home", str(home), "--data", str(market_dir), "--bars", "4000", "--quiet"]) == 0
    finally:
        mp.undo()
    return home


def ta_lib_atr(highs: list[float], lows: list[float], closes: list[float], n: int) -> float | None:
    """Reference ATR written from TA-Lib's definition, independently of engine.rules.indicators."""
    trs = [max(h - lo, abs(h - pc), abs(lo - pc)) for h, lo, pc in zip(highs[1:], lows[1:], closes[:-1], strict=True)]
    if len(trs) < n:
        return None
    atr = sum(trs[:n]) / n
    for tr in trs[n:]:
        atr = (atr * (n - 1) + tr) / n
    return atr


@pytest.mark.market
def test_every_state_file_exists_and_matches_the_manifest(real_home: Path) -> None:
    problems = validate_home(real_home)
    assert set(problems) == set(load_manifest()["files"])
    assert {k: v for k, v in problems.items() if v} == {}
    assert (real_home / "state" / "nav_history.json").exists()


def test_contract_doc_documents_every_manifest_field() -> None:
    doc = (REPO / "docs" / "state_contract.md").read_text()
    for name, spec in load_manifest()["files"].items():
        assert f"`{name}`" in doc or f"{name}`" in doc, name
        for path in spec["fields"]:
            leaf = re.split(r"[.\[\]*]+", path)[-1] or path
            assert f"{leaf}" in doc, f"{name}: {path} not documented"


@pytest.mark.market
def test_telemetry_invariants_hold_on_real_data(real_home: Path) -> None:
    state = real_home / "state"
    risk = read_json(state / "risk_snapshot.json")
    nav = read_json(state / "nav_state.json")
    kpis = read_json(state / "kpis_v7.json")
    assert risk["dd_frac"] == normalize_percentage(risk["dd_pct"])
    assert risk["daily_loss_frac"] == normalize_percentage(risk["daily_loss_pct"])
    assert nav["fresh"] is (nav["nav_age_s"] <= nav["nav_stale_after_s"])
    assert nav["nav_stale_after_s"] == 90  # the gate's nav_freshness_seconds: one freshness rule
    configured = sorted(json.loads((REPO / "config" / "pairs_universe.json").read_text())["symbols"])
    router = read_json(state / "router_health.json")
    assert [r["symbol"] for r in router["symbols"]] == configured  # idle AVAX/WIF included
    assert sorted(kpis["symbols"]) == configured
    assert kpis["router"]["fills"] == router["fills"] > 0
    assert kpis["risk"]["drawdown_pct"] == risk["dd_frac"]
    assert nav["updated_ts"] == kpis["updated_ts"] and nav["seq"] == kpis["seq"]


@pytest.mark.market
def test_kpi_atr_equals_ta_lib_definition_over_the_logged_klines(real_home: Path) -> None:
    kpis = read_json(real_home / "state" / "kpis_v7.json")
    bars: dict[str, list[KlineClosed]] = {}
    with EventStore.open(real_home, create=False) as store:
        for ev in store.read(types=("KlineClosed",)):
            assert isinstance(ev, KlineClosed)
            bars.setdefault(ev.symbol, []).append(ev)
    assert sorted(bars) == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    for sym, bs in bars.items():
        want = ta_lib_atr([b.high for b in bs], [b.low for b in bs], [b.close for b in bs], 14)
        got = kpis["symbols"][sym]["atr"]
        assert want is not None and got == pytest.approx(want, rel=1e-9), sym
        assert kpis["symbols"][sym]["atr_regime"] in ("low", "normal", "high")
    assert kpis["symbols"]["WIFUSDT"]["atr"] is None and kpis["symbols"]["WIFUSDT"]["atr_regime"] == "unknown"


@pytest.mark.market
def test_veto_jsonl_lines_match_the_logged_decisions(real_home: Path) -> None:
    lines = read_jsonl(real_home / "execution" / "risk_vetoes.jsonl")
    with EventStore.open(real_home, create=False) as store:
        decided = [e for e in store.read(types=("RiskDecided",)) if e.outcome != "allow"]  # type: ignore[attr-defined]
    assert [ln["decision_id"] for ln in lines] == [d.decision_id for d in decided]  # type: ignore[attr-defined]
    assert [ln["seq"] for ln in lines] == sorted(ln["seq"] for ln in lines)
    assert all(ln["thresholds"] and ln["observations"] for ln in lines)
    diag = read_json(real_home / "state" / "diagnostics.json")
    assert diag["veto_counters"]["by_gate"] == dict(Counter(ln["gate"] for ln in lines if ln["outcome"] == "veto"))


@pytest.mark.market
def test_no_secret_from_the_environment_reaches_any_output(real_home: Path) -> None:
    for top in ("state", "execution", "audit"):
        for f in (real_home / top).rglob("*"):
            if f.is_file():
                assert SECRET.encode() not in f.read_bytes(), f


def test_corrupt_state_file_is_named_in_the_error(tmp_path: Path) -> None:
    bad = tmp_path / "kpis_v7.json"
    bad.write_text('{"nav": ')
    with pytest.raises(StateFileError, match=r"kpis_v7\.json: corrupt state file"):
        read_json(bad)
    bad.write_text("[1, 2]")
    with pytest.raises(StateFileError, match="expected a JSON object"):
        read_json(bad)
