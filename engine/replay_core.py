"""Re-derive a session's decisions from its recorded inputs and compare them.

``rederive(events)`` folds a session's events with the engine's own ``evolve``
and calls ``decide`` after each one, exactly as the live loop did. Decisions
come out depth-first (see ``engine.core``), so the expected decision events are
kept as a stack of queues: each recorded decision event (``DECISION_TYPES``)
must equal the head of the innermost non-empty queue, field by field (header
``seq``/``session_seq``/``ts_init_ns``/``session_id`` aside). The recorded event
is what gets folded, so one difference does not cascade.

``config`` swaps the config after ``SessionStarted`` (a what-if: decisions are
re-derived under other limits, against the same recorded market and fills).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from config.loader import LoadedConfig
from engine.core import DECISION_TYPES, Emit, decide
from engine.loop import enrich_fill
from engine.state import EngineState, evolve
from eventlog.events import (
    EVENT_TYPES,
    HEADER_FIELDS,
    ConfigChanged,
    Event,
    OrderFilled,
    SessionStarted,
)

_SKIP = {"seq", "session_id", "session_seq", "ts_init_ns", "type"}
_DECISION_CLASSES = frozenset(EVENT_TYPES[name] for name in DECISION_TYPES)


@dataclass
class Mismatch:
    seq: int
    session_seq: int
    type: str
    field: str
    recorded: Any
    derived: Any


@dataclass
class ReplayReport:
    session_id: str = ""
    events: int = 0
    decisions_checked: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    unexpected: list[int] = field(default_factory=list)  # session_seq of recorded decisions nobody derived
    missing: list[dict[str, Any]] = field(default_factory=list)  # derived decisions never recorded
    state: EngineState | None = None

    @property
    def ok(self) -> bool:
        return not (self.mismatches or self.unexpected or self.missing)


def payload(ev: Event) -> dict[str, Any]:
    """The event's fields without the store/writer-stamped header."""
    d = msgspec.structs.asdict(ev)
    return {k: v for k, v in d.items() if k not in _SKIP}


def _compare(rec: Event, exp: Emit, report: ReplayReport) -> None:
    if type(rec) is not exp.cls:
        report.mismatches.append(Mismatch(rec.seq, rec.session_seq, type(rec).__name__, "type",
                                          type(rec).__name__, exp.cls.__name__))
        return
    got = payload(rec)
    want = payload(exp.event)
    want["ts_event_ns"] = exp.ts_event_ns
    for k in sorted(want):
        if k in HEADER_FIELDS and k not in ("stream", "ts_event_ns"):
            continue  # v: a recorded decision is read at its current version
        if got[k] != want[k]:
            report.mismatches.append(Mismatch(rec.seq, rec.session_seq, type(rec).__name__, k, got[k], want[k]))


def rederive(events: Iterable[Event], *, config: LoadedConfig | None = None,
             external: tuple[str, ...] = (), state: EngineState | None = None) -> ReplayReport:
    """Fold one session's events, re-derive every decision and compare it with the log.

    ``external`` names decision types recorded by an outside actor (e.g. intents a
    test or an operator injected): they are taken as inputs, not re-derived.
    ``state`` is the fold of the account's earlier sessions when the session resumed
    an account (``prior_state``); a fresh state otherwise.
    """
    state = state if state is not None else EngineState()
    report = ReplayReport(state=state)
    stack: list[deque[Emit]] = []
    n = 0
    # (per event: a type test against a set, no name lookup; no queue built for the many
    # events that decide nothing)
    for n, ev in enumerate(events, 1):  # noqa: B007 (n is the count after the loop)
        t = type(ev)
        if t in _DECISION_CLASSES or (t is ConfigChanged and ev.source != "reload"):  # type: ignore[attr-defined]
            name = t.__name__
            if not (name in external and not (stack and stack[-1])):
                while stack and not stack[-1]:
                    stack.pop()
                if not stack:
                    report.unexpected.append(ev.session_seq)
                else:
                    _compare(ev, stack[-1].popleft(), report)
                    report.decisions_checked += 1
        elif t is OrderFilled:
            # the loop enriched the venue's fill from the state; check that too
            want = enrich_fill(state, {"order_id": ev.order_id, "side": ev.side, "price": ev.price})  # type: ignore[attr-defined]
            for k in ("decision_price", "slippage_bps"):
                if k in want and want[k] != getattr(ev, k):
                    report.mismatches.append(Mismatch(ev.seq, ev.session_seq, t.__name__, k, getattr(ev, k), want[k]))
        evolve(state, ev)
        if t is SessionStarted:
            report.session_id = ev.session_id
            if config is not None:
                state.cfg = config.config
                state.config_hash = config.config_hash
        acts = decide(state, ev)
        if acts:
            emits = deque(a for a in acts if type(a) is Emit)
            if emits:
                stack.append(emits)
    report.events = n
    for q in stack:
        for e in q:
            report.missing.append({"type": e.cls.__name__, **payload(e.event)})
    return report


def prior_state(store: Any, started: SessionStarted) -> EngineState | None:
    """The engine state a resumed session started from: its account's events before it.

    None for a session that resumed nothing (the account's first, or a log written
    before accounts existed).
    """
    if not started.resumed_at_seq:
        return None
    from engine.resume import account_events
    from eventlog.accounts import account_index, account_of

    info = account_index(store).get(account_of(started))
    if info is None:
        return None
    state = EngineState()
    for ev in account_events(store, info, stop=started.resumed_at_seq):
        if ev.session_id != started.session_id:
            evolve(state, ev)
    return state
