"""``hedge replay SESSION --verify`` on logs written by a real ``hedge run``.

A fresh session verifies (exit 0, counts printed); a copy of the log with one recorded
threshold changed - re-encoded so it still decodes, with or without a re-computed hash
chain - fails (exit 1) and names the field; so does a changed input (a NAV reading).
"""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import msgspec
import pytest

from eventlog.chain import split
from eventlog.codec import decode, encode
from eventlog.store import EventStore
from hedge.cli import main
from tests.rawlog import RawLog

REPO = Path(__file__).resolve().parents[2]
BARS = 2500


def hedge(*argv: str) -> tuple[int, str, str]:
    """Run the CLI in-process; the environment it changes (HEDGE_HOME) is restored."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HEDGE_HOME", "/nonexistent-hedge-home")
        mp.delenv("HEDGE_STORE_URL", raising=False)
        mp.delenv("HEDGE_CONFIG_DIR", raising=False)
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            rc = main(list(argv))
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    home = tmp_path_factory.mktemp("replay") / "home"
    rc, out, err = hedge("run", "--home", str(home), "--bars", str(BARS), "--no-projections", "--quiet")
    assert rc == 0, err
    sid = out.split()[1]
    return home, sid


def copy_log(src_home: Path, dst_home: Path) -> Path:
    """A consistent copy of the SQLite log (backup API: WAL content included)."""
    dst_home.mkdir(parents=True)
    src = sqlite3.connect(src_home / "eventlog.sqlite")
    dst = sqlite3.connect(dst_home / "eventlog.sqlite")
    with dst:
        src.backup(dst)
    src.close()
    dst.close()
    return dst_home / "eventlog.sqlite"


def rows(db: Path) -> list[tuple[int, str, bytes]]:
    """(seq, type, link + payload) of every row, as the chain covers them (either SQLite layout)."""
    return [(r[0], r[3], r[4]) for r in RawLog(sqlite_path=db).rows()]


def rewrite(db: Path, seq: int, payload: bytes, *, rechain: bool) -> None:
    """Replace one stored payload; with ``rechain`` recompute every later row's hash prefix."""
    all_rows = rows(db)
    idx = next(i for i, r in enumerate(all_rows) if r[0] == seq)
    prev_state = all_rows[idx - 1][2] if idx else None
    prefix = hashlib.sha256(prev_state).digest() if prev_state is not None else bytes(32)
    new_state = (prefix if rechain else split(all_rows[idx][2])[0]) + payload
    updates = [(seq, new_state)]
    if rechain:
        state = new_state
        for r in all_rows[idx + 1:]:
            state = hashlib.sha256(state).digest() + split(r[2])[1]
            updates.append((r[0], state))
    RawLog(sqlite_path=db).set_states(updates)


def first_event(db: Path, topic: str, pred: Any = lambda e: True) -> Any:
    for seq, t, state in rows(db):
        if t == topic:
            ev = decode(split(state)[1], seq)
            if pred(ev):
                return ev
    raise AssertionError(f"no {topic} in {db}")


def test_fresh_session_verifies_with_counts(recorded: tuple[Path, str]) -> None:
    home, sid = recorded
    rc, out, err = hedge("replay", "--home", str(home), sid, "--verify")
    assert rc == 0, out + err
    assert out.startswith(f"ok: session {sid}")
    doc_rc, doc_out, _ = hedge("replay", "--home", str(home), sid[:8], "--verify", "--format", "json")
    doc = json.loads(doc_out)
    with EventStore.open(home, create=False) as store:
        decided = sum(1 for _ in store.read(session=sid, types=("RiskDecided",)))
        planned = sum(1 for _ in store.read(session=sid, types=("RoutePlanned",)))
    assert doc_rc == 0 and doc["ok"] and doc["different"] == 0
    assert doc["checked_by_type"]["RiskDecided"] == decided > 0
    assert doc["checked_by_type"]["RoutePlanned"] == planned > 0
    assert doc["identical"] == doc["checked"] == sum(doc["checked_by_type"].values())
    assert doc["bar_steps"] == BARS
    assert f"decisions checked {doc['checked']:,}  identical {doc['checked']:,}  different 0" in out


