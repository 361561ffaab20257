"""Serve the dashboard: Panel (Bokeh/tornado) on loopback plus an open ``/healthz``.

``/healthz`` answers 200 with a small JSON (state freshness, NAV age) and needs no
login: nginx leaves it outside basic auth so a load balancer or uptime check can poll it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import panel as pn
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


def websocket_origins(port: int, extra: Sequence[str] = ()) -> list[str]:
    """Origins allowed to open the websocket: loopback on ``port`` plus ``extra`` host[:port]."""
    return [f"localhost:{port}", f"127.0.0.1:{port}", *extra]


def serve(home: Path, port: int = 5006, address: str = "127.0.0.1",
          origins: Sequence[str] | None = None, use_xheaders: bool = False,
          threaded: bool = False) -> Any:
    """Start the Panel server for ``home``; blocks unless ``threaded`` (then returns the
    stoppable server thread). ``origins`` defaults to loopback on ``port``."""
    from ui.app import TITLE, create_app

    pn.extension("tabulator", design="fast", notifications=False)
    return pn.serve(
        lambda: create_app(home),
        port=port,
        address=address,
        websocket_origin=list(origins) if origins else websocket_origins(port),
        use_xheaders=use_xheaders,
        extra_patterns=[(r"/healthz", HealthHandler, {"home": home})],
        show=False,
        threaded=threaded,
        title=TITLE,
        start=True,
        print_url=False,
    )
