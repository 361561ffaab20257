"""Issue 17 item 9: ``hedge project --follow`` survives a PostgreSQL restart.

A real PostgreSQL cluster of its own (the restart must not hit other tests' databases)
holds a session's log; ``hedge project --follow`` catches up, the server is stopped
(immediate mode, like a crash) and started again on the same port, a second session is
appended, and the follower - still the same process - reconnects and catches up. Its
views are then byte-identical to a full ``hedge rebuild``.
"""

from __future__ import annotations

import json
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pgserver import PgServer, start_server
from tests.reliability.harness import Site

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
def own_server() -> Iterator[PgServer]:
    server = start_server()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.base, ignore_errors=True)


def _projected_seq(site: Site) -> int:
    try:
        return int(json.loads((site.home / "state" / "nav.json").read_text())["seq"])
    except (OSError, ValueError, KeyError):
        return 0


def _wait_for(site: Site, seq: int, proc, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while _projected_seq(site) < seq:
        assert proc.poll() is None, f"hedge project --follow died: {proc.communicate()[1][-2000:]}"
        assert time.monotonic() < deadline, f"projections stuck at seq {_projected_seq(site)}, want {seq}"
        time.sleep(0.2)


def test_project_follow_reconnects_after_a_postgresql_restart(own_server: PgServer, tmp_path: Path) -> None:
    site = Site(tmp_path / "home", own_server.create_database("follow"))
    assert site.hedge("run", "--bars", "150", "--no-projections", "--quiet").returncode == 0
    first = site.raw().max_seq()
    proc = site.popen("project", "--follow", "--interval", "0.2")
    try:
        _wait_for(site, first, proc)
        own_server.stop()  # immediate: every connection is cut
        time.sleep(1.5)  # a few follow intervals against a dead server
        assert proc.poll() is None, f"the follower died with the server: {proc.communicate()[1][-2000:]}"
        own_server.start_again()
        r = site.hedge("run", "--bars", "150", "--no-projections", "--quiet")
        assert r.returncode == 0, r.stderr
        second = site.raw().max_seq()
        assert second > first
        _wait_for(site, second, proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert "lost the event log" in err and "reconnected" in err, err
    followed = site.state_files()
    assert site.hedge("rebuild").returncode == 0
    assert site.state_files() == followed
