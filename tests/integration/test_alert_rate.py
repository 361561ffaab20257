"""Over the 180 days of real market data, the default config says something a few times a week.

Two drives of the same pure policy with the repo's default config:

* a real ``hedge run --data ../shared/market`` session (the engine's own NAV, fills,
  fallbacks), read back from the log - the acceptance test of issue 8;
* the real klines plus a plain fund NAV (0.5x and 1x gross exposure to the average
  of the symbols) built directly from the CSVs - a harsher NAV path (drawdowns
  beyond the cautious and defensive thresholds) that exercises the DD rules.
"""

from __future__ import annotations

import collections
import itertools
import subprocess
import sys
from pathlib import Path

import pytest

from config.loader import load_config
from eventlog.store import EventStore
from projections.alerts.policy import POLICY_TYPES, Alert, alerts_for
from tests.fakes.alert_sessions import market_session

HEDGE = str(Path(sys.executable).parent / "hedge")
REPO = Path(__file__).resolve().parents[2]
DAY_NS = 86_400_000_000_000


def _rate(alerts: list[Alert], start_ns: int, end_ns: int) -> tuple[float, int]:
    weeks = (end_ns - start_ns) / (7 * DAY_NS)
    per_day = collections.Counter(a.ts_event_ns // DAY_NS for a in alerts)
    return len(alerts) / weeks, max(per_day.values(), default=0)


@pytest.mark.market
@pytest.mark.slow
def test_a_real_hedge_run_over_180_days_gets_a_few_alerts_a_week(market_dir: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {"HEDGE_HOME": str(home), "PATH": str(Path(sys.executable).parent)}
    r = subprocess.run([HEDGE, "run", "--data", str(market_dir), "--no-projections", "--quiet"],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stderr[-2000:]
    with EventStore.open(home) as store:
        info = store.find_session("last")
        events = list(store.read(info.first_seq, session=info.session_id, types=POLICY_TYPES))
        assert info.ended_ns is not None
    alerts = alerts_for(events)
    per_week, busiest = _rate(alerts, info.started_ns, info.ended_ns)
    cap = load_config().config.alerts.daily_cap
    print(f"\nhedge run session: {len(alerts)} alerts, {per_week:.2f}/week, busiest day {busiest} "
          f"{dict(collections.Counter(a.kind for a in alerts))}")
    assert 1.0 <= per_week <= 7.0
    assert busiest <= cap
    # the preview (what an operator runs) reports the same alerts
    pv = subprocess.run([HEDGE, "alerts", "--preview"], cwd=REPO, env=env, capture_output=True, text=True,
                        timeout=600)
    assert pv.returncode == 0, pv.stderr
    assert f"{len(alerts)} alert(s)" in pv.stdout.splitlines()[-1]


@pytest.mark.market
@pytest.mark.parametrize("gross", [0.5, 1.0])
def test_real_klines_with_a_fund_nav_get_a_few_alerts_a_week(market_dir: Path, gross: float) -> None:
    _, events = market_session(market_dir, gross=gross)
    alerts = alerts_for(events)
    per_week, busiest = _rate(alerts, events[0].ts_event_ns, events[-1].ts_event_ns)
    print(f"\nCSV session gross {gross}: {len(alerts)} alerts, {per_week:.2f}/week, busiest day {busiest} "
          f"{dict(collections.Counter(a.kind for a in alerts))}")
    assert 1.0 <= per_week <= 7.0
    assert busiest <= load_config().config.alerts.daily_cap
    kinds = {a.kind for a in alerts}
    assert {"summary", "dd_escalation"} <= kinds  # this NAV path does cross the DD thresholds
    # never bar-by-bar: consecutive non-urgent messages respect the minimum gap
    gap_ns = load_config().config.alerts.min_gap_h * 3_600_000_000_000
    summaries = [a.ts_event_ns for a in alerts if not a.urgent]
    assert all(b - a >= gap_ns for a, b in itertools.pairwise(summaries))
