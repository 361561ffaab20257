"""``hedge run`` is never silent: pid and SIGHUP hint at start, "endless" when it has no end,
a one-line status every ``--status-every`` seconds when no progress bar is drawn (stderr is a
pipe here), and progress lines from every counter off a terminal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def _start(home: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "HEDGE_HOME": str(home)}
    env.pop("HEDGE_STORE_URL", None)
    env.pop("TELEGRAM_BOT_TOKEN", None)
    return subprocess.Popen([sys.executable, "-m", "hedge.cli", "run", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_a_paced_run_prints_its_pid_the_sighup_hint_and_status_lines(tmp_path: Path) -> None:
    proc = _start(tmp_path / "home", "--bars", "40", "--speed", "3000", "--status-every", "0.5",
                  "--no-projections")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]
    lines = err.splitlines()
    assert lines[0] == (f"hedge run: pid {proc.pid}; 'kill -HUP {proc.pid}' reloads the config directory, "
                        "Ctrl-C stops cleanly")
    assert not any("endless" in ln for ln in lines)  # --bars gives it an end
    status = [ln for ln in lines if ln.startswith("hedge run: status: ")]
    assert status, err
    assert all(" bar steps, market time " in ln and " events (" in ln and "/s), NAV " in ln for ln in status)
    assert "session" in out


def test_an_endless_generated_run_says_so_and_stops_on_sigint(tmp_path: Path) -> None:
    proc = _start(tmp_path / "home", "--speed", "1000", "--status-every", "0.3", "--no-projections")
    assert proc.stderr is not None
    seen: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        seen.append(line)
        if line.startswith("hedge run: status: "):
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    text = "".join(seen) + err
    assert "hedge run: endless (a generated market has no end): stop with Ctrl-C, or give --bars N / --until TIME" in text
    assert "hedge run: status: " in text
    assert proc.returncode == 0 and "ended (stopped)" in out, (proc.returncode, out[-500:], err[-500:])


def test_counters_off_a_terminal_print_progress_lines(tmp_path: Path) -> None:
    """Counters print "label: done/total (rate/s)" lines when stderr is not a terminal."""
    from hedge.progress import counter

    r = subprocess.run([sys.executable, "-c",
                        "import time\nfrom hedge.progress import counter\n"
                        "with counter('verifying', 100, every_s=0.05) as tick:\n"
                        "    for i in range(1, 6):\n        time.sleep(0.06)\n        tick(i * 20)\n"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert any(ln.startswith("verifying: ") and "/100 (" in ln for ln in r.stderr.splitlines()), r.stderr
    with counter("quiet", 10, enabled=False) as tick:
        tick(5)  # nothing to see: disabled
