"""Hot path: what two per-event features of the last round cost, each beside the same work
without it, on the events of the cached real session (``bench.fixtures.session_home``).

* **Step-atomic commits** (``LogWriter(step_atomic=True)`` + ``end_step()``, what the
  simulator's ``hedge run`` uses): the session's events emitted through a background
  ``LogWriter`` into a real SQLite log with a step boundary after each bar step's klines,
  against the same emits through a plain group-commit writer (``end_step`` a no-op) -
  events/s until everything is durable.
* **The account filter** (``Projector.accepts``, called on every event a projection
  reads): the filter over the decoded session, against the fold (``Projector.apply``) of the
  same events - the filter's share of a catch-up's fold.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import msgspec

from bench.common import Figure
from bench.fixtures import session_home, steps_for

_HEADER = {"seq", "session_id", "session_seq", "stream", "ts_event_ns", "ts_init_ns", "v"}


def _events(scale: float) -> list[Any]:
    from eventlog.store import EventStore

    home = session_home(scale if scale < 1.0 else 1.0)
    store = EventStore.open(home, create=False)
    try:
        return [ev for batch in store.read_batches(1) for ev in batch]
    finally:
        store.close()


def emit_rate(events: list[Any], *, step_atomic: bool) -> float:
    """events/s: the session re-emitted through a LogWriter, durable at the end."""
    from eventlog.events import KlineClosed
    from eventlog.store import EventStore
    from eventlog.writer import LogWriter

    calls = []
    for i, ev in enumerate(events):
        fields = {k: v for k, v in msgspec.structs.asdict(ev).items() if k not in _HEADER}
        nxt = events[i + 1] if i + 1 < len(events) else None
        step_end = type(ev) is KlineClosed and type(nxt) is not KlineClosed
        calls.append((type(ev), ev.stream, ev.ts_event_ns, fields, step_end))
    with tempfile.TemporaryDirectory(prefix="bench-hotpath-") as d:
        store = EventStore.open(Path(d))
        writer = LogWriter(store, str(uuid.uuid4()), clock_ns=time.time_ns, step_atomic=step_atomic)
        emit, end_step = writer.emit, writer.end_step
        t = time.perf_counter()
        for cls, stream, ts, fields, step_end in calls:
            emit(cls, stream=stream, ts_event_ns=ts, **fields)
            if step_end:
                end_step()
        writer.flush()
        dt = time.perf_counter() - t
        writer.close()
        store.close()
    return len(calls) / dt


def filter_cost(events: list[Any]) -> tuple[float, float]:
    """(ns per event of ``Projector.accepts``, ns per event of ``Projector.apply``)."""
    from projections.fold import Projector

    p = Projector()
    accepts = p.accepts
    t = time.perf_counter()
    kept = [ev for ev in events if accepts(ev)]
    filt = time.perf_counter() - t
    q = Projector()
    apply = q.apply
    t = time.perf_counter()
    for ev in kept:
        apply(ev)
    fold = time.perf_counter() - t
    return filt / len(events) * 1e9, fold / len(events) * 1e9


def run(scale: float = 1.0, repeats: int = 3) -> list[Figure]:
    events = _events(scale)
    if scale < 1.0:
        events = events[: max(2000, steps_for(scale) * 8)]
    atomic = plain = 0.0
    acc, fold = float("inf"), float("inf")
    for _ in range(max(1, repeats)):
        plain = max(plain, emit_rate(events, step_atomic=False))
        atomic = max(atomic, emit_rate(events, step_atomic=True))
        a, f = filter_cost(events)
        acc, fold = min(acc, a), min(fold, f)
    n = f"{len(events):,} events of the real session"
    return [
        Figure("hotpath", "LogWriter.emit + end_step, step-atomic (hedge run on the simulator)", atomic, "ev/s",
               "the same emits, plain group commit", plain, notes=n),
        Figure("hotpath", "Projector.accepts per event (account filter)", acc, "ns/event",
               "Projector.apply per event (the fold)", fold,
               notes=f"{n}; ratio = the filter's cost as a share of the fold's"),
    ]
