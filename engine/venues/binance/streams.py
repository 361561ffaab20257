"""The websocket routes' supervisor: reconnect with backoff, silent-socket watch, listen key.

``StreamSupervisor`` owns the three routes (``market``, ``public``, ``private``), when
each went down (its last sign of life - connected, or the newest frame heard - not when
the loss was noticed, which can be much later), when to try again, and the user-data listen key (kept alive, renewed
when it expires). After a route comes back it calls ``on_reconnect(route, down_since_ms)``
so the venue can read back what the gap hid (klines, account, fills).

``private_alive`` is what the venue reports as the user stream's liveness (it feeds
``NavSnapshot.sources_ok``).
"""

from __future__ import annotations

import queue
import random
import time
from collections.abc import Callable
from typing import Any

from engine.ports import VenueUpdate
from engine.venues.binance.client import BinanceRest, StreamConn
from engine.venues.binance.env import BinanceEnv, Redactor
from engine.venues.binance.errors import Faults, VenueStartError


class StreamSupervisor:
    def __init__(self, env: BinanceEnv, rest: BinanceRest, faults: Faults, redact: Redactor,
                 sink: queue.Queue[tuple[str, int, Any, str]], *, now_ms: Callable[[], int],
                 keepalive_s: float, stale_after_s: float, backoff_base_s: float, backoff_max_s: float,
                 monotonic: Callable[[], float] = time.monotonic):
        self.env, self.rest, self.faults, self.redact, self.sink = env, rest, faults, redact, sink
        self.now_ms, self.monotonic = now_ms, monotonic
        self.keepalive_s, self.stale_after_s = keepalive_s, stale_after_s
        self.backoff_base_s, self.backoff_max_s = backoff_base_s, backoff_max_s
        self.conns: dict[str, StreamConn] = {}
        self.retry: dict[str, tuple[int, float]] = {}  # route -> (failed attempts, next try monotonic)
        self.down_since_ms: dict[str, int] = {}
        # route -> exchange time of its last sign of life (connected, or the newest frame heard):
        # a gap starts there, not when the loss is noticed (which can be much later)
        self.alive_ms: dict[str, int] = {}
        self.listen_key = ""
        self.next_keepalive = 0.0

    def private_alive(self) -> bool:
        conn = self.conns.get("private")
        return conn is not None and conn.alive and "private" not in self.retry

    def open_listen_key(self) -> None:
        _, errs = self.faults.attempt("rest.listenKey", self._new_key, field="listenKey")
        if errs:
            raise VenueStartError(f"no user-data stream: {errs[0].fields['message']}")

    def _new_key(self) -> None:
        self.listen_key = self.rest.new_listen_key()
        self.next_keepalive = self.monotonic() + self.keepalive_s

    def open(self, routes: dict[str, Callable[[], list[str]]]) -> list[VenueUpdate]:
        out: list[VenueUpdate] = []
        for route, streams in routes.items():
            self.conns[route] = StreamConn(route, self.env.route_url(route), self.sink, streams, self.redact)
            try:
                self.conns[route].connect()
                self.alive_ms[route] = self.now_ms()
            except ConnectionError as exc:
                out.append(self.faults.err(f"ws.{route}", "ws", route, str(exc)))
                self.schedule_retry(route)
                self.down_since_ms.setdefault(route, self.now_ms())
        return out

    def heard(self, route: str, event_ms: int) -> None:
        """A frame of ``route`` stamped ``event_ms`` (exchange time) arrived: it was alive then."""
        if event_ms > self.alive_ms.get(route, -1):
            self.alive_ms[route] = event_ms

    def _gap_start(self, route: str) -> int:
        now = self.now_ms()
        return min(now, self.alive_ms.get(route, now))

    def schedule_retry(self, route: str) -> None:
        attempts, _ = self.retry.get(route, (0, 0.0))
        pause = min(self.backoff_max_s, self.backoff_base_s * 2 ** attempts) * (0.75 + 0.5 * random.random())
        self.retry[route] = (attempts + 1, self.monotonic() + pause)

    def on_closed(self, route: str, info: str) -> list[VenueUpdate]:
        self.conns[route].stop()
        self.down_since_ms.setdefault(route, self._gap_start(route))
        if route not in self.retry:
            self.schedule_retry(route)
        return [self.faults.err(f"ws.{route}", "ws", route, f"websocket lost: {info}")]

    def supervise(self, on_reconnect: Callable[[str, int | None], list[VenueUpdate]]) -> list[VenueUpdate]:
        """Reconnect due routes, keep the listen key alive, watch for silent sockets."""
        out: list[VenueUpdate] = []
        now = self.monotonic()
        for route, conn in sorted(self.conns.items()):
            if conn.alive and route != "private" and now - conn.last_frame > self.stale_after_s:
                out += self.on_closed(route, f"no frame for {self.stale_after_s:g}s")
            due = self.retry.get(route)
            if due is None or now < due[1]:
                continue
            try:
                conn.connect()
            except ConnectionError as exc:
                self.schedule_retry(route)
                out.append(self.faults.err(f"ws.{route}", "reconnect", route,
                                           f"reconnect attempt {due[0]} failed: {exc}"))
                continue
            del self.retry[route]
            self.alive_ms[route] = self.now_ms()
            out.append(self.faults.err(f"ws.{route}", "reconnect", route, f"reconnected after {due[0]} attempt(s)"))
            out += on_reconnect(route, self.down_since_ms.pop(route, None))
        if self.listen_key and now >= self.next_keepalive:
            self.next_keepalive = now + self.keepalive_s
            _, errs = self.faults.attempt("rest.listenKey", lambda: self.rest.renew_listen_key(self.listen_key),
                                          field="listenKey")
            if errs:
                out += errs + self.renew_user_stream("keepalive failed")
        return out

    def renew_user_stream(self, why: str) -> list[VenueUpdate]:
        """New listen key, reconnect ``/private`` (the venue reads the account back after)."""
        out = [self.faults.err("ws.private", "reconnect", "listenKey", f"renewing user stream: {why}")]
        _, errs = self.faults.attempt("rest.listenKey", self._new_key, field="listenKey")
        if errs:
            self.next_keepalive = self.monotonic() + 30.0  # try again soon
            return out + errs
        if "private" in self.conns:
            self.down_since_ms.setdefault("private", self._gap_start("private"))
            self.retry["private"] = (0, 0.0)  # reconnect on the next supervise
        return out

    def close(self) -> None:
        for conn in self.conns.values():
            conn.stop()
        if self.listen_key:
            self.faults.attempt("rest.listenKey", lambda: self.rest.close_listen_key(self.listen_key))
