"""Serve the dashboard: Panel (Bokeh/tornado) on loopback plus an open ``/healthz``.

``/healthz`` answers 200 with a small JSON (state freshness, NAV age) and needs no
login: nginx leaves it outside basic auth so a load balancer or uptime check can poll it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import tornado.web

from ui import model, state


class HealthHandler(tornado.web.RequestHandler):
    """``GET /healthz``: 200 and ``ui.model.health`` as JSON, never cached."""

    def initialize(self, home: Path) -> None:
        self.home = home

    def get(self) -> None:
        body = model.health(state.load(self.home))
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.write(json.dumps(body, sort_keys=True))


class LiveHandler(tornado.web.RequestHandler):
    """``GET /livez``: ``{"status": "up"}`` and nothing else (what nginx's open /healthz shows)."""

    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.write('{"status": "up"}')


class AuthHandler(tornado.web.RequestHandler):
    """``GET /_auth``: nginx's ``auth_request`` - 204 when the Basic credentials verify, else 401."""

    def initialize(self, check: Any) -> None:
        self.login = check

    async def get(self) -> None:
        import tornado.ioloop

        header = self.request.headers.get("Authorization")
        name = self.login.remembered(header)  # the page's many requests: no bcrypt, no thread
        client = self.request.headers.get("X-Real-IP", "")
        if name is None and header and self.login.begin(client):
            try:
                name = await tornado.ioloop.IOLoop.current().run_in_executor(
                    self.login.pool, self.login.check, header)
            finally:
                self.login.end(client)
        self.set_header("Cache-Control", "no-store")
        if name is None:
            from ui.auth import REALM

            self.set_status(401)
            self.set_header("WWW-Authenticate", REALM)
        else:
            self.set_status(204)


class AuthServer:
    """``/_auth`` (``AuthHandler``) on its own unix socket, thread and event loop.

    nginx asks for the login check on every request of a page (its scripts and styles
    too). Served by the Panel server's own loop, each check waited while that loop built
    a session's document (a second and more on a loaded machine), so the page's library
    files waited too; here a check never waits for a page being built.
    """

    def __init__(self, login: Any, sock: Path) -> None:
        import threading

        self.login, self.sock = login, sock
        self.loop: Any = None
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="hedge-auth", daemon=True)

    def start(self, timeout: float = 30.0) -> None:
        self.thread.start()
        if not self.ready.wait(timeout) or self.error is not None:
            raise ServeError(f"the login check did not start on {self.sock}: {self.error}")

    def _run(self) -> None:
        import asyncio

        import tornado.httpserver
        import tornado.netutil

        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            app = tornado.web.Application([(r"/_auth", AuthHandler, {"check": self.login})])
            server = tornado.httpserver.HTTPServer(app)
            server.add_socket(tornado.netutil.bind_unix_socket(str(self.sock), mode=0o600))
        except BaseException as exc:  # reported by start()
            self.error = exc
            self.ready.set()
            loop.close()
            return
        self.loop = loop
        self.ready.set()
        try:
            loop.run_forever()
        finally:
            server.stop()
            loop.close()

    def stop(self) -> None:
        if self.loop is not None and self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)


def _no_mathjax() -> None:
    """Leave Bokeh's MathJax bundle (1.8 MB, a third of the page's script) out of the page:
    Panel adds it to any page with an HTML pane, in case the pane holds TeX; the dashboard
    never does (its dollar signs are money). Panel has no setting for it, hence the patch
    of its private check; should Panel rename it, this does nothing and the browser test
    (no bokeh-mathjax request) says so."""
    from panel.io import resources

    if hasattr(resources, "_panel_use_mathjax"):
        resources._panel_use_mathjax = lambda roots: False


def websocket_origins(port: int, extra: Sequence[str] = ()) -> list[str]:
    """Origins allowed to open the websocket: loopback on ``port`` plus ``extra`` host[:port]."""
    return [f"localhost:{port}", f"127.0.0.1:{port}", *extra]


