"""``hedge verify`` / ``hedge sessions`` end to end, on SQLite (1,000,000 events) and PostgreSQL.

The CLI runs as a subprocess, exactly as an operator or an auditor runs it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from eventlog.codec import encode
from eventlog.store import EventStore
from tests.eventgen import ended, new_session_id, started, tick
from tests.rawlog import RawLog

REPO = Path(__file__).resolve().parents[2]


def hedge(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    e = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "hedge.cli", *args], cwd=REPO, env=e, capture_output=True,
                          text=True, timeout=timeout)


def fill(store: EventStore, n_ticks: int, batch: int = 10_000) -> str:
    """One session: SessionStarted, ``n_ticks`` small MarketTicks, SessionEnded."""
    sid = new_session_id()
    store.append([started(sid)])
    seq = 2
    while seq <= n_ticks + 1:
        k = min(batch, n_ticks + 2 - seq)
        rows = []
        for s in range(seq, seq + k):
            ev = tick(sid, s, price=100.0 + (s % 1000))
            rows.append((sid, s, "MarketTick", encode(ev)))
        store.append_encoded(rows)
        seq += k
    store.append([ended(sid, n_ticks + 2)])
    return sid


@pytest.mark.slow
def test_a_million_events_append_read_back_verify_and_a_flipped_byte_is_named(home: Path) -> None:
    n = 1_000_000
    with EventStore.open(home) as store:
        sid = fill(store, n - 2)
        assert store.count() == n
        expected = 1
        for batch in store.read_batches(batch=50_000):
            for ev in batch:
                assert ev.session_seq == expected and ev.seq == expected
                expected += 1
        assert expected == n + 1
        head_seq, head = store.head()
    ok = hedge("verify", "--format", "json")
    assert ok.returncode == 0, ok.stderr
    res = json.loads(ok.stdout)
    assert res["ok"] and res["events"] == n and res["head_hash"] == head and res["last_seq"] == head_seq
    listed = json.loads(hedge("sessions", "--format", "json").stdout)
    assert [s["session_id"] for s in listed] == [sid] and listed[0]["events"] == n

    RawLog(sqlite_path=home / "eventlog.sqlite").flip_byte(654_321, 40)
    bad = hedge("verify")
    assert bad.returncode == 1
    assert "FAILED at seq 654321" in bad.stdout
    assert "Traceback" not in bad.stderr


def test_verify_names_the_seq_in_text_and_json_and_exits_1(home: Path) -> None:
    with EventStore.open(home) as store:
        fill(store, 200)
        published = "{}:{}".format(*store.head())
    assert hedge("verify", "--head", published).returncode == 0
    RawLog(sqlite_path=home / "eventlog.sqlite").flip_byte(202, 60)  # the last row's payload
    r = hedge("verify", "--head", published, "--format", "json")
    assert r.returncode == 1 and json.loads(r.stdout)["bad_seq"] == 202


def test_verify_without_a_log_is_a_clean_exit_2(home: Path) -> None:
    r = hedge("verify")
    assert r.returncode == 2 and "no event log" in r.stderr and "Traceback" not in r.stderr
    assert not (home / "eventlog.sqlite").exists()


@pytest.mark.postgres
def test_verify_and_sessions_run_on_postgresql_through_the_url(pg_url: str, tmp_path: Path) -> None:
    with EventStore.open(url=pg_url) as store:
        sid = fill(store, 20_000, batch=5_000)
        head_seq, head = store.head()
    env = {"HEDGE_STORE_URL": pg_url, "HEDGE_HOME": str(tmp_path / "unused")}
    r = hedge("verify", "--head", f"{head_seq}:{head}", env=env)
    assert r.returncode == 0, r.stderr
    assert "ok: 20002 events" in r.stdout and head in r.stdout
    assert "S3cret" not in r.stdout + r.stderr  # the password is redacted in the location
    s = hedge("sessions", "--format", "json", env=env)
    assert s.returncode == 0 and json.loads(s.stdout)[0]["session_id"] == sid
    assert not (tmp_path / "unused").exists()  # nothing written to a home on PostgreSQL

    RawLog(url=pg_url).flip_byte(12_345, 50)
    bad = hedge("verify", env=env)
    assert bad.returncode == 1 and "FAILED at seq 12345" in bad.stdout


@pytest.mark.postgres
def test_verify_on_an_empty_postgresql_database_is_a_clean_exit_2(pg_url: str) -> None:
    r = hedge("verify", env={"HEDGE_STORE_URL": pg_url})
    assert r.returncode == 2 and "no event log" in r.stderr and "S3cret" not in r.stderr


def test_a_bad_store_url_is_a_clean_exit_2_without_the_password(home: Path) -> None:
    for url in ("mysql://u:S3cretpw@h/db", "postgresql://u:S3cretpw@127.0.0.1:1/"):
        r = hedge("verify", env={"HEDGE_STORE_URL": url})
        assert r.returncode == 2, r.stderr
        assert "S3cretpw" not in r.stdout + r.stderr and "Traceback" not in r.stderr


@pytest.mark.postgres
def test_a_wrong_password_or_a_dead_server_says_so_without_the_password(pg_url: str) -> None:
    wrong = pg_url.replace("pw-S3cret", "pw-W4rong")
    dead = "postgresql://hedge:pw-D3adsecret@127.0.0.1:1/db"
    for url, why in ((wrong, "password authentication failed"), (dead, "Connection refused")):
        r = hedge("verify", env={"HEDGE_STORE_URL": url})
        assert r.returncode != 0 and "Traceback" not in r.stderr
        assert "cannot connect to PostgreSQL" in r.stderr and why in r.stderr, r.stderr
        assert "W4rong" not in r.stderr and "D3adsecret" not in r.stderr and "***" in r.stderr
