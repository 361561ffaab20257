"""Issue 17 item 5: signals and a closed stdout end ``hedge run`` cleanly.

A real ``hedge run`` paced in real time (``--speed 3000``: a 5-minute bar every
0.1 s) gets one SIGINT, one SIGTERM, two in a row of either, or has its stdout
closed by its reader (as ``hedge run | head -1``). Each time: the process exits
promptly with no traceback, the log verifies, and the session has exactly one
``SessionEnded`` with a reason that says what happened.
"""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from tests.reliability.harness import Site, events_of

PROMPT_S = 30  # generous for a loaded CI machine; a hang is what this catches


def _start(site: Site) -> subprocess.Popen[str]:
    p = site.popen("run", "--speed", "3000", "--quiet")
    assert p.stdout is not None
    line = p.stdout.readline()  # the session line: the loop is running
    assert line.startswith("session "), line
    time.sleep(0.5)
    return p


def _check(site: Site, reasons: tuple[str, ...]) -> None:
    assert site.verify()["ok"]
    ended = events_of(site, "SessionEnded")
    assert len(ended) == 1, [e.reason for e in ended]
    assert ended[0].reason in reasons, ended[0].reason
    assert len(events_of(site, "SessionStarted")) == 1


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_one_signal_ends_the_session_cleanly(tmp_path, sig: int) -> None:  # type: ignore[no-untyped-def]
    site = Site(tmp_path / "home")
    p = _start(site)
    p.send_signal(sig)
    out, err = p.communicate(timeout=PROMPT_S)
    assert p.returncode == 0, err
    assert "ended (stopped)" in out and "Traceback" not in err, err
    _check(site, ("stopped",))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("gap", [0.0, 0.05])
def test_a_second_signal_forces_a_prompt_exit_with_the_log_consistent(tmp_path, sig: int,  # type: ignore[no-untyped-def]
                                                                      gap: float) -> None:
    site = Site(tmp_path / "home")
    p = _start(site)
    p.send_signal(sig)
    time.sleep(gap)
    p.send_signal(sig)
    t0 = time.monotonic()
    _, err = p.communicate(timeout=PROMPT_S)
    assert time.monotonic() - t0 < PROMPT_S
    assert p.returncode in (0, 130), err
    assert "Traceback" not in err, err
    _check(site, ("stopped", "interrupted"))


def test_a_closed_stdout_ends_the_run_cleanly(tmp_path) -> None:  # type: ignore[no-untyped-def]
    site = Site(tmp_path / "home")
    p = _start(site)
    assert p.stdout is not None and p.stderr is not None
    p.stdout.close()  # what 'head -1' does after its line
    t0 = time.monotonic()
    rc = p.wait(timeout=PROMPT_S)
    err = p.stderr.read()
    assert time.monotonic() - t0 < PROMPT_S
    assert rc == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    _check(site, ("stdout closed",))


def test_head_minus_one_in_a_real_shell_pipeline(tmp_path) -> None:  # type: ignore[no-untyped-def]
    site = Site(tmp_path / "home")
    cmd = " ".join(site.argv("run", "--speed", "3000", "--quiet")) + " | head -1"
    r = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], env=site.env(), capture_output=True, text=True,
                       timeout=PROMPT_S * 2)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("session ") and "Traceback" not in r.stderr
    _check(site, ("stdout closed",))
