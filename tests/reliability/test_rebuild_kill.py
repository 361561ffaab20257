"""Issue 17 item 4: a killed or failed ``rebuild`` leaves the previous projections intact.

``rebuild`` builds into a scratch home and swaps the result in (``projections.swap``);
its parallel audit workers die with it (``PR_SET_PDEATHSIG``). The tests kill a
rebuild with SIGKILL and with SIGTERM while its workers are writing, then check
that no worker survives, the previous state files, veto lines, checkpoint and audit
tables are byte-identical to before, and a fresh rebuild gives the same audit rows
(no duplicates from an orphan). A log that does not verify stops the rebuild
with the old projections in place.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from tests.reliability.harness import REPO, Site

REBUILD = """
import sys
from pathlib import Path
from hedge.cmd_rebuild import _sigterm_as_interrupt
from projections.runner import rebuild
_sigterm_as_interrupt()  # what 'hedge rebuild' installs
try:
    rebuild(Path(sys.argv[1]), None, bucket_size=1000, workers=2)
except KeyboardInterrupt:
    sys.exit(130)
"""


def _outputs(home: Path) -> dict[str, bytes]:
    out = {}
    for sub in ("state", "audit", "execution", "projections"):
        d = home / sub
        for f in sorted(d.rglob("*")) if d.exists() else []:
            if f.is_file() and f.name != "lock" and ".tmp" not in f.relative_to(home).parts[1]:
                out[str(f.relative_to(home))] = f.read_bytes()
    return out


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _fill_count(home: Path) -> int:
    con = duckdb.connect()
    try:
        return int(con.execute(f"select count(*) from read_parquet('{home}/audit/fills/*.parquet')").fetchone()[0])
    finally:
        con.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    s = Site(tmp_path_factory.mktemp("rbk") / "home")
    r = s.hedge("run", "--bars", "3000", "--quiet")
    assert r.returncode == 0, r.stderr
    return s


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_parallel_rebuild_leaves_the_previous_projections_and_no_worker(site: Site, sig: int) -> None:
    before = _outputs(site.home)
    fills = _fill_count(site.home)
    assert fills > 0 and any(k.startswith("audit/") for k in before)
    p = subprocess.Popen([sys.executable, "-c", REBUILD, str(site.home)], cwd=REPO, env=site.env(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    workers: list[int] = []
    deadline = time.monotonic() + 60
    scratch_audit = list((site.home / "projections").glob("rebuild-*.tmp/audit"))
    while time.monotonic() < deadline and p.poll() is None:
        workers = [c for c in _children(p.pid) if _alive(c)]
        scratch_audit = list((site.home / "projections").glob("rebuild-*.tmp/audit/*/*.parquet"))
        if len(workers) >= 2 and scratch_audit:
            break  # workers are writing their audit buckets
        time.sleep(0.02)
    assert p.poll() is None and workers, "the rebuild finished before it could be killed"
    os.kill(p.pid, sig)
    _, err = p.communicate(timeout=60)
    if sig == signal.SIGTERM:
        assert p.returncode == 130 and "Traceback" not in err, err
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.05)
    assert not any(_alive(w) for w in workers), "a rebuild worker outlived its parent"
    after = _outputs(site.home)
    assert after == before, sorted(set(after) ^ set(before)) or "changed bytes"
    # the next rebuild (via the CLI) clears the scratch and gives exactly the same rows
    r = site.hedge("rebuild", "--quiet")
    assert r.returncode == 0, r.stderr
    assert not list((site.home / "projections").glob("rebuild-*.tmp"))
    assert _fill_count(site.home) == fills
    assert {k: v for k, v in _outputs(site.home).items() if k.startswith("state/")} == \
        {k: v for k, v in before.items() if k.startswith("state/")}


def test_sigterm_on_the_rebuild_command_says_so_and_keeps_the_projections(site: Site) -> None:
    before = _outputs(site.home)
    p = site.popen("rebuild")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list((site.home / "projections").glob("rebuild-*.tmp/state")) \
            and not list((site.home / "projections").glob("rebuild-*.tmp/audit")):
        time.sleep(0.01)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=60)
    if p.returncode == 0:
        pytest.skip("the rebuild finished before SIGTERM arrived")
    assert p.returncode == 130 and "interrupted" in err and "unchanged" in err, err
    assert _outputs(site.home) == before
