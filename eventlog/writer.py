"""Session writer with group commit.

The engine calls ``emit(EventClass, stream=..., ts_event_ns=..., **fields)``; the
writer stamps the header (session id, next ``session_seq``, ``ts_init_ns`` from the
injected clock) and queues the event. A background thread commits the queue as one
batch when it reaches ``max_batch`` or when the oldest queued event has waited
``max_latency_ms`` - whichever comes first. ``flush()`` makes everything so far
durable. A storage failure (disk full, read-only home) is kept and re-raised to
the engine on its next call, so the engine stops instead of running on unlogged.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from eventlog.events import Event
from eventlog.store import EventStore

E = TypeVar("E", bound=Event)


class WriterFailed(RuntimeError):
    """The log could not be written; nothing after ``durable_seq`` is stored."""


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
        background: bool = True,
        on_commit: Callable[[list[Event], list[int]], None] | None = None,
    ):
        self.store = store
        self.session_id = session_id
        self.clock_ns = clock_ns
        self._next = next_seq
        self.max_batch = max_batch
        self.max_latency_s = max_latency_ms / 1000.0
        self.on_commit = on_commit
        self.durable_session_seq = next_seq - 1
        self.last_global_seq = 0
        self.committed = 0
        self._pending: list[Event] = []
        self._oldest = 0.0
        self._error: BaseException | None = None
        self._cv = threading.Condition()
        self._closing = False
        self._force = False
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(target=self._run, name="hedge-log-writer", daemon=True)
            self._thread.start()

    # -- producing -----------------------------------------------------------------

    @property
    def next_session_seq(self) -> int:
        return self._next

    def emit(self, cls: type[E], *, stream: str, ts_event_ns: int, **fields: Any) -> E:
        """Build the event with its header and queue it for the next group commit."""
        ev = cls(
            session_id=self.session_id, session_seq=self._next, stream=stream,
            ts_event_ns=ts_event_ns, ts_init_ns=self.clock_ns(), **fields,
        )
        self._next += 1
        self.submit(ev)
        return ev

    def submit(self, ev: Event) -> None:
        with self._cv:
            self._raise_if_failed()
            if not self._pending:
                self._oldest = time.monotonic()
            self._pending.append(ev)
            n = len(self._pending)
            if self._thread is None:
                if n >= self.max_batch:
                    self._commit_locked()
                return
            if n >= self.max_batch:
                self._cv.notify_all()
            # Back-pressure: never let the queue grow without bound.
            while len(self._pending) >= 8 * self.max_batch and self._error is None:
                self._cv.wait(0.05)

    def flush(self) -> int:
        """Block until everything emitted so far is durable; returns durable session_seq."""
        with self._cv:
            if self._thread is None:
                self._commit_locked()
            else:
                target = self._next - 1
                self._force = True
                self._cv.notify_all()
                while self.durable_session_seq < target and self._error is None:
                    self._cv.wait(0.05)
                    self._cv.notify_all()
            self._raise_if_failed()
            return self.durable_session_seq

    def close(self) -> None:
        try:
            self.flush()
        finally:
            with self._cv:
                self._closing = True
                self._cv.notify_all()
            if self._thread is not None:
                self._thread.join(timeout=10)

    # -- committing ----------------------------------------------------------------

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise WriterFailed(f"event log write failed: {self._error}") from self._error

    def _commit_locked(self) -> None:
        if not self._pending or self._error is not None:
            return
        batch, self._pending = self._pending, []
        self._write(batch)

    def _write(self, batch: list[Event]) -> None:
        try:
            ids = self.store.append(batch)
        except BaseException as exc:  # keep it: the engine must stop, nothing is lost silently
            self._error = exc
            return
        self.durable_session_seq = batch[-1].session_seq
        self.last_global_seq = ids[-1] if ids else self.last_global_seq
        self.committed += len(batch)
        if self.on_commit is not None:
            self.on_commit(batch, ids)

    def _run(self) -> None:
        with self._cv:
            while True:
                if self._closing and not self._pending:
                    return
                if not self._pending:
                    self._cv.wait(0.1)
                    continue
                due = self._oldest + self.max_latency_s
                now = time.monotonic()
                urgent = self._force or self._closing
                if len(self._pending) < self.max_batch and now < due and not urgent:
                    self._cv.wait(due - now)
                    continue
                if self._error is not None:
                    self._cv.wait(0.1)
                    continue
                batch, self._pending = self._pending, []
                self._force = False
                self._cv.release()
                try:
                    self._write(batch)
                finally:
                    self._cv.acquire()
                self._cv.notify_all()
