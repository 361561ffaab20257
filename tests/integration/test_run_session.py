"""``hedge run`` end to end: generated market, real market data, determinism, bad input."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec
import pytest

from engine.replay_core import payload, rederive
from eventlog.payloads import ConfigChange
from eventlog.store import EventStore
from hedge.cli import main


def _run(home: Path, *args: str, capsys: Any = None) -> tuple[int, str]:
    rc = main(["run", "--home", str(home), "--no-projections", *args])
    out = capsys.readouterr().out if capsys is not None else ""
    return rc, out


def _session(home: Path) -> tuple[str, list[Any]]:
    with EventStore.open(home) as store:
        sid = store.find_session("last").session_id
        return sid, list(store.read(session=sid))


@pytest.fixture(scope="module")
def generated_session(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, list[Any], str]:
    home = tmp_path_factory.mktemp("gen")
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["run", "--home", str(home), "--no-projections", "--bars", "2000"])
    assert rc == 0
    sid, events = _session(home)
    return home, sid, events, buf.getvalue()


def test_generated_session_trades_and_records_vetoes_from_several_gates(generated_session) -> None:
    _, sid, events, out = generated_session
    names = [type(e).__name__ for e in events]
    assert names[0] == "SessionStarted" and names[-1] == "SessionEnded"
    assert sid in out and "final NAV" in out
    vetoes = [e for e in events if type(e).__name__ == "RiskDecided" and e.outcome == "veto"]
    gates = {v.gate for v in vetoes}
    assert len(gates) >= 4, gates
    assert {"nav_freshness", "max_open_positions"} <= gates
    for v in vetoes:
        assert v.thresholds and v.observations and v.breached
        assert v.state_refs["nav"] < v.session_seq and v.state_refs["intent"] < v.session_seq
    assert any(e.outcome == "clamp" for e in events if type(e).__name__ == "RiskDecided")
    fills = [e for e in events if type(e).__name__ == "OrderFilled"]
    assert fills and any(f.is_maker for f in fills) and any(not f.is_maker for f in fills)
    assert "OffExchangeValued" in names and "FundingApplied" in names and "PositionClosed" in names
    assert any(type(e).__name__ == "NavSnapshot" and not e.sources_ok for e in events), "the halt degrades NAV"
    end = events[-1]
    assert end.reason == "bars" and end.summary["bar_steps"] == 2000
    assert end.summary["events"] == len(events)


def test_session_config_is_frozen_in_the_log_and_matches_its_hash(generated_session) -> None:
    from config.loader import from_dict

    _, _, events, _ = generated_session
    start = events[0]
    assert from_dict(start.config).config_hash == start.config_hash
    assert all(e.config_hash == start.config_hash for e in events if type(e).__name__ == "RiskDecided")


def test_every_decision_rederives_identically_from_the_recorded_inputs(generated_session) -> None:
    _, _, events, _ = generated_session
    report = rederive(events)
    assert report.ok, (report.mismatches[:3], report.unexpected[:3], report.missing[:3])
    assert report.decisions_checked > 500


def _normalised(sid: str, events: list[Any]) -> list[bytes]:
    tag = sid.replace("-", "")[:8]
    enc = msgspec.json.Encoder()
    out = []
    for e in events:
        d = payload(e)
        d["type"] = type(e).__name__
        out.append(re.sub(rb"\b" + tag.encode() + rb"-", b"S-", enc.encode(d)))
    return out


def test_same_command_twice_gives_identical_payloads_and_summary(tmp_path: Path, capsys) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    rc1, out1 = _run(a, "--bars", "600", "--seed", "11", capsys=capsys)
    rc2, out2 = _run(b, "--bars", "600", "--seed", "11", capsys=capsys)
    assert rc1 == rc2 == 0
    sa, ea = _session(a)
    sb, eb = _session(b)
    assert sa != sb
    assert _normalised(sa, ea) == _normalised(sb, eb)
    assert [e.ts_init_ns for e in ea] == [e.ts_init_ns for e in eb], "sim ts_init_ns comes from the sim clock"
    assert ea[-1].summary == eb[-1].summary
    summary = [ln for ln in out1.splitlines() if ln.startswith("  ") and "bars/s" not in ln]
    assert summary == [ln for ln in out2.splitlines() if ln.startswith("  ") and "bars/s" not in ln]


@pytest.mark.market
def test_session_over_real_market_data_slice(market_dir: Path, tmp_path: Path, capsys) -> None:
    rc, out = _run(tmp_path, "--data", str(market_dir), "--bars", "3000", capsys=capsys)
    assert rc == 0, out
    _sid, events = _session(tmp_path)
    start = events[0]
    assert start.symbols == ["BTCUSDT", "ETHUSDT", "SOLUSDT"] and start.data_source.startswith("csv:")
    kl = [e for e in events if type(e).__name__ == "KlineClosed"]
    assert len(kl) == 9000 and kl[0].open_time_ms == 1_751_629_200_000
    assert any(type(e).__name__ == "OrderFilled" for e in events)
    assert rederive(events).ok


def test_once_runs_one_bar_step(tmp_path: Path, capsys) -> None:
    rc, _ = _run(tmp_path, "--once", capsys=capsys)
    assert rc == 0
    _, events = _session(tmp_path)
    assert events[-1].reason == "once" and events[-1].summary["bar_steps"] == 1


def test_bad_input_is_refused_with_exit_2_and_leaves_the_log_untouched(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "data"
    bad.mkdir()
    (bad / "BTCUSDT.csv").write_text("open_time_ms,open,high,low,volume\n1,1,1,1,1\n")
    assert main(["run", "--home", str(tmp_path / "h"), "--data", str(bad)]) == 2
    assert "missing column 'close'" in capsys.readouterr().err
    assert main(["run", "--home", str(tmp_path / "h"), "--speed", "fast"]) == 2
    assert main(["run", "--home", str(tmp_path / "h"), "--symbols", "NOPEUSDT"]) == 2
    assert main(["run", "--home", str(tmp_path / "h"), "--data", str(tmp_path / "missing")]) == 2
    assert not (tmp_path / "h" / "eventlog.sqlite").exists() or EventStore.open(tmp_path / "h").count() == 0


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_signal_ends_the_session_cleanly_even_during_a_paced_wait(tmp_path: Path, sig: str) -> None:
    import os
    import signal
    import subprocess
    import sys

    home = tmp_path / "h"
    env = {**os.environ, "HEDGE_HOME": str(home)}
    env.pop("HEDGE_STORE_URL", None)
    # speed 1: one 5m bar every 5 real minutes, so the process sits in the pacing wait
    proc = subprocess.Popen([sys.executable, "-m", "hedge.cli", "run", "--speed", "1", "--no-projections"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        first = proc.stdout.readline() if proc.stdout else ""
        assert first.startswith("session "), first
        proc.send_signal(getattr(signal, sig))
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "ended (stopped)" in out
    _, events = _session(home)
    assert events[-1].reason == "stopped" and type(events[-1]).__name__ == "SessionEnded"


def test_until_stops_at_the_given_market_time(tmp_path: Path, capsys) -> None:
    rc, _ = _run(tmp_path, "--until", "2025-07-01T02:00:00Z", "--symbols", "BTCUSDT", capsys=capsys)
    assert rc == 0
    _, events = _session(tmp_path)
    klines = [e for e in events if type(e).__name__ == "KlineClosed"]
    assert events[-1].reason == "until" and len(klines) == 24  # 2h of 5m bars from 00:00
    assert klines[-1].close_time_ms == 1_751_335_200_000 - 1


def test_no_order_without_an_approving_decision_and_fills_never_exceed_it(generated_session) -> None:
    _, _, events, _ = generated_session
    decisions = {e.decision_id: e for e in events if type(e).__name__ == "RiskDecided"}
    plans = {e.plan_id: e for e in events if type(e).__name__ == "RoutePlanned"}
    orders = {e.order_id: e for e in events if type(e).__name__ == "OrderSubmitted"}
    filled: dict[str, float] = {}
    for e in events:
        if type(e).__name__ == "OrderFilled":
            pid = orders[e.order_id].plan_id
            filled[pid] = filled.get(pid, 0.0) + e.qty
    assert orders and plans
    for o in orders.values():
        plan = plans[o.plan_id]
        dec = decisions[plan.decision_id]
        assert dec.outcome in ("allow", "clamp") and plan.qty == dec.approved_qty
        assert o.symbol == dec.symbol and o.side == plan.side
    for pid, q in filled.items():
        assert q <= plans[pid].qty + 1e-9


def test_sighup_reloads_the_config_as_a_recorded_change_and_bad_edits_are_refused(tmp_path: Path) -> None:
    import json
    import os
    import shutil
    import signal
    import subprocess
    import sys

    from config.loader import REPO_CONFIG_DIR

    cfg = tmp_path / "cfg"
    shutil.copytree(REPO_CONFIG_DIR, cfg, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    home = tmp_path / "h"
    env = {**os.environ, "HEDGE_HOME": str(home), "HEDGE_CONFIG_DIR": str(cfg)}
    env.pop("HEDGE_STORE_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "hedge.cli", "run", "--speed", "1", "--no-projections"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.readline().startswith("session ")
        (cfg / "risk_limits.json").write_text("{not json")
        proc.send_signal(signal.SIGHUP)
        assert "config reload refused" in _next_said(proc.stderr)
        rl = json.loads((REPO_CONFIG_DIR / "risk_limits.json").read_text())
        rl["global"]["max_trade_nav_pct"] = 0.05
        (cfg / "risk_limits.json").write_text(json.dumps(rl))
        proc.send_signal(signal.SIGHUP)
        assert "config reloaded" in _next_said(proc.stderr)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0 and "ended (stopped)" in out
    _, events = _session(home)
    changed = [e for e in events if type(e).__name__ == "ConfigChanged"]
    assert len(changed) == 1
    ch = changed[0]
    assert ch.previous_hash == events[0].config_hash and ch.config_hash != ch.previous_hash
    assert ch.changes == [ConfigChange(key="risk_limits.global.max_trade_nav_pct", old=0.06, new=0.05)]


def _next_said(stream: object) -> str:
    """The next stderr line that is not hedge run's start lines or periodic status."""
    while True:
        line: str = stream.readline()  # type: ignore[attr-defined]
        if not line or not line.startswith(("hedge run: pid ", "hedge run: endless", "hedge run: status: ")):
            return line
