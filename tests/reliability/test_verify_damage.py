"""Issue 17 item 3: ``hedge verify`` reads the store read-only and names the first bad seq for
every kind of damage to an SQLite log.

Damage is done underneath the project's code (plain ``sqlite3``, bytes of the file): a row
key that is not a session id or NULL, a payload that is NULL or not bytes, rows renumbered
(the chain still links them, a stored SQLite log has no gaps), a damaged b-tree page, a
byte flipped in the write-ahead log left by a crash, an empty file, a dropped table, a log
with all its rows deleted (against the published head). Each gives exit 1 with
``FAILED at seq N``; verify changes no byte of the
database or its WAL and creates nothing.
"""

from __future__ import annotations

import hashlib
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from eventlog.sqlite_wal import scan
from tests.reliability.harness import REPO, Site

CRASHING_WRITER = """
import os, signal, sys
from eventlog.store import EventStore
from tests.eventgen import new_session_id, session_events
store = EventStore.open(sys.argv[1])
evs = session_events(new_session_id(), int(sys.argv[2]), end=False)
for i in range(0, len(evs), 100):
    seqs = store.append(evs[i:i + 100])
    print(seqs[-1], flush=True)  # committed: the store accepted the batch
os.kill(os.getpid(), signal.SIGKILL)  # crash: no close, no checkpoint, the WAL stays
"""


def _files(home: Path) -> dict[str, str]:
    """Digest of the database and its WAL (the -shm index is SQLite's scratch memory).

    An empty WAL counts as no WAL: a read-only SQLite connection to a WAL-mode database
    may create the empty companion file, which holds nothing.
    """
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(home.iterdir())
            if p.name.startswith("eventlog.sqlite") and not p.name.endswith("-shm")
            and (p.name == "eventlog.sqlite" or p.stat().st_size > 0)}


def _failed_at(site: Site) -> tuple[int | None, str]:
    r = site.hedge("verify")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and not r.stderr.strip(), r.stderr
    line = r.stdout.strip().splitlines()[-1]
    assert line.startswith("FAILED"), line
    if not line.startswith("FAILED at seq "):
        return None, line
    return int(line.split()[3].rstrip(":")), line


@pytest.fixture
def logged(tmp_path: Path) -> Site:
    site = Site(tmp_path / "site")
    r = site.hedge("run", "--bars", "300", "--no-projections", "--quiet")
    assert r.returncode == 0, r.stderr
    assert site.verify()["ok"]
    return site


def _sql(site: Site, sql: str, params: tuple[object, ...] = ()) -> None:
    con = sqlite3.connect(site.home / "eventlog.sqlite", isolation_level=None)
    try:
        con.execute(sql, params)
    finally:
        con.close()


@pytest.mark.parametrize("value", ["not-a-session-id", None, 42])
def test_a_bad_row_key_is_named(logged: Site, value: object) -> None:
    seq = logged.raw().seqs()[100]
    _sql(logged, "UPDATE stored_events SET originator_id = ? WHERE rowid = ?", (value, seq))
    got, line = _failed_at(logged)
    assert got == seq and "row key" in line, line


@pytest.mark.parametrize("value", [None, "text instead of bytes", 7, 1.5])
def test_a_null_or_wrong_typed_payload_is_named(logged: Site, value: object) -> None:
    seq = logged.raw().seqs()[200]
    _sql(logged, "UPDATE stored_events SET state = ? WHERE rowid = ?", (value, seq))
    got, line = _failed_at(logged)
    assert got == seq and "stored payload is" in line, line


def test_a_null_session_seq_is_named(logged: Site) -> None:
    seq = logged.raw().seqs()[300]
    _sql(logged, "UPDATE stored_events SET originator_version = NULL WHERE rowid = ?", (seq,))
    got, line = _failed_at(logged)
    assert got == seq, line


def test_renumbered_rows_are_named(logged: Site) -> None:
    seqs = logged.raw().seqs()
    start, shift = seqs[1000], seqs[-1] + 500
    # Order kept, so every link still holds: only the numbering changed.
    _sql(logged, "UPDATE stored_events SET rowid = rowid + ? WHERE rowid >= ?", (shift, start))
    got, line = _failed_at(logged)
    assert got == start + shift and "renumbered" in line, line


def test_renumbering_the_first_rows_is_named(logged: Site) -> None:
    last = logged.raw().max_seq()
    _sql(logged, "UPDATE stored_events SET rowid = rowid + ?", (last + 10,))
    got, line = _failed_at(logged)
    assert got == last + 11 and "renumbered" in line, line


