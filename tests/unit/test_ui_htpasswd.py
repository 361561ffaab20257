"""ui.htpasswd and ui.proxy: bcrypt logins and the rendered nginx site config."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from ui import htpasswd, proxy

PW = "correct horse battery"


def test_add_list_remove_with_bcrypt_hashes(tmp_path: Path) -> None:
    path = tmp_path / "investors.htpasswd"
    assert htpasswd.add(path, "alice", PW, rounds=4) is True
    assert htpasswd.add(path, "bob", PW + "!", rounds=4) is True
    assert htpasswd.add(path, "alice", "another long one", rounds=4) is False
    assert htpasswd.names(path) == ["alice", "bob"]
    text = path.read_text()
    assert PW not in text and "$2y$04$" in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    entries = htpasswd.read(path)
    assert htpasswd.verify("another long one", entries["alice"])
    assert not htpasswd.verify(PW, entries["alice"])
    htpasswd.remove(path, "alice")
    assert htpasswd.names(path) == ["bob"]
    with pytest.raises(htpasswd.HtpasswdError):
        htpasswd.remove(path, "alice")


def test_rewrite_keeps_the_mode_of_an_existing_file_but_never_world_readable(tmp_path: Path) -> None:
    path = tmp_path / "nginx.htpasswd"
    path.write_text("")
    path.chmod(0o644)
    htpasswd.add(path, "alice", PW, rounds=4)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


@pytest.mark.parametrize("name", ["", "a:b", "with space", "x" * 65, "-dash", "ü"])
def test_bad_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(htpasswd.HtpasswdError):
        htpasswd.add(tmp_path / "f", name, PW, rounds=4)


@pytest.mark.parametrize("pw", ["short", "two\nlines!!!", "x" * 73])
def test_bad_passwords_are_refused(tmp_path: Path, pw: str) -> None:
    with pytest.raises(htpasswd.HtpasswdError):
        htpasswd.add(tmp_path / "f", "alice", pw, rounds=4)


def test_site_config_has_auth_open_healthz_websocket_and_headers(tmp_path: Path) -> None:
    conf = proxy.render_site(proxy.Site(upstream_port=5006, htpasswd=tmp_path / "h", listen_port=8080))
    assert "listen 127.0.0.1:8080;" in conf
    healthz = conf.split("location = /healthz")[1].split("}")[0]
    assert "proxy_pass http://127.0.0.1:5006/livez;" in healthz and "auth" not in healthz
    auth = conf.split("location = /_hedge_auth")[1].split("}")[0]
    assert "internal;" in auth and "proxy_pass http://127.0.0.1:5006/_auth;" in auth
    root = conf.split("location / {")[1]
    assert "auth_request /_hedge_auth;" in root and "limit_req zone=hedge_login" in root
    for needle in ("proxy_http_version 1.1;", "proxy_set_header Upgrade $http_upgrade;",
                   "proxy_set_header Connection $hedge_connection_upgrade;", "proxy_buffering off;",
                   "proxy_pass http://127.0.0.1:5006;", 'proxy_set_header Authorization "";'):
        assert needle in root
    for header in ("X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy", "Content-Security-Policy"):
        assert f"add_header {header}" in conf
    assert "Strict-Transport-Security" not in conf and "@@" not in conf


def test_tls_site_config_adds_certificate_hsts_and_redirect(tmp_path: Path) -> None:
    conf = proxy.render_site(proxy.Site(
        upstream_port=5006, htpasswd=tmp_path / "h", listen_port=443, listen_address="0.0.0.0",
        server_names=("dash.fund.example",), tls_cert=Path("/etc/ssl/fund.pem"),
        tls_key=Path("/etc/ssl/fund.key"), redirect_http=True))
    assert "listen 0.0.0.0:443 ssl http2;" in conf
    assert "ssl_certificate /etc/ssl/fund.pem;" in conf and "ssl_certificate_key /etc/ssl/fund.key;" in conf
    assert "Strict-Transport-Security" in conf and "return 301 https://$host$request_uri;" in conf
    assert "server_name dash.fund.example;" in conf
