"""``hedge serve``: the dashboard on loopback with the system's nginx in front (basic auth).

nginx listens on ``--public-address:--public-port`` (default 127.0.0.1:8080), asks for an
investor login from ``--htpasswd`` (default ``$HEDGE_HOME/investors.htpasswd``, managed by
``hedge investors``) on ``/``, leaves ``/healthz`` open, and proxies everything, websocket
included, to the Panel server on a loopback port. Its config lives in a temp dir; nginx
runs in the foreground; Ctrl-C or SIGTERM stops both.

``--print-site`` prints the nginx site config instead (for a system nginx, e.g. HTTPS on a
real domain; see docs/investor_access.md).
"""

from __future__ import annotations

import argparse
import socket
from pathlib import Path

from hedge.accounts_cli import account_state_home
from hedge.cli import UsageError
from hedge.cmd_investors import default_file
from ui import htpasswd, proxy, server, state


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("--account", metavar="NAME", default=None,
                   help="the account to show (default $HEDGE_ACCOUNT, else main; docs/accounts.md)")
    p.add_argument("--public-port", type=int, default=8080, metavar="PORT", help="port nginx listens on (default 8080)")
    p.add_argument("--public-address", default="127.0.0.1", metavar="ADDR",
                   help="address nginx binds (default 127.0.0.1; 0.0.0.0 to expose, with TLS)")
    p.add_argument("--htpasswd", metavar="FILE", type=Path,
                   help="investor logins (default $HEDGE_HOME/investors.htpasswd)")
    p.add_argument("--dashboard-port", type=int, default=0, metavar="PORT",
                   help="loopback port of the Panel server (default: a free one)")
    p.add_argument("--server-name", action="append", default=[], metavar="NAME",
                   help="public host name (repeatable): nginx server_name and allowed websocket origin")
    p.add_argument("--tls-cert", type=Path, metavar="PEM", help="certificate chain: serve HTTPS")
    p.add_argument("--tls-key", type=Path, metavar="PEM", help="private key of --tls-cert")
    p.add_argument("--nginx", metavar="PATH", help="nginx binary (default: from PATH or /usr/sbin/nginx)")
    p.add_argument("--print-site", action="store_true",
                   help="print the nginx site config for a system nginx and exit")


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


def run(args: argparse.Namespace) -> int:
    path: Path = (args.htpasswd or default_file()).resolve()
    if (args.tls_cert is None) != (args.tls_key is None):
        raise UsageError("--tls-cert and --tls-key go together")
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
    server.check_port_free(args.public_address, args.public_port)
    server.check_port_free("127.0.0.1", dash_port)
    home = account_state_home(state.hedge_home(), getattr(args, "account", None))
    nginx = proxy.NginxRun(site=site, nginx=proxy.find_nginx(args.nginx))
    dash = None
    with server.StopSignals() as signals:
        try:
            nginx.prepare()
            dash = server.serve(home, port=dash_port, address="127.0.0.1", origins=origins(args),
                                use_xheaders=True, threaded=True)
            server.wait_http(f"http://127.0.0.1:{dash_port}/healthz",
                             alive=lambda: dash.is_alive() and not signals.fired)
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
                  f"in {path}; /healthz open; dashboard on 127.0.0.1:{dash_port}; Ctrl-C stops)",
                  flush=True)

            def tick() -> bool:
                nginx.sync_htpasswd()
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
    print("serve: stopped", flush=True)
    return 0