def serve(home: Path, port: int = 5006, address: str = "127.0.0.1",
          origins: Sequence[str] | None = None, use_xheaders: bool = False,
          threaded: bool = False, unix_socket: Path | None = None, login: Any = None) -> Any:
    """Start the Panel server for ``home``; blocks unless ``threaded`` (then returns the
    stoppable server thread). ``origins`` defaults to loopback on ``port``.

    ``unix_socket``: listen there instead of a TCP port (``hedge serve``: only nginx
    can reach it). ``login`` (``ui.auth.LoginCheck``): answer nginx's ``/_auth``.
    """
    import panel as pn  # imported here: every `hedge` verb imports this module

    from ui import components as c
    from ui.app import TITLE, create_app

    pn.extension(notifications=False)
    _no_mathjax()
    patterns: list[Any] = [(r"/healthz", HealthHandler, {"home": home}), (r"/livez", LiveHandler)]
    if login is not None:
        patterns.append((r"/_auth", AuthHandler, {"check": login}))
    where: dict[str, Any] = {"unix_socket": str(unix_socket)} if unix_socket else {"port": port, "address": address}
    return pn.serve(
        lambda: create_app(home),
        **where,
        websocket_origin=list(origins) if origins else websocket_origins(port),
        use_xheaders=use_xheaders,
        extra_patterns=patterns,
        static_dirs={c.ASSETS_ROUTE: str(c.CSS_PATH.parent)},
        show=False,
        threaded=threaded,
        title=TITLE,
        start=True,
        verbose=False,
    )


class ServeError(ValueError):
    """The server could not start (port in use, did not answer): one-line CLI error."""


def check_port_free(address: str, port: int) -> None:
    """Raise ServeError when ``address:port`` cannot be bound (in use, bad address)."""
    import socket

    fam = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError as exc:
            raise ServeError(f"cannot listen on {address}:{port}: {exc.strerror}") from None


def free_port(address: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``address`` right now."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


def get_unix(sock: Path, path: str, timeout: float = 5.0) -> int:
    """HTTP status of ``GET path`` over a unix socket (raises OSError when nobody answers)."""
    import http.client
    import socket

    class _Conn(http.client.HTTPConnection):
        def connect(self) -> None:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(timeout)
            s.connect(str(sock))
            self.sock = s

    conn = _Conn("localhost", timeout=timeout)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


def wait_unix(sock: Path, path: str, timeout: float = 60.0, alive: Any = None) -> None:
    """Poll ``GET path`` on a unix socket until it answers; ServeError as ``wait_http``."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            raise ServeError(f"{sock}: the server exited while starting")
        try:
            get_unix(sock, path)
            return
        except OSError:
            time.sleep(0.2)
    raise ServeError(f"{sock} did not answer within {timeout:.0f}s")


def wait_http(url: str, timeout: float = 60.0, alive: Any = None) -> None:
    """Poll ``url`` until it answers (any HTTP status); ServeError after ``timeout`` s or
    as soon as ``alive()`` returns False."""
    import ssl
    import time
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            raise ServeError(f"{url}: the server exited while starting")
        try:
            # Our own nginx on loopback: a self-signed or not-yet-trusted certificate is fine.
            ctx = ssl._create_unverified_context() if url.startswith("https:") else None
            with urllib.request.urlopen(url, timeout=5, context=ctx):
                return
        except urllib.error.HTTPError:
            return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise ServeError(f"{url} did not answer within {timeout:.0f}s")


def url_host(address: str) -> str:
    """The host to print in a URL for a listen address (0.0.0.0 -> 127.0.0.1)."""
    if address in ("0.0.0.0", "", "*"):
        return "127.0.0.1"
    if address == "::":
        return "[::1]"
    return f"[{address}]" if ":" in address else address


class StopSignals:
    """SIGINT/SIGTERM set a flag instead of killing the process, from ``__enter__`` on, so
    a signal that arrives while the servers start still leads to a clean stop."""

    def __init__(self) -> None:
        import threading

        self.event = threading.Event()
        self.name = ""
        self._old: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        import signal

        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        import signal

        for sig, old in self._old.items():
            signal.signal(sig, old)

    def _handler(self, signum: int, _frame: Any) -> None:
        import signal

        self.name = signal.Signals(signum).name
        self.event.set()

    @property
    def fired(self) -> bool:
        return self.event.is_set()

    def wait(self, tick: Any = None, period: float = 1.0) -> str:
        """Block until a signal; ``tick()`` every ``period`` s (False ends the wait: "exited")."""
        while not self.event.wait(period):
            if tick is not None and tick() is False:
                return "exited"
        return self.name
