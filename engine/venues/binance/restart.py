"""Where a restarted Binance session picks up its fills and funding: the point from which
the log may be missing some.

Each session of the account says, when it ends, up to which exchange time every trade
and every funding settlement is in the log (``SessionEnded.summary["venue_fills"]``:
``complete_to_ms`` / ``funding_complete_to_ms``, see ``BinanceVenue.fills_complete_to_ms``).
Trades after that point may be missing: heard on the user stream but never settled, or
made during a private-stream gap whose read-back had not succeeded yet when the session
stopped. A session that left no end (killed) may miss anything after the point it read
from at its own start. The last fill the log holds (minus ``KNOWN_WINDOW_MS``) bounds the
point too, as it always did.

``plan(sessions)`` folds the account's Binance sessions in order into a ``ResumePoint``;
``resume_point(store, mode, sessions)`` reads them from the log. On connect the venue reads
``/fapi/v1/userTrades`` from ``since_ms`` and records every trade not in the log, exactly
once (trade id), with its fee and realised PnL, before reconciling positions and orders.
Funding settlements from ``funding_since_ms`` are read from ``/fapi/v1/income`` and
recorded once (by symbol and settlement time).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from eventlog.events import FundingApplied, OrderFilled

MS = 1_000_000
KNOWN_WINDOW_MS = 3_600_000  # trades are read back from at least this long before the last fill logged
SUMMARY_KEY = "venue_fills"  # SessionEnded.summary[SUMMARY_KEY] = {"complete_to_ms", "funding_complete_to_ms"}


@dataclass(frozen=True)
class ResumePoint:
    since_ms: int  # trades are read back from here
    known: list[tuple[str, int, int, float]] = field(default_factory=list)  # (symbol, trade id, ms, signed qty)
    funding_since_ms: int | None = None  # funding settlements are read back from here
    funding_known: list[tuple[str, int]] = field(default_factory=list)  # (symbol, ms) recorded at/after it


@dataclass(frozen=True)
class SessionView:
    """What a restart needs of one earlier session of the account (in log order)."""

    started_ms: int  # 0: unknown (a session on the venue's own clock starts before it has read it)
    ended: bool  # a SessionEnded was recorded (False: the process was killed)
    fills: list[OrderFilled] = field(default_factory=list)
    funding: list[tuple[str, int]] = field(default_factory=list)  # (symbol, ms) of its FundingApplied
    complete_to_ms: int | None = None  # every trade up to here was in the log when it ended
    funding_complete_to_ms: int | None = None  # every funding settlement up to here was

    @classmethod
    def of(cls, info: Any, fills: list[OrderFilled], funding: list[tuple[str, int]]) -> SessionView:
        """From an ``eventlog.store.SessionInfo`` and the session's own fills and funding."""
        said = (info.summary or {}).get(SUMMARY_KEY) or {}
        return cls(started_ms=max(0, int(info.started_ns)) // MS, ended=info.ended_ns is not None,
                   fills=fills, funding=funding, complete_to_ms=_int_or_none(said.get("complete_to_ms")),
                   funding_complete_to_ms=_int_or_none(said.get("funding_complete_to_ms")))


def _int_or_none(v: Any) -> int | None:
    return int(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _usable(fills: Iterable[OrderFilled]) -> list[OrderFilled]:
    return [f for f in fills if f.trade_id.isdigit()]


def _min(*values: int | None) -> int | None:
    known = [v for v in values if v is not None]
    return min(known) if known else None


def plan(sessions: list[SessionView]) -> ResumePoint | None:
    """The resume point after these sessions (None: nothing to read back - no session, or
    no time known to read from)."""
    since: int | None = None  # trades from here on may be missing from the log
    fsince: int | None = None  # funding settlements from here on may be missing
    fills: list[OrderFilled] = []
    paid: list[tuple[str, int]] = []
    for s in sessions:
        at_start, f_at_start = since, fsince
        fills += _usable(s.fills)
        paid += s.funding
        last = max((f.ts_event_ns // MS for f in fills), default=None)
        by_fill = None if last is None else last - KNOWN_WINDOW_MS
        last_paid = max((ms for _, ms in paid), default=None)
        started = s.started_ms or None
        if s.complete_to_ms is not None:  # it ended saying where its log stops being complete
            since = _min(by_fill, s.complete_to_ms)
            fsince = _min(last_paid if last_paid is not None else by_fill, s.funding_complete_to_ms)
        elif s.ended:  # ended before sessions said so: the last fill, as before
            since = _min(by_fill) if by_fill is not None else _min(at_start, started)
            fsince = last_paid if last_paid is not None else since
        else:  # killed: anything after the point it read from at its start may be missing
            since = _min(by_fill, at_start, started)
            fsince = _min(last_paid, f_at_start, started, since)
    if since is None:
        return None
    known = sorted((f.symbol, int(f.trade_id), f.ts_event_ns // MS, f.qty if f.side == "BUY" else -f.qty)
                   for f in fills if f.ts_event_ns // MS >= since - KNOWN_WINDOW_MS)
    fsince = since if fsince is None else fsince
    return ResumePoint(since, known, fsince, sorted(k for k in paid if k[1] >= fsince))


def from_fills(fills: list[OrderFilled]) -> ResumePoint | None:
    """The resume point of these recorded fills of one session that ended without saying
    more (None: no fill recorded yet)."""
    if not _usable(fills):
        return None
    return plan([SessionView(started_ms=0, ended=True, fills=fills)])


def resume_point(store: Any, mode: str, sessions: set[str] | None = None) -> ResumePoint | None:
    """From an ``eventlog.store.EventStore``: the earlier ``binance`` sessions in ``mode``
    (only those of ``sessions`` when given: the account's, docs/accounts.md)."""
    earlier = sorted((s for s in store.sessions() if s.venue == "binance" and s.mode == mode
                      and (sessions is None or s.session_id in sessions)), key=lambda s: s.first_seq)
    if not earlier:
        return None
    ids = {s.session_id for s in earlier}
    fills: dict[str, list[OrderFilled]] = {i: [] for i in ids}
    paid: dict[str, list[tuple[str, int]]] = {i: [] for i in ids}
    for ev in store.read(types=("OrderFilled", "FundingApplied")):
        if ev.session_id not in ids:
            continue
        if isinstance(ev, OrderFilled):
            fills[ev.session_id].append(ev)
        elif isinstance(ev, FundingApplied):
            paid[ev.session_id].append((ev.symbol, ev.ts_event_ns // MS))
    return plan([SessionView.of(s, fills[s.session_id], paid[s.session_id]) for s in earlier])
