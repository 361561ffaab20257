"""``hedge report --html``: headless Chromium opens the tearsheet of a real session from disk,
with every network request refused, and checks every chart was drawn.

Checks: no request other than the file itself (and data: URIs), no script error, each
named chart has a Bokeh view with data in every renderer and paints more than a blank
frame, the tables hold the report's figures, the header names the log head
``SEQ:HASH`` that ``hedge verify --head`` accepts. Saves ``test-artifacts/tearsheet.png``
(and ``docs/img/tearsheet.png`` with ``HEDGE_DOC_IMAGES=1``).
"""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import pytest

from hedge.cli import main
from hedge.tearsheet import CHART_NAMES
from tests.conftest import REPO

CHROMIUM = os.environ.get("HEDGE_CHROMIUM", "/usr/bin/chromium")
CHROME_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"chromium not installed at {CHROMIUM}"),
]

VIEWS_JS = """() => { const out = {}; const seen = new Set();
  const walk = v => { if (!v || seen.has(v)) return; seen.add(v);
    if (v.model && v.model.name) { const r = v.el.getBoundingClientRect();
      out[v.model.name] = {x: r.x + window.scrollX, y: r.y + window.scrollY, w: r.width, h: r.height,
        idle: v.is_idle, lengths: v.model.renderers ? v.model.renderers.map(x => x.data_source.get_length()) : null}; }
    for (const c of (v.child_views || [])) walk(c); };
  for (const r of Bokeh.index.roots) walk(r); return out; }"""


@pytest.fixture(scope="module")
def tearsheet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    # Panel registers its Bokeh models on import (``hedge serve``, the UI tests): Bokeh then
    # adds their external files (Panel's es-module-shims) to any page it writes
    import panel  # noqa: F401

    tmp = tmp_path_factory.mktemp("tearsheet")
    home = tmp / "home"
    assert main(["run", "--home", str(home), "--bars", "2000", "--quiet"]) == 0
    out = tmp / "tearsheet.html"
    buf = io.StringIO()
    from contextlib import redirect_stdout

    with redirect_stdout(buf):
        assert main(["report", "--home", str(home), "--format", "json", "--html", str(out)]) == 0
    return out, json.loads(buf.getvalue())


def distinct_colours(png: bytes) -> int:
    from PIL import Image

    img = Image.open(io.BytesIO(png)).convert("RGB")
    return len(set(img.getdata()))


def test_file_has_no_external_resource(tearsheet: tuple[Path, dict]) -> None:
    import re

    text = tearsheet[0].read_text()
    tags = re.findall(r"<(?:script|link|img|iframe)\b[^>]*>", text)
    assert tags and not [t for t in tags if re.search(r"(?:src|href)\s*=\s*[\"']?(?:https?:)?//", t)]
    # nor a file beside it: every script and stylesheet is inline
    assert not [t for t in tags if re.match(r"<(?:script|link)\b[^>]*\b(?:src|href)\s*=", t)]


def test_tearsheet_opens_offline_with_every_chart_drawn(tearsheet: tuple[Path, dict]) -> None:
    full = check_tearsheet(*tearsheet)
    art = REPO / "test-artifacts"
    art.mkdir(exist_ok=True)
    (art / "tearsheet.png").write_bytes(full)
    if os.environ.get("HEDGE_DOC_IMAGES") == "1":
        shutil.copy(art / "tearsheet.png", REPO / "docs" / "img" / "tearsheet.png")


def check_tearsheet(path: Path, rep: dict) -> bytes:
    """Open ``path`` in Chromium offline; assert every chart drew; return a full-page PNG."""
    from playwright.sync_api import Route, sync_playwright

    url = path.resolve().as_uri()
    refused: list[str] = []

    def only_the_file(route: Route) -> None:
        u = route.request.url
        if u == url or u.startswith("data:"):
            route.continue_()
        else:
            refused.append(u)
            route.abort()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROME_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 1000}, device_scale_factor=1)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.route("**/*", only_the_file)
        page.goto(url, wait_until="load")
        page.wait_for_function("window.Bokeh && Bokeh.index.roots.length > 0 && "
                               "Bokeh.index.roots.every(v => v.is_idle)", timeout=60_000)
        # idle = laid out and rendered; two animation frames let the canvases reach the screen
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        views = page.evaluate(VIEWS_JS)
        full = page.screenshot(full_page=True)
        shots = {}
        for name in CHART_NAMES:
            v = views.get(name)
            assert v is not None, f"chart {name} not rendered"
            assert v["idle"] and v["w"] > 500 and v["h"] > 100, (name, v)
            assert v["lengths"] and all(n > 0 for n in v["lengths"]), f"{name}: a renderer without data {v}"
            shots[name] = page.screenshot(clip={"x": v["x"], "y": v["y"], "width": v["w"], "height": v["h"]},
                                          full_page=True)
        text = page.evaluate("() => { const out = []; const walk = v => { if (v.model && v.model.text) "
                             "out.push(v.el.shadowRoot ? v.el.shadowRoot.textContent : v.el.textContent); "
                             "for (const c of (v.child_views || [])) walk(c); }; "
                             "for (const r of Bokeh.index.roots) walk(r); return out.join('\\n'); }")
        browser.close()
    assert errors == [] and refused == []
    for name, png in shots.items():
        assert distinct_colours(png) > 20, f"{name}: the chart area is blank"
    assert rep["log_head"] in text and rep["session"]["config_hash"] in text
    assert f"Round trips ({rep['trades']['round_trips'] + rep['trades']['open']})" in text
    for s in rep["symbols"]:
        assert s["symbol"] in text
    return full
