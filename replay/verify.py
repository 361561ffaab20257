"""``verify_session``: re-derive every decision of a recorded session and compare.

The work is done by the engine's own replay core (``engine.replay_core.rederive``):
it folds the session with the engine's ``evolve`` and calls the engine's
``decide`` after every event, with the config recorded in ``SessionStarted`` /
``ConfigChanged``. Nothing is sent anywhere: fills, acknowledgements and market
data are the recorded events. This module adds what an operator needs around
it: a replay clock that only moves forward from the log's timestamps (it dates
the replay and refuses nothing: decisions are stamped with their trigger's
``ts_event_ns`` and that stamp is itself compared), counts per decision type,
differences broken down to the sub-key (``thresholds.max_open_positions``), and
timing (bars per second).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from engine.clock import ReplayClock
from engine.core import DECISION_TYPES
from engine.replay_core import ReplayReport, prior_state, rederive
from eventlog.events import ConfigChanged, Event, KlineClosed
from eventlog.store import EventStore
from replay.source import Session, session_batches

# what a fill carries that the engine derived (decision price, slippage) is checked too
CHECKED_TYPES: tuple[str, ...] = (*DECISION_TYPES, "OrderFilled")


@dataclass(frozen=True)
class Diff:
    """One field of one recorded decision that the replay derived differently."""

    seq: int
    session_seq: int
    type: str
    field: str
    recorded: Any
    replayed: Any


@dataclass
class VerifyResult:
    session_id: str
    config_hash: str
    events: int = 0
    bars: int = 0
    bar_steps: int = 0
    checked: Counter[str] = field(default_factory=Counter)  # type -> recorded decisions checked
    different: Counter[str] = field(default_factory=Counter)  # type -> decisions with a difference
    diffs: list[Diff] = field(default_factory=list)
    unexpected: list[int] = field(default_factory=list)  # recorded decisions nothing derived (session_seq)
    missing: list[dict[str, Any]] = field(default_factory=list)  # derived, never recorded
    pending: list[dict[str, Any]] = field(default_factory=list)  # derived at the end of an unended session
    first_ns: int = 0
    last_ns: int = 0
    elapsed_s: float = 0.0

    @property
    def total_checked(self) -> int:
        return sum(self.checked.values())

    @property
    def total_different(self) -> int:
        return sum(self.different.values()) + len(self.missing)

    @property
    def identical(self) -> int:
        return self.total_checked - sum(self.different.values())

    @property
    def ok(self) -> bool:
        return not (self.diffs or self.unexpected or self.missing)

    @property
    def bars_per_s(self) -> float:
        return self.bars / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def to_dict(self, max_diffs: int | None = None) -> dict[str, Any]:
        diffs = self.diffs if max_diffs is None else self.diffs[:max_diffs]
        return {
            "session_id": self.session_id, "config_hash": self.config_hash, "ok": self.ok,
            "events": self.events, "bars": self.bars, "bar_steps": self.bar_steps,
            "checked": self.total_checked, "identical": self.identical, "different": self.total_different,
            "checked_by_type": dict(sorted(self.checked.items())),
            "different_by_type": dict(sorted(self.different.items())),
            "diffs": [d.__dict__ for d in diffs], "diffs_total": len(self.diffs),
            "unexpected_session_seqs": self.unexpected, "missing": self.missing, "pending": self.pending,
            "market_from_ns": self.first_ns, "market_to_ns": self.last_ns,
            "elapsed_s": round(self.elapsed_s, 6), "bars_per_s": round(self.bars_per_s, 1),
        }


class ReplayFailed(RuntimeError):
    """The engine raised while re-deriving a decision (the log cannot be replayed)."""


def expand(seq: int, session_seq: int, type_: str, name: str, recorded: Any, replayed: Any) -> list[Diff]:
    """One mismatch as diffs per sub-key for dicts (``thresholds.max_open_positions``)."""
    if isinstance(recorded, dict) and isinstance(replayed, dict):
        out: list[Diff] = []
        for k in sorted(set(recorded) | set(replayed), key=str):
            a, b = recorded.get(k, "<absent>"), replayed.get(k, "<absent>")
            if a != b:
                out.extend(expand(seq, session_seq, type_, f"{name}.{k}", a, b))
        return out or [Diff(seq, session_seq, type_, name, recorded, replayed)]
    return [Diff(seq, session_seq, type_, name, recorded, replayed)]


def verify_session(store: EventStore, session: Session, *,
                   progress: Callable[[int], None] | None = None) -> VerifyResult:
    """Re-derive and compare every decision of ``session``; never writes anything."""
    res = VerifyResult(session_id=session.session_id, config_hash=session.started.config_hash)
    clock = ReplayClock(0)
    closes: set[int] = set()
    last: list[Event | None] = [None]

    def feed() -> Iterator[Event]:
        # counted a batch at a time (by class, in C); the events still go one by one to the
        # replay, ``last`` naming the one it was at if it stops
        for evs in session_batches(store, session, progress=progress):
            if not evs:
                continue
            if not res.first_ns:
                res.first_ns = next((ev.ts_event_ns for ev in evs if ev.ts_event_ns), 0)
            clock.observe(max(ev.ts_event_ns for ev in evs))
            for cls, n in Counter(map(type, evs)).items():
                name = cls.__name__
                if name in CHECKED_TYPES:
                    res.checked[name] += n
                elif cls is KlineClosed:
                    res.bars += n
                    closes.update(ev.close_time_ms for ev in evs if type(ev) is KlineClosed)  # type: ignore[attr-defined]
                elif cls is ConfigChanged:
                    for ev in evs:
                        if type(ev) is ConfigChanged and ev.source != "reload":
                            res.checked[f"ConfigChanged({ev.source})"] += 1  # autotune decisions
            for ev in evs:
                last[0] = ev
                yield ev

    t0 = time.perf_counter()
    try:
        report: ReplayReport = rederive(feed(), state=prior_state(store, session.started))
    except Exception as exc:
        at = last[0]
        where = f"seq {at.seq} ({type(at).__name__})" if at is not None else "the start"
        raise ReplayFailed(f"replay stopped at {where}: {type(exc).__name__}: {exc}") from exc
    res.elapsed_s = time.perf_counter() - t0
    res.events = report.events
    res.last_ns = clock.now_ns()
    res.bar_steps = len(closes)
    seen: dict[str, set[int]] = {}
    for m in report.mismatches:
        res.diffs.extend(expand(m.seq, m.session_seq, m.type, m.field, m.recorded, m.derived))
        seen.setdefault(m.type, set()).add(m.seq)
    for t, seqs in seen.items():
        res.different[t] += len(seqs)
    res.unexpected = list(report.unexpected)
    if res.unexpected:
        res.different["unexpected"] += len(res.unexpected)
    if session.ended is None:
        # the log of a running (or killed) session can end between a trigger and its decision:
        # what the last events would have caused is pending, not a difference
        res.pending = list(report.missing)
    else:
        res.missing = list(report.missing)
    res.diffs.sort(key=lambda d: (d.seq, d.field))
    return res
