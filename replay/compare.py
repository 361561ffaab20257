"""Session metrics for the what-if comparison, and the side-by-side table.

``MetricsFold`` is a pure fold over one session's events (recorded or
re-simulated: the same fold on both sides, so an unchanged config gives equal
columns). Max drawdown is over the NAV readings whose sources were ok (as the
engine folds it: ``engine.rules.nav.NavTrack``); Sharpe is ``engine.rules.perf.sharpe``
of the hourly NAV series over the whole session (the last counted reading of each UTC
hour; the dashboard's KPI uses the same function over its last 30 days).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from engine.rules.nav import NavTrack
from engine.rules.perf import sharpe as perf_sharpe
from engine.rules.units import HOUR_NS
from eventlog.events import (
    Event,
    FundingApplied,
    IntentEmitted,
    KlineClosed,
    NavSnapshot,
    OrderFilled,
    OrderSubmitted,
    RiskDecided,
)
from replay.render import fmt


@dataclass
class Metrics:
    bars: int = 0
    intents: int = 0
    allows: int = 0
    clamps: int = 0
    vetoes: int = 0
    vetoes_by_gate: dict[str, int] = field(default_factory=dict)
    orders: int = 0
    trades: int = 0
    maker_trades: int = 0
    traded_notional_usd: float = 0.0
    fees_usd: float = 0.0
    realized_pnl_usd: float = 0.0
    funding_usd: float = 0.0
    start_nav_usd: float | None = None
    final_nav_usd: float | None = None
    return_frac: float | None = None
    max_dd_frac: float = 0.0
    sharpe: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class MetricsFold:
    """Fold of one session's events into ``Metrics`` (reads nothing but the events)."""

    def __init__(self) -> None:
        self.m = Metrics()
        self.track = NavTrack()
        self.hour: int | None = None
        self.hourly: list[float] = []

    def apply(self, ev: Event) -> None:
        t = type(ev)
        m = self.m
        if t is KlineClosed:
            m.bars += 1
        elif t is IntentEmitted:
            m.intents += 1
        elif t is RiskDecided:
            d: RiskDecided = ev  # type: ignore[assignment]
            if d.outcome == "veto":
                m.vetoes += 1
                m.vetoes_by_gate[d.gate] = m.vetoes_by_gate.get(d.gate, 0) + 1
            elif d.outcome == "clamp":
                m.clamps += 1
            elif d.outcome == "allow":  # trim / flatten (post-trade, rules v6) answer no intent
                m.allows += 1
        elif t is OrderSubmitted:
            m.orders += 1
        elif t is OrderFilled:
            f: OrderFilled = ev  # type: ignore[assignment]
            m.trades += 1
            m.maker_trades += f.is_maker
            m.traded_notional_usd += f.qty * f.price
            m.fees_usd += f.fee_usd
            m.realized_pnl_usd += f.realized_pnl
        elif t is FundingApplied:
            m.funding_usd += ev.amount_usd  # type: ignore[attr-defined]
        elif t is NavSnapshot:
            self._nav(ev)  # type: ignore[arg-type]

    def _nav(self, ev: NavSnapshot) -> None:
        nav = ev.nav_usd
        if not self.track.update(nav, ev.ts_event_ns, ev.sources_ok):
            return
        m = self.m
        m.start_nav_usd = self.track.start
        m.final_nav_usd = nav
        m.max_dd_frac = self.track.max_dd
        hour = ev.ts_event_ns // HOUR_NS
        if hour == self.hour and self.hourly:
            self.hourly[-1] = nav
        else:
            self.hourly.append(nav)
            self.hour = hour

    def result(self) -> Metrics:
        m = self.m
        out = Metrics(**{**asdict(m), "vetoes_by_gate": dict(sorted(m.vetoes_by_gate.items()))})
        for k in ("traded_notional_usd", "fees_usd", "realized_pnl_usd", "funding_usd"):
            setattr(out, k, round(getattr(out, k), 6))
        out.max_dd_frac = round(out.max_dd_frac, 8)
        if m.start_nav_usd and m.final_nav_usd is not None:
            out.return_frac = round(m.final_nav_usd / m.start_nav_usd - 1.0, 8)
        out.sharpe = sharpe(self.hourly)
        return out


def sharpe(navs: list[float]) -> float | None:
    """``engine.rules.perf.sharpe`` rounded for the table (one definition, shared with the KPIs)."""
    value = perf_sharpe(navs)
    return None if value is None else round(value, 6)


ROWS: tuple[tuple[str, str, str], ...] = (
    # (metric, label, kind) kind: n = count, usd, pct, x = plain number
    ("intents", "intents", "n"),
    ("allows", "allowed", "n"),
    ("clamps", "clamped", "n"),
    ("vetoes", "vetoed", "n"),
    ("orders", "orders", "n"),
    ("trades", "trades (fills)", "n"),
    ("maker_trades", "  of which maker", "n"),
    ("traded_notional_usd", "traded notional USD", "usd"),
    ("fees_usd", "fees USD", "usd"),
    ("realized_pnl_usd", "realized PnL USD", "usd"),
    ("funding_usd", "funding USD", "usd"),
    ("final_nav_usd", "final NAV USD", "usd"),
    ("return_frac", "return", "pct"),
    ("max_dd_frac", "max drawdown", "pct"),
    ("sharpe", "Sharpe (hourly, annualised)", "x"),
)


