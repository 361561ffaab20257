"""The drawdown policy on a real engine: a session that dead-ends in ``defensive`` gets out.

Real parts: the engine's loop on the simulated venue over a scripted market (a rally that
opens positions, a slide that takes the fund into ``defensive``, then breakouts the
screener wants to trade), the real log writer and SQLite store, ``hedge risk reset`` through
the CLI, the pick-up ``hedge run`` calls between polls, replay verification, ``explain``,
the projector, the alert policy and the dashboard model. One test runs ``hedge run`` as a
process and resets it while it trades.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from config.loader import apply_overrides, from_dict, load_config
from engine.bootstrap import build_sim_engine
from engine.venues.scripted import ScriptedMarket
from eventlog.events import DdStateChanged, RiskDecided, RiskReset
from eventlog.store import EventStore
from hedge.cli import main
from hedge.risk_reset import ResetPickup
from projections.alerts.policy import POLICY_TYPES, alerts_for
from projections.contract import load_manifest, validate
from projections.fold import Projector
from replay.explain import explain
from replay.render import explain_text
from replay.source import load_session
from replay.verify import verify_session
from tests.conftest import REPO
from tests.unit.test_replay_props import FAST, START_MS, SYMBOLS
from ui import model
from ui.state import Snapshot

HEDGE = str(Path(sys.executable).parent / "hedge")
BARS = 240
# tiny drawdown thresholds so a few hours of a slide are a dead end; the automatic rule off
POLICY = ["risk.dd_cautious_pct=0.003", "risk.dd_defensive_pct=0.006", "risk.dd_auto_recover_days=0",
          "alerts.entry_drought_hours=2", "alerts.daily_cap=20"]


def bars(i: int) -> dict[str, tuple[float, float, float, float, float]]:
    """Rally with pullbacks (bars 0-79), a slide (80-109), then a rally with breakouts again."""
    if i < 80:
        f = 1.0 + 0.003 * i - (0.01 if i % 25 > 20 else 0.0)
    elif i < 110:
        f = 1.24 - 0.004 * (i - 80)
    else:
        f = 1.12 + 0.003 * (i - 110) - (0.01 if i % 25 > 20 else 0.0)
    return {s: (p * f, p * f * 1.004, p * f * 0.998, p * f * 1.003, 1_000.0) for s, (p, _) in SYMBOLS.items()}


def session(home: Path, sets: list[str], on_bar: Any = None) -> tuple[str, Any]:
    """Record one session over ``bars``; ``on_bar(i, engine, store)`` runs before each bar (like _between)."""
    loaded = from_dict(apply_overrides(load_config().as_dict(), [*FAST, *POLICY, *sets])[0])
    market = ScriptedMarket(list(SYMBOLS), start_ms=START_MS)
    sid = str(uuid.uuid4())
    with EventStore.open(home) as store:
        eng = build_sim_engine(loaded, list(SYMBOLS), market, store, sid)
        for i in range(BARS):
            if on_bar is not None:
                on_bar(i, eng, store)
            market.push(bars(i))
            eng.apply(eng.venue.next_updates())
        eng.end("bars")
        eng.writer.close()
    return sid, eng


def events_of(home: Path, sid: str, types: tuple[str, ...] = ()) -> list[Any]:
    with EventStore.open(home) as store:
        return list(store.read(session=sid, types=types))


def entries(home: Path, sid: str) -> list[RiskDecided]:
    return [e for e in events_of(home, sid, ("RiskDecided",))
            if isinstance(e, RiskDecided) and e.observations.get("risk_increasing") is True]


def verified(home: Path, sid: str) -> bool:
    with EventStore.open(home) as store:
        return verify_session(store, load_session(store, sid)).ok


def projected(home: Path, stop: int | None = None) -> dict[str, Any]:
    p = Projector()
    with EventStore.open(home) as store:
        p.apply_all(store.read(stop=stop))
    return p.documents()


def test_without_a_way_out_the_dead_end_is_reported(home: Path) -> None:
    sid, eng = session(home, [])
    changes = [e for e in events_of(home, sid, ("DdStateChanged",)) if isinstance(e, DdStateChanged)]
    assert [c.to_state for c in changes][-1] == "defensive" and eng.state.dd_book.state == "defensive"
    vetoed = [e for e in entries(home, sid) if e.ts_event_ns > changes[-1].ts_event_ns]
    assert len(vetoed) > 50 and all(e.outcome == "veto" and e.gate == "dd_state" for e in vetoed)
    # the state file says so, and why
    doc = projected(home)["risk_snapshot.json"]
    drought = doc["entry_drought"]
    assert drought is not None and drought["state"] == "defensive" and drought["entries_vetoed"] >= len(vetoed)
    assert drought["reason"].startswith("defensive since ") and drought["reason"].endswith(
        f": {drought['entries_vetoed']} entries vetoed")
    assert drought["hours"] >= drought["threshold_hours"] == 2
    assert doc["dd_state"]["state"] == "defensive" and doc["dd_state"]["hysteresis"] is True
    assert validate(doc, load_manifest()["files"]["risk_snapshot.json"]["fields"]) == []  # the schema, drought set
    # the alert policy sends one urgent no-entries alert that says why
    with EventStore.open(home) as store:
        alerts = alerts_for(store.read(types=POLICY_TYPES))
    drought_alerts = [a for a in alerts if a.kind == "entry_drought"]
    assert len(drought_alerts) == 1 and drought_alerts[0].urgent
    assert "defensive since" in drought_alerts[0].reasons[0] and "entries vetoed" in drought_alerts[0].reasons[0]
    # the dashboard's banner
    banner = model.drought_banner(Snapshot(home=home, files={"risk_snapshot.json": doc}))
    assert banner is not None and banner.startswith("No new positions for ") and drought["reason"] in banner
    assert verified(home, sid)


def test_operator_reset_leaves_defensive_and_is_on_the_record(home: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    picked: list[Any] = []
    pickup = ResetPickup(lambda: EventStore.open(home), "main", after_seq=0, every_s=0.0)

    def on_bar(i: int, eng: Any, store: Any) -> None:
        if i == 150:
            assert eng.state.dd_book.state == "defensive"
            eng.writer.flush()
            assert main(["risk", "reset", "--reason", "reviewed: slide over", "--to", "cautious"]) == 0
        picked.extend(pickup(eng))  # what hedge run's _between() does

    sid, eng = session(home, [], on_bar)
    pickup.close()
    with EventStore.open(home) as store:
        resets = [e for e in store.read(types=("RiskReset",)) if isinstance(e, RiskReset)]
    op, copy = resets
    assert op.session_id != sid and op.source_seq == 0 and "@" in op.operator and op.before_state == "defensive"
    assert copy.session_id == sid and copy.source_seq == op.seq and copy.source_session == op.session_id
    assert copy.before_state == "defensive" and copy.to_state == "cautious" and copy.reason == "reviewed: slide over"
    assert copy.before_dd_frac is not None and copy.before_dd_frac >= 0.006 and copy.ref_nav_usd is not None
    assert [e.source_seq for e in picked] == [op.seq]  # (seq is assigned when stored)
    # entries trade again, and every later decision records the reset in force
    later = [e for e in entries(home, sid) if e.seq > copy.seq]
    assert any(e.outcome != "veto" for e in later)
    o = later[0].observations
    assert o["dd_override"] == "operator_reset" and o["dd_override_seq"] == op.seq
    assert o["dd_override_reason"] == "reviewed: slide over" and o["dd_override_by"] == op.operator
    for e in later:  # in force on every later decision until the NAV made a new high
        ob = e.observations
        assert ob["dd_override"] == "operator_reset" or ob["dd_ref_nav_usd"] >= ob["peak_nav_usd"]
    # explain shows it on a later decision; replay --verify passes (the copy is folded in order)
    with EventStore.open(home) as store:
        doc = explain(store, later[0].decision_id, check=True)
    assert doc["dd_policy"]["override"]["kind"] == "operator_reset" and doc["rederived"]["identical"]
    text = explain_text(doc)
    assert f"OPERATOR RESET IN FORCE: RiskReset seq {op.seq} by {op.operator}" in text
    assert "reviewed: slide over" in text
    assert verified(home, sid)
    assert subprocess.run([HEDGE, "replay", sid, "--verify", "--home", str(home)],
                          capture_output=True, text=True, cwd=REPO, check=False).returncode == 0
    # the projections fold the copy (not the operator's record) with the engine's rule
    risk = projected(home, stop=copy.seq)["risk_snapshot.json"]["dd_state"]
    assert risk["state"] == "cautious" and risk["ref_nav_usd"] == copy.ref_nav_usd
    assert risk["override"]["kind"] == "operator_reset" and risk["override"]["seq"] == op.seq
    end = projected(home)["risk_snapshot.json"]["dd_state"]
    book = eng.state.dd_book
    assert (end["state"], end["ref_nav_usd"], end["override"]) == (book.state, book.ref, book.override)


def test_automatic_rule_trades_again_and_is_a_recorded_decision(home: Path) -> None:
    sid, _ = session(home, ["risk.dd_auto_recover_days=0.1"])  # 2.4 hours
    changes = [e for e in events_of(home, sid, ("DdStateChanged",)) if isinstance(e, DdStateChanged)]
    auto = [c for c in changes if c.cause == "auto_rule"]
    assert auto and auto[0].from_state == "defensive" and auto[0].to_state == "cautious"
    a = auto[0]
    assert a.thresholds["dd_auto_recover_days"] == 0.1 and a.observations["days_in_state"] >= 0.1
    assert a.ref_nav_usd is not None and "dd_auto_recover_days" in a.reason
    later = [e for e in entries(home, sid) if e.seq > a.seq]
    assert any(e.outcome != "veto" for e in later)
    assert later[0].observations["dd_override"] == "auto_rule"
    assert verified(home, sid)  # DdStateChanged is re-derived like every decision
    with EventStore.open(home) as store:
        kinds = [x.kind for x in alerts_for(store.read(types=POLICY_TYPES))]
    assert "dd_override" in kinds


def test_hedge_run_picks_up_a_reset_while_it_trades(home: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEDGE_", "TELEGRAM_", "BINANCE_"))}
    env["HEDGE_HOME"] = str(home)
    run = subprocess.Popen([HEDGE, "run", "--bars", "20000", "--speed", "30000", "--quiet",
                            "--no-projections"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        assert run.stdout is not None and run.stdout.readline().startswith("session ")  # it is trading
        r = subprocess.run([HEDGE, "risk", "reset", "--reason", "drill", "--to", "normal"],
                           cwd=REPO, env=env, capture_output=True, text=True, check=False)
        assert r.returncode == 0, r.stderr
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and run.poll() is None:  # the copy shows the engine took it
            with EventStore.open(home, create=False) as store:
                if sum(1 for _ in store.read(types=("RiskReset",))) == 2:
                    break
            time.sleep(0.1)
        run.send_signal(signal.SIGTERM)  # a clean stop (SessionEnded), the session need not run out
        _, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, err[-2000:]
    assert "risk reset by" in err
    with EventStore.open(home) as store:
        resets = [e for e in store.read(types=("RiskReset",)) if isinstance(e, RiskReset)]
        sid = next(e.session_id for e in store.read(types=("SessionStarted",)))
    assert [(e.session_id == sid, e.source_seq == resets[0].seq) for e in resets] == [(False, False), (True, True)]
    v = subprocess.run([HEDGE, "replay", sid, "--verify"], cwd=REPO, env=env,
                       capture_output=True, text=True, check=False)
    assert v.returncode == 0, v.stdout[-2000:]


def test_a_reset_between_sessions_is_applied_once_by_the_next_session(home: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEDGE_", "TELEGRAM_", "BINANCE_"))}
    env["HEDGE_HOME"] = str(home)

    def hedge(*args: str) -> subprocess.CompletedProcess[str]:
        r = subprocess.run([HEDGE, *args], cwd=REPO, env=env, capture_output=True, text=True, check=False)
        assert r.returncode == 0, r.stdout[-1500:] + r.stderr[-1500:]
        return r

    hedge("run", "--bars", "200", "--quiet", "--no-projections")
    said = hedge("risk", "reset", "--reason", "between sessions", "--to", "normal").stdout
    assert "no engine of account main is running: its next session applies it before it trades" in said
    assert "risk reset by" in hedge("run", "--bars", "50", "--quiet", "--no-projections").stderr
    assert "risk reset by" not in hedge("run", "--bars", "50", "--quiet", "--no-projections").stderr
    with EventStore.open(home, create=False) as store:
        resets = [e for e in store.read(types=("RiskReset",)) if isinstance(e, RiskReset)]
        second = [s for s in store.sessions()][1]
        first_of_second = [e for e in store.read(second.first_seq, session=second.session_id)][:12]
    op, copy = resets
    assert copy.source_seq == op.seq and copy.session_id == second.session_id
    assert copy in first_of_second  # before the session's first bar was traded
    assert not any(isinstance(e, RiskDecided) and e.seq < copy.seq for e in first_of_second)
    assert "0 with differences" in hedge("replay", "--account", "main", "--verify").stdout
