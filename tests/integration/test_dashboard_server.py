"""``hedge dashboard`` as a real process: page, /healthz, offline assets, clean stop."""

from __future__ import annotations

import re
import signal
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest
import requests

from tests.fakes import state_fixture as fx

# URLs that are identifiers, not fetches (XML namespaces inside inline SVG).
NAMESPACES = ("http://www.w3.org/",)
URL_ATTR = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", re.I)
ANY_URL = re.compile(r"""(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}[^\s"'<>)]*""")
# What a stylesheet fetches: url(...) and @import (comments such as licence links are not fetches).
CSS_FETCH = re.compile(r"""url\(\s*["']?([^"')\s]+)|@import\s+(?:url\()?\s*["']?([^"')\s;]+)""", re.I)


@pytest.fixture
def dashboard(tmp_path: Path):  # type: ignore[no-untyped-def]
    home = fx.write(tmp_path / "home")
    port = fx.free_port()
    log = tmp_path / "dashboard.log"
    proc = fx.start(["dashboard", "--port", str(port)], home, log)
    base = f"http://127.0.0.1:{port}"
    fx.wait_for(f"{base}/healthz", proc, log)
    yield base, proc, home, log
    fx.stop(proc)


def external(urls: list[str]) -> list[str]:
    """The URLs among ``urls`` that would leave this host."""
    out = []
    for u in urls:
        if u.startswith(NAMESPACES):
            continue
        host = urlparse(u if "//" in u else "http://127.0.0.1/" + u).hostname
        if host not in (None, "127.0.0.1", "localhost"):
            out.append(u)
    return out


def test_healthz_answers_json_with_nav_age_without_auth(dashboard) -> None:  # type: ignore[no-untyped-def]
    base, *_ = dashboard
    r = requests.get(f"{base}/healthz", timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert body["status"] == "ok" and body["nav_age_s"] == 42.0 and body["nav_freshness"] == "fresh"
    assert body["files_present"] == 9 and isinstance(body["state_age_s"], float)


def test_page_and_every_asset_are_served_locally(dashboard) -> None:  # type: ignore[no-untyped-def]
    base, *_ = dashboard
    page = requests.get(f"{base}/", timeout=30)
    assert page.status_code == 200 and "gpt-hedge" in page.text
    assert external(ANY_URL.findall(page.text)) == []
    assets = [urljoin(f"{base}/", u) for u in URL_ATTR.findall(page.text)]
    local = [u for u in assets if u.startswith(base)]
    assert any(u.endswith(".js") or ".js?" in u for u in local), "no script found in the page"
    for url in local:
        r = requests.get(url, timeout=30)
        assert r.status_code == 200, url
        if ".css" in url:  # stylesheets could @import fonts from a CDN
            fetched = [a or b for a, b in CSS_FETCH.findall(r.text)]
            assert external([u for u in fetched if not u.startswith("data:")]) == [], url


def test_missing_state_still_serves_a_page(tmp_path: Path) -> None:
    home = tmp_path / "empty"
    home.mkdir()
    port = fx.free_port()
    log = tmp_path / "d.log"
    proc = fx.start(["dashboard", "--port", str(port)], home, log)
    try:
        r = fx.wait_for(f"http://127.0.0.1:{port}/healthz", proc, log)
        assert r.status_code == 200 and r.json()["status"] == "no_state"
        assert requests.get(f"http://127.0.0.1:{port}/", timeout=30).status_code == 200
    finally:
        fx.stop(proc)
    assert "Traceback" not in log.read_text(errors="replace")


def test_sigterm_stops_the_server_cleanly(dashboard) -> None:  # type: ignore[no-untyped-def]
    base, proc, _home, log = dashboard
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0, log.read_text(errors="replace")
    assert "dashboard: stopped" in log.read_text()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{base}/healthz", timeout=5)


def test_port_in_use_is_a_one_line_error(dashboard, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    base, _proc, home, _log = dashboard
    port = urlparse(base).port
    log = tmp_path / "second.log"
    second = fx.start(["dashboard", "--port", str(port)], home, log)
    assert second.wait(timeout=60) == 2
    out = log.read_text()
    assert "cannot listen on 127.0.0.1:" in out and "Traceback" not in out
