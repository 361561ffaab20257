"""The live shadow pipeline: its head equals ``hedge replay --set`` for the same session; rebuilds byte-identical."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hedge.cli import main
from projections.contract import validate_home
from projections.files import read_json

OVERLAY = "risk.max_open_positions=5"


@pytest.mark.market
def test_shadow_head_equals_the_what_if_replay_of_the_same_session(
        market_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("PIPELINE_V6_SHADOW_ENABLED", "1")
    assert main(["run", "--home", str(home), "--data", str(market_dir), "--bars", "2500", "--quiet",
                 "--shadow", OVERLAY, "--shadow", "risk.max_trade_nav_pct=0.03"]) == 0
    head = read_json(home / "state" / "pipeline_v6_shadow_head.json")
    cmp_ = read_json(home / "state" / "pipeline_v6_compare_summary.json")
    assert head["overlay"] == [OVERLAY, "risk.max_trade_nav_pct=0.03"] and head["total"] > 0
    assert (home / "shadow" / head["live_session_id"] / "eventlog.sqlite").exists()
    capsys.readouterr()
    monkeypatch.setenv("HEDGE_HOME", str(home))
    assert main(["replay", "last", "--set", OVERLAY, "--set", "risk.max_trade_nav_pct=0.03",
                 "--format", "json", "--no-progress"]) == 0
    doc = json.loads(capsys.readouterr().out)
    m = doc["what_if"]  # the what-if's metrics (beside the recorded ones)
    assert head["allowed"] == m["allows"] + m["clamps"]
    assert head["vetoed"] == m["vetoes"]
    assert head["total"] == m["intents"]
    assert cmp_["sample_size"] > 0 and 0.0 <= cmp_["veto_agreement"] <= 1.0
    assert cmp_["shadow"]["decisions"] == head["total"]
    assert {k: v for k, v in validate_home(home).items() if v and k.startswith("pipeline")} == {}
    # the shadow log verifies like a live one
    assert main(["verify", "--home", str(home / "shadow" / head["live_session_id"])]) == 0
    # rebuild gives the same bytes
    def outputs() -> dict[str, bytes]:
        return {str(p.relative_to(home)): p.read_bytes() for d in ("state", "execution") for p in (home / d).iterdir()}

    before = outputs()
    (home / "execution" / "events.jsonl").unlink()  # a lost output comes back from the log
    assert main(["rebuild", "--home", str(home)]) == 0
    after = outputs()
    assert after == before


def test_shadow_overlay_without_the_flag_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["run", "--home", str(tmp_path / "h"), "--bars", "5", "--quiet", "--shadow", OVERLAY])
    assert rc == 2
    assert "pipeline_v6_shadow_enabled" in capsys.readouterr().err
