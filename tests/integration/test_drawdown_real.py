"""The drawdown policy on the real 180 days (../shared/market; skipped when absent).

Before it, the engine entered ``defensive`` in late November and never left: 41 days
without an entry and nothing said so. With the repo config (hysteresis, the automatic
rule after 7 days, the 72 h entry-drought alert) one real ``hedge run`` must: report the
drought while it lasts (the state file field and the alert, saying why), leave
``defensive`` by the automatic rule as a recorded decision, trade again, and replay.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine.rules.units import DAY_NS
from eventlog.events import DdStateChanged, RiskDecided, SessionStarted
from eventlog.store import EventStore
from projections.alerts.policy import POLICY_TYPES, alerts_for
from projections.fold import Projector
from replay.source import load_session
from replay.verify import verify_session

pytestmark = [pytest.mark.slow, pytest.mark.market]
HEDGE = str(Path(sys.executable).parent / "hedge")


@pytest.fixture(scope="module")
def real(market_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    home = tmp_path_factory.mktemp("ddreal") / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEDGE_", "TELEGRAM_", "BINANCE_"))}
    env["HEDGE_HOME"] = str(home)
    r = subprocess.run([HEDGE, "run", "--data", str(market_dir), "--speed", "max", "--quiet", "--no-projections"],
                       env=env, capture_output=True, text=True, timeout=900, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    with EventStore.open(home, create=False) as store:
        sid = next(e.session_id for e in store.read(types=("SessionStarted",)) if isinstance(e, SessionStarted))
    return home, sid


def _read(home: Path, sid: str, types: tuple[str, ...]) -> list[Any]:
    with EventStore.open(home, create=False) as store:
        return list(store.read(session=sid, types=types))


def test_real_data_no_silent_dead_end(real: tuple[Path, str]) -> None:
    home, sid = real
    changes = [e for e in _read(home, sid, ("DdStateChanged",)) if isinstance(e, DdStateChanged)]
    defensive = [c for c in changes if c.to_state == "defensive"]
    assert defensive, "the real data takes the fund into defensive"
    enter = defensive[0]
    auto = next(c for c in changes if c.seq > enter.seq)
    # left by the automatic rule, a recorded decision with its thresholds and observations
    assert (auto.from_state, auto.to_state, auto.cause) == ("defensive", "cautious", "auto_rule")
    assert auto.thresholds["dd_auto_recover_days"] == 7
    days = (auto.ts_event_ns - enter.ts_event_ns) / DAY_NS
    assert 7 <= days < 7.01, days  # not 41 days
    # and it trades again: entries allowed after it, each recording the rule in force
    decided = [e for e in _read(home, sid, ("RiskDecided",)) if isinstance(e, RiskDecided)]
    after = [e for e in decided if e.seq > auto.seq and e.observations.get("risk_increasing") is True]
    allowed = [e for e in after if e.outcome != "veto"]
    assert len(allowed) >= 10
    assert allowed[0].observations["dd_override"] == "auto_rule"
    # while it lasted, the drought was reported: the state file field ...
    p = Projector()
    with EventStore.open(home, create=False) as store:
        p.apply_all(store.read(stop=auto.seq - 1))
    drought = p.documents()["risk_snapshot.json"]["entry_drought"]
    assert drought is not None and drought["state"] == "defensive" and drought["entries_vetoed"] > 0
    assert drought["hours"] >= 72 and drought["reason"].startswith("defensive since 2025-")
    assert drought["reason"].endswith(f": {drought['entries_vetoed']} entries vetoed")
    # ... and one urgent alert that says why, between entering defensive and leaving it
    with EventStore.open(home, create=False) as store:
        alerts = alerts_for(store.read(types=POLICY_TYPES))
    dry = [a for a in alerts if a.kind == "entry_drought"]
    assert dry and enter.ts_event_ns < dry[0].ts_event_ns < auto.ts_event_ns and dry[0].urgent
    assert "defensive since" in dry[0].reasons[0]
    assert any(a.kind == "dd_override" and a.ts_event_ns == auto.ts_event_ns for a in alerts)


def test_real_data_replays_identically(real: tuple[Path, str]) -> None:
    home, sid = real
    with EventStore.open(home, create=False) as store:
        report = verify_session(store, load_session(store, sid))
    assert report.ok
