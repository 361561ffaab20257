"""Entry drought: no entry allowed for longer than ``alerts.entry_drought_hours``.

One fold used by the projections (``risk_snapshot.json`` ``entry_drought``, the
dashboard banner) and the alert policy (the ``entry_drought`` alert), so both say the
same thing. An *entry* is a risk decision on a risk-increasing order
(``observations.risk_increasing``) that was allowed or clamped; a vetoed one counts
as an entry vetoed. The drought runs from the last entry (or from the first event
folded, when there was none) to the time of the latest event; it is reported once it
is at least ``entry_drought_hours`` long *and* at least one entry was vetoed in it
(entries are being blocked; a screener that proposes nothing is not a risk dead end).

The reason names the drawdown policy's state when it is not normal ("defensive since
2025-11-20 14:10: 346 entries vetoed"), else the gate that vetoed most entries.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from engine.rules.units import HOUR_NS, NS


def _when(ns: int) -> str:
    return datetime.fromtimestamp(ns / NS, tz=UTC).strftime("%Y-%m-%d %H:%M")


class EntryDrought:
    """Fold: ``on_start(ts)`` at the session's first event, ``on_decision(...)`` for every ``RiskDecided``."""

    __slots__ = ("by_gate", "first_ns", "last_entry_ns", "vetoed")

    def __init__(self) -> None:
        self.first_ns: int | None = None
        self.last_entry_ns: int | None = None
        self.vetoed = 0  # entries vetoed since the last entry
        self.by_gate: dict[str, int] = {}

    def on_start(self, ts_ns: int) -> None:
        if self.first_ns is None:
            self.first_ns = ts_ns

    def on_decision(self, ts_ns: int, outcome: str, gate: str, increasing: bool) -> None:
        self.on_start(ts_ns)
        if not increasing:
            return
        if outcome == "veto":
            self.vetoed += 1
            self.by_gate[gate] = self.by_gate.get(gate, 0) + 1
        else:
            self.last_entry_ns = ts_ns
            self.vetoed = 0
            self.by_gate = {}

    @property
    def since_ns(self) -> int | None:
        return self.last_entry_ns if self.last_entry_ns is not None else self.first_ns

    def hours(self, now_ns: int) -> float:
        s = self.since_ns
        return 0.0 if s is None else max(0, now_ns - s) / HOUR_NS

    def active(self, now_ns: int, limit_hours: float) -> bool:
        return (self.since_ns is not None and self.vetoed > 0 and limit_hours > 0
                and self.hours(now_ns) >= limit_hours)

    def status(self, now_ns: int, limit_hours: float, dd_state: str,
               dd_since_ns: int | None) -> dict[str, Any] | None:
        """The ``entry_drought`` record at ``now_ns`` (None when there is no drought)."""
        if not self.active(now_ns, limit_hours):
            return None
        since = self.since_ns or 0
        top = max(sorted(self.by_gate), key=lambda g: self.by_gate[g]) if self.by_gate else None
        n = f"{self.vetoed} entr{'y' if self.vetoed == 1 else 'ies'} vetoed"
        if dd_state != "normal":
            start = dd_since_ns if dd_since_ns is not None else since
            reason = f"{dd_state} since {_when(start)}: {n}"
        else:
            reason = f"no entry since {_when(since)}: {n}, most by {top} ({self.by_gate.get(top or '', 0)})"
        return {
            "since_ts": since / NS, "last_entry_ts": None if self.last_entry_ns is None else self.last_entry_ns / NS,
            "hours": round(self.hours(now_ns), 4), "threshold_hours": limit_hours, "state": dd_state,
            "state_since_ts": None if dd_since_ns is None else dd_since_ns / NS,
            "entries_vetoed": self.vetoed, "vetoes_by_gate": dict(sorted(self.by_gate.items())),
            "reason": reason,
        }
