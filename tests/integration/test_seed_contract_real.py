"""Issue 16's "Done when", on real Binance data with all six V6 flags, the shadow pipeline
(``risk.max_open_positions=5``) and a USD/ZAR rate:

* every surface of the seeds' contract exists, matches ``state_manifest.json`` and the
  contract's own field lists (the seed prompt's shapes), and rebuilds byte-identical;
* the shadow head's allowed/vetoed counts equal ``hedge replay --set risk.max_open_positions=5``;
* the guide's debugging commands return real values (``jq`` when installed, else the same
  filters in Python);
* the mirror of the run is a faithful, schema-valid copy.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from hedge.cli import main
from projections.contract import load_manifest, validate_home
from projections.files import read_json, read_jsonl

REPO = Path(__file__).resolve().parents[2]
OVERLAY = "risk.max_open_positions=5"
FLAGS = ("INTEL_V6_ENABLED", "RISK_ENGINE_V6_ENABLED", "PIPELINE_V6_SHADOW_ENABLED", "ROUTER_AUTOTUNE_V6_ENABLED",
         "FEEDBACK_ALLOCATOR_V6_ENABLED", "ROUTER_AUTOTUNE_V6_APPLY_ENABLED")

# The seed's state & telemetry contract: every file it names and the keys it lists for it.
SEED_CONTRACT: dict[str, tuple[str, ...]] = {
    "nav.json": ("nav_total", "nav_age_s", "sources_ok", "aum", "nav_health_snapshot", "updated_at"),
    "nav_state.json": ("nav_age_s",),
    "positions_state.json": (),
    "positions_ledger.json": ("entries",),
    "risk_snapshot.json": ("dd_state", "dd_frac", "daily_loss_frac", "risk_mode", "router_stats", "symbols"),
    "router_health.json": ("updated_ts", "maker_fill_rate", "fallback_ratio", "slippage_p50", "slip_q95", "symbols",
                           "router_health_score"),
    "kpis_v7.json": ("nav", "risk", "router", "performance", "symbols"),
    "expectancy_v6.json": ("symbols", "updated_ts"),
    "symbol_scores_v6.json": ("symbols", "updated_ts"),
    "hybrid_scores.json": ("symbols",),
    "funding_snapshot.json": (),
    "basis_snapshot.json": (),
    "router_policy_suggestions_v6.json": ("symbols", "proposed_policy"),
    "risk_allocation_suggestions_v6.json": ("global", "symbols"),
    "pipeline_v6_shadow_head.json": ("total", "allowed", "vetoed", "generated_ts"),
    "pipeline_v6_compare_summary.json": ("generated_ts", "sample_size", "slippage_diff_bps", "warmup_reason"),
    "execution_health.json": ("schema", "router", "risk", "errors"),
    "synced_state.json": ("items", "nav", "engine_version", "v6_flags", "updated_at"),
    "v6_runtime_probe.json": ("engine_version", "flags", "ts"),
    "diagnostics.json": (),
    "aum_v7.json": (),
}
SEED_LOGS: dict[str, tuple[str, ...]] = {
    "events.jsonl": ("ts", "type", "symbol", "qty", "price", "is_maker", "slippage_bps", "metadata"),
    "orders_executed.jsonl": ("fallback",),
    "order_metrics.jsonl": (),
    "risk_vetoes.jsonl": ("veto_reason", "observed", "limits", "gate", "thresholds", "observations"),
}


@pytest.fixture(scope="module")
def real(market_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("seedreal")
    cfg = tmp / "cfg"
    cfg.mkdir()
    for f in (REPO / "config").glob("*.json"):
        shutil.copy(f, cfg / f.name)
    rt = json.loads((cfg / "runtime.json").read_text())
    rt["usd_zar_rate"] = 18.2
    (cfg / "runtime.json").write_text(json.dumps(rt))
    home = tmp / "home"
    mp = pytest.MonkeyPatch()
    for f in FLAGS:
        mp.setenv(f, "1")
    mp.delenv("HEDGE_STORE_URL", raising=False)
    try:
        assert main(["run", "--home", str(home), "--config", str(cfg), "--data", str(market_dir),
                     "--bars", "8000", "--quiet", "--shadow", OVERLAY]) == 0
    finally:
        mp.undo()
    return home


def outputs(home: Path) -> dict[str, bytes]:
    return {str(p.relative_to(home)): p.read_bytes() for d in ("state", "execution")
            for p in sorted((home / d).iterdir()) if p.is_file()}


@pytest.mark.market
@pytest.mark.slow
def test_every_seed_surface_exists_matches_the_contract_and_rebuilds_identical(real: Path) -> None:
    manifest = load_manifest()["files"]
    problems = validate_home(real)
    assert {k: v[:3] for k, v in problems.items() if v} == {}
    for name, keys in {**SEED_CONTRACT, **SEED_LOGS}.items():
        assert name in manifest, name
        path = real / manifest[name]["path"]
        assert path.exists(), name
        recs = read_jsonl(path) if name.endswith(".jsonl") else [json.loads(path.read_text())]
        assert recs, name
        for rec in recs[:200]:
            missing = [k for k in keys if k not in rec]
            assert not missing, (name, missing)
    # the shapes the seed gives
    assert isinstance(json.loads((real / "state" / "positions.json").read_text()), list)
    risk = read_json(real / "state" / "risk_snapshot.json")
    assert all(isinstance(risk[k], float) for k in ("var_95_frac", "cvar_95_frac", "var_99_frac", "cvar_99_frac"))
    assert risk["cvar_99_frac"] >= risk["var_99_frac"] >= risk["var_95_frac"] > 0
    router = read_json(real / "state" / "router_health.json")
    lat = router["latency_ms"]
    assert lat["samples_fill"] > 0 and lat["decision_to_fill_p95"] >= lat["decision_to_fill_p50"] > 0
    assert router["twap"]["plans"] > 0 and 0 < router["twap"]["share"] < 1
    nav = read_json(real / "state" / "nav_state.json")
    assert nav["nav_zar"] == pytest.approx(nav["nav_usd"] * 18.2)
    probe = read_json(real / "state" / "v6_runtime_probe.json")
    assert all(probe["flags"].values()) and sorted(probe["env_overrides"]) == sorted(f.lower() for f in FLAGS)
    sugg = read_json(real / "state" / "router_policy_suggestions_v6.json")
    assert sugg["mode"] == "apply" and sugg["applied"]["count"] > 0
    for row in sugg["symbols"]:
        assert {"fill_rate", "fallback_ratio", "slippage_p95_bps", "sample_size"} <= set(row["evidence"])
    alloc = read_json(real / "state" / "risk_allocation_suggestions_v6.json")
    assert all(r["rationale"] for r in alloc["symbols"]) and alloc["applied"]["count"] > 0
    # rebuild from the log: the same bytes (a lost output comes back)
    before = outputs(real)
    (real / "state" / "router_policy_suggestions_v6.json").unlink()
    assert main(["rebuild", "--home", str(real)]) == 0
    assert outputs(real) == before


@pytest.mark.market
@pytest.mark.slow
def test_shadow_head_equals_the_what_if_replay(real: Path, capsys: pytest.CaptureFixture[str]) -> None:
    head = read_json(real / "state" / "pipeline_v6_shadow_head.json")
    capsys.readouterr()
    assert main(["replay", "last", "--home", str(real), "--set", OVERLAY, "--format", "json", "--no-progress"]) == 0
    m = json.loads(capsys.readouterr().out)["what_if"]
    assert (head["total"], head["allowed"], head["vetoed"]) == (m["intents"], m["allows"] + m["clamps"], m["vetoes"])
    # the live decisions, autotune and allocator changes included, re-derive exactly
    assert main(["replay", "last", "--home", str(real), "--verify", "--no-progress"]) == 0
    assert "different 0" in capsys.readouterr().out


def _jq(filt: str, path: Path, tail: int | None = None) -> list[Any]:
    """``[tail -N path |] jq -c FILTER``, parsed; the same filter in Python when jq is absent."""
    if shutil.which("jq"):
        src = f"tail -{tail} {path}" if tail else f"cat {path}"
        out = subprocess.run(f"{src} | jq -c '{filt}'", shell=True, capture_output=True, text=True, check=True)
        return [json.loads(x) for x in out.stdout.splitlines()]
    recs = read_jsonl(path)[-tail:] if tail else [json.loads(path.read_text())]
    if filt == "{reason: .veto_reason, observed, limits}":
        return [{"reason": r.get("veto_reason"), "observed": r.get("observed"), "limits": r.get("limits")}
                for r in recs]
    if filt == ".nav_age_s":
        return [recs[0].get("nav_age_s")]
    if filt == "select(.fallback==true)":
        return [r for r in recs if r.get("fallback") is True]
    if filt.startswith(".entries | to_entries"):
        return [[{"key": k, "value": v} for k, v in recs[0]["entries"].items()
                 if v["tp_sl"]["tp"] is None and v["tp_sl"]["sl"] is None]]
    raise AssertionError(f"no Python fallback for {filt}")


@pytest.mark.market
@pytest.mark.slow
def test_the_guides_debugging_commands_return_real_values(real: Path) -> None:
    vetoes = _jq("{reason: .veto_reason, observed, limits}", real / "execution" / "risk_vetoes.jsonl", tail=100)
    assert len(vetoes) == min(100, len(read_jsonl(real / "execution" / "risk_vetoes.jsonl")))
    for v in vetoes:
        assert v["reason"] and v["observed"] and v["limits"]
        assert "current_gross_notional" in v["observed"] and "tier_gross_notional" in v["observed"]
    age = _jq(".nav_age_s", real / "state" / "nav_state.json")
    assert isinstance(age[0], float | int) and age[0] >= 0
    fallbacks = _jq("select(.fallback==true)", real / "execution" / "orders_executed.jsonl", tail=5000)
    assert fallbacks and all(f["is_maker"] is False for f in fallbacks)
    q = ".entries | to_entries | map(select(.value.tp_sl.tp == null and .value.tp_sl.sl == null))"
    ledger = _jq(q, real / "state" / "positions_ledger.json")
    assert ledger == [[]]  # every open position has its TP/SL in the ledger
    assert read_json(real / "state" / "positions_ledger.json")["entries"]


@pytest.mark.market
@pytest.mark.slow
def test_the_mirror_of_a_real_run_is_a_valid_copy(real: Path, tmp_path: Path) -> None:
    mir = tmp_path / "mirror"
    assert main(["sync", "--home", str(real), "--to", str(mir)]) == 0
    assert outputs(mir) == outputs(real)
    assert {k: v for k, v in validate_home(mir).items() if v} == {}
