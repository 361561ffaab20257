"""Disk trouble: a full disk or a read-only home stops the engine safely and loses no committed event.

* full disk, any user: ``RLIMIT_FSIZE`` caps how large the engine may grow any file
  (the kernel answers EFBIG, exactly where ENOSPC would come);
* full disk, root: a real 1 MiB tmpfs as ``HEDGE_HOME`` (ENOSPC);
* read-only home, root: the tmpfs remounted read-only (EROFS): the run is refused cleanly;
* read-only database during a run: PostgreSQL switched to read-only (a failover).

After each: the engine exited with a clear one-line message (no traceback), the log
verifies and is a prefix of the uncrashed run's log.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.pgserver import PgServer
from tests.reliability.harness import REPO, Site, payloads

BARS = "2500"
SID = "d15c0000-0000-4000-8000-000000000002"
RUN = ("run", "--speed", "max", "--bars", BARS, "--session-id", SID, "--quiet")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:  # type: ignore[type-arg]
    site = Site(tmp_path_factory.mktemp("disk-ref") / "home")
    assert site.hedge(*RUN, "--no-projections").returncode == 0
    return payloads(site)


def _assert_stopped_safely(r: subprocess.CompletedProcess[str], site: Site, reference: list[dict]) -> None:  # type: ignore[type-arg]
    assert r.returncode in (1, 2), r.stdout + r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip(), "stopped without saying why"
    msg = r.stderr.lower()
    assert any(w in msg for w in ("log", "disk", "full", "read-only", "readonly", "space", "write")), r.stderr
    res = site.verify()
    assert res["ok"], res
    got = payloads(site)
    assert got == reference[:len(got)]
    assert len(got) < len(reference), "the run should have been stopped by the disk"


def _fsize_limit(limit: int) -> Callable[[], None]:
    def pre() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return pre


def test_a_full_disk_rlimit_stops_the_run_and_keeps_the_committed_log(tmp_path: Path, reference: list[dict]) -> None:  # type: ignore[type-arg]
    site = Site(tmp_path / "home")
    r = subprocess.run(site.argv(*RUN), cwd=REPO, env=site.env(), capture_output=True, text=True,
                       timeout=600, preexec_fn=_fsize_limit(2 * 1024 * 1024))
    _assert_stopped_safely(r, site, reference)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (the RLIMIT_FSIZE test covers a full disk without it)")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_a_really_full_disk_stops_the_run_and_keeps_the_committed_log(tmpfs: Path, reference: list[dict]) -> None:  # type: ignore[type-arg]
    site = Site(tmpfs / "home")
    r = site.hedge(*RUN)
    _assert_stopped_safely(r, site, reference)


def _when_running(site: Site, action: Callable[[], None], *, after_s: float = 0.3) -> subprocess.CompletedProcess[str]:
    p = site.popen(*RUN)
    assert p.stdout is not None
    first = p.stdout.readline()
    assert first.startswith("session "), first
    time.sleep(after_s)
    assert p.poll() is None, "the run ended before the disk trouble started; raise BARS"
    action()
    out, err = p.communicate(timeout=300)
    return subprocess.CompletedProcess(p.args, p.returncode, first + out, err)


def test_a_read_only_home_refuses_to_run_cleanly_and_the_log_still_verifies(tmpfs: Path) -> None:
    # Linux refuses to remount a filesystem read-only while a file is open for writing,
    # so the read-only home is made between runs; mid-run write failures are the full-disk
    # tests above and the PostgreSQL failover below.
    site = Site(tmpfs / "home")
    assert site.hedge("run", "--speed", "max", "--bars", "100", "--quiet").returncode == 0
    before = site.log_digest()
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    r = site.hedge("run", "--speed", "max", "--bars", "100", "--quiet")
    assert r.returncode in (1, 2) and "Traceback" not in r.stderr, r.stderr
    assert "read-only" in r.stderr.lower() or "readonly" in r.stderr.lower(), r.stderr
    assert site.verify()["ok"]  # an auditor can still verify a read-only copy
    assert json.loads(site.hedge("sessions", "--format", "json").stdout)
    subprocess.run(["mount", "-o", "remount,rw", str(tmpfs)], check=True)
    assert site.log_digest() == before


@pytest.mark.postgres
def test_a_database_turning_read_only_mid_run_stops_the_run(
    pg_server: PgServer, tmp_path: Path, reference: list[dict]  # type: ignore[type-arg]
) -> None:
    url = pg_server.create_database("ro")
    db = url.rsplit("/", 1)[1]
    site = Site(tmp_path / "home", url)

    def failover() -> None:
        with pg_server.connect() as con:
            con.execute(f'ALTER DATABASE "{db}" SET default_transaction_read_only = on')
            con.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (db,))

    r = _when_running(site, failover, after_s=0.5)
    with pg_server.connect() as con:  # verify reads fine on the read-only database
        con.execute(f'ALTER DATABASE "{db}" SET default_transaction_read_only = on')
    _assert_stopped_safely(r, site, reference)
