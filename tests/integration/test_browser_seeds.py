"""Issue 16 in Chromium: a session with the shadow pipeline, autotune, the allocator and a USD/ZAR
rate shows the live vs shadow card, the tuning table and the rand figures, in investor words
(no "n/a", no internal label, no truncated text: ``investor_page.check_page``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hedge.cli import main
from tests.integration.investor_page import CHROMIUM, check_page
from tests.integration.test_browser_investor import dashboard

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"chromium not installed at {CHROMIUM}")]
REPO = Path(__file__).resolve().parents[2]


def test_shadow_card_tuning_table_and_zar_on_the_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    for f in (REPO / "config").glob("*.json"):
        shutil.copy(f, cfg / f.name)
    rt = json.loads((cfg / "runtime.json").read_text())
    rt.update(usd_zar_rate=18.2, autotune_every_h=6)
    (cfg / "runtime.json").write_text(json.dumps(rt))
    for flag in ("PIPELINE_V6_SHADOW_ENABLED", "ROUTER_AUTOTUNE_V6_ENABLED", "ROUTER_AUTOTUNE_V6_APPLY_ENABLED",
                 "FEEDBACK_ALLOCATOR_V6_ENABLED"):
        monkeypatch.setenv(flag, "1")
    home = tmp_path / "home"
    assert main(["run", "--home", str(home), "--config", str(cfg), "--bars", "2000", "--quiet",
                 "--shadow", "risk.max_open_positions=3"]) == 0
    with dashboard(home, tmp_path / "dash.log") as url:
        text, shot = check_page(url, wait_for='[data-kpi="shadow_allowed"] .value')
    up = text.upper()
    assert "LIVE VS SHADOW" in up and "TUNING PROPOSALS" in up
    assert "open positions limit 3" in text and "ZAR/USD" in text
    assert "Routing proposal" in text and "Allocation" in text
    art = REPO / "test-artifacts"
    art.mkdir(exist_ok=True)
    (art / "dashboard-seeds.png").write_bytes(shot)
