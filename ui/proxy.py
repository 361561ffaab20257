"""nginx in front of the dashboard: render the site config, run nginx in the foreground.

The same template (``ui/nginx/site.conf.tmpl``) serves two uses:

* ``hedge serve`` renders it with ``nginx.conf.tmpl`` into a private run directory and
  runs the system's nginx there in the foreground (pid, logs, temp files all inside);
* ``hedge serve --print-site`` prints it for a system nginx (production, HTTPS).

When nginx is started as root its workers run as ``nobody``; they must read the
htpasswd file, so a copy readable by that user is kept in the run directory and
refreshed when the original changes (``hedge investors add`` takes effect at once).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

TEMPLATES = Path(__file__).with_name("nginx")
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
                        "    location = /healthz { proxy_pass http://" f"127.0.0.1:{site.upstream_port}/healthz; }}\n"
                        "    location / { return 301 https://$host$request_uri; }\n}\n")
    else:
        listen_line = f"    listen {listen};"
    return _fill((TEMPLATES / "site.conf.tmpl").read_text(encoding="utf-8"), {
        "LISTEN": listen_line, "SERVER_NAME": names, "TLS": tls, "HSTS": hsts, "REDIRECT": redirect,
        "UPSTREAM": f"127.0.0.1:{site.upstream_port}", "HTPASSWD": str(site.htpasswd),
    })


def find_nginx(explicit: str | None = None) -> str:
    """Path of the nginx binary (``explicit``, else PATH, else /usr/sbin/nginx)."""
    for cand in (explicit, shutil.which("nginx"), "/usr/sbin/nginx"):
        if cand and os.access(cand, os.X_OK):
            return cand
    raise ProxyError("nginx not found: install it (scripts/bootstrap.sh --system) or pass --nginx PATH")


@dataclass
class NginxRun:
    """A private nginx: config, htpasswd copy, pid and logs in ``run_dir``."""

    site: Site
    nginx: str
    run_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="hedge-nginx-")))
    proc: subprocess.Popen[bytes] | None = None
    _htpasswd_sig: tuple[int, int] | None = None

    @property
    def conf(self) -> Path:
        return self.run_dir / "nginx.conf"

    def argv(self) -> list[str]:
        """nginx with every path in the run dir (``-e``: even the log opened before the config,
        which otherwise is /var/log/nginx/error.log and not writable without root)."""
        return [self.nginx, "-p", str(self.run_dir), "-c", str(self.conf),
                "-e", str(self.run_dir / "error.log")]

    def prepare(self) -> None:
        """Write nginx.conf, site.conf and the htpasswd copy; check them with ``nginx -t``."""
        as_root = os.geteuid() == 0
        self.run_dir.chmod(0o711)  # workers (nobody, when root) must traverse to the htpasswd copy
        site = Site(**{**self.site.__dict__, "htpasswd": self.run_dir / "htpasswd"})
        (self.run_dir / "site.conf").write_text(render_site(site), encoding="utf-8")
        user = f"user {WORKER_USER[0]} {WORKER_USER[1]};" if as_root else ""
        self.conf.write_text(_fill((TEMPLATES / "nginx.conf.tmpl").read_text(encoding="utf-8"),
                                   {"USER": user, "RUN": str(self.run_dir)}), encoding="utf-8")
        self.sync_htpasswd()
        check = subprocess.run([*self.argv(), "-t"],
                               capture_output=True, text=True, check=False)
        if check.returncode != 0:
            raise ProxyError("nginx rejected the generated config: " + " ".join(check.stderr.split())[-400:])

    def sync_htpasswd(self) -> None:
        """Copy the htpasswd file into the run dir when it changed (atomic replace)."""
        try:
            st = self.site.htpasswd.stat()
        except OSError as exc:
            raise ProxyError(f"cannot read {self.site.htpasswd}: {exc.strerror}") from None
        sig = (st.st_mtime_ns, st.st_size)
        if sig == self._htpasswd_sig:
            return
        tmp = self.run_dir / "htpasswd.tmp"
        shutil.copyfile(self.site.htpasswd, tmp)
        tmp.chmod(0o400)
        if os.geteuid() == 0:
            pw = pwd.getpwnam(WORKER_USER[0])
            os.chown(tmp, pw.pw_uid, pw.pw_gid)
        tmp.replace(self.run_dir / "htpasswd")
        self._htpasswd_sig = sig

    def start(self) -> None:
        """Start nginx in the foreground (as a child process)."""
        self.proc = subprocess.Popen(self.argv(),
                                     stdin=subprocess.DEVNULL)

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
