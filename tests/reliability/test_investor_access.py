"""Issue 17 item 6: investor access through ``hedge serve`` (the real nginx, the real dashboard).

* ``/healthz`` says only up (or down when the dashboard is gone): no NAV, ids or paths;
* an unknown name costs what a known name with a wrong password costs (both verify a
  bcrypt: the dummy hash for unknown names), and both are the same 401;
* nginx rate-limits each client address (429 past the burst);
* a storm of looping bad logins from one address does not keep a real investor (another
  address) out, and a logged-in investor's page keeps loading;
* the dashboard listens on no TCP port, only on a unix socket that only nginx's user can open;
* kill -9 of ``serve`` takes nginx with it (the port is free, the next ``serve`` starts);
  an nginx left by an earlier ``serve`` (recorded in ``$HEDGE_HOME/.serve``) is stopped;
* ``serve`` refuses a non-loopback address without TLS unless ``--insecure-http``.

Timings are printed (``pytest -s``), not asserted, except that the two 401 paths cost
the same order of work (the leak being fixed was 0.4 ms vs 236 ms).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import threading
import time
from base64 import b64encode
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import state_fixture as fx
from ui import htpasswd, proxy

pytestmark = [
    pytest.mark.nginx,
    pytest.mark.skipif(not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()),
                       reason="nginx not installed (scripts/bootstrap.sh --system installs it)"),
]
PASSWORD = "correct horse battery staple"
ROUNDS = 10  # bcrypt cost of the test logins: big enough to see, small enough to be quick


def _get(port: int, path: str = "/", auth: tuple[str, str] | None = None, source: str = "127.0.0.1",
         timeout: float = 60) -> tuple[int, bytes, float]:
    """(status, body, seconds) of a GET from a chosen loopback source address."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=(source, 0))
    headers = {"Authorization": "Basic " + b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()} if auth else {}
    t0 = time.perf_counter()
    try:
        conn.request("GET", path, headers=headers)
        r = conn.getresponse()
        return r.status, r.read(), time.perf_counter() - t0
    finally:
        conn.close()


def _nginx_pids(run_dir_prefix: str = "/tmp/hedge-nginx-") -> dict[int, str]:
    out = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if "nginx" in cmd and run_dir_prefix in cmd:
                out[int(d.name)] = cmd
    return out


def _serve(home: Path, port: int, log: Path, *extra: str) -> Any:
    """``hedge serve`` on ``port``, once it says it serves (not merely once the port answers)."""
    proc = fx.start(["serve", "--public-port", str(port), *extra], home, log)
    deadline = time.monotonic() + 90
    while "serve: http" not in log.read_text(errors="replace"):
        assert proc.poll() is None, log.read_text(errors="replace")
        assert time.monotonic() < deadline, log.read_text(errors="replace")
        time.sleep(0.2)
    fx.wait_for(f"http://127.0.0.1:{port}/healthz", proc, log)
    return proc


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("access")
    home = fx.write(tmp / "home")
    htpasswd.add(home / "investors.htpasswd", "alice", PASSWORD, rounds=ROUNDS)
    port, log = fx.free_port(), tmp / "serve.log"
    proc = _serve(home, port, log)
    yield {"home": home, "port": port, "proc": proc, "log": log}
    fx.stop(proc)


@pytest.mark.slow  # starts hedge serve (Panel + nginx): ~10 s
def test_healthz_says_only_up(served: dict[str, Any]) -> None:
    status, body, _ = _get(served["port"], "/healthz")
    assert status == 200 and json.loads(body) == {"status": "up"}
    text = body.decode()
    assert str(served["home"]) not in text and "nav" not in text.lower() and "session" not in text


def test_healthz_says_down_when_the_dashboard_is_gone(tmp_path: Path) -> None:
    site = proxy.Site(upstream_port=0, htpasswd=tmp_path / "h", listen_port=fx.free_port(),
                      upstream_socket=tmp_path / "nobody-listens.sock")
    run = proxy.NginxRun(site=site, nginx=proxy.find_nginx(), run_dir=tmp_path / "run")
    run.run_dir.mkdir()
    run.prepare()
    run.start()
    try:
        for _ in range(100):
            try:
                status, body, _ = _get(site.listen_port, "/healthz", timeout=5)
                break
            except OSError:
                time.sleep(0.1)
        assert status == 503 and json.loads(body) == {"status": "down"}
    finally:
        run.stop()


@pytest.mark.slow  # starts hedge serve (Panel + nginx): ~10 s
def test_unknown_and_known_names_get_the_same_401_at_the_same_cost(served: dict[str, Any]) -> None:
    port = served["port"]
    unknown, known = [], []
    for _ in range(5):  # interleaved, so load on the machine hits both alike
        s1, b1, t1 = _get(port, auth=("mallory", "wrong password 1"))
        s2, b2, t2 = _get(port, auth=("alice", "wrong password 1"))
        assert s1 == s2 == 401 and b1 == b2
        unknown.append(t1)
        known.append(t2)
    u, k = statistics.median(unknown), statistics.median(known)
    print(f"\n401 median: unknown name {u * 1000:.1f} ms, known name + wrong password {k * 1000:.1f} ms")
    assert 0.5 < u / k < 2.0, (unknown, known)


@pytest.mark.slow  # starts hedge serve (Panel + nginx): ~10 s
def test_nginx_rate_limits_each_client(served: dict[str, Any]) -> None:
    codes = [_get(served["port"], source="127.0.0.5")[0] for _ in range(proxy.LOGIN_BURST + 40)]
    assert 429 in codes and codes[0] == 401, codes
    assert _get(served["port"], source="127.0.0.6")[0] == 401  # another client is not limited


