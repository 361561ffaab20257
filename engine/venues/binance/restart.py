"""Where a restarted Binance session picks up its fills: the last fill the log holds.

``resume_point(store, mode)`` reads the ``OrderFilled`` events of earlier Binance
sessions of the same mode (``live`` never mixes with ``testnet``) and returns the time of
the last one plus the fills recorded shortly before it (no fill yet: the start of the
first such session). On connect the venue reads
``/fapi/v1/userTrades`` from that time and records every trade not in the log, exactly
once (trade id), with its fee and realised PnL, before reconciling positions and orders.
Funding settlements since the last one the log holds are read from ``/fapi/v1/income``
and recorded once (by symbol and settlement time).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from eventlog.events import FundingApplied, OrderFilled

MS = 1_000_000
KNOWN_WINDOW_MS = 3_600_000  # trades are read back from this long before the last fill logged
# (fills logged up to twice this before it are passed on to dedupe: the read starts a margin earlier)


@dataclass(frozen=True)
class ResumePoint:
    since_ms: int  # trades are read back from here: KNOWN_WINDOW_MS before the last fill the log holds
    known: list[tuple[str, int, int, float]] = field(default_factory=list)  # (symbol, trade id, ms, signed qty)
    funding_since_ms: int | None = None  # time of the last funding settlement the log holds (or since_ms)
    funding_known: list[tuple[str, int]] = field(default_factory=list)  # (symbol, ms) recorded at/after it


def from_fills(fills: list[OrderFilled]) -> ResumePoint | None:
    """The resume point of these recorded fills (None: no fill recorded yet)."""
    usable = [f for f in fills if f.trade_id.isdigit()]
    if not usable:
        return None
    last = max(f.ts_event_ns for f in usable) // MS
    known = sorted((f.symbol, int(f.trade_id), f.ts_event_ns // MS, f.qty if f.side == "BUY" else -f.qty)
                   for f in usable if f.ts_event_ns // MS >= last - 2 * KNOWN_WINDOW_MS)
    # read from a window before the last fill: a fill the last process heard but had not
    # settled (so not logged) when it stopped is older than the last one logged
    return ResumePoint(last - KNOWN_WINDOW_MS, known)


def resume_point(store: Any, mode: str, sessions: set[str] | None = None) -> ResumePoint | None:
    """From an ``eventlog.store.EventStore``: fills of earlier ``binance`` sessions in ``mode``
    (only those of ``sessions`` when given: the account's, docs/accounts.md)."""
    earlier = [s for s in store.sessions() if s.venue == "binance" and s.mode == mode
               and (sessions is None or s.session_id in sessions)]
    if not earlier:
        return None
    ids = {s.session_id for s in earlier}
    fills = [ev for ev in store.read(types=("OrderFilled",))
             if ev.session_id in ids and isinstance(ev, OrderFilled)]
    point = from_fills(fills) or ResumePoint(min(s.started_ns for s in earlier) // MS)  # no fill yet:
    # every trade since the first session started may be missing
    paid = [(ev.symbol, ev.ts_event_ns // MS) for ev in store.read(types=("FundingApplied",))
            if ev.session_id in ids and isinstance(ev, FundingApplied)]
    since = max((ms for _, ms in paid), default=point.since_ms)
    return replace(point, funding_since_ms=since, funding_known=sorted(k for k in paid if k[1] >= since))
