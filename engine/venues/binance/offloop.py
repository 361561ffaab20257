"""Exchange calls off the decision loop's thread.

``OffLoop.run(work, apply)`` runs ``work()`` (network only) on a worker thread and puts
``(apply, result)`` on the venue's queue; the loop thread calls ``apply(result)`` when it
next polls, so every book the adapter keeps is touched by the loop thread only, and the
log keeps the decide -> record -> act order (the act's answers are recorded when they
arrive, like any other venue update). One worker per ``OffLoop``: calls run in the
order they were asked for (a cancel never overtakes its order). The Binance venue has
two: orders and cancels on one, reads on the other (a read-back never waits behind
an order to a slow endpoint). ``result`` is whatever
``work`` returned, or the exception it raised.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from engine.ports import VenueUpdate

ROUTE = "offloop"

Apply = Callable[[Any], list[VenueUpdate]]


class OffLoop:
    def __init__(self, sink: queue.Queue[tuple[str, int, Any, str]], name: str,
                 init: Callable[[], None] | None = None, route: str = ROUTE):
        self._sink = sink
        self.route = route  # the queue route its answers come back on
        self._init = init  # run first on the worker thread (e.g. let its REST calls wait out a 429)
        self._jobs: queue.Queue[tuple[Callable[[], Any], Apply] | None] = queue.Queue()
        self._name = name
        self._thread: threading.Thread | None = None
        self.inflight = 0  # asked for, answer not yet applied (loop thread only)
        self.longest_s = 0.0  # slowest call so far (seconds; for the soak's figures)

    def run(self, work: Callable[[], Any], apply: Apply) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, daemon=True, name=self._name)
            self._thread.start()
        self.inflight += 1
        self._jobs.put((work, apply))

    def applied(self) -> None:
        self.inflight -= 1

    def _serve(self) -> None:
        if self._init is not None:
            self._init()
        while True:
            job = self._jobs.get()
            if job is None:
                return
            work, apply = job
            t0 = time.monotonic()
            try:
                result: Any = work()
            except Exception as exc:  # handed to the loop thread, which records it
                result = exc
            self.longest_s = max(self.longest_s, time.monotonic() - t0)
            self._sink.put((self.route, 0, (apply, result), ""))

    def close(self, timeout_s: float = 15.0) -> None:
        """Let queued calls finish (bounded by the client timeout), then stop."""
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join(timeout=timeout_s)
