"""The issue's done-when on the real market data: ``hedge run --data ../shared/market --speed
max`` ends with the report, ``hedge report --html`` gives a tearsheet Chromium draws offline,
and the audit views hold on 180 days (one row per fallback fill, trips reconcile)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from projections.audit_sql import connect, query
from tests.integration.test_audit_cookbook import cookbook

pytestmark = [pytest.mark.slow, pytest.mark.market]
HEDGE = str(Path(sys.executable).parent / "hedge")


def hedge(home: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HEDGE_STORE_URL", "HEDGE_CONFIG_DIR")}
    env["HEDGE_HOME"] = str(home)
    return subprocess.run([HEDGE, *args], env=env, capture_output=True, text=True, timeout=900, cwd=cwd,
                          check=False)


@pytest.fixture(scope="module")
def real(market_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    home = tmp_path_factory.mktemp("real") / "home"
    r = hedge(home, "run", "--data", str(market_dir), "--speed", "max")
    assert r.returncode == 0, r.stderr[-3000:]
    return home, r.stdout


def test_run_ends_with_the_report(real: tuple[Path, str]) -> None:
    _, out = real
    report = out[out.index("report  session"):]
    assert "(180.0 days)" in report and "data csv:" in report
    for label in ("return", "CAGR", "Sharpe", "Sortino", "Calmar", "max drawdown", "round trips", "win rate",
                  "profit factor", "expectancy", "exposure", "fees", "funding", "vetoes", "no trade on"):
        assert label in report, label
    assert "—" not in report.split("\n")[1]  # 180 days: CAGR exists


def test_fallback_query_has_one_row_per_fallback_fill(real: tuple[Path, str]) -> None:
    home, _ = real
    con = connect(home)
    sql = next(s for t, s in cookbook() if "fell back to taker" in t)
    fallback_fills = query(con, "select count(*) from fills where fallback")[1][0][0]
    assert len(query(con, sql)[1]) == fallback_fills > 0
    # the old plain join duplicated fills of plans that fell back more than once
    assert query(con, "select count(*) from fallbacks group by plan_id order by 1 desc limit 1")[1][0][0] > 1


def test_trips_reconcile_with_the_summary(real: tuple[Path, str]) -> None:
    home, _ = real
    r = hedge(home, "report", "--format", "json", "--full")
    rep = json.loads(r.stdout)
    con = connect(home)
    realized, fees = query(con, "select sum(realized_pnl), sum(fee_usd) from fills")[1][0]
    assert query(con, "select sum(gross_pnl) from trades")[1][0][0] == pytest.approx(realized, abs=1e-4)
    assert rep["trades"]["round_trips"] > 100 and rep["nav"]["cagr"] is not None
    assert len(rep["months"]) >= 6 and rep["costs"]["fees_usd"] == pytest.approx(fees, abs=1e-4)
    chained = 1.0
    for m in rep["months"]:
        chained *= 1 + m["return_frac"]
    assert chained - 1 == pytest.approx(rep["nav"]["return_frac"], abs=1e-6)


@pytest.mark.browser
def test_tearsheet_of_the_real_run_draws_offline(real: tuple[Path, str], tmp_path: Path) -> None:
    from tests.integration.test_browser_tearsheet import CHROMIUM, check_tearsheet

    if not Path(CHROMIUM).exists():
        pytest.skip(f"chromium not installed at {CHROMIUM}")
    home, _ = real
    out = tmp_path / "real.html"
    r = hedge(home, "report", "--format", "json", "--html", str(out))
    assert r.returncode == 0, r.stderr
    check_tearsheet(out, json.loads(r.stdout))


@pytest.mark.browser
def test_dashboard_of_the_real_run_is_investor_ready(real: tuple[Path, str], tmp_path: Path) -> None:
    """180 days: the whole NAV history is charted, no n/a, no internal label, nothing truncated."""
    from tests.integration.investor_page import CHROMIUM, check_page
    from tests.integration.test_browser_investor import dashboard
    from ui import model, state

    if not Path(CHROMIUM).exists():
        pytest.skip(f"chromium not installed at {CHROMIUM}")
    home, _ = real
    points = model.nav_points(state.load(home))
    assert points[-1]["ts"] - points[0]["ts"] > 175 * 86_400  # downsampled, not cut at 90 days
    with dashboard(home, tmp_path / "dash.log") as url:
        text, _ = check_page(url, wait_for='[data-kpi="nav"] .value')
    assert "RISK KPIS" in text.upper()
