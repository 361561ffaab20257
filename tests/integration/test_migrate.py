"""``hedge migrate --to postgresql://...``: byte-for-byte copy, chain intact, prefix rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eventlog.store import EventStore
from tests.eventgen import new_session_id, session_events, tick
from tests.integration.test_verify_cli import fill, hedge
from tests.rawlog import RawLog

pytestmark = pytest.mark.postgres


def _sqlite_rows(home: Path) -> list[tuple[int, str, int, str, bytes]]:
    return RawLog(sqlite_path=home / "eventlog.sqlite").rows()


def test_migrate_copies_every_row_byte_for_byte_with_its_seq_and_verify_passes(home: Path, pg_url: str) -> None:
    with EventStore.open(home) as s:
        fill(s, 3_000, batch=700)
        s.append(session_events(new_session_id(), 50))
        head_seq, head = s.head()
    r = hedge("migrate", "--to", pg_url, "--batch", "1000", "--format", "json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["copied"] == 3_054 and out["head_hash"] == head and out["head_seq"] == head_seq
    assert RawLog(url=pg_url).rows() == _sqlite_rows(home)
    v = hedge("verify", "--head", f"{head_seq}:{head}", env={"HEDGE_STORE_URL": pg_url})
    assert v.returncode == 0, v.stdout + v.stderr
    # New appends on PostgreSQL continue the same chain after the copied seqs.
    with EventStore.open(url=pg_url) as pg:
        sid = new_session_id()
        assert pg.append(session_events(sid, 2)) == [head_seq + 1, head_seq + 2, head_seq + 3, head_seq + 4]
    assert hedge("verify", env={"HEDGE_STORE_URL": pg_url}).returncode == 0


def test_migrate_again_copies_only_what_was_appended_since(home: Path, pg_url: str) -> None:
    with EventStore.open(home) as s:
        sid = fill(s, 100)
    assert hedge("migrate", "--to", pg_url).returncode == 0
    again = hedge("migrate", "--to", pg_url, "--format", "json")
    assert again.returncode == 0 and json.loads(again.stdout)["copied"] == 0
    with EventStore.open(home) as s:
        s.append([tick(sid, 200 + i) for i in range(10)])
    more = hedge("migrate", "--to", pg_url, "--format", "json")
    assert more.returncode == 0, more.stderr
    assert json.loads(more.stdout)["copied"] == 10 and json.loads(more.stdout)["already_there"] == 102
    assert RawLog(url=pg_url).rows() == _sqlite_rows(home)


def test_migrate_refuses_a_target_that_is_not_a_prefix_and_writes_nothing(home: Path, pg_url: str) -> None:
    with EventStore.open(home) as s:
        fill(s, 50)
    with EventStore.open(url=pg_url) as pg:
        pg.append(session_events(new_session_id(), 3))
    before = RawLog(url=pg_url).rows()
    r = hedge("migrate", "--to", pg_url)
    assert r.returncode == 2 and "not a prefix" in r.stderr and "Traceback" not in r.stderr
    assert RawLog(url=pg_url).rows() == before


def test_migrate_refuses_a_target_longer_than_the_source(home: Path, pg_url: str) -> None:
    with EventStore.open(home) as s:
        sid = fill(s, 20)
    assert hedge("migrate", "--to", pg_url).returncode == 0
    with EventStore.open(url=pg_url) as pg:
        pg.append([tick(sid, 100)])
    r = hedge("migrate", "--to", pg_url)
    assert r.returncode == 2 and "more events than the source" in r.stderr


def test_migrate_refuses_a_source_that_does_not_verify(home: Path, pg_url: str) -> None:
    with EventStore.open(home) as s:
        fill(s, 20)
    RawLog(sqlite_path=home / "eventlog.sqlite").flip_byte(7, 3)
    r = hedge("migrate", "--to", pg_url)
    assert r.returncode == 2 and "seq 7" in r.stderr
    assert not RawLog(url=pg_url).exists()  # nothing written, not even the table


def test_migrate_needs_a_target_and_never_prints_the_password(home: Path, pg_url: str) -> None:
    r = hedge("migrate")
    assert r.returncode == 2 and "--to" in r.stderr
    with EventStore.open(home) as s:
        fill(s, 5)
    ok = hedge("migrate", "--to", pg_url)
    assert ok.returncode == 0 and "***" in ok.stdout
    assert "S3cret" not in ok.stdout + ok.stderr


def test_migrate_without_a_source_log_is_a_clean_exit_2(home: Path, pg_url: str) -> None:
    r = hedge("migrate", "--to", pg_url)
    assert r.returncode == 2 and "no event log" in r.stderr


def test_migrate_while_the_engine_keeps_appending_then_catch_up(home: Path, pg_url: str) -> None:
    import threading

    from eventlog.migrate import migrate

    with EventStore.open(home) as s:
        sid = fill(s, 20_000, batch=2_000)
    stop = threading.Event()

    def engine() -> None:  # a live writer on the source during the copy
        with EventStore.open(home) as s:
            k = 20_003
            while not stop.is_set() and k < 60_000:
                s.append([tick(sid, k + i) for i in range(200)])
                k += 200

    t = threading.Thread(target=engine)
    t.start()
    try:
        first = migrate(home / "eventlog.sqlite", pg_url, batch=1_000)
    finally:
        stop.set()
        t.join()
    assert first.target_verified and first.copied > 0
    second = migrate(home / "eventlog.sqlite", pg_url)
    assert second.already_there == first.copied
    assert RawLog(url=pg_url).rows() == _sqlite_rows(home)


def test_migrate_back_from_postgresql_into_a_new_sqlite_file_keeps_every_row_and_the_head(
    home: Path, pg_url: str, tmp_path: Path
) -> None:
    with EventStore.open(home) as s:
        fill(s, 2_500, batch=600)
        s.append(session_events(new_session_id(), 30))
        head_seq, head = s.head()
    assert hedge("migrate", "--to", pg_url).returncode == 0
    assert RawLog(url=pg_url).blocks()  # a new PostgreSQL log is the compact (block) layout
    back = tmp_path / "back"
    r = hedge("migrate", "--from", pg_url, "--to", str(back / "eventlog.sqlite"), "--batch", "700",
              "--format", "json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["copied"] == 2_534 and out["head_hash"] == head and "S3cret" not in r.stdout + r.stderr
    assert _sqlite_rows(back) == _sqlite_rows(home) == RawLog(url=pg_url).rows()
    v = hedge("verify", "--home", str(back), "--head", f"{head_seq}:{head}")
    assert v.returncode == 0, v.stdout + v.stderr
    again = hedge("migrate", "--from", pg_url, "--to", str(back), "--format", "json")  # a directory: its log
    assert again.returncode == 0 and json.loads(again.stdout)["copied"] == 0


def test_an_old_postgresql_log_converts_into_the_compact_layout_and_a_gap_cannot_go_to_sqlite(
    pg_server: object, pg_url: str, tmp_path: Path
) -> None:
    from eventlog.migrate import MigrateError, migrate

    sid = new_session_id()
    with EventStore.open(url=pg_url, layout="v1") as old:  # the eventsourcing table
        old.append(session_events(sid, 5, end=False))
        with pytest.raises(Exception, match=r"(?i)unique|duplicate|integrity"):
            old.append([tick(sid, 7), tick(sid, 2)])  # rolled back: its ids are burnt
        old.append([tick(sid, 7)])
        rows = RawLog(url=pg_url).rows()
    assert rows[-1][0] > rows[-2][0] + 1
    new_url = pg_server.create_database("conv")  # type: ignore[attr-defined]
    try:
        res = migrate(pg_url, new_url)
        assert res.copied == 7 and RawLog(url=new_url).blocks()
        assert RawLog(url=new_url).rows() == rows  # seqs (gap included) and bytes kept
        with pytest.raises(MigrateError, match=r"no gaps"):
            migrate(new_url, tmp_path / "lite.sqlite")
        assert not RawLog(sqlite_path=tmp_path / "lite.sqlite").rows()
    finally:
        pg_server.drop_database(new_url)  # type: ignore[attr-defined]