@pytest.mark.parametrize("rechain", [False, True], ids=["chain-broken", "chain-recomputed"])
def test_one_tampered_threshold_fails_verify_and_is_named(recorded: tuple[Path, str], tmp_path: Path,
                                                          rechain: bool) -> None:
    home, sid = recorded
    db = copy_log(home, tmp_path / "copy")
    veto = first_event(db, "RiskDecided", lambda e: e.outcome == "veto" and e.breached)
    name = veto.breached[0]
    old = veto.thresholds[name]
    new = old * 2 if isinstance(old, int | float) and not isinstance(old, bool) else f"{old}-forged"
    forged = msgspec.structs.replace(veto, thresholds={**veto.thresholds, name: new})
    rewrite(db, veto.seq, encode(forged), rechain=rechain)

    chain_rc, _, _ = hedge("verify", "--home", str(db.parent))
    rc, out, _ = hedge("replay", "--home", str(db.parent), sid, "--verify")
    assert chain_rc == (0 if rechain else 1)  # a careful forger keeps the chain consistent...
    assert rc == 1  # ...but the decision no longer follows from its inputs and config
    assert out.startswith("DIFFERENT")
    assert "different 1" in out
    line = next(ln for ln in out.splitlines() if f"thresholds.{name}" in ln)
    assert line.split()[0] == str(veto.seq) and "RiskDecided" in line
    assert str(new) in line.replace(",", "") and str(old) in line.replace(",", "")
    assert ("hash chain: BROKEN at seq" in out) == (not rechain)  # the broken link is said beside the diff
    _, js, _ = hedge("replay", "--home", str(db.parent), sid, "--verify", "--format", "json")
    doc = json.loads(js)
    assert [(d["seq"], d["field"], d["recorded"], d["replayed"]) for d in doc["diffs"]] == [
        (veto.seq, f"thresholds.{name}", new, old)]
    assert doc["chain"]["ok"] is rechain and (rechain or doc["chain"]["seq"] == veto.seq + 1)


def test_a_broken_link_alone_fails_verify_beside_identical_decisions(recorded: tuple[Path, str],
                                                                     tmp_path: Path) -> None:
    """One row's link altered (its payload intact): every decision still follows, the chain
    does not - ``--verify`` says so and exits 1; a what-if refuses the log outright."""
    home, sid = recorded
    db = copy_log(home, tmp_path / "copy")
    tick = first_event(db, "MarketTick", lambda e: e.session_seq > 100)
    link = split(next(r[2] for r in rows(db) if r[0] == tick.seq))[0]
    con = sqlite3.connect(db)
    with con:
        con.execute("UPDATE stored_events SET state = ? WHERE rowid = ?",
                    (bytes([link[0] ^ 1]) + link[1:] + encode(tick), tick.seq))
    con.close()
    rc, out, err = hedge("replay", "--home", str(db.parent), sid, "--verify")
    assert rc == 1 and out.startswith("CHAIN BROKEN") and "different 0" in out
    assert f"hash chain: BROKEN at seq {tick.seq}:" in out and f"does not verify at seq {tick.seq}:" in err
    rc, js, _ = hedge("replay", "--home", str(db.parent), sid, "--verify", "--format", "json")
    doc = json.loads(js)
    assert rc == 1 and not doc["ok"] and doc["different"] == 0 and doc["identical"] == doc["checked"] > 0
    assert doc["chain"]["ok"] is False and doc["chain"]["seq"] == tick.seq
    rc, js, _ = hedge("replay", "--home", str(db.parent), "all", "--verify", "--format", "json")
    doc = json.loads(js)
    assert rc == 1 and not doc["ok"] and doc["chain"]["seq"] == tick.seq and all(s["ok"] for s in doc["sessions"])
    rc, out, err = hedge("replay", "--home", str(db.parent), sid, "--verify", "--set", "risk.max_open_positions=5")
    assert rc == 1 and out == "" and f"does not verify at seq {tick.seq}:" in err and "stopped before using it" in err


def test_tampered_input_shows_in_the_decision_that_saw_it(recorded: tuple[Path, str], tmp_path: Path) -> None:
    home, sid = recorded
    db = copy_log(home, tmp_path / "copy")
    dec = first_event(db, "RiskDecided", lambda e: "nav" in e.state_refs and e.session_seq > 200)
    nav = first_event(db, "NavSnapshot", lambda e: e.session_seq == dec.state_refs["nav"])
    rewrite(db, nav.seq, encode(msgspec.structs.replace(nav, nav_usd=nav.nav_usd * 0.5)), rechain=False)
    rc, js, _ = hedge("replay", "--home", str(db.parent), sid, "--verify", "--format", "json")
    doc = json.loads(js)
    assert rc == 1 and not doc["ok"]
    hit = [d for d in doc["diffs"] if d["seq"] == dec.seq and d["field"] == "observations.nav_usd"]
    assert hit and hit[0]["recorded"] == pytest.approx(nav.nav_usd) and hit[0]["replayed"] == pytest.approx(nav.nav_usd * 0.5)