def test_a_damaged_page_is_named_at_its_first_row(logged: Site) -> None:
    path = logged.home / "eventlog.sqlite"
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    rows = logged.raw().rows()
    # Which page holds each row: its 32-byte link (the previous row's hash) occurs only there.
    page_of = {seq: data.find(state[:32]) // page for seq, _o, _v, _t, state in rows[1:]}
    target = page_of[rows[len(rows) // 2][0]]
    first_on_page = min(seq for seq, p in page_of.items() if p == target)
    assert data[target * page] == 0x0D  # a table b-tree leaf page
    data[target * page] = 0x00  # its page type: no longer a b-tree page
    path.write_bytes(bytes(data))
    before = _files(logged.home)
    got, line = _failed_at(logged)
    assert got == first_on_page and "storage damaged" in line, line
    assert _files(logged.home) == before


def test_an_empty_file_is_a_failure_and_stays_empty(tmp_path: Path) -> None:
    site = Site(tmp_path / "site")
    (site.home / "eventlog.sqlite").write_bytes(b"")
    got, line = _failed_at(site)
    assert got == 1 and "empty" in line, line
    assert sorted(p.name for p in site.home.iterdir()) == ["eventlog.sqlite"]
    assert (site.home / "eventlog.sqlite").stat().st_size == 0


def test_a_dropped_table_is_a_failure_and_verify_does_not_recreate_it(logged: Site) -> None:
    _sql(logged, "DROP TABLE stored_events")
    before = _files(logged.home)
    got, line = _failed_at(logged)
    assert got == 1 and "no events table" in line, line
    assert _files(logged.home) == before
    assert not logged.raw().exists()


def test_a_log_whose_rows_were_all_deleted_fails_against_the_published_head(logged: Site) -> None:
    res = logged.verify()
    _sql(logged, "DELETE FROM stored_events")
    # An empty table is also what a run killed at start-up leaves: alone it verifies...
    assert logged.verify()["events"] == 0
    # ...the published head is what tells the two apart.
    r = logged.hedge("verify", "--head", f"{res['last_seq']}:{res['head_hash']}")
    assert r.returncode == 1 and r.stdout.startswith("FAILED at seq 1:"), r.stdout


def _crash(site: Site, events: int) -> list[int]:
    """A writer using the real store is killed with SIGKILL after committing ``events`` events."""
    p = subprocess.run([sys.executable, "-c", CRASHING_WRITER, str(site.home), str(events)], cwd=REPO,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == -signal.SIGKILL, p.stderr
    return [int(x) for x in p.stdout.split()]


def test_verify_after_a_crash_is_read_only_and_keeps_the_wal(tmp_path: Path) -> None:
    site = Site(tmp_path / "site")
    committed = _crash(site, 3000)
    wal = site.home / "eventlog.sqlite-wal"
    assert wal.stat().st_size > 0 and scan(str(wal)) is None
    before = _files(site.home)
    res = site.verify()
    assert res["ok"] and res["last_seq"] == committed[-1], res
    assert _files(site.home) == before, "verify checkpointed, truncated or deleted the WAL"


def test_a_flipped_byte_in_the_wal_after_a_crash_is_named_and_the_wal_kept(tmp_path: Path) -> None:
    site = Site(tmp_path / "site")
    committed = _crash(site, 3000)
    wal = site.home / "eventlog.sqlite-wal"
    data = bytearray(wal.read_bytes())
    page = int.from_bytes(data[8:12], "big")
    data[32 + 9 * (24 + page) + 24 + 100] ^= 0xFF  # inside the 10th frame's page
    wal.write_bytes(bytes(data))
    # What SQLite itself shows: the committed rows after the damaged frame are gone.
    con = sqlite3.connect(f"file:{site.home / 'eventlog.sqlite'}?mode=ro", uri=True)
    visible = con.execute("SELECT COALESCE(MAX(rowid), 0) FROM stored_events").fetchone()[0]
    con.close()
    assert visible < committed[-1]
    before = _files(site.home)
    got, line = _failed_at(site)
    assert got == visible + 1 and "write-ahead log" in line and "frame 10" in line, line
    assert _files(site.home) == before, "verify destroyed the evidence"


def test_no_command_opens_a_log_with_a_damaged_wal_for_writing(tmp_path: Path) -> None:
    site = Site(tmp_path / "site")
    _crash(site, 3000)
    wal = site.home / "eventlog.sqlite-wal"
    data = bytearray(wal.read_bytes())
    page = int.from_bytes(data[8:12], "big")
    data[32 + 9 * (24 + page) + 24 + 100] ^= 0xFF
    wal.write_bytes(bytes(data))
    before = _files(site.home)
    for args in (("sessions",), ("run", "--bars", "5", "--quiet"), ("project",)):
        r = site.hedge(*args)
        assert r.returncode == 1 and "Traceback" not in r.stderr, (args, r.stdout, r.stderr)
        assert "does not verify at seq" in r.stderr and "write-ahead log" in r.stderr, (args, r.stderr)
        assert _files(site.home) == before, f"{args} changed the database or its WAL"
    got, _line = _failed_at(site)  # the evidence is still there for verify
    assert got is not None
