"""``hedge``: the command line. Each verb lives in its own ``hedge.cmd_<verb>`` module.

Every verb takes ``--home DIR`` (overrides ``HEDGE_HOME``, default ``./logs``) and
``--config DIR`` (overrides ``HEDGE_CONFIG_DIR``, default the repo's ``config/``).
Exit codes: 0 ok, 1 the check failed (verify/replay found a difference), 2 bad
input (bad config, bad arguments, unreadable files). No tracebacks unless
``HEDGE_DEBUG=1``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sqlite3
import sys
from collections.abc import Sequence

from hedge import __version__

# verb -> (module, one-line help)
VERBS: dict[str, tuple[str, str]] = {
    "run": ("hedge.cmd_run", "run the trading loop (simulated venue by default)"),
    "demo": ("hedge.cmd_demo", "newcomer's first run: a simulated session, then the dashboard"),
    "sessions": ("hedge.cmd_sessions", "list the sessions in the log"),
    "accounts": ("hedge.cmd_accounts", "list the accounts (the fund, backtest books): NAV, return, max DD"),
    "report": ("hedge.cmd_report", "a session's performance report (--full, --format json, --html FILE)"),
    "verify": ("hedge.cmd_verify", "prove the hash chain and that every event decodes"),
    "config": ("hedge.cmd_config", "check or show the runtime config"),
    "rebuild": ("hedge.cmd_rebuild", "drop every projection and rebuild it from the log"),
    "project": ("hedge.cmd_project", "run the projections, following the log (separate process/host)"),
    "sync": ("hedge.cmd_sync", "mirror the state files one way into a directory (a dashboard on another host)"),
    "audit": ("hedge.cmd_audit", "ask the log in SQL (DuckDB over the Parquet audit tables)"),
    "replay": ("hedge.cmd_replay", "re-run a session's decisions (--verify) or a what-if (--set)"),
    "explain": ("hedge.cmd_explain", "explain one risk decision"),
    "alerts": ("hedge.cmd_alerts", "Telegram alerts: follow the log and send what matters"),
    "dashboard": ("hedge.cmd_dashboard", "serve the investor dashboard on loopback"),
    "serve": ("hedge.cmd_serve", "dashboard behind nginx basic auth"),
    "investors": ("hedge.cmd_investors", "manage investor logins (htpasswd)"),
    "migrate": ("hedge.cmd_migrate", "copy the log into PostgreSQL with the chain intact"),
}


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


def common(p: argparse.ArgumentParser) -> None:
    """``--home``/``--config``, accepted before or after the verb (SUPPRESS keeps the one given)."""
    p.add_argument("--home", metavar="DIR", default=argparse.SUPPRESS,
                   help="data directory (default $HEDGE_HOME or ./logs)")
    p.add_argument("--config", metavar="DIR", default=argparse.SUPPRESS,
                   help="config directory (default $HEDGE_CONFIG_DIR or repo config/)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hedge",
        description="gpt-hedge: event-sourced Binance USD-M futures engine. Every tick, intent, "
        "risk decision, order and fill is an event on an append-only, hash-chained log.",
    )
    parser.add_argument("--version", action="version", version=f"gpt-hedge {__version__}")
    common(parser)
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for verb, (module, help_) in VERBS.items():
        p = sub.add_parser(verb, help=help_, description=help_)
        common(p)
        mod = importlib.import_module(module)
        mod.register(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "verb", None):
        parser.print_help()
        return 2
    if getattr(args, "home", None):
        os.environ["HEDGE_HOME"] = args.home
    else:
        args.home = None
    if getattr(args, "config", None):
        os.environ["HEDGE_CONFIG_DIR"] = args.config
    else:
        args.config = None
    if os.environ.get("HEDGE_DEBUG") == "1":
        return int(args._run(args) or 0)
    from config.loader import ConfigError
    from eventlog.chaincheck import ChainBroken
    from eventlog.codec import DecodeError

    try:
        return int(args._run(args) or 0)
    except ConfigError as exc:
        print(f"hedge: config error: {exc}", file=sys.stderr)
        return 2
    except ChainBroken as exc:  # tamper evidence: a failed check, like 'hedge verify' failing
        print(f"hedge {args.verb}: {exc}", file=sys.stderr)
        return 1
    except (UsageError, LookupError, FileNotFoundError, NotADirectoryError, PermissionError,
            sqlite3.DatabaseError, DecodeError, ValueError) as exc:
        print(f"hedge {args.verb}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"hedge {args.verb}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # last resort: one line, not a traceback
        print(f"hedge {args.verb}: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    # Run via the imported module so ``hedge.cli.UsageError`` is the class verbs raise.
    from hedge.cli import main as _main

    sys.exit(_main())
