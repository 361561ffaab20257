"""The investor's dashboard in Chromium on an empty home and on a 2,000-bar demo session:
no "n/a" where a value exists, no internal label, no truncated text, guidance when empty.
(The 180-day real run is checked in tests/integration/test_report_real.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from hedge.cli import main
from tests.fakes import state_fixture as fx
from tests.integration.investor_page import CHROMIUM, check_page

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"chromium not installed at {CHROMIUM}")]


@contextmanager
def dashboard(home: Path, log: Path) -> Iterator[str]:
    port = fx.free_port()
    proc = fx.start(["dashboard", "--port", str(port)], home, log)
    try:
        url = f"http://127.0.0.1:{port}"
        fx.wait_for(f"{url}/healthz", proc, log)
        yield url + "/"
    finally:
        fx.stop(proc)


def test_an_empty_home_says_what_is_missing_and_how_to_get_it(tmp_path: Path) -> None:
    home = tmp_path / "empty"
    home.mkdir()
    with dashboard(home, tmp_path / "dash.log") as url:
        text, _ = check_page(url, wait_for="text=No fund data here yet")
    assert f"hedge run --bars 2000 --home {home}" in text and "HEDGE_HOME" in text
    assert "NAV (USD)" not in text  # no page of empty cards


def test_a_demo_session_shows_every_value_formatted(tmp_path: Path) -> None:
    home = tmp_path / "demo"
    assert main(["run", "--home", str(home), "--bars", "2000", "--quiet"]) == 0
    with dashboard(home, tmp_path / "dash.log") as url:
        text, shot = check_page(url, wait_for='[data-kpi="nav"] .value')
    for title in ("RISK KPIS", "OVERVIEW", "PERFORMANCE", "RISK CHECKS", "EXECUTION QUALITY"):
        assert title in text.upper()
    art = fx.REPO / "test-artifacts"
    art.mkdir(exist_ok=True)
    (art / "dashboard-demo.png").write_bytes(shot)
