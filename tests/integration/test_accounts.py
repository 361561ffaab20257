"""Accounts (issue 13): one mode for life, one engine at a time, the fund's view spans sessions."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from eventlog.account_lock import AccountLock
from eventlog.events import AccountOpened, SessionStarted
from eventlog.store import EventStore
from hedge.cli import main

STATE = ("nav_state.json", "positions_state.json", "kpis_v7.json", "risk_snapshot.json")
VOLATILE = {"session_id", "seq", "sessions", "updated_ts", "generated_ts", "end_reason", "session_started_ts"}


def _run(home: Path, *args: str) -> int:
    return main(["run", "--home", str(home), "--quiet", *args])


def _live_account(home: Path, name: str) -> None:
    """A live Binance account as a real one's first session records it."""
    sid = str(uuid.uuid4())
    with EventStore.open(home) as store:
        store.append([
            SessionStarted(session_id=sid, session_seq=1, stream="session", ts_event_ns=1, ts_init_ns=1,
                           engine_version="0", mode="live", venue="binance", symbols=["BTCUSDT"], config={},
                           config_hash="x", account=name),
            AccountOpened(session_id=sid, session_seq=2, stream="session", ts_event_ns=1, ts_init_ns=1,
                          account=name, mode="live", venue="binance"),
        ])


def test_a_sim_session_never_lands_in_a_live_account(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _live_account(home, "fund")
    with EventStore.open(home) as store:
        before = store.last_seq()
    assert _run(home, "--account", "fund", "--bars", "5") == 2
    err = capsys.readouterr().err
    assert "account 'fund' is a live account on binance" in err
    assert "this session is sim on sim" in err and "--account" in err
    with EventStore.open(home) as store:
        assert store.last_seq() == before  # refused before anything was recorded or connected


def test_a_second_engine_on_a_running_account_is_refused(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(home, "--bars", "3", "--no-projections") == 0
    with EventStore.open(home) as store, AccountLock(store, "main", home):
        assert _run(home, "--bars", "3", "--no-projections") == 2
        err = capsys.readouterr().err
        assert "account 'main' is already being run by pid" in err
        # another account of the same home is free
        assert _run(home, "--account", "book2", "--bars", "3", "--no-projections") == 0
    assert _run(home, "--bars", "3", "--no-projections") == 0  # the lock died with its holder


def test_account_names_are_checked(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(home, "--account", "../etc", "--bars", "3") == 2
    assert "--account" in capsys.readouterr().err


def test_demo_leaves_the_fund_account_untouched(home: Path) -> None:
    assert _run(home, "--bars", "50") == 0
    nav = json.loads((home / "state" / "nav_state.json").read_text())
    assert main(["demo", "--home", str(home), "--no-serve", "--bars", "60"]) == 0
    assert json.loads((home / "state" / "nav_state.json").read_text()) == nav
    demo = json.loads((home / "accounts" / "demo" / "state" / "nav_state.json").read_text())
    assert demo["account"] == "demo" and nav["account"] == "main" and demo["account_mode"] == "sim"
    with EventStore.open(home) as store:
        from eventlog.accounts import account_index

        accts = account_index(store)
    assert len(accts["main"].sessions) == 1 and len(accts["demo"].sessions) == 1


def _numbers(home: Path) -> dict[str, object]:
    out = {}
    for name in STATE:
        doc = json.loads((home / "state" / name).read_text())
        out[name] = {k: v for k, v in doc.items() if k not in VOLATILE}
        if isinstance(doc.get("windows"), dict):  # kpis_v7: "this session" differs by design
            out[name]["windows"] = {k: v for k, v in doc["windows"].items() if k != "session"}
    return out


def test_the_funds_state_files_span_its_sessions(tmp_path: Path) -> None:
    """Three sessions of one account end with the state files of one uninterrupted session."""
    one, many = tmp_path / "one", tmp_path / "many"
    assert _run(one, "--bars", "360") == 0
    for n in (100, 200, 60):
        assert _run(many, "--bars", str(n)) == 0
    a, b = _numbers(one), _numbers(many)
    for name in STATE:
        diff = sorted(k for k in set(a[name]) | set(b[name]) if a[name].get(k) != b[name].get(k))  # type: ignore[union-attr]
        assert not diff, f"{name}: {diff[:5]}"
    hist = json.loads((many / "state" / "nav_history.json").read_text())
    assert [s["end_reason"] for s in hist["sessions"]] == ["bars", "bars", "bars"]
    assert main(["replay", "--home", str(many), "--account", "main", "--verify", "--no-progress"]) == 0


def test_hedge_accounts_lists_every_account(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(home, "--bars", "40", "--no-projections") == 0
    assert _run(home, "--bars", "40", "--no-projections") == 0
    assert _run(home, "--account", "backtest-a", "--bars", "20", "--no-projections") == 0
    capsys.readouterr()
    assert main(["accounts", "--home", str(home), "--format", "json"]) == 0
    rows = {r["account"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["main"]["sessions"] == 2 and rows["backtest-a"]["sessions"] == 1
    assert rows["main"]["mode"] == "sim" and rows["main"]["running"] is False
    assert rows["main"]["nav_usd"] is not None and rows["main"]["max_drawdown_frac"] >= 0


def test_a_foreign_or_damaged_resume_checkpoint_is_ignored(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A checkpoint only ever makes a resume faster: one from another log, or a damaged one, is not used."""
    from tests.accountlog import account_events, first_difference, normalised

    a, b, one = tmp_path / "a", tmp_path / "b", tmp_path / "one"
    assert _run(one, "--bars", "150", "--no-projections") == 0
    assert _run(a, "--bars", "70", "--no-projections") == 0
    assert _run(b, "--bars", "40", "--no-projections") == 0
    ck = a / "engine" / "checkpoint.bin"
    assert ck.exists()
    (b / "engine" / "checkpoint.bin").write_bytes(ck.read_bytes())  # b's own is replaced by a's
    capsys.readouterr()
    assert _run(b, "--bars", "30", "--no-projections") == 0
    assert "does not match this log" in capsys.readouterr().err
    raw = bytearray((b / "engine" / "checkpoint.bin").read_bytes())
    raw[-5] ^= 0xFF
    (b / "engine" / "checkpoint.bin").write_bytes(bytes(raw))
    assert _run(b, "--bars", "80", "--no-projections") == 0
    assert "checkpoint ignored" in capsys.readouterr().err
    assert first_difference(normalised(account_events(one)), normalised(account_events(b))) is None


def test_the_alert_policy_spans_the_accounts_sessions(tmp_path: Path) -> None:
    """Alerts of an account run as three sessions are those of one run, each marked SIMULATED."""
    from projections.alerts.policy import POLICY_TYPES, alerts_for

    one, many = tmp_path / "one", tmp_path / "many"
    assert _run(one, "--bars", "2400", "--no-projections") == 0
    for n in (900, 700, 800):
        assert _run(many, "--bars", str(n), "--no-projections") == 0

    def said(home: Path) -> list[tuple[str, int, list[str]]]:
        with EventStore.open(home) as store:
            alerts = alerts_for(store.read(types=POLICY_TYPES))
        assert all("SIMULATED account" in a.text.splitlines()[0] for a in alerts)
        return [(a.kind, a.ts_event_ns, a.reasons) for a in alerts]

    a = said(one)
    assert a, "2,400 bars of the generated market should say something"
    assert said(many) == a
