"""nginx in front of the dashboard: render the site config, run nginx in the foreground.

The same template (``ui/nginx/site.conf.tmpl``) serves two uses:

* ``hedge serve`` renders it with ``nginx.conf.tmpl`` into a private run directory and
  runs the system's nginx there in the foreground (pid, logs, temp files all inside);
* ``hedge serve --print-site`` prints it for a system nginx (production, HTTPS).

nginx does not read the htpasswd file: it asks the dashboard process (``auth_request``
to ``/_auth``, ``ui.auth``), which reads it on every change (``hedge investors add``
takes effect at once). When nginx is started as root its workers run as ``nobody``; they
reach the dashboard's unix socket in the run directory through its group.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ui.static_files import preload_header

TEMPLATES = Path(__file__).with_name("nginx")
_PR_SET_PDEATHSIG = 1
# Requests per second per client address on the login-protected pages, and the burst a
# page load may use at once (its scripts, styles and websocket) before 429s start.
LOGIN_RATE, LOGIN_BURST = 20, 100
WORKER_USER = ("nobody", "nogroup")


class ProxyError(ValueError):
    """nginx is missing or refused the config (the CLI prints it as a one-line error)."""


@dataclass(frozen=True)
class Site:
    """What the site config needs to know."""

    upstream_port: int
    htpasswd: Path
    listen_port: int = 8080
    listen_address: str = "127.0.0.1"
    server_names: tuple[str, ...] = ()
    tls_cert: Path | None = None
    tls_key: Path | None = None
    redirect_http: bool = False
    upstream_socket: Path | None = None  # the dashboard on a unix socket instead of the port
    auth_socket: Path | None = None  # the login check on its own socket (default: the dashboard's /_auth)

    @property
    def upstream(self) -> str:
        """The dashboard as nginx's proxy_pass names it (``http://`` + this)."""
        return f"unix:{self.upstream_socket}:" if self.upstream_socket else f"127.0.0.1:{self.upstream_port}"

    @property
    def auth_upstream(self) -> str:
        """Where nginx's ``auth_request`` goes: the login check's own socket, else the dashboard."""
        return f"unix:{self.auth_socket}:" if self.auth_socket else self.upstream

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None


def _fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace(f"@@{key}@@", value)
    if "@@" in text:
        raise ValueError("unfilled placeholder in nginx template")
    return text


def _listen(address: str, port: int) -> str:
    host = f"[{address}]" if ":" in address and not address.startswith("[") else address
    return f"{host}:{port}"


def static_dirs() -> dict[str, Path]:
    """The directories of the files the Panel server would send under ``/static/`` (Bokeh's),
    ``/static/extensions/panel/`` (Panel's bundle) and ``/hedge-assets/`` (the dashboard's
    stylesheet), by template placeholder; found without importing Panel (``--print-site``
    stays fast)."""
    import importlib.util

    def package_dir(name: str) -> Path:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise ProxyError(f"cannot find the {name} package for its static files")
        return Path(next(iter(spec.submodule_search_locations))).resolve()

    return {"PANEL_DIST": package_dir("panel") / "dist",
            "BOKEH_STATIC": package_dir("bokeh") / "server" / "static",
            "ASSETS": Path(__file__).with_name("assets").resolve()}


# Types of the static files (a private nginx has no mime.types; with nosniff a script sent
# as octet-stream would not run).
STATIC_TYPES = ("text/css css; application/javascript js mjs; application/json json map; "
                "image/svg+xml svg; image/png png; image/x-icon ico; font/woff woff; font/woff2 woff2; "
                "font/ttf ttf;")


def render_site(site: Site) -> str:
    """The nginx ``server`` block (plus its ``map``) for ``site``."""
    if site.tls != (site.tls_key is not None):
        raise ProxyError("--tls-cert and --tls-key go together")
    listen = _listen(site.listen_address, site.listen_port)
    names = " ".join(site.server_names) or "_"
    tls = hsts = redirect = ""
    if site.tls:
        listen_line = f"    listen {listen} ssl http2;"
        tls = (f"    ssl_certificate {site.tls_cert};\n"
               f"    ssl_certificate_key {site.tls_key};\n"
               "    ssl_protocols TLSv1.2 TLSv1.3;\n"
               "    ssl_prefer_server_ciphers off;\n"
               "    ssl_session_cache shared:hedge_tls:10m;\n"
               "    ssl_session_timeout 1d;\n"
               "    ssl_session_tickets off;\n")
        hsts = '    add_header Strict-Transport-Security "max-age=63072000" always;\n'
        if site.redirect_http:
            redirect = ("\nserver {\n    listen 80;\n"
                        f"    server_name {names};\n"
                        "    location = /healthz { proxy_pass http://" f"{site.upstream}/livez; }}\n"
                        "    location / { return 301 https://$host$request_uri; }\n}\n")
    else:
        listen_line = f"    listen {listen};"
    return _fill((TEMPLATES / "site.conf.tmpl").read_text(encoding="utf-8"), {
        "LISTEN": listen_line, "SERVER_NAME": names, "TLS": tls, "HSTS": hsts, "REDIRECT": redirect,
        **{k: str(v) for k, v in static_dirs().items()}, "TYPES": STATIC_TYPES,
        "UPSTREAM": site.upstream, "AUTH_UPSTREAM": site.auth_upstream,
        "RATE": f"{LOGIN_RATE}r/s", "BURST": str(LOGIN_BURST), "PRELOAD": preload_header(),
    })


