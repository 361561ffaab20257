"""Resume equivalence (issue 13): an account run as many sessions decides as one run.

On the simulated venue a run stopped after any bar - by ``--bars``, SIGTERM or
kill -9 at a random point - and resumed with the same command makes exactly the
decisions of one uninterrupted run over the same data: the same intents, risk
decisions with the same observations, orders, fills and account readings
(``tests/accountlog.py`` says what may differ: session ids and boundaries).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hedge.cli import main
from tests.accountlog import account_events, first_difference, normalised

REPO = Path(__file__).resolve().parents[2]


def _run(home: Path, *args: str) -> None:
    rc = main(["run", "--home", str(home), "--quiet", "--no-projections", *args])
    assert rc == 0


def _same(one: Path, many: Path) -> None:
    a = normalised(account_events(one))
    b = normalised(account_events(many))
    assert a, "the uninterrupted run recorded nothing"
    diff = first_difference(a, b)
    assert diff is None, diff


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(splits=st.lists(st.integers(min_value=1, max_value=120), min_size=2, max_size=4))
def test_bars_splits_decide_as_one_run(tmp_path_factory: pytest.TempPathFactory, splits: list[int]) -> None:
    base = tmp_path_factory.mktemp("resume")
    _run(base / "one", "--bars", str(sum(splits)))
    for n in splits:
        _run(base / "many", "--bars", str(n))
    _same(base / "one", base / "many")


def test_resume_after_data_end_records_nothing_new(tmp_path: Path, market_dir: Path) -> None:
    """A session resumed past the data's end has nothing to trade and says so (no bar replayed)."""
    data = tmp_path / "data"
    data.mkdir()
    for sym in ("BTCUSDT", "ETHUSDT"):
        lines = (market_dir / f"{sym}.csv").read_text().splitlines()[:400]
        (data / f"{sym}.csv").write_text("\n".join(lines) + "\n")
    _run(tmp_path / "h", "--data", str(data))
    first = len(account_events(tmp_path / "h"))
    _run(tmp_path / "h", "--data", str(data))
    evs = account_events(tmp_path / "h")
    new = [type(e).__name__ for e in evs[first:]]
    assert "KlineClosed" not in new and "IntentEmitted" not in new


