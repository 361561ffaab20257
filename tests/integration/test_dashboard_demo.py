"""``hedge demo``: a newcomer's first run records a session, projects it and serves it."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import requests

from tests.fakes import state_fixture as fx


def test_demo_no_serve_records_projects_and_summarises(tmp_path: Path) -> None:
    home = tmp_path / "home"
    r = subprocess.run([*fx.hedge_cmd(), "demo", "--home", str(home), "--bars", "300", "--no-serve"],
                       capture_output=True, text=True, timeout=600, cwd=fx.REPO, check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "demo: NAV $" in r.stdout and "n/a" not in r.stdout.split("demo: NAV", 1)[1].splitlines()[0]
    state = home / "accounts" / "demo" / "state"  # the demo has its own account (docs/accounts.md)
    assert (state / "nav_state.json").exists() and (state / "aum_v7.json").exists()
    assert not (home / "state").exists()  # the fund's account is untouched


def test_demo_serves_the_dashboard_and_prints_its_url_until_ctrl_c(tmp_path: Path) -> None:
    home, port, log = tmp_path / "home", fx.free_port(), tmp_path / "demo.log"
    proc = fx.start(["demo", "--bars", "300", "--port", str(port)], home, log)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 300
        while f"dashboard: {url}" not in log.read_text(errors="replace"):
            assert proc.poll() is None, log.read_text(errors="replace")[-2000:]
            assert time.monotonic() < deadline, "demo printed no URL"
            time.sleep(0.25)
        health = requests.get(f"{url}healthz", timeout=30).json()
        assert health["status"] == "ok" and health["files_present"] == 9
        assert requests.get(url, timeout=60).status_code == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
        assert "dashboard: stopped" in log.read_text()
    finally:
        fx.stop(proc)
