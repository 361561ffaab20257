"""``hedge serve``: the real system nginx on loopback in front of the real dashboard.

401 without or with wrong credentials, 200 with the right ones, /healthz open, security
headers, the Bokeh websocket upgraded through the proxy, investors added while running
take effect, and SIGTERM stops nginx and Panel.
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import requests
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.fakes import state_fixture as fx
from ui import htpasswd, proxy

pytestmark = [
    pytest.mark.nginx,
    pytest.mark.skipif(not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()),
                       reason="nginx not installed (scripts/bootstrap.sh --system installs it)"),
]
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("serve")
    home = fx.write(tmp / "home")
    pw_file = home / "investors.htpasswd"
    htpasswd.add(pw_file, "alice", PASSWORD, rounds=4)
    port = fx.free_port()
    log = tmp / "serve.log"
    proc = fx.start(["serve", "--public-port", str(port), "--htpasswd", str(pw_file)], home, log)
    base = f"http://127.0.0.1:{port}"
    fx.wait_for(f"{base}/healthz", proc, log)
    yield {"base": base, "proc": proc, "log": log, "pw_file": pw_file, "port": port}
    fx.stop(proc)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_dashboard_needs_credentials(served) -> None:  # type: ignore[no-untyped-def]
    base = served["base"]
    anonymous = requests.get(f"{base}/", timeout=30)
    assert anonymous.status_code == 401
    assert 'Basic realm="gpt-hedge investors"' in anonymous.headers["WWW-Authenticate"]
    assert requests.get(f"{base}/", auth=("alice", "wrong password!!"), timeout=30).status_code == 401
    assert requests.get(f"{base}/", auth=("mallory", PASSWORD), timeout=30).status_code == 401
    assert requests.get(f"{base}/static/js/bokeh.min.js", timeout=30).status_code == 401
    ok = requests.get(f"{base}/", auth=("alice", PASSWORD), timeout=30)
    assert ok.status_code == 200 and "gpt-hedge" in ok.text


def test_nginx_sends_the_library_files_itself_compressed_and_cached(served) -> None:  # type: ignore[no-untyped-def]
    """Bokeh's and Panel's JS/CSS and the dashboard stylesheet come from disk through nginx:
    the same bytes the packages hold, behind the login, gzip on the wire, a versioned URL
    cached for good and an unversioned one revalidated."""
    import bokeh
    import panel

    base = served["base"]
    files = {"/static/js/bokeh.min.js?v=1": Path(bokeh.__file__).parent / "server/static/js/bokeh.min.js",
             "/static/extensions/panel/panel.min.js": Path(panel.__file__).parent / "dist/panel.min.js",
             "/hedge-assets/dashboard.css": fx.REPO / "ui/assets/dashboard.css"}
    for url, path in files.items():
        assert requests.get(f"{base}{url}", timeout=30).status_code == 401
        r = requests.get(f"{base}{url}", auth=("alice", PASSWORD), timeout=30, headers={"Accept-Encoding": "gzip"})
        assert r.status_code == 200 and r.content == path.read_bytes(), url
        assert r.headers["Content-Encoding"] == "gzip", url
        assert r.headers["Content-Type"] in ("application/javascript", "text/css"), url
        assert r.headers["X-Content-Type-Options"] == "nosniff"  # the security headers still apply
    versioned = requests.get(f"{base}/static/js/bokeh.min.js?v=1", auth=("alice", PASSWORD), timeout=30)
    assert int(versioned.headers["Cache-Control"].split("max-age=")[1]) >= 365 * 86400
    plain = requests.get(f"{base}/static/extensions/panel/panel.min.js", auth=("alice", PASSWORD), timeout=30)
    assert plain.headers["Cache-Control"] == "no-cache" and plain.headers.get("ETag")


def test_healthz_is_open_and_security_headers_are_set(served) -> None:  # type: ignore[no-untyped-def]
    r = requests.get(f"{served['base']}/healthz", timeout=30)
    assert r.status_code == 200 and r.json() == {"status": "up"}  # up or down: no NAV, ids or paths
    for name, value in (("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY"),
                        ("Referrer-Policy", "no-referrer")):
        assert r.headers[name] == value
    assert r.headers["Server"] == "nginx"  # server_tokens off: no version


def test_websocket_upgrades_through_the_proxy_with_credentials(served) -> None:  # type: ignore[no-untyped-def]
    base, port = served["base"], served["port"]
    page = requests.get(f"{base}/", auth=("alice", PASSWORD), timeout=30)
    token = re.search(r'"token":\s*"([^"]+)"', page.text)
    assert token, "no Bokeh session token in the page"
    headers = {"Authorization": basic("alice", PASSWORD), "Origin": f"http://127.0.0.1:{port}"}
    with connect(f"ws://127.0.0.1:{port}/ws", additional_headers=headers,
                 subprotocols=["bokeh", token.group(1)], open_timeout=30) as ws:
        assert ws.response.status_code == 101
        assert '"msgtype": "ACK"' in ws.recv(timeout=30)


def test_websocket_without_credentials_is_refused(served) -> None:  # type: ignore[no-untyped-def]
    port = served["port"]
    with pytest.raises(InvalidStatus) as err:
        connect(f"ws://127.0.0.1:{port}/ws", subprotocols=["bokeh", "x"], open_timeout=30,
                additional_headers={"Origin": f"http://127.0.0.1:{port}"})
    assert err.value.response.status_code == 401


def test_websocket_from_a_foreign_origin_is_refused_even_with_credentials(served) -> None:  # type: ignore[no-untyped-def]
    base, port = served["base"], served["port"]
    page = requests.get(f"{base}/", auth=("alice", PASSWORD), timeout=30)
    token = re.search(r'"token":\s*"([^"]+)"', page.text)
    assert token
    headers = {"Authorization": basic("alice", PASSWORD), "Origin": "http://evil.example"}
    with pytest.raises(InvalidStatus) as err:
        connect(f"ws://127.0.0.1:{port}/ws", additional_headers=headers,
                subprotocols=["bokeh", token.group(1)], open_timeout=30)
    assert err.value.response.status_code == 403


def test_investor_added_while_serving_can_log_in(served) -> None:  # type: ignore[no-untyped-def]
    base = served["base"]
    htpasswd.add(served["pw_file"], "bob", "bob's long password", rounds=4)
    for _ in range(60):  # the login check re-reads the file when it changes
        r = requests.get(f"{base}/", auth=("bob", "bob's long password"), timeout=30)
        if r.status_code == 200:
            break
        subprocess.run(["sleep", "0.5"], check=True)
    assert r.status_code == 200


def test_passwords_never_reach_the_logs(served) -> None:  # type: ignore[no-untyped-def]
    assert PASSWORD not in served["log"].read_text(errors="replace")


def test_sigterm_stops_nginx_and_the_dashboard(served) -> None:  # type: ignore[no-untyped-def]
    proc, log = served["proc"], served["log"]
    assert fx.stop(proc) == 0, log.read_text(errors="replace")
    assert "serve: stopped" in log.read_text()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{served['base']}/healthz", timeout=5)


def test_serve_refuses_an_empty_htpasswd(tmp_path: Path) -> None:
    log = tmp_path / "s.log"
    proc = fx.start(["serve", "--public-port", str(fx.free_port()), "--htpasswd", str(tmp_path / "none")],
                    fx.write(tmp_path / "home"), log)
    assert proc.wait(timeout=60) == 2
    assert "no investor logins" in log.read_text()


def test_site_config_is_accepted_by_nginx_with_tls(tmp_path: Path) -> None:
    if not shutil.which("openssl"):
        pytest.skip("openssl not installed")
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                    "/CN=dash.test", "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    pw_file = tmp_path / "h"
    htpasswd.add(pw_file, "alice", PASSWORD, rounds=4)
    run = proxy.NginxRun(site=proxy.Site(upstream_port=5006, htpasswd=pw_file, listen_port=fx.free_port(),
                                         server_names=("dash.test",), tls_cert=cert, tls_key=key),
                         nginx=proxy.find_nginx(), run_dir=tmp_path / "run")
    run.run_dir.mkdir()
    run.prepare()  # runs `nginx -t` and raises when nginx refuses the config


def test_https_with_a_provided_certificate(tmp_path: Path) -> None:
    if not shutil.which("openssl"):
        pytest.skip("openssl not installed")
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    home = fx.write(tmp_path / "home")
    pw_file = home / "investors.htpasswd"
    htpasswd.add(pw_file, "alice", PASSWORD, rounds=4)
    port = fx.free_port()
    log = tmp_path / "tls.log"
    proc = fx.start(["serve", "--public-port", str(port), "--htpasswd", str(pw_file),
                     "--tls-cert", str(cert), "--tls-key", str(key)], home, log)
    base = f"https://127.0.0.1:{port}"
    try:
        for _ in range(240):
            if proc.poll() is not None or "serve: https://" in log.read_text(errors="replace"):
                break
            subprocess.run(["sleep", "0.25"], check=True)
        assert proc.poll() is None, log.read_text(errors="replace")
        assert requests.get(f"{base}/", verify=str(cert), timeout=30).status_code == 401
        ok = requests.get(f"{base}/", auth=("alice", PASSWORD), verify=str(cert), timeout=30)
        assert ok.status_code == 200
        assert ok.headers["Strict-Transport-Security"].startswith("max-age=")
        assert requests.get(f"{base}/healthz", verify=str(cert), timeout=30).json() == {"status": "up"}
    finally:
        assert fx.stop(proc) == 0