def _spawn(home: Path, until: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "HEDGE_HOME": str(home), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("HEDGE_STORE_URL", None)
    hedge = str(Path(sys.executable).with_name("hedge"))
    return subprocess.Popen([hedge, "run", "--home", str(home), "--until", until,
                             "--quiet", "--no-projections"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_for_events(home: Path, proc: subprocess.Popen[bytes], at_least: int, timeout: float = 60.0) -> None:
    """Until the log holds ``at_least`` rows (or the process ended)."""
    import sqlite3

    db = home / "eventlog.sqlite"
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout and proc.poll() is None:
        if db.exists():
            try:
                with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
                    n = c.execute("SELECT count(*) FROM stored_events").fetchone()[0]
                if n >= at_least:
                    return
            except sqlite3.Error:
                pass
        time.sleep(0.02)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_and_resumed_decides_as_one_run(tmp_path: Path, sig: int) -> None:
    """Two interruptions at random points of the log, then the same command to the end."""
    until = "2025-07-08T00:00:00Z"  # ~2,000 bar steps of the generated market (from 2025-07-01)
    rnd = random.Random(int(sig) * 7919)
    one, many = tmp_path / "one", tmp_path / "many"
    _run(one, "--until", until)
    total = len(account_events(one))
    killed = 0
    for _ in range(2):
        proc = _spawn(many, until)
        done = len(account_events(many)) if (many / "eventlog.sqlite").exists() else 0
        _wait_for_events(many, proc, done + rnd.randint(total // 10, total // 3))
        if proc.poll() is None:
            proc.send_signal(sig)
            killed += 1
        proc.wait(timeout=60)
        err = proc.stderr.read().decode() if proc.stderr else ""
        assert "Traceback" not in err, err
    assert killed, "the run ended before it could be interrupted (make the window longer)"
    _run(many, "--until", until)
    _same(one, many)


@pytest.mark.slow
def test_real_data_six_monthly_sessions_end_as_one(tmp_path: Path, market_dir: Path) -> None:
    """The 180-day real-data run as six monthly sessions of one account ends in the same state."""
    import json

    one, many = tmp_path / "one", tmp_path / "many"
    assert main(["run", "--home", str(one), "--data", str(market_dir), "--quiet"]) == 0
    for until in ("2025-08-01", "2025-09-01", "2025-10-01", "2025-11-01", "2025-12-01", None):
        extra = ["--until", until] if until else []
        assert main(["run", "--home", str(many), "--data", str(market_dir), "--quiet", *extra]) == 0
    _same(one, many)
    volatile = {"session_id", "seq", "updated_ts", "generated_ts", "end_reason", "session_started_ts"}
    def numbers(home: Path, name: str) -> dict[str, object]:
        doc = json.loads((home / "state" / name).read_text())
        out = {k: v for k, v in doc.items() if k not in volatile}
        if isinstance(doc.get("windows"), dict):  # kpis_v7: the "this session" window differs by design
            out["windows"] = {k: v for k, v in doc["windows"].items() if k != "session"}
        return out

    for name in ("nav_state.json", "positions_state.json", "kpis_v7.json", "risk_snapshot.json"):
        a, b = numbers(one, name), numbers(many, name)
        assert a == b, f"{name}: {sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))[:5]}"


def test_a_session_resumed_at_until_takes_no_step_past_it(tmp_path: Path) -> None:
    """A run killed right after its last step (at --until) is resumed with the same command:
    the new session must not trade one bar past --until (the uninterrupted run stopped there)."""
    h = tmp_path / "h"
    _run(h, "--until", "2025-07-01T06:00:00Z")
    n = len(account_events(h))
    _run(h, "--until", "2025-07-01T06:00:00Z")
    new = [type(e).__name__ for e in account_events(h)[n:]]
    assert "KlineClosed" not in new, new[:10]


@pytest.mark.parametrize("checkpoint", [True, False])
@pytest.mark.parametrize("latency_ms", [50.0, 400_000.0])
def test_orders_in_flight_at_the_split_reach_the_book_as_in_one_run(tmp_path: Path, latency_ms: float,
                                                                    checkpoint: bool,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 14, latency: a session that stops while orders are on their way to the book (sent
    at the last bar's close, arriving ``latency_ms`` later - the default, and longer than a
    bar) is resumed and they arrive when, and where, they would have in one run - from the
    resume checkpoint, and from the fold of the log (checkpoint removed)."""
    from tests.configdir import copy_config, edit_json

    cfg = copy_config(tmp_path)
    edit_json(cfg / "runtime.json", lambda d: d["sim"].__setitem__("latency_ms", latency_ms))
    monkeypatch.setenv("HEDGE_CONFIG_DIR", str(cfg))  # (hedge's --config would set it for the rest of the process)
    one, many = tmp_path / "one", tmp_path / "many"
    bars = 400
    _run(one, "--bars", str(bars))
    evs = account_events(one)
    started = next(e for e in evs if type(e).__name__ == "SessionStarted")
    assert started.config["runtime"]["sim"]["latency_ms"] == latency_ms  # type: ignore[attr-defined]
    closes = sorted({e.ts_event_ns for e in evs if type(e).__name__ == "KlineClosed"})
    answered: dict[str, int] = {}
    for e in evs:
        if type(e).__name__ in ("OrderAccepted", "OrderRejected"):
            answered.setdefault(e.order_id, e.ts_event_ns)  # type: ignore[attr-defined]
    flights = [(e.ts_event_ns, answered[e.order_id]) for e in evs  # type: ignore[attr-defined]
               if type(e).__name__ == "OrderSubmitted" and e.order_id in answered]  # type: ignore[attr-defined]
    split = next((i + 1 for i, c in enumerate(closes[:-1]) if any(s <= c < a for s, a in flights)), None)
    assert split is not None, "no order was in flight at a bar step's end"
    _run(many, "--bars", str(split))
    if not checkpoint:
        for ck in many.rglob("checkpoint.bin"):
            ck.unlink()
    _run(many, "--bars", str(bars - split))
    _same(one, many)