def _cell(v: Any, kind: str) -> str:
    if v is None:
        return "n/a"
    if kind == "n":
        return f"{int(v):,}"
    if kind == "usd":
        return f"{float(v):,.2f}"
    if kind == "pct":
        return f"{float(v):.2%}"
    return f"{float(v):.3f}"


def _delta(a: Any, b: Any, kind: str) -> str:
    if a is None or b is None:
        return ""
    d = float(b) - float(a)
    if d == 0:
        return "="
    if kind == "n":
        return f"{int(d):+,}"
    if kind == "usd":
        return f"{d:+,.2f}"
    if kind == "pct":
        return f"{d * 100:+.2f} pp"
    return f"{d:+.3f}"


def metric_rows(cols: dict[str, dict[str, Any]]) -> list[tuple[str, dict[str, Any], str]]:
    """(label, {column: value}, kind) rows for metrics columns, vetoes broken down by gate."""
    rows: list[tuple[str, dict[str, Any], str]] = []
    gates = sorted({g for c in cols.values() for g in c["vetoes_by_gate"]})
    for key, label, kind in ROWS:
        rows.append((label, {n: c[key] for n, c in cols.items()}, kind))
        if key == "vetoes":
            for g in gates:
                rows.append((f"  {g}", {n: c["vetoes_by_gate"].get(g, 0) for n, c in cols.items()}, "n"))
    return rows


def comparison_rows(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any], str]]:
    """The rows of ``hedge replay --set``: recorded, (sim baseline,) what-if."""
    cols = {"recorded": doc["recorded"], "what-if": doc["what_if"]}
    if doc.get("baseline"):
        cols = {"recorded": doc["recorded"], "sim baseline": doc["baseline"], "what-if": doc["what_if"]}
    return metric_rows(cols)


def table(rows: list[tuple[str, dict[str, Any], str]], *, change: tuple[str, str] | None) -> list[str]:
    """Aligned lines; ``change=(a, b)`` adds a column with b - a."""
    names = list(rows[0][1])
    width = max(len(r[0]) for r in rows) + 2
    cw = max(16, *(len(n) + 2 for n in names))
    out = [f"  {'':<{width}}" + "".join(f"{n:>{cw}}" for n in names) + (f"{'change':>{cw}}" if change else "")]
    for label, vals, kind in rows:
        line = f"  {label:<{width}}" + "".join(f"{_cell(vals[n], kind):>{cw}}" for n in names)
        if change:
            line += f"{_delta(vals[change[0]], vals[change[1]], kind):>{cw}}"
        out.append(line)
    return out


def comparison_text(doc: dict[str, Any]) -> str:
    """The side-by-side table printed by ``hedge replay --set``."""
    out = [f"what-if on session {doc['session_id']} ({doc['venue']}): {doc['bar_steps']:,} recorded bar steps "
           f"re-simulated in {doc['elapsed_s']:.2f} s"]
    if doc["changes"]:
        for c in doc["changes"]:
            out.append(f"  set {c['key']}: {fmt(c['old'])} -> {fmt(c['new'])}")
    else:
        out.append("  no change: the recorded config, re-simulated")
    out.append(f"  config {doc['config_hash'][:12]} -> {doc['what_if_config_hash'][:12]}   "
               f"what-if session {doc['what_if_session_id']}")
    out.extend(f"  note: {n}" for n in doc["notes"])
    rows = comparison_rows(doc)
    names = list(rows[0][1])
    out.append("")
    out.extend(table(rows, change=(names[-2], names[-1])))
    if doc["out_dir"]:
        out.append("")
        state = "state files written" if not doc["projections_error"] else f"projections failed: {doc['projections_error']}"
        out.append(f"  scratch log kept in {doc['out_dir']} ({state}); try: hedge audit --home {doc['out_dir']}")
    return "\n".join(out)


def sweep_text(doc: dict[str, Any]) -> str:
    """One column per swept value beside the recorded session (``hedge replay --sweep``)."""
    out = [f"sweep of {doc['key']} on session {doc['session_id']} ({doc['venue']}): {doc['bar_steps']:,} recorded "
           f"bar steps, {len(doc['columns'])} re-simulations in {doc['elapsed_s']:.2f} s"]
    out.extend(f"  set {c['key']}: {fmt(c['old'])} -> {fmt(c['new'])} (every column)" for c in doc["changes"])
    out.extend(f"  note: {n}" for n in doc["notes"])
    cols = {"recorded": doc["recorded"]}
    for c in doc["columns"]:
        cols[f"{doc['short_key']}={c['value']}"] = c["metrics"]
    out.append("")
    out.extend(table(metric_rows(cols), change=None))
    return "\n".join(out)
