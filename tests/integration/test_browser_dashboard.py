"""A real investor's view: headless Chromium logs in through nginx to the dashboard of a
session recorded by a real ``hedge run`` and checks what is on screen.

Checks: the KPI cards show the state files' values (formatted as the page formats them,
and NAV also against an independent format), every card is populated, the AUM donut has
one slice per bucket and stays inside its column, no request leaves loopback, no script
error, the page follows a state-file change live. Saves ``test-artifacts/dashboard.png``
(and the README's ``docs/img/dashboard.png`` with ``HEDGE_DOC_IMAGES=1``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.fakes import state_fixture as fx
from ui import fmt, htpasswd, model, state

CHROMIUM = os.environ.get("HEDGE_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = fx.REPO / "test-artifacts"
PASSWORD = "investor password 42"
BARS = "2000"
CHROME_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.nginx,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"chromium not installed at {CHROMIUM}"),
    pytest.mark.skipif(not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()),
                       reason="nginx not installed (scripts/bootstrap.sh --system installs it)"),
]


def hedge(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HEDGE_HOME": str(home)}
    env.pop("HEDGE_STORE_URL", None)
    return subprocess.run([*fx.hedge_cmd(), *args], env=env, capture_output=True, text=True,
                          timeout=600, cwd=fx.REPO, check=False)


@pytest.fixture(scope="module")
def session_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """State files produced by a real simulated session (``hedge run``, then ``hedge rebuild``
    if the run did not project)."""
    home = tmp_path_factory.mktemp("browser") / "home"
    run = hedge(home, "run", "--bars", BARS, "--quiet")
    assert run.returncode == 0, run.stderr[-2000:]
    if not (home / "state" / "nav_state.json").exists():
        rebuilt = hedge(home, "rebuild")
        assert rebuilt.returncode == 0, rebuilt.stderr[-2000:]
    assert (home / "state" / "nav_state.json").exists(), "hedge run + rebuild wrote no state files"
    return home


@pytest.fixture(scope="module")
def served(session_home: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("serve")
    pw_file = tmp / "investors.htpasswd"
    htpasswd.add(pw_file, "alice", PASSWORD, rounds=4)
    port = fx.free_port()
    log = tmp / "serve.log"
    proc = fx.start(["serve", "--public-port", str(port), "--htpasswd", str(pw_file)], session_home, log)
    base = f"http://127.0.0.1:{port}"
    fx.wait_for(f"{base}/healthz", proc, log)
    yield base
    fx.stop(proc)


@pytest.fixture(scope="module")
def page(served: str):  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright  # imported late: skipped without chromium

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROME_ARGS)
        context = browser.new_context(http_credentials={"username": "alice", "password": PASSWORD},
                                      viewport={"width": 1440, "height": 2500}, device_scale_factor=1)
        pg = context.new_page()
        pg.requests = []  # type: ignore[attr-defined]
        pg.errors = []  # type: ignore[attr-defined]
        pg.on("request", lambda r: pg.requests.append(r.url))  # type: ignore[attr-defined]
        pg.on("pageerror", lambda e: pg.errors.append(str(e)))  # type: ignore[attr-defined]
        pg.goto(f"{served}/", wait_until="load", timeout=90_000)
        pg.locator('[data-kpi="nav"] .value').wait_for(timeout=90_000)
        pg.wait_for_function(DONUT_JS + "; return donut() !== null }", timeout=90_000)
        yield pg
        context.close()
        browser.close()


DONUT_JS = """() => { const donut = () => {
    for (const doc of (window.Bokeh ? Bokeh.documents : [])) {
        const m = doc.get_model_by_name('aum-donut-source');
        if (m) return m; }
    return null; }"""


# Where the donut's plot frame is on the page (Bokeh view tree; coordinates in CSS px).
FRAME_JS = """() => { const seen = new Set(); let out = null;
  const walk = (v) => { if (!v || seen.has(v) || out) return; seen.add(v);
    if (v.model && v.model.name === 'aum-donut') { const fb = v.frame.bbox; const r = v.el.getBoundingClientRect();
      out = {x0: fb.x0, y0: fb.y0, w: fb.width, h: fb.height, left: r.left, top: r.top}; return; }
    for (const k of (v.child_views ? [...v.child_views] : [])) walk(k);
    if (v.renderer_views) for (const k of v.renderer_views.values()) walk(k); };
  Object.values(Bokeh.index).forEach(walk); return out; }"""


def card(page, key: str) -> str:  # type: ignore[no-untyped-def]
    return page.locator(f'[data-kpi="{key}"] .value').inner_text().strip()


def test_kpi_cards_show_the_values_of_the_real_session(page, session_home: Path) -> None:  # type: ignore[no-untyped-def]
    snap = state.load(session_home)
    nav = snap.nav_state["nav_usd"]
    assert card(page, "nav") == f"${nav:,.2f}" == fmt.usd(nav)
    cards = model.risk_cards(snap) + model.overview_cards(snap) + model.performance_cards(snap)
    expected = {c.key: c.value for c in cards}
    shown = {key: card(page, key) for key in expected}
    assert shown == expected
    missing = {k: v for k, v in shown.items() if "n/a" in v}
    assert not missing, f"cards without data: {missing}"


def test_donut_has_one_slice_per_bucket_inside_its_column(page, session_home: Path) -> None:  # type: ignore[no-untyped-def]
    buckets = state.load(session_home).aum["buckets"]
    data = page.evaluate(DONUT_JS + "; const d = donut().data; return {label: [...d.label], value: [...d.value]} }")
    assert data["label"] == [b["label"] for b in buckets] and len(data["label"]) == 4
    assert sum(data["value"]) == pytest.approx(sum(max(b["value"] or 0, 0) for b in buckets))
    donut_box = page.locator(".aum-donut").bounding_box()
    column_box = page.locator(".aum-donut-col").bounding_box()
    assert donut_box and column_box and donut_box["width"] > 200 and donut_box["height"] > 200
    assert donut_box["x"] >= column_box["x"] - 1
    assert donut_box["x"] + donut_box["width"] <= column_box["x"] + column_box["width"] + 1
    rows = page.locator("table.aum tr[data-bucket]")
    assert rows.count() == 4


def test_hovering_a_slice_shows_its_value_and_pnl(page, session_home: Path) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    first = model.aum_slices(state.load(session_home))[0]
    box = page.evaluate(FRAME_JS)
    assert box, "donut plot view not found"
    cx, cy = box["left"] + box["x0"] + box["w"] / 2, box["top"] + box["y0"] + box["h"] / 2
    page.mouse.move(cx + 10, cy - 97)  # just clockwise of 12 o'clock, mid-ring: the first slice
    tooltip = page.locator(".bk-tooltip-content").first
    expect(tooltip).to_contain_text(first["label"], timeout=30_000)
    expect(tooltip).to_contain_text(fmt.usd(first["value"]))
    expect(tooltip).to_contain_text(fmt.usd(first["pnl"], sign=True))
    page.mouse.move(5, 5)


def test_sections_tables_and_charts_render(page) -> None:  # type: ignore[no-untyped-def]
    titles = [t.strip().upper() for t in page.locator(".section-title h2").all_inner_texts()]
    for title in ("RISK KPIS", "OVERVIEW", "AUM BREAKDOWN (USD)", "OPEN POSITIONS", "NAV AND DRAWDOWN",
                  "RISK CHECKS", "EXECUTION QUALITY", "SYMBOLS"):
        assert title in titles
    assert page.locator("table.data").count() >= 4
    assert page.locator("canvas").count() >= 3  # donut, NAV, drawdown


def test_page_works_offline_and_without_script_errors(page) -> None:  # type: ignore[no-untyped-def]
    hosts = {u.split("/")[2] for u in page.requests if u.startswith(("http://", "https://", "ws://"))}
    assert all(h.startswith("127.0.0.1:") for h in hosts), hosts
    assert not [u for u in page.requests if "bokeh-mathjax" in u or "tabulator" in u]  # unused bundles left out
    assert page.errors == []


LINKED_STYLESHEETS_JS = """() => { const out = [];
  const walk = (root) => { for (const el of root.querySelectorAll('link[rel=stylesheet]'))
      out.push(new URL(el.getAttribute('href'), document.baseURI).pathname + new URL(el.getAttribute('href'), document.baseURI).search);
    for (const el of root.querySelectorAll('*')) if (el.shadowRoot) walk(el.shadowRoot); };
  walk(document); return out; }"""


def test_every_preloaded_stylesheet_is_one_the_page_links(page) -> None:  # type: ignore[no-untyped-def]
    """nginx's ``Link: rel=preload`` header names the first render's stylesheets; a name
    the page does not use (a Panel upgrade renamed a file) is a wasted download and a
    first render that waits again - caught here."""
    from ui.static_files import first_render_stylesheets

    linked = set(page.evaluate(LINKED_STYLESHEETS_JS))
    assert set(first_render_stylesheets()) <= linked, sorted(linked)


def test_page_follows_a_state_change_live_and_saves_a_screenshot(page, session_home: Path) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    # Grow the window to the content for a whole-page picture.
    height = page.evaluate("() => document.documentElement.scrollHeight + 24")
    page.set_viewport_size({"width": 1440, "height": max(900, min(int(height) + 8, 8000))})
    page.wait_for_timeout(2000)  # let the charts re-layout and paint (settling, not an assertion)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"))
    if os.environ.get("HEDGE_DOC_IMAGES") == "1":  # the README's picture (docs/writing_docs.md)
        shutil.copy(ARTIFACTS / "dashboard.png", fx.REPO / "docs" / "img" / "dashboard.png")
    path = session_home / "state" / "nav_state.json"
    original = path.read_text()
    nav = json.loads(original)
    nav["nav_usd"] = nav["nav_total"] = 123_456.78
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(nav))
    tmp.replace(path)
    try:
        expect(page.locator('[data-kpi="nav"] .value')).to_have_text("$123,456.78", timeout=60_000)
    finally:
        path.write_text(original)