def test_bad_session_and_nothing_to_do_exit_2(recorded: tuple[Path, str], tmp_path: Path) -> None:
    home, _ = recorded
    rc, _, err = hedge("replay", "--home", str(home), "ffffffff", "--verify")
    assert rc == 2 and err.strip() == f"hedge replay: error: no session matches 'ffffffff' in {home / 'eventlog.sqlite'}"
    rc, _, err = hedge("replay", "--home", str(home), "last")
    assert rc == 2 and "nothing to do" in err and len(err.strip().splitlines()) == 1
    rc, _, err = hedge("replay", "--home", str(tmp_path / "empty"), "last", "--verify")
    assert rc == 2 and "no event log" in err


def test_installed_command_exit_codes(recorded: tuple[Path, str]) -> None:
    home, sid = recorded
    exe = REPO / ".venv" / "bin" / "hedge"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "hedge.cli"]
    ok = subprocess.run([*cmd, "replay", "last", "--verify", "--home", str(home)], capture_output=True, text=True,
                        timeout=300)
    bad = subprocess.run([*cmd, "replay", "nope", "--verify", "--home", str(home)], capture_output=True, text=True,
                         timeout=300)
    assert ok.returncode == 0 and f"ok: session {sid}" in ok.stdout
    assert bad.returncode == 2 and bad.stdout == "" and len(bad.stderr.strip().splitlines()) == 1


def test_all_sessions_verify_and_one_tampered_session_fails_all(recorded: tuple[Path, str], tmp_path: Path) -> None:
    home, _ = recorded
    db = copy_log(home, tmp_path / "copy")
    rc, out, err = hedge("run", "--home", str(db.parent), "--bars", "300", "--no-projections", "--quiet")
    assert rc == 0, err
    rc, out, _ = hedge("replay", "--home", str(db.parent), "all", "--verify")
    assert rc == 0 and out.splitlines()[-1] == "2 sessions: 2 identical, 0 with differences"
    dec = first_event(db, "RiskDecided", lambda e: e.outcome != "veto")
    rewrite(db, dec.seq, encode(msgspec.structs.replace(dec, approved_qty=dec.approved_qty + 1.0)), rechain=False)
    rc, js, _ = hedge("replay", "--home", str(db.parent), "all", "--verify", "--format", "json")
    doc = json.loads(js)
    assert rc == 1 and not doc["ok"] and [s["ok"] for s in doc["sessions"]] == [False, True]
    assert {d["field"] for d in doc["sessions"][0]["diffs"]} >= {"approved_qty"}
    rc, _, err = hedge("replay", "--home", str(db.parent), "all", "--set", "risk.max_open_positions=5")
    assert rc == 2 and "--verify only" in err


def test_a_session_cut_between_trigger_and_decision_verifies_with_pending(recorded: tuple[Path, str],
                                                                           tmp_path: Path) -> None:
    """A killed (or still running) session: no SessionEnded, the log stops right after a kline
    that called for an intent. What the tail calls for is pending, not a difference."""
    home, sid = recorded
    db = copy_log(home, tmp_path / "copy")
    intent = first_event(db, "IntentEmitted", lambda e: e.session_seq > 500)
    con = sqlite3.connect(db)
    with con:
        con.execute("DELETE FROM stored_events WHERE rowid >= ?", (intent.seq,))  # the crash lost the tail
    con.close()
    assert hedge("verify", "--home", str(db.parent))[0] == 0  # a cut tail keeps the chain valid
    rc, js, _ = hedge("replay", "--home", str(db.parent), sid, "--verify", "--format", "json")
    doc = json.loads(js)
    assert rc == 0 and doc["ok"] and doc["missing"] == []
    assert [p["intent_id"] for p in doc["pending"]] == [intent.intent_id]
    rc, out, _ = hedge("replay", "--home", str(db.parent), sid, "--verify")
    assert rc == 0 and "session not ended: 1 decision(s)" in out
