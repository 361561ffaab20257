"""``hedge serve``: the dashboard behind the system's nginx (basic auth), nginx owned by serve.

nginx listens on ``--public-address:--public-port`` (default 127.0.0.1:8080; beyond
loopback only with TLS or ``--insecure-http``), asks for an investor login from
``--htpasswd`` (default ``$HEDGE_HOME/investors.htpasswd``, managed by ``hedge
investors``) on ``/`` - checked by the dashboard process (``ui.auth``: same cost for
unknown names, bcrypt off nginx's event loop; on its own thread and socket,
``ui.server.AuthServer``, so no check waits for a page being built), rate-limited per
client by nginx - and leaves ``/healthz`` open (up or down, nothing else). nginx sends
Bokeh's and Panel's JS/CSS itself, from disk (gzip, cached). The dashboard listens on a
unix socket in nginx's private run directory that only nginx can open. nginx runs in the
foreground and dies with serve, even on kill -9 (``PR_SET_PDEATHSIG``); a leftover one
recorded in ``$HEDGE_HOME/.serve/nginx.json`` is stopped at the next start. Ctrl-C or
SIGTERM stops both.

``--print-site`` prints the nginx site config instead (for a system nginx, e.g. HTTPS on a
real domain, with ``hedge dashboard`` on ``--dashboard-port``; see docs/investor_access.md).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import socket
from pathlib import Path

from hedge.accounts_cli import account_state_home
from hedge.cli import UsageError
from hedge.cmd_investors import default_file
from hedge.settings import home as home_of
from hedge.settings import of as settings_of
from ui import htpasswd, proxy, server
from ui.auth import LoginCheck


def restrict_socket(sock: Path) -> None:
    """Only nginx may connect: the socket is ours (0600), or, when nginx's workers run as
    ``nobody`` (started as root), ours and their group's (0660 root:nogroup)."""
    if os.geteuid() == 0:
        import grp

        os.chown(sock, 0, grp.getgrnam(proxy.WORKER_USER[1]).gr_gid)
        sock.chmod(0o660)
    else:
        sock.chmod(0o600)


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("--account", metavar="NAME", default=None,
                   help="the account to show (default $HEDGE_ACCOUNT, else main; docs/accounts.md)")
    p.add_argument("--public-port", type=int, default=8080, metavar="PORT", help="port nginx listens on (default 8080)")
    p.add_argument("--public-address", default="127.0.0.1", metavar="ADDR",
                   help="address nginx binds (default 127.0.0.1; 0.0.0.0 to expose, with TLS)")
    p.add_argument("--htpasswd", metavar="FILE", type=Path,
                   help="investor logins (default $HEDGE_HOME/investors.htpasswd)")
    p.add_argument("--dashboard-port", type=int, default=0, metavar="PORT",
                   help="--print-site: loopback port of the dashboard (default 5006); serve itself uses a unix socket")
    p.add_argument("--server-name", action="append", default=[], metavar="NAME",
                   help="public host name (repeatable): nginx server_name and allowed websocket origin")
    p.add_argument("--tls-cert", type=Path, metavar="PEM", help="certificate chain: serve HTTPS")
    p.add_argument("--tls-key", type=Path, metavar="PEM", help="private key of --tls-cert")
    p.add_argument("--nginx", metavar="PATH", help="nginx binary (default: from PATH or /usr/sbin/nginx)")
    p.add_argument("--print-site", action="store_true",
                   help="print the nginx site config for a system nginx and exit")
    p.add_argument("--insecure-http", action="store_true",
                   help="allow listening beyond loopback without TLS (passwords then cross the network "
                   "in clear text)")


def origins(args: argparse.Namespace) -> list[str]:
    """Origins the browser may open the websocket from: the public host names on the port."""
    port = args.public_port
    hosts = {"localhost", "127.0.0.1", socket.gethostname(), *args.server_name}
    if args.public_address not in ("0.0.0.0", "::", ""):
        hosts.add(args.public_address)
    out = []
    for h in sorted(hosts):
        out.append(f"{h}:{port}")
        if port in (80, 443):
            out.append(h)  # browsers omit the default port from Origin
    return out


