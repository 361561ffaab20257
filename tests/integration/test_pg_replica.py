"""The auditor's replica: a streaming hot standby of the log server, read-only.

``hedge verify --head SEQ:HASH`` and ``hedge sessions`` run against the replica
through ``HEDGE_STORE_URL``; nothing can be appended there.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator

import pytest

from eventlog.store import EventStore
from tests.eventgen import tick
from tests.integration.test_verify_cli import fill, hedge
from tests.pgserver import PgServer

pytestmark = pytest.mark.postgres


@pytest.fixture
def replica(pg_server: PgServer) -> Iterator[PgServer]:
    rep = pg_server.start_replica()
    try:
        yield rep
    finally:
        rep.stop()
        shutil.rmtree(rep.base, ignore_errors=True)


def test_the_auditor_verifies_the_log_on_a_read_only_replica(pg_server: PgServer, replica: PgServer) -> None:
    # The database exists on the replica too once it was created before or after the backup:
    primary_url = pg_server.create_database("audited")
    db = primary_url.rsplit("/", 1)[1]
    with EventStore.open(url=primary_url) as store:
        sid = fill(store, 5_000)
        head_seq, head = store.head()
    replica_url = replica.url(db)
    deadline = time.monotonic() + 120
    n = -1
    while time.monotonic() < deadline:
        try:
            with EventStore.open(url=replica_url, create=False) as r:
                n = r.count()
        except Exception:
            n = -1
        if n == head_seq:
            break
        time.sleep(0.2)
    assert n == head_seq, "the replica never caught up"
    env = {"HEDGE_STORE_URL": replica_url}
    v = hedge("verify", "--head", f"{head_seq}:{head}", env=env)
    assert v.returncode == 0, v.stdout + v.stderr
    assert f"ok: {head_seq} events" in v.stdout
    s = hedge("sessions", "--format", "json", env=env)
    assert s.returncode == 0 and sid in s.stdout
    with EventStore.open(url=replica_url) as r, pytest.raises(Exception, match=r"read-only|during recovery"):
        r.append([tick(sid, 10_000)])
