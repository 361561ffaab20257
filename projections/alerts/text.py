"""Alert message text: short, plain (no Markdown to escape), deterministic.

A message is at most a handful of lines::

    gpt-hedge 4h summary · 2025-07-10 16:00 UTC · session 3f2a9c1e
    Why: NAV +2.4% since last message; BTCUSDT ATR regime normal -> high
    NAV $102,345 (+2.4%) · DD 1.2% (normal)
    ATR: BTCUSDT high (now 1.62x) · ETHUSDT normal (now 1.05x)
    Router: maker 14/20 fills (70%) · 2 fallbacks · slip 0.8 bps

Every number comes from the :class:`Snapshot` the policy built from events, so the
same log renders the same bytes.
"""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

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
    fills: int
    maker: int
    fallbacks: int
    slip_bps: float | None
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


def _atr_line(s: Snapshot) -> str:
    parts = []
    for sym in sorted(s.regimes):
        regime, ratio = s.regimes[sym]
        parts.append(f"{sym} {regime}" + (f" (now {ratio:.2f}x)" if ratio is not None else ""))
    return "ATR: " + (" · ".join(parts) if parts else "no core symbols")


def _router_line(s: Snapshot) -> str:
    if s.fills == 0:
        return "Router: no fills yet"
    share = f" ({s.maker / s.fills:.0%})"
    slip = f" · slip {s.slip_bps:.1f} bps" if s.slip_bps is not None else ""
    return f"Router: maker {s.maker}/{s.fills} fills{share} · {s.fallbacks} fallbacks{slip}"


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
