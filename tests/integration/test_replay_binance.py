"""Replay of a session recorded on Binance (the loopback fake exchange, real connector).

``--verify`` re-derives every decision from the log with nothing sent to the exchange;
a what-if re-simulates the recorded klines on the simulated venue and shows a
``sim baseline`` column (the unchanged config, simulated) beside the real fills.
"""

from __future__ import annotations

import json
from pathlib import Path

from eventlog.store import EventStore
from tests.fakes.binance_venue import FakeBinance
from tests.integration.test_binance_session import SYMBOLS, fake, run_hedge, session_env  # noqa: F401


def test_binance_session_verifies_and_what_if_runs_on_the_simulator(fake: FakeBinance, tmp_path: Path) -> None:  # noqa: F811
    home = tmp_path / "home"
    env = session_env(fake, home)
    out = run_hedge(["run", "--venue", "binance", "--symbols", ",".join(SYMBOLS), "--bars", "300",
                     "--no-projections"], env)
    assert out.returncode == 0, out.stderr[-3000:]
    with EventStore.open(home, create=False) as store:
        started = next(store.read(types=("SessionStarted",)))
        decided = sum(1 for _ in store.read(types=("RiskDecided",)))
    assert started.venue == "binance" and decided > 0
    sent = len(fake.requests)

    ver = run_hedge(["replay", "last", "--verify", "--format", "json"], env)
    assert ver.returncode == 0, ver.stdout[-2000:] + ver.stderr[-2000:]
    doc = json.loads(ver.stdout)
    assert doc["ok"] and doc["checked_by_type"]["RiskDecided"] == decided

    wi = run_hedge(["replay", "last", "--set", "risk.max_open_positions=1", "--format", "json"], env)
    assert wi.returncode == 0, wi.stderr[-2000:]
    w = json.loads(wi.stdout)
    assert w["venue"] == "binance" and w["baseline"] is not None
    assert any("binance" in n for n in w["notes"])
    assert w["baseline"]["bars"] == w["what_if"]["bars"] == w["recorded"]["bars"] > 0
    assert w["recorded"]["intents"] == doc["checked_by_type"]["IntentEmitted"]
    text = run_hedge(["replay", "last", "--set", "risk.max_open_positions=1"], env)
    assert text.returncode == 0 and "sim baseline" in text.stdout

    assert len(fake.requests) == sent  # replay and what-if never talked to the exchange
