"""A config change recorded mid-session: replay switches config where the log says so, explain
names the config in force, and the what-if says it runs one config throughout.

Real parts: the engine's loop on the simulated venue over a scripted market, the log writer,
the SQLite store; the ``ConfigChanged`` is recorded through the engine like any event.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from config.loader import apply_overrides, from_dict, load_config
from engine.bootstrap import build_sim_engine
from engine.venues.scripted import ScriptedMarket
from eventlog.events import ConfigChanged, RiskDecided
from eventlog.payloads import ConfigChange
from eventlog.store import EventStore
from replay.explain import explain
from replay.source import load_session
from replay.verify import verify_session
from replay.whatif import run_what_if
from tests.unit.test_replay_props import FAST, START_MS, SYMBOLS

STEPS = 240


def bars(i: int) -> dict[str, tuple[float, float, float, float, float]]:
    """A rally with pullbacks: breakouts every few bars, enough to hit the position limit."""
    f = 1.0 + 0.003 * i - (0.01 if i % 25 > 20 else 0.0)
    return {s: (p * f, p * f * 1.004, p * f * 0.998, p * f * 1.003, 1_000.0) for s, (p, _) in SYMBOLS.items()}


def test_config_changed_mid_session(home: Path) -> None:
    base = apply_overrides(load_config().as_dict(), [*FAST, "risk.max_open_positions=1"])[0]
    first = from_dict(base)
    second = from_dict(apply_overrides(base, ["risk.max_open_positions=3"])[0])
    market = ScriptedMarket(list(SYMBOLS), start_ms=START_MS)
    sid = str(uuid.uuid4())
    with EventStore.open(home) as store:
        eng = build_sim_engine(first, list(SYMBOLS), market, store, sid)
        for i in range(STEPS):
            if i == STEPS // 2:
                eng.record(ConfigChanged, "session", eng.venue.clock().now_ns(), {
                    "config": second.as_dict(), "config_hash": second.config_hash,
                    "previous_hash": first.config_hash,
                    "changes": [ConfigChange(key="risk_limits.global.max_open_positions", old=1, new=3)]})
            market.push(bars(i))
            eng.apply(eng.venue.next_updates())
        eng.end("bars")
        eng.writer.close()

        decisions = [e for e in store.read(session=sid, types=("RiskDecided",)) if isinstance(e, RiskDecided)]
        change = next(store.read(session=sid, types=("ConfigChanged",)))
        before = [d for d in decisions if d.seq < change.seq]
        after = [d for d in decisions if d.seq > change.seq]
        assert before and after
        assert {d.config_hash for d in before} == {first.config_hash}
        assert {d.config_hash for d in after} == {second.config_hash}
        assert {d.thresholds["max_open_positions"] for d in after if "max_open_positions" in d.thresholds} == {3}

        session = load_session(store, sid)
        assert verify_session(store, session).ok
        doc = explain(store, after[-1].decision_id, check=True)
        assert doc["config_in_force"] == {"hash": second.config_hash, "seq": change.seq, "event": "ConfigChanged",
                                          "matches": True}
        assert doc["rederived"]["identical"]
        assert all(c["config_value"] == c["limit"] for c in doc["checks"])
        assert explain(store, before[-1].decision_id)["config_in_force"]["event"] == "SessionStarted"

        result = run_what_if(store, session, [])
        assert any("changed its config 1 time" in n for n in result.notes)
