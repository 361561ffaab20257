"""``hedge run``'s projection follower is a child process (``hedge.follower_process``).

Real processes throughout: ``hedge run`` as a subprocess, its follower found in ``/proc``
by its parent pid. It dies with ``hedge run`` even on SIGKILL (after a final catch-up of
what was committed), a follower that cannot start or that dies is one stderr line and the
run still completes, and a stop sent while it is still starting is not lost.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from eventlog.store import EventStore
from hedge.follower_process import FollowerProcess
from projections.lock import Lock

HEDGE = [sys.executable, "-m", "hedge.cli"]
T = TypeVar("T")


def _env(home: Path) -> dict[str, str]:
    env = {**os.environ, "HEDGE_HOME": str(home)}
    env.pop("HEDGE_STORE_URL", None)
    return env


def _children(pid: int) -> list[tuple[int, bytes]]:
    """(pid, argv) of the live processes whose parent is ``pid``."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            cmd = (d / "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append((int(d.name), cmd))
    return out


def _alive(pid: int) -> bool:
    """Running (a zombie has exited: it only waits for its reaper, PID 1 here)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def _wait_for(cond: Callable[[], T], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def _state_seq(home: Path) -> int | None:
    import json

    f = home / "state" / "nav_state.json"
    try:
        return int(json.loads(f.read_text())["seq"])
    except (OSError, ValueError, KeyError):
        return None


def _last_seq(home: Path) -> int:
    with EventStore.open(home, create=False) as store:
        return store.last_seq()


def _paced_run(home: Path) -> subprocess.Popen[str]:
    """``hedge run --speed 1``: one bar per 5 real minutes, so it sits in its pacing wait."""
    return subprocess.Popen([*HEDGE, "run", "--speed", "1", "--quiet"], env=_env(home), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _follower_of(proc: subprocess.Popen[str], home: Path) -> int:
    """The follower's pid, once it has written its first state files (it is past start-up)."""
    kids = _wait_for(lambda: [p for p, cmd in _children(proc.pid) if b"project\0--follow" in cmd], 60,
                     "the follower process")
    assert len(kids) == 1
    _wait_for(lambda: _state_seq(home), 60, "the follower's first state files")
    return kids[0]


def test_sigkill_of_hedge_run_leaves_no_orphan_follower_and_its_last_catch_up_is_complete(tmp_path: Path) -> None:
    home = tmp_path / "h"
    proc = _paced_run(home)
    try:
        follower = _follower_of(proc, home)
        cmd = Path(f"/proc/{follower}/cmdline").read_bytes().split(b"\0")
        assert cmd[cmd.index(b"--home") + 1] == str(home.resolve()).encode()
        proc.kill()
        proc.wait(timeout=30)
        _wait_for(lambda: not _alive(follower), 60, f"follower {follower} to end after its parent's SIGKILL")
    finally:
        if proc.poll() is None:
            proc.kill()
    # the kernel's SIGTERM is a stop request: it made a final catch-up of everything committed
    assert _state_seq(home) == _last_seq(home)


def test_a_follower_that_cannot_start_is_one_stderr_line_and_the_run_completes(tmp_path: Path) -> None:
    home = tmp_path / "h"
    held = Lock(home / "projections" / "lock")  # another projector holds the account's views
    try:
        r = subprocess.run([*HEDGE, "run", "--bars", "40"], env=_env(home), text=True, capture_output=True,
                           timeout=120)
    finally:
        held.release()
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if "projections" in ln]
    assert len(lines) == 1 and "already running" in lines[0], r.stderr
    assert "ended (bars)" in r.stdout and "projections not final" in r.stdout
    assert not (home / "state" / "nav_state.json").exists()


def test_a_follower_killed_mid_run_is_one_stderr_line_and_trading_goes_on(tmp_path: Path) -> None:
    home = tmp_path / "h"
    proc = _paced_run(home)
    try:
        follower = _follower_of(proc, home)
        os.kill(follower, signal.SIGKILL)
        time.sleep(0.2)
        assert proc.poll() is None  # the session goes on
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "ended (stopped)" in out
    said = [ln for ln in err.splitlines() if "projections" in ln]
    assert len(said) == 1 and f"(pid {follower}) killed by SIGKILL" in said[0], err


def test_a_stop_during_the_followers_start_up_still_gives_final_state_files(tmp_path: Path) -> None:
    """Two bar steps end before the child has even imported: its SIGTERM waits, blocked, for
    the handler, and the final catch-up covers the whole session."""
    home = tmp_path / "h"
    r = subprocess.run([*HEDGE, "run", "--bars", "2", "--quiet"], env=_env(home), text=True, capture_output=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert _state_seq(home) == _last_seq(home)


def test_the_store_url_reaches_the_follower_through_its_environment_never_its_argv(tmp_path: Path) -> None:
    url = "postgresql://hedge:pw-secret-4321@db.example:5432/hedge"
    f = FollowerProcess(tmp_path, "book2", store_url=url, interval_s=0.5,
                        environment={"PATH": "/bin", "HEDGE_STORE_URL": "postgresql://other", "PGPASSWORD": "pg",
                                     "BINANCE_API_KEY": "k", "BINANCE_API_SECRET": "s", "TELEGRAM_BOT_TOKEN": "t"})
    argv = f.argv()
    assert not any("pw-secret" in a or "postgresql" in a for a in argv)
    assert argv[argv.index("--account") + 1] == "book2" and argv[argv.index("--interval") + 1] == "0.5"
    env = f._env
    assert env["HEDGE_STORE_URL"] == url and env["PGPASSWORD"] == "pg" and env["PATH"] == "/bin"
    assert not {"BINANCE_API_KEY", "BINANCE_API_SECRET", "TELEGRAM_BOT_TOKEN"} & set(env)
    assert "HEDGE_STORE_URL" not in FollowerProcess(tmp_path, "main", store_url=None,
                                                    environment={"HEDGE_STORE_URL": "postgresql://x"})._env


@pytest.mark.parametrize("proj", [True, False])
def test_the_summary_says_the_loop_rate_and_with_projections_when_they_were_final(tmp_path: Path, proj: bool) -> None:
    home = tmp_path / "h"
    r = subprocess.run([*HEDGE, "run", "--bars", "60", *([] if proj else ["--no-projections"])], env=_env(home),
                       text=True, capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr
    rate = [ln for ln in r.stdout.splitlines() if "bars/s" in ln]
    assert "(the loop, every event durable), peak RSS" in rate[0]
    if proj:
        assert len(rate) == 2 and rate[1].startswith("  projections final after ") and "MB with the engine's" in rate[1]
    else:
        assert len(rate) == 1
