"""Router autotune and the feedback allocator (issue 16): proposed from the log, applied as
``ConfigChanged`` only when the flags allow, re-derived by ``hedge replay --verify``, and the
values applied are the proposals the projection computes from its own fold at that point."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from engine.rules.autotune import POLICY_KEYS, propose_weight, router_proposals
from eventlog.events import ConfigChanged, IntentEmitted
from eventlog.store import EventStore
from hedge.cli import main
from projections.contract import validate_home
from projections.files import read_json
from projections.fold import Projector

REPO = Path(__file__).resolve().parents[2]
FLAGS = ("ROUTER_AUTOTUNE_V6_ENABLED", "ROUTER_AUTOTUNE_V6_APPLY_ENABLED", "FEEDBACK_ALLOCATOR_V6_ENABLED")
SUGGESTIONS = ("router_policy_suggestions_v6.json", "risk_allocation_suggestions_v6.json")
pytestmark = pytest.mark.slow  # two 3,000-bar sessions and a replay (~15 s)


def _config(tmp: Path) -> Path:
    cfg = tmp / "cfg"
    cfg.mkdir()
    for f in (REPO / "config").glob("*.json"):
        shutil.copy(f, cfg / f.name)
    rt = json.loads((cfg / "runtime.json").read_text())
    rt["autotune_every_h"] = 6
    rt["signal_gate"] = {**rt.get("signal_gate", {}), "expectancy_min_trades": 3}  # the allocator weighs sooner
    (cfg / "runtime.json").write_text(json.dumps(rt))
    return cfg


def _run(tmp: Path, monkeypatch: pytest.MonkeyPatch, flags: tuple[str, ...]) -> Path:
    home = tmp / "home"
    for f in FLAGS:
        monkeypatch.delenv(f, raising=False)
    for f in flags:
        monkeypatch.setenv(f, "1")
    assert main(["run", "--home", str(home), "--config", str(_config(tmp)), "--bars", "3000", "--quiet"]) == 0
    return home


def test_applied_suggestions_are_the_projections_proposals_and_replay_rederives_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    home = _run(tmp_path, monkeypatch, FLAGS)
    p = Projector()
    applied = {"autotune": 0, "feedback_allocator": 0}
    weighted = 0
    with EventStore.open(home, create=False) as store:
        for ev in store.read(1):
            if type(ev) is ConfigChanged and ev.source in applied:
                applied[ev.source] += 1
                # before folding it: what the projection proposes now is what the engine applied
                if ev.source == "autotune":
                    props = router_proposals(p.tuning.evidence, p.cfg, sorted(p.session_symbols))
                    for c in ev.changes:
                        parts = c.key.split(".")
                        sym = parts[3]
                        new = props[sym][1]
                        if len(parts) == 4:
                            assert {k: v for k, v in c.new.items() if v is not None} == {
                                k: getattr(new, k) for k in POLICY_KEYS if c.new[k] is not None}
                        else:
                            assert c.new == getattr(new, parts[4])
                else:
                    for c in ev.changes:
                        sym = c.key.split(".")[2]
                        want = propose_weight(p.intel.book, sym, p.cfg)[0]
                        assert (c.new if c.new is not None else 1.0) == want
            if type(ev) is IntentEmitted and not ev.reduce_only and "allocation_weight" in ev.signal:
                assert ev.signal["allocation_weight"] == p.cfg.strategy.symbol_weights[ev.symbol]
                weighted += 1
            p.apply(ev)
    assert applied["autotune"] > 0 and applied["feedback_allocator"] > 0 and weighted > 0
    problems = validate_home(home)
    assert {n: problems[n] for n in SUGGESTIONS} == {n: [] for n in SUGGESTIONS}
    router = read_json(home / "state" / SUGGESTIONS[0])
    assert router["mode"] == "apply" and router["applied"]["count"] == applied["autotune"]
    for row in router["symbols"]:
        assert set(row["evidence"]) >= {"fill_rate", "fallback_ratio", "slippage_p95_bps", "sample_size"}
        if row["status"] == "applied":
            assert row["current"] == row["proposed"] and row["applied"] is True
    alloc = read_json(home / "state" / SUGGESTIONS[1])
    assert alloc["applied"]["count"] == applied["feedback_allocator"]
    assert all(r["rationale"] for r in alloc["symbols"])
    # replay re-derives every applied change (a decision like any other)
    capsys.readouterr()
    assert main(["replay", "last", "--home", str(home), "--verify", "--no-progress"]) == 0
    assert "different 0" in capsys.readouterr().out


def test_without_the_apply_flag_suggestions_are_only_proposed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = _run(tmp_path, monkeypatch, ("ROUTER_AUTOTUNE_V6_ENABLED",))
    with EventStore.open(home, create=False) as store:
        assert [ev for ev in store.read(1, types=("ConfigChanged",))] == []
    router = read_json(home / "state" / SUGGESTIONS[0])
    assert router["mode"] == "propose" and router["applied"]["count"] == 0
    assert any(r["changes"] for r in router["symbols"])  # something is proposed, nothing applied
    assert not any(r["applied"] for r in router["symbols"])
    alloc = read_json(home / "state" / SUGGESTIONS[1])
    assert not any(r["applied"] for r in alloc["symbols"])
