"""A loopback fake of the Telegram Bot API (aiohttp on 127.0.0.1) for the real aiogram client.

``FakeTelegramApi().start()`` serves ``POST /bot<token>/<method>`` in its own thread
and event loop, so both in-process senders and ``hedge alerts`` subprocesses can use
``api.base`` as ``TELEGRAM_API_BASE``. ``sendMessage`` answers like Telegram
(``{"ok": true, "result": {message}}``) with increasing ``message_id``.

Behaviour per request is scripted: ``api.script(Ok(), Status(500), Delay(3), RetryAfter(1))``
queues answers for the next requests (then plain OK); ``api.slow_from(n, seconds)``
delays every request from the n-th on. A delayed request is only *delivered* if the
client is still connected when the delay ends: it models a request that never got
through (timeout, sender killed) - the case a retry or a restart must repair.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class Ok:
    pass


@dataclass(frozen=True)
class Status:
    code: int
    description: str = "Internal Server Error"


@dataclass(frozen=True)
class Delay:
    seconds: float


@dataclass(frozen=True)
class RetryAfter:
    seconds: int


@dataclass
class Request:
    n: int
    token: str
    method: str
    form: dict[str, str]
    at: float  # time.monotonic() on arrival
    answered: str = ""


@dataclass
class Delivered:
    message_id: int
    chat_id: str
    text: str
    at: float


@dataclass
class FakeTelegramApi:
    token: str | None = None  # when set, other tokens get 401
    requests: list[Request] = field(default_factory=list)
    delivered: list[Delivered] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._script: list[Any] = []
        self._slow_from: int | None = None
        self._slow_s = 0.0
        self._next_id = 100
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.in_flight = 0

    # -- control (from the test thread) ------------------------------------------------

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(self, *behaviours: Any) -> None:
        with self._lock:
            self._script.extend(behaviours)

    def slow_from(self, n: int | None, seconds: float = 0.0) -> None:
        """Delay request number ``n`` (1-based) and every later one; ``None`` turns it off."""
        with self._lock:
            self._slow_from, self._slow_s = n, seconds

    def texts(self) -> list[str]:
        with self._lock:
            return [d.text for d in self.delivered]

    def wait_for(self, what: str, count: int, timeout: float = 60.0) -> bool:
        """Poll until ``len(requests|delivered) >= count`` (generous, no timing asserts)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._lock:
                n = len(self.requests if what == "requests" else self.delivered)
            if n >= count:
                return True
            time.sleep(0.05)
        return False

    # -- server -------------------------------------------------------------------------

    def start(self) -> FakeTelegramApi:
        ready = threading.Event()

        def main() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            app = web.Application()
            app.router.add_post(r"/bot{token}/{method}", self._handle)
            self._runner = web.AppRunner(app, handle_signals=False)
            loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=main, name="fake-telegram", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> FakeTelegramApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _handle(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        token, method = request.match_info["token"], request.match_info["method"]
        with self._lock:
            req = Request(n=len(self.requests) + 1, token=token, method=method, form=form, at=time.monotonic())
            self.requests.append(req)
            behaviour = self._script.pop(0) if self._script else Ok()
            slow = self._slow_s if self._slow_from is not None and req.n >= self._slow_from else 0.0
            self.in_flight += 1
        try:
            delay = slow + (behaviour.seconds if isinstance(behaviour, Delay) else 0.0)
            if delay:
                await asyncio.sleep(delay)
                if request.transport is None or request.transport.is_closing():
                    req.answered = "client gone"
                    return web.Response(status=499)
            return self._answer(req, behaviour)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _answer(self, req: Request, behaviour: Any) -> web.Response:
        if self.token is not None and req.token != self.token:
            req.answered = "401"
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        if isinstance(behaviour, Status):
            req.answered = str(behaviour.code)
            return web.json_response({"ok": False, "error_code": behaviour.code,
                                      "description": behaviour.description}, status=behaviour.code)
        if isinstance(behaviour, RetryAfter):
            req.answered = "429"
            return web.json_response({"ok": False, "error_code": 429,
                                      "description": f"Too Many Requests: retry after {behaviour.seconds}",
                                      "parameters": {"retry_after": behaviour.seconds}}, status=429)
        if req.method != "sendMessage":
            req.answered = "404"
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        with self._lock:
            self._next_id += 1
            mid = self._next_id
            self.delivered.append(Delivered(message_id=mid, chat_id=req.form.get("chat_id", ""),
                                            text=req.form.get("text", ""), at=time.monotonic()))
        req.answered = "200"
        chat_id = req.form.get("chat_id", "0")
        return web.json_response({"ok": True, "result": {
            "message_id": mid, "date": int(time.time()),
            "chat": {"id": int(chat_id) if chat_id.lstrip("-").isdigit() else 0, "type": "private"},
            "text": req.form.get("text", ""),
        }})