@pytest.mark.slow  # starts hedge serve (Panel + nginx): ~10 s
def test_a_login_storm_does_not_keep_investors_out(served: dict[str, Any]) -> None:
    port = served["port"]
    assert _get(port, auth=("alice", PASSWORD), source="127.0.0.3")[0] == 200  # logged in before
    stop = threading.Event()
    tries = [0]

    def attacker(k: int) -> None:
        while not stop.is_set():
            _get(port, auth=("alice", f"guess {k} {tries[0]}"), source="127.0.0.9")
            tries[0] += 1

    threads = [threading.Thread(target=attacker, args=(k,), daemon=True) for k in range(8)]
    for t in threads:
        t.start()
    try:
        time.sleep(1.0)
        status_new, _, t_new = _get(port, auth=("alice", PASSWORD), source="127.0.0.4")  # a first login
        status_old, _, t_old = _get(port, "/healthz", source="127.0.0.3")
        status_page, _, t_page = _get(port, auth=("alice", PASSWORD), source="127.0.0.3")  # remembered
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    print(f"\nduring 8 looping bad logins ({tries[0]} tries): first login {t_new:.2f} s, "
          f"logged-in page {t_page:.2f} s, healthz {t_old * 1000:.0f} ms")
    assert status_new == 200 and status_page == 200 and status_old == 200


@pytest.mark.slow  # starts hedge serve (Panel + nginx): ~10 s
def test_the_dashboard_listens_on_no_tcp_port_and_its_socket_is_nginx_only(served: dict[str, Any]) -> None:
    pid = served["proc"].pid
    socks = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            socks.add(target[8:-1])
    listening = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            f = line.split()
            if f[3] == "0A":  # LISTEN
                listening.add(f[9])
    assert not socks & listening, "hedge serve listens on a TCP port"
    line = next(ln for ln in served["log"].read_text().splitlines() if "dashboard on " in ln)
    sock = Path(line.split("dashboard on ")[1].split(";")[0])
    st = sock.stat()
    assert st.st_mode & 0o007 == 0, oct(st.st_mode)  # nobody else
    if os.geteuid() == 0:
        assert st.st_mode & 0o777 == 0o660 and st.st_gid == 65534  # root + nginx's workers (nogroup)
        probe = "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])"
        other = subprocess.run(["runuser", "-u", "daemon", "--", "python3", "-c", probe, str(sock)],
                               capture_output=True, text=True)
        assert other.returncode != 0 and "Permission denied" in other.stderr, other.stderr
    else:
        assert st.st_mode & 0o777 == 0o600


@pytest.mark.slow  # starts hedge serve (Panel + nginx): ~10 s
def test_kill_9_of_serve_takes_nginx_with_it_and_the_port_is_free(tmp_path: Path) -> None:
    home = fx.write(tmp_path / "home")
    htpasswd.add(home / "investors.htpasswd", "alice", PASSWORD, rounds=4)
    port = fx.free_port()
    before = set(_nginx_pids())
    proc = _serve(home, port, tmp_path / "a.log")
    ours = set(_nginx_pids()) - before
    assert ours
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while set(_nginx_pids()) & ours and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not set(_nginx_pids()) & ours, "nginx outlived hedge serve"
    again = _serve(home, port, tmp_path / "b.log")  # the port is free: no worker kept it
    assert fx.stop(again) == 0


@pytest.mark.slow  # starts hedge serve (Panel + nginx): ~10 s
def test_a_leftover_nginx_is_stopped_by_the_next_serve(tmp_path: Path) -> None:
    home = fx.write(tmp_path / "home")
    htpasswd.add(home / "investors.htpasswd", "alice", PASSWORD, rounds=4)
    port = fx.free_port()
    # An nginx left running by an earlier serve (no parent watching it), holding the port.
    site = proxy.Site(upstream_port=0, htpasswd=home / "investors.htpasswd", listen_port=port,
                      upstream_socket=tmp_path / "gone.sock")
    run = proxy.NginxRun(site=site, nginx=proxy.find_nginx())
    run.prepare()
    orphan = subprocess.Popen(run.argv(), stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        (home / ".serve").mkdir()
        (home / ".serve" / "nginx.json").write_text(json.dumps({"pid": orphan.pid, "run_dir": str(run.run_dir)}))
        for _ in range(100):
            try:
                _get(port, "/healthz", timeout=2)
                break
            except OSError:
                time.sleep(0.1)
        log = tmp_path / "s.log"
        proc = _serve(home, port, log)
        try:
            assert orphan.wait(timeout=10) is not None
            assert f"stopped nginx {orphan.pid}" in log.read_text()
            assert not run.run_dir.exists()
        finally:
            assert fx.stop(proc) == 0
    finally:
        if orphan.poll() is None:
            orphan.terminate()  # SIGTERM: the master takes its workers down (SIGKILL would orphan them)
            orphan.wait(timeout=30)
        shutil.rmtree(run.run_dir, ignore_errors=True)


def test_serve_refuses_a_public_address_without_tls(tmp_path: Path) -> None:
    home = fx.write(tmp_path / "home")
    htpasswd.add(home / "investors.htpasswd", "alice", PASSWORD, rounds=4)
    log = tmp_path / "s.log"
    proc = fx.start(["serve", "--public-address", "0.0.0.0", "--public-port", str(fx.free_port())], home, log)
    assert proc.wait(timeout=60) == 2
    text = log.read_text()
    assert "without TLS" in text and "--insecure-http" in text and "Traceback" not in text
    ok = fx.start(["serve", "--public-address", "0.0.0.0", "--insecure-http", "--print-site"], home, log)
    assert ok.wait(timeout=60) == 0
