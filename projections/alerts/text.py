"""Alert message text: short, plain (no Markdown to escape), deterministic.

A message is at most a handful of lines::

    gpt-hedge 4h summary · 2025-07-10 16:00 UTC · session 3f2a9c1e
    Why: NAV +2.4% since last message; BTCUSDT ATR regime normal -> high
    NAV $102,345 (+2.4%) · DD 1.2% (normal)
    ATR: BTCUSDT high (1.62x) · ETHUSDT normal (1.05x; 0.70x now, low not yet confirmed)
    Router: health 0.82 (good) · maker 70% of notional · fallbacks 2/20 post-only slices · slip p95 0.8 bps · last 20 fills

Every number comes from the :class:`Snapshot` the policy built from events, so the
same log renders the same bytes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec

from engine.rules.indicators import atr_regime

TITLES = {
    "summary": "4h summary",
    "dd_escalation": "DRAWDOWN ALERT",
    "router_floor": "ROUTER ALERT",
    "entry_drought": "NO ENTRIES ALERT",
    "dd_override": "DRAWDOWN POLICY",
}


class Snapshot(msgspec.Struct, frozen=True, kw_only=True):
    """What the policy knows at the moment it decides to speak."""

    session_id: str
    ts_ns: int
    nav: float | None
    ref_nav: float | None
    dd: float
    dd_state: str
    regimes: dict[str, tuple[str, float | None]]  # symbol -> (confirmed regime, ATR ratio)
    atr_low: float
    atr_high: float
    health: float | None
    router: dict[str, Any]  # router_health.json's book-wide KPIs (engine.rules.router_kpis)
    capped: int = 0
    banner: str | None = None  # SIMULATED / PAPER / TESTNET: the account is not live (docs/accounts.md)


def _when(ts_ns: int) -> str:
    # kline close times end in .999: round up to the second so 23:59:59.999 reads 00:00
    secs = -(-ts_ns // 1_000_000_000)
    return datetime.fromtimestamp(secs, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def _nav_line(s: Snapshot) -> str:
    if s.nav is None:
        return f"NAV n/a · DD {s.dd:.1%} ({s.dd_state})"
    move = ""
    if s.ref_nav:
        move = f" ({s.nav / s.ref_nav - 1.0:+.1%})"
    return f"NAV ${s.nav:,.0f}{move} · DD {s.dd:.1%} ({s.dd_state})"


def regime_text(regime: str, ratio: float | None, low: float, high: float) -> str:
    """The confirmed regime, and the current ratio only beside it when it agrees; a ratio
    that points elsewhere is said to be a regime not yet confirmed (never "low (now 1.52x)")."""
    if ratio is None:
        return regime
    now = atr_regime(ratio, low, high)
    if now == regime or now == "unknown":
        return f"{regime} ({ratio:.2f}x)"
    return f"{regime} (confirmed; now {ratio:.2f}x, {now} not yet confirmed)"


def _atr_line(s: Snapshot) -> str:
    parts = []
    for sym in sorted(s.regimes):
        regime, ratio = s.regimes[sym]
        parts.append(f"{sym} {regime_text(regime, ratio, s.atr_low, s.atr_high)}")
    return "ATR: " + (" · ".join(parts) if parts else "no core symbols")


def _router_line(s: Snapshot) -> str:
    r = s.router
    fills = r.get("window_fills") or 0
    if not fills:
        return "Router: no fills yet"
    health = "not yet rated" if s.health is None else f"{s.health:.2f} ({r.get('quality')})"
    maker = r.get("maker_fill_rate")
    slices = r.get("window_slices") or 0
    fb = r.get("fallback_ratio")
    fallbacks = f"fallbacks {round((fb or 0.0) * slices)}/{slices} post-only slices" if slices else "no post-only slices"
    q95 = r.get("slip_q95")
    slip = f" · slip p95 {q95:.1f} bps" if q95 is not None else ""
    return (f"Router: health {health} · maker {(maker or 0.0):.0%} of notional · {fallbacks}{slip}"
            f" · last {fills} fills")


def render(kind: str, reasons: list[str], s: Snapshot) -> str:
    """The message for one alert (plain text, a few short lines)."""
    title = TITLES.get(kind, kind)
    lines = [
        f"gpt-hedge {title} · {_when(s.ts_ns)} · session {s.session_id[:8]}"
        + (f" · {s.banner} account" if s.banner else ""),
        "Why: " + "; ".join(reasons),
        _nav_line(s),
        _atr_line(s),
        _router_line(s),
    ]
    if s.capped:
        lines.append(f"({s.capped} alert(s) held back by the daily cap since the last message)")
    return "\n".join(lines)
