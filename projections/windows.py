"""KPI windows: every performance KPI over three labelled windows (``kpis_v7.json`` ``windows``).

* ``inception`` - since inception: since the account's first session (the projections fold
  an account's sessions as one history);
* ``last_30d`` - the last 30 days of event time;
* ``session`` - this session (since its ``SessionStarted``, resumed or not).

Each is an ``engine.rules.perf.PerfWindow`` fed the same counted NAV readings (the one
``sources_ok`` rule, ``engine.rules.nav``), fills, funding and closed round trips
(``engine.rules.intel.roundtrips``) as the other KPIs; the label says which window it is.
"""

from __future__ import annotations

from typing import Any

from engine.rules.perf import THIRTY_DAYS_NS, PerfWindow

WINDOWS = ("inception", "last_30d", "session")


class KpiWindows:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """A new account view: every window starts again."""
        self.w = {"inception": PerfWindow(), "last_30d": PerfWindow(THIRTY_DAYS_NS), "session": PerfWindow()}

    def new_session(self, ts_ns: int) -> None:
        """A ``SessionStarted``: the session window opens at its time (and inception, if new)."""
        self.w["session"] = PerfWindow()
        for w in self.w.values():
            if w.opened_ns is None:
                w.opened_ns = ts_ns

    def on_nav(self, nav: float, ts_ns: int) -> None:
        for w in self.w.values():
            w.on_nav(nav, ts_ns)

    def on_fill(self, ts_ns: int, fee: float, realized: float, trip_net: float | None) -> None:
        for w in self.w.values():
            w.on_fill(ts_ns, fee, realized)
            if trip_net is not None:
                w.on_trip(ts_ns, trip_net)

    def on_funding(self, ts_ns: int, amount: float) -> None:
        for w in self.w.values():
            w.on_funding(ts_ns, amount)

    def render(self, now_ns: int) -> dict[str, Any]:
        return {k: self.w[k].render(k, now_ns) for k in WINDOWS}
