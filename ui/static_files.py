"""The dashboard's own static files and the stylesheets a first render links.

Kept free of Panel, Bokeh and pandas so ``hedge serve --print-site`` (``ui.proxy``) can
name them without importing the dashboard.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
from functools import cache
from pathlib import Path

CSS_PATH = Path(__file__).with_name("assets") / "dashboard.css"

#: Where the Panel server (``ui.server.serve``: ``static_dirs``) and nginx serve ``ui/assets``.
ASSETS_ROUTE = "hedge-assets"

#: Panel's stylesheets (under ``/static/extensions/panel/``) that the page's panes link
#: from their shadow roots. The browser asks for them only once the document has arrived
#: over the websocket and the panes are drawn; nginx names them in a ``Link: rel=preload``
#: header on the page so they are fetched while the scripts load (the browser test checks
#: that every preloaded URL is one the page really uses).
PANEL_FIRST_RENDER_CSS = ("css/loading.css", "css/listpanel.css", "bundled/theme/default.css",
                          "bundled/theme/native.css")


@cache
def css() -> str:
    """The dashboard stylesheet (applied to every HTML pane's shadow root)."""
    return CSS_PATH.read_text(encoding="utf-8")


@cache
def css_url() -> str:
    """The stylesheet as the panes link it: one URL, so the page's document carries one
    stylesheet model and the browser fetches it once (inline, each of the ~30 panes carried
    its own 5 KB copy); relative, so it works under any path prefix; versioned by content,
    so it is cached for good and never stale."""
    version = hashlib.sha256(css().encode("utf-8")).hexdigest()[:12]
    return f"{ASSETS_ROUTE}/{CSS_PATH.name}?v={version}"


def first_render_stylesheets() -> list[str]:
    """Absolute URLs of the stylesheets the first render links, as the browser asks for them."""
    version = importlib.metadata.version("panel")
    panel = [f"/static/extensions/panel/{p}?v={version}" for p in PANEL_FIRST_RENDER_CSS]
    return [*panel, "/" + css_url()]


def preload_header() -> str:
    """The ``Link`` header value preloading :func:`first_render_stylesheets`."""
    return ", ".join(f"<{u}>; rel=preload; as=style" for u in first_render_stylesheets())
