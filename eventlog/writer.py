"""Session writer with group commit.

The engine calls ``emit(EventClass, stream=..., ts_event_ns=..., **fields)``; the
writer stamps the header (session id, next ``session_seq``, ``ts_init_ns`` from the
injected clock) and queues the event. A background thread commits the queue as one
batch as soon as the producer pauses (the queue stops growing for ``idle_us``), when it
reaches ``max_batch``, or when the first queued event has waited ``max_latency_ms`` -
whichever comes first. A live loop (ticks far apart) thus gets sub-millisecond
durability, while a max-speed replay of history still commits thousands per batch. ``flush()`` makes everything so far
durable. A storage failure (disk full, read-only home) is kept and re-raised to
the engine on its next call, so the engine stops instead of running on unlogged.

The producer side takes no lock: events go into a ``deque`` (atomic appends) that
the commit thread drains from the left, so queueing an event costs well under a
microsecond and a batch never loses or reorders an event.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

from eventlog.events import Event
from eventlog.store import EventStore

E = TypeVar("E", bound=Event)


_HEADER = frozenset(("seq", "session_id", "session_seq", "stream", "ts_event_ns", "ts_init_ns", "v"))
_BUILDERS: dict[type, tuple[Callable[..., Any], frozenset[str]]] = {}


def _builder(cls: type[Event]) -> tuple[Callable[..., Any], frozenset[str]]:
    """(build, payload names) of an event class: ``build(session_id, session_seq, stream,
    ts_event_ns, ts_init_ns, fields)`` is one keyword call of ``cls`` reading its payload from
    ``fields`` by name (a field left out gets its default, a fresh one from a factory; a
    required one left out raises ``KeyError``)."""
    scope: dict[str, Any] = {"cls": cls}
    args: list[str] = []
    for f in msgspec.structs.fields(cls):
        n = f.name
        if n in _HEADER:
            continue
        if f.required:
            args.append(f"{n}=f[{n!r}]")
        elif f.default_factory is not msgspec.NODEFAULT:
            scope[f"F_{n}"] = f.default_factory
            args.append(f"{n}=f[{n!r}] if {n!r} in f else F_{n}()")
        else:
            scope[f"D_{n}"] = f.default
            args.append(f"{n}=f.get({n!r}, D_{n})")
    src = ("def build(sid, seq, stream, ts, ts_init, f):\n"
           "    return cls(session_id=sid, session_seq=seq, stream=stream, ts_event_ns=ts, ts_init_ns=ts_init"
           + "".join(", " + a for a in args) + ")\n")
    exec(compile(src, f"<event builder {cls.__name__}>", "exec"), scope)
    names = frozenset(f.name for f in msgspec.structs.fields(cls)) - _HEADER
    return scope["build"], names


class WriterFailed(RuntimeError):
    """The log could not be written; nothing after ``durable_session_seq`` is stored."""


class LogWriter:
    def __init__(
        self,
        store: EventStore,
        session_id: str,
        *,
        clock_ns: Callable[[], int],
        next_seq: int = 1,
        max_batch: int = 4096,
        max_latency_ms: float = 5.0,
        idle_us: float = 200.0,
        background: bool = True,
        on_commit: Callable[[list[Event], list[int]], None] | None = None,
        step_atomic: bool = False,
    ):
        self.store = store
        self.session_id = session_id
        self.clock_ns = clock_ns
        self._next = next_seq
        self.max_batch = max_batch
        self.max_latency_s = max_latency_ms / 1000.0
        self.idle_s = min(idle_us / 1e6, self.max_latency_s)
        self.on_commit = on_commit
        self.durable_session_seq = next_seq - 1
        self.last_global_seq = 0
        self.committed = 0
        self._q: deque[Event] = deque()
        # step-atomic: events wait in the stage until ``end_step()`` and a step is committed
        # whole (one transaction), so a crash leaves the log at a step boundary
        self._stage: list[Event] | None = [] if step_atomic else None
        self._error: BaseException | None = None
        self._wake = threading.Event()  # producer -> committer: a full batch, a flush, close
        self._done = threading.Condition()  # committer -> waiters: progress was made
        self._force = False
        self._closing = False
        self._thread: threading.Thread | None = None
        # a live writer takes SQLite's WAL checkpoints off its commits (eventlog.sqlite_checkpoints)
        off_path = getattr(store.recorder, "checkpoint_in_background", None) if background else None
        self._checkpoints = off_path() if off_path is not None else None
        if background:
            self._thread = threading.Thread(target=self._run, name="hedge-log-writer", daemon=True)
            self._thread.start()

    # -- producing -----------------------------------------------------------------

    @property
    def next_session_seq(self) -> int:
        return self._next

    @property
    def pending(self) -> int:
        """Events queued (or staged) but not yet committed."""
        return len(self._q) + (len(self._stage) if self._stage else 0)

    def emit(self, cls: type[E], *, stream: str, ts_event_ns: int, **fields: Any) -> E:
        """Build the event with its header and queue it for the next group commit."""
        ev = cls(
            session_id=self.session_id, session_seq=self._next, stream=stream,
            ts_event_ns=ts_event_ns, ts_init_ns=self.clock_ns(), **fields,
        )
        self._next += 1
        self.submit(ev)
        return ev

    def emit_fields(self, cls: type[E], stream: str, ts_event_ns: int, fields: dict[str, Any]) -> E:
        """``emit(cls, stream=stream, ts_event_ns=ts_event_ns, **fields)`` without merging the
        header and ``fields`` into keyword dicts (two per event, ~1 µs): the event is built
        by the class's keyword builder reading ``fields`` by name (``_builder``). Fields the
        class does not have, or a missing required one, take ``emit``'s path and its error."""
        got = _BUILDERS.get(cls)
        if got is None:
            got = _BUILDERS[cls] = _builder(cls)
        build, names = got
        if not names.issuperset(fields):
            return self.emit(cls, stream=stream, ts_event_ns=ts_event_ns, **fields)
        try:
            ev: E = build(self.session_id, self._next, stream, ts_event_ns, self.clock_ns(), fields)
        except KeyError:
            return self.emit(cls, stream=stream, ts_event_ns=ts_event_ns, **fields)
        self._next += 1
        self.submit(ev)
        return ev

    def emit_draft(self, draft: E, ts_event_ns: int) -> E:
        """Stamp a draft event (a typed decision, ``engine.drafts``) with this session's header
        and queue it, like ``emit``."""
        ev = msgspec.structs.replace(draft, session_id=self.session_id, session_seq=self._next,
                                     ts_event_ns=ts_event_ns, ts_init_ns=self.clock_ns())
        self._next += 1
        self.submit(ev)
        return ev

    def submit(self, ev: Event) -> None:
        if self._stage is not None:
            self._stage.append(ev)
            return
        if self._error is not None:
            self._raise_if_failed()
        q = self._q
        q.append(ev)
        n = len(q)
        if n == 1 or n >= self.max_batch or self._thread is None:
            self._queued(n)

    def end_step(self) -> None:
        """Step-atomic writers: queue the staged step as one unit (no-op otherwise)."""
        stage = self._stage
        if not stage:
            return
        if self._error is not None:
            self._raise_if_failed()
        q = self._q
        was_empty = not q
        self._stage = []
        q.extend(stage)  # one C call under the GIL: the committer never sees half a step
        n = len(q)
        if was_empty and self._thread is not None:
            self._wake.set()
        if n >= self.max_batch or (was_empty and n == 1):
            self._queued(n)

    def _queued(self, n: int) -> None:
        q = self._q
        if self._thread is None:
            if n >= self.max_batch:
                self._commit_available()
                self._raise_if_failed()
            return
        if n == 1:
            # The queue was empty: start the latency clock now (once per batch, not per event).
            self._wake.set()
        elif n >= self.max_batch:
            self._wake.set()
            # Back-pressure: never let the queue grow without bound.
            if n >= 8 * self.max_batch:
                with self._done:
                    while len(q) >= 4 * self.max_batch and self._error is None:
                        self._wake.set()
                        self._done.wait(0.05)
                self._raise_if_failed()

    def commit_now(self) -> None:
        """Have the commit thread commit what is queued now, without waiting for the producer
        to pause (``idle_us``), and return at once: the loop has just recorded a decision and
        is about to wait for the venue."""
        self.end_step()
        if self._thread is not None and self._q:
            self._force = True
            self._wake.set()

    def flush(self) -> int:
        """Block until everything emitted so far is durable; returns durable session_seq."""
        self.end_step()
        target = self._next - 1
        if self._thread is None:
            while self._q and self._error is None:
                self._commit_available()
        else:
            with self._done:
                while self.durable_session_seq < target and self._error is None:
                    self._force = True
                    self._wake.set()
                    self._done.wait(0.05)
        self._raise_if_failed()
        return self.durable_session_seq

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._closing = True
            self._wake.set()
            if self._thread is not None:
                self._thread.join(timeout=10)
            if self._checkpoints is not None:
                self.store.recorder.checkpoint_inline()  # type: ignore[attr-defined]

    # -- committing ----------------------------------------------------------------

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise WriterFailed(f"event log write failed: {self._error}") from self._error

    def _commit_available(self) -> None:
        """Drain up to ``max_batch`` queued events (in order) and commit them as one batch."""
        q = self._q
        if not q or self._error is not None:
            return
        batch = []
        pop = q.popleft
        # step-atomic: everything queued is whole steps; take it all so no step is split
        n = len(q) if self._stage is not None else min(len(q), self.max_batch)
        for _ in range(n):
            batch.append(pop())
        try:
            ids = self.store.append(batch)
        except BaseException as exc:  # keep it: the engine must stop, nothing is lost silently
            self._error = exc
            return
        self.durable_session_seq = batch[-1].session_seq
        if ids:
            self.last_global_seq = ids[-1]
        self.committed += len(batch)
        if self.on_commit is not None:
            self.on_commit(batch, ids)

    def _run(self) -> None:
        q = self._q
        while True:
            if self._closing and (not q or self._error is not None):
                return
            if not q:
                self._wake.wait(0.1)
                self._wake.clear()
                continue
            # Something is queued. Commit as soon as the producer goes idle (the queue
            # stopped growing for ``idle_s``), when a batch is full, on flush/close, or at
            # the latest ``max_latency`` after we noticed it: live ticks get sub-ms
            # durability, a max-speed run still commits big batches.
            self._wake.clear()
            deadline = time.monotonic() + self.max_latency_s
            last = len(q)
            while last < self.max_batch and not (self._force or self._closing):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._wake.wait(min(self.idle_s, remaining))
                self._wake.clear()
                n = len(q)
                if n == last:
                    break
                last = n
            self._force = False
            if self._error is None:
                while q and self._error is None:
                    self._commit_available()
                    if len(q) < self.max_batch and not (self._force or self._closing):
                        break
            with self._done:
                self._done.notify_all()
            if self._error is not None:
                # Wake every waiter; keep the thread alive so flush/close return promptly.
                self._wake.wait(0.1)