def is_loopback(address: str) -> bool:
    """True for an address only this host can reach (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    path: Path = (args.htpasswd or default_file(home_of(args))).resolve()
    if (args.tls_cert is None) != (args.tls_key is None):
        raise UsageError("--tls-cert and --tls-key go together")
    if not (args.tls_cert or is_loopback(args.public_address) or args.insecure_http):
        raise UsageError(f"--public-address {args.public_address} reaches beyond this host without TLS: "
                         "investor passwords would cross the network in clear text; give --tls-cert and "
                         "--tls-key, or --insecure-http to accept that")
    dash_port = args.dashboard_port or (5006 if args.print_site else server.free_port())
    site = proxy.Site(upstream_port=dash_port, htpasswd=path, listen_port=args.public_port,
                      listen_address=args.public_address, server_names=tuple(args.server_name),
                      tls_cert=args.tls_cert.resolve() if args.tls_cert else None,
                      tls_key=args.tls_key.resolve() if args.tls_key else None,
                      redirect_http=bool(args.print_site and args.tls_cert and args.public_port == 443))
    if args.print_site:
        print(proxy.render_site(site), end="")
        return 0
    if not htpasswd.names(path):
        raise UsageError(f"no investor logins in {path}: add one with 'hedge investors add NAME'")
    home = account_state_home(home_of(args), getattr(args, "account", None), settings_of(args))
    record = home_of(args) / ".serve" / "nginx.json"
    if record.exists():
        said = proxy.stop_leftover(record)
        if said:
            print(f"serve: {said}", flush=True)
    server.check_port_free(args.public_address, args.public_port)
    nginx = proxy.NginxRun(site=site, nginx=proxy.find_nginx(args.nginx), record=record)
    sock = nginx.run_dir / "dashboard.sock"
    auth_sock = nginx.run_dir / "auth.sock"
    nginx.site = site = dataclasses.replace(site, upstream_socket=sock, auth_socket=auth_sock)
    login = LoginCheck(path)
    auth = server.AuthServer(login, auth_sock)
    dash = None
    with server.StopSignals() as signals:
        try:
            nginx.prepare()
            auth.start()
            restrict_socket(auth_sock)
            dash = server.serve(home, origins=origins(args), use_xheaders=True, threaded=True,
                                unix_socket=sock)
            server.wait_unix(sock, "/livez", alive=lambda: dash.is_alive() and not signals.fired)
            restrict_socket(sock)
            if not signals.fired:
                # one page built now (and dropped): the first investor's page does not pay
                # for the first build's one-time costs (imports, caches)
                with contextlib.suppress(OSError):
                    server.get_unix(sock, "/", timeout=120)
            if not signals.fired:
                nginx.start()
            scheme = "https" if site.tls else "http"
            public = f"{scheme}://{server.url_host(args.public_address)}:{args.public_port}"
            try:
                server.wait_http(f"{public}/healthz", timeout=30,
                                 alive=lambda: nginx.alive() and not signals.fired)
            except server.ServeError as exc:
                raise server.ServeError(f"{exc} ({nginx.error_tail()})") from None
            print(f"serve: {public}/  (nginx basic auth, {len(htpasswd.names(path))} investor logins "
                  f"in {path}; /healthz open; dashboard on {sock}; Ctrl-C stops)",
                  flush=True)

            def tick() -> bool:
                return nginx.alive() and dash.is_alive()

            if signals.wait(tick=tick) == "exited":
                print(f"serve: a server exited unexpectedly {nginx.error_tail()}", flush=True)
                return 1
        except server.ServeError:
            if not signals.fired:
                raise
        finally:
            nginx.stop()
            if dash is not None:
                dash.stop()
            auth.stop()
            login.close()
    print("serve: stopped", flush=True)
    return 0
