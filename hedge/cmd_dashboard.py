"""``hedge dashboard``: the investor dashboard (Panel) on loopback, reading state files.

Serves ``$HEDGE_HOME/state/*.json`` as a live page at ``http://ADDRESS:PORT/`` and an
open ``/healthz``; stops on Ctrl-C or SIGTERM. For investor access put nginx in front:
``hedge serve``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hedge.accounts_cli import account_state_home
from hedge.settings import home as home_of
from hedge.settings import of as settings_of
from ui import server, state


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, default=5006, metavar="PORT", help="port to listen on (default 5006)")
    p.add_argument("--address", default="127.0.0.1", metavar="ADDR", help="address to bind (default 127.0.0.1)")
    p.add_argument("--allow-websocket-origin", action="append", default=[], metavar="HOST[:PORT]",
                   help="extra origin allowed to open the websocket (repeatable; e.g. behind a proxy)")
    p.add_argument("--account", metavar="NAME", default=None,
                   help="the account to show (default $HEDGE_ACCOUNT, else main; docs/accounts.md)")
    p.add_argument("--use-xheaders", action="store_true",
                   help="trust X-Forwarded-* headers (when behind a reverse proxy)")
    p.add_argument("--htpasswd", metavar="FILE", type=Path,
                   help="investor logins that nginx's auth_request checks at /_auth (default "
                   "$HEDGE_HOME/investors.htpasswd; a missing file refuses every login)")


def run(args: argparse.Namespace) -> int:
    from hedge.cmd_investors import default_file

    home = account_state_home(home_of(args), getattr(args, "account", None), settings_of(args))
    serve_blocking(home, args.port, args.address, args.allow_websocket_origin, args.use_xheaders,
                   htpasswd=(args.htpasswd or default_file(home_of(args))).resolve())
    return 0


def serve_blocking(home: Path, port: int, address: str, extra_origins: list[str] | None = None,
                   use_xheaders: bool = False, htpasswd: Path | None = None) -> None:
    """Start the dashboard, print its URL, block until Ctrl-C/SIGTERM, then stop it."""
    server.check_port_free(address, port)
    origins = server.websocket_origins(port, extra_origins or [])
    if address not in ("127.0.0.1", "localhost", "0.0.0.0", "::", ""):
        origins.append(f"{address}:{port}")
    from ui.auth import LoginCheck

    login = LoginCheck(htpasswd) if htpasswd is not None else None
    with server.StopSignals() as signals:
        thread = server.serve(home, port=port, address=address, origins=origins,
                              use_xheaders=use_xheaders, threaded=True, login=login)
        try:
            base = f"http://{server.url_host(address)}:{port}"
            server.wait_http(f"{base}/healthz", alive=lambda: thread.is_alive() and not signals.fired)
            present = len(state.load(home).present)
            print(f"dashboard: {base}/  (state: {home / 'state'}, {present} files; Ctrl-C stops)", flush=True)
            signals.wait(tick=thread.is_alive)
        except server.ServeError:
            if not signals.fired:
                raise
        finally:
            thread.stop()
            if login is not None:
                login.close()
    print("dashboard: stopped", flush=True)
