"""Dashboard: time to first full render through nginx, and the server's memory.

``hedge serve`` (nginx basic auth in front of the Panel server, as investors reach it)
serves the state files of the real session. Headless Chromium (a fresh browser context
each time: no cache, no cookies) logs in through nginx and loads ``/`` until every KPI
card shows a value and the AUM donut is drawn - the full first render. Baseline (same
run, interleaved): the same fresh context loading nginx's open ``/healthz`` (browser +
proxy floor). Memory: RSS of the ``hedge serve`` process (it hosts the Panel server)
after the renders, beside its RSS when idle before the first page.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.common import REPO, Figure
from bench.fixtures import hedge_argv, session_home

CHROMIUM = os.environ.get("HEDGE_CHROMIUM", "/usr/bin/chromium")
CHROME_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "bench investor password"
MIN_CARDS = 4
# The first full render: at least MIN_CARDS KPI cards, every one showing a value (Panel
# panes live in shadow roots: walk them), and the AUM donut's data source in the Bokeh
# document. Checked on every animation frame, so the figure is not rounded up to a
# polling interval.
RENDERED_JS = """() => {
  const values = [];
  const walk = (root) => { for (const el of root.querySelectorAll('*')) {
      if (el.shadowRoot) walk(el.shadowRoot);
      if (el.matches('[data-kpi] .value')) values.push(el.textContent.trim()); } };
  walk(document);
  if (values.length < MIN_CARDS || values.some((v) => !v)) return false;
  for (const doc of (window.Bokeh ? Bokeh.documents : []))
    if (doc.get_model_by_name('aum-donut-source')) return true;
  return false; }""".replace("MIN_CARDS", str(MIN_CARDS))


def available() -> str | None:
    """None when chromium, nginx and playwright are here, else why not."""
    if not Path(CHROMIUM).exists():
        return f"chromium not installed at {CHROMIUM}"
    if not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()):
        return "nginx not installed"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright not installed"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return 0.0


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"hedge serve exited ({proc.returncode})")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer in {timeout:.0f} s")


def _state_home(scale: float) -> Path:
    home = session_home(scale)
    if not (home / "state" / "nav_state.json").exists():
        from bench.rebuild import rebuild_subprocess

        rebuild_subprocess(home)
    return home


def run(scale: float = 1.0, repeats: int = 3) -> list[Figure]:
    why = available()
    if why is not None:
        print(f"[dashboard] skipped: {why}")
        return []
    from playwright.sync_api import sync_playwright

    from ui import htpasswd

    home = _state_home(scale)
    with tempfile.TemporaryDirectory(prefix="bench-dash-") as tmp:
        pw_file = Path(tmp) / "investors.htpasswd"
        htpasswd.add(pw_file, "bench", PASSWORD, rounds=4)
        port = _free_port()
        log = Path(tmp) / "serve.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen([*hedge_argv(), "serve", "--home", str(home), "--public-port", str(port),
                                     "--htpasswd", str(pw_file)], cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_http(f"{base}/healthz", proc)
            rss_idle = _rss_mb(proc.pid)
            render = floor = float("inf")
            rss_first = 0.0
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROME_ARGS)
                try:
                    for _ in range(max(1, repeats)):
                        floor = min(floor, _load(browser, f"{base}/healthz", full=False))
                        render = min(render, _load(browser, f"{base}/", full=True))
                        rss_first = rss_first or _rss_mb(proc.pid)
                finally:
                    browser.close()
            rss_after = _rss_mb(proc.pid)
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    n = max(1, repeats)
    return [
        Figure("dashboard", "first full render through nginx (login, KPI cards, donut)", render, "ms",
               "fresh context loading /healthz via nginx", floor,
               notes=f"best of {n}; fresh browser context each (no cache)"),
        Figure("dashboard", "hedge serve RSS after first render", rss_first, "MB", "idle, before any page",
               rss_idle, notes=f"after {n} renders: {rss_after:,.0f} MB"),
    ]


def _load(browser: object, url: str, *, full: bool) -> float:
    """ms from navigation start until the load event, or (``full``) until every KPI card
    shows a value and the donut is drawn."""
    timeout = float(os.environ.get("BENCH_DASH_TIMEOUT_MS", "90000"))
    ctx = browser.new_context(http_credentials={"username": "bench", "password": PASSWORD},  # type: ignore[attr-defined]
                              viewport={"width": 1440, "height": 2500})
    try:
        page = ctx.new_page()
        t = time.perf_counter()
        page.goto(url, wait_until="load", timeout=timeout)
        if full:
            page.wait_for_function(RENDERED_JS, timeout=timeout, polling="raf")
        return (time.perf_counter() - t) * 1000.0
    finally:
        ctx.close()