def find_nginx(explicit: str | None = None) -> str:
    """Path of the nginx binary (``explicit``, else PATH, else /usr/sbin/nginx)."""
    for cand in (explicit, shutil.which("nginx"), "/usr/sbin/nginx"):
        if cand and os.access(cand, os.X_OK):
            return cand
    raise ProxyError("nginx not found: install it (scripts/bootstrap.sh --system) or pass --nginx PATH")


@dataclass
class NginxRun:
    """A private nginx: config, pid and logs in ``run_dir``; it dies with this process.

    nginx is started with ``PR_SET_PDEATHSIG``: however ``hedge serve`` ends (kill -9
    included) the kernel sends nginx SIGTERM, so no orphan keeps the port. A record of
    the running nginx (``record``, e.g. ``$HEDGE_HOME/.serve/nginx.json``) lets the next
    ``serve`` stop a leftover one (started by an older version, or after a failed
    delivery) that is still ours - its command line names its own run directory.
    """

    site: Site
    nginx: str
    run_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="hedge-nginx-")))
    record: Path | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def conf(self) -> Path:
        return self.run_dir / "nginx.conf"

    def argv(self) -> list[str]:
        """nginx with every path in the run dir (``-e``: even the log opened before the config,
        which otherwise is /var/log/nginx/error.log and not writable without root)."""
        return [self.nginx, "-p", str(self.run_dir), "-c", str(self.conf),
                "-e", str(self.run_dir / "error.log")]

    def prepare(self) -> None:
        """Write nginx.conf and site.conf; check them with ``nginx -t``."""
        as_root = os.geteuid() == 0
        self.run_dir.chmod(0o711)  # workers (nobody, when root) must traverse to the dashboard socket
        (self.run_dir / "site.conf").write_text(render_site(self.site), encoding="utf-8")
        user = f"user {WORKER_USER[0]} {WORKER_USER[1]};" if as_root else ""
        self.conf.write_text(_fill((TEMPLATES / "nginx.conf.tmpl").read_text(encoding="utf-8"),
                                   {"USER": user, "RUN": str(self.run_dir)}), encoding="utf-8")
        check = subprocess.run([*self.argv(), "-t"],
                               capture_output=True, text=True, check=False)
        if check.returncode != 0:
            raise ProxyError("nginx rejected the generated config: " + " ".join(check.stderr.split())[-400:])

    def start(self) -> None:
        """Start nginx in the foreground (as a child process that dies with this one)."""
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, preexec_fn=die_with_parent())
        if self.record is not None:
            self.record.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.record.with_suffix(".tmp")
            tmp.write_text(json.dumps({"pid": self.proc.pid, "run_dir": str(self.run_dir)}), encoding="utf-8")
            tmp.replace(self.record)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def error_tail(self, lines: int = 5) -> str:
        """The last lines of nginx's error log (for a failure message)."""
        try:
            text = (self.run_dir / "error.log").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return " | ".join(text.strip().splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> None:
        """Stop nginx (SIGTERM = fast shutdown) and remove the run directory."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.run_dir, ignore_errors=True)
        if self.record is not None and self.proc is not None:
            with contextlib.suppress(OSError, ValueError):
                if json.loads(self.record.read_text(encoding="utf-8")).get("pid") == self.proc.pid:
                    self.record.unlink()


def die_with_parent(*, block: tuple[signal.Signals, ...] = ()) -> Callable[[], None]:
    """A ``preexec_fn`` for a child that must not outlive this process (nginx, the projection follower).

    In the child, before exec: the kernel sends it SIGTERM when this process dies, however
    it dies (kill -9 included; Linux ``PR_SET_PDEATHSIG``); if this process already died,
    the child exits at once. ``block``: signals left blocked across the exec, so one sent
    before the program installs its handler stays pending instead of killing it (the program
    unblocks them once its handler is in place). libc's ``prctl`` is looked up here, in the
    parent, so the forked child runs no loader code before exec. The kernel's "parent" is the
    *thread* that starts the child: start it from a thread that outlives it.
    """
    parent = os.getpid()
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux: only the check below
        prctl = None

    def in_child() -> None:
        if block:
            signal.pthread_sigmask(signal.SIG_BLOCK, block)
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:
            os._exit(1)

    return in_child


def stop_leftover(record: Path, timeout: float = 10.0) -> str | None:
    """Stop an nginx a previous ``serve`` left running (per ``record``); what was done, or None.

    Only a live process whose command line names the recorded run directory is ours;
    anything else (a reused pid) is left alone. The record and run directory go.
    """
    try:
        info = json.loads(record.read_text(encoding="utf-8"))
        pid, run_dir = int(info["pid"]), str(info["run_dir"])
    except (OSError, ValueError, KeyError, TypeError):
        record.unlink(missing_ok=True)
        return None
    done = None
    # nginx rewrites its command line ("nginx: master process /usr/sbin/nginx -p RUN_DIR ...")
    if f" {run_dir} ".encode() in _cmdline(pid) + b" ":
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)  # fast shutdown: the master stops its workers
        deadline = time.monotonic() + timeout
        while _running(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            if _running(pid):
                os.kill(pid, signal.SIGKILL)
        done = f"stopped nginx {pid} left running by an earlier 'hedge serve'"
    if run_dir.startswith(tempfile.gettempdir()) and Path(run_dir).name.startswith("hedge-nginx-"):
        shutil.rmtree(run_dir, ignore_errors=True)
    record.unlink(missing_ok=True)
    return done


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return b""


def _running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (exited, not yet reaped by its parent)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"
