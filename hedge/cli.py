"""``hedge``: the command line. Each verb lives in its own ``hedge.cmd_<verb>`` module.

Every verb takes ``--home DIR`` (overrides ``HEDGE_HOME``, default ``./logs``) and
``--config DIR`` (overrides ``HEDGE_CONFIG_DIR``, default the repo's ``config/``).
Exit codes: 0 ok, 1 the check failed (verify/replay found a difference), 2 bad
input (bad config, bad arguments, unreadable files). No tracebacks unless
``HEDGE_DEBUG=1``. The environment is read here, once (``hedge.settings.read``), into
the frozen ``args.settings`` every verb passes down.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sqlite3
import sys
from collections.abc import Sequence
from typing import NoReturn

from hedge import __version__
from hedge.verb_help import epilog, suggest

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
    "risk": ("hedge.cmd_risk", "reset the drawdown policy (leave defensive on the record)"),
    "alerts": ("hedge.cmd_alerts", "Telegram alerts: follow the log and send what matters"),
    "dashboard": ("hedge.cmd_dashboard", "serve the investor dashboard on loopback"),
    "serve": ("hedge.cmd_serve", "dashboard behind nginx basic auth"),
    "investors": ("hedge.cmd_investors", "manage investor logins (htpasswd)"),
    "migrate": ("hedge.cmd_migrate", "copy the log between SQLite and PostgreSQL, chain intact"),
}


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


_INVALID_CHOICE = re.compile(r"invalid choice: '([^']*)' \(choose from (.*)\)$")


class HedgeParser(argparse.ArgumentParser):
    """argparse with a "did you mean" on a mistyped verb or choice, and no internal names."""

    def error(self, message: str) -> NoReturn:
        m = _INVALID_CHOICE.search(message)
        if m:
            choices = [c.strip().strip("'") for c in m.group(2).split(",")]
            message = (message[: m.start()] + f"invalid choice {m.group(1)!r}{suggest(m.group(1), choices)}; "
                       f"choose from {', '.join(choices)}")
        super().error(message)


#: The verbs that read the config directory; every other verb reads the config recorded in the log.
CONFIG_VERBS = ("run", "demo", "config")


def common(p: argparse.ArgumentParser, *, config: bool = True) -> None:
    """``--home``/``--config``, accepted before or after the verb (SUPPRESS keeps the one given);
    ``--config`` only where a verb reads the config directory."""
    p.add_argument("--home", metavar="DIR", default=argparse.SUPPRESS,
                   help="data directory (default $HEDGE_HOME or ./logs)")
    if config:
        p.add_argument("--config", metavar="DIR", default=argparse.SUPPRESS,
                       help="config directory (default $HEDGE_CONFIG_DIR or repo config/)")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with ``only`` a verb, that verb's options alone are registered
    (every verb is still listed): ``hedge project`` started by ``hedge run`` as its follower
    then imports its own module, not the dashboard's and the exchange's (~30 MB, ~0.5 CPU-s)."""
    parser = HedgeParser(
        prog="hedge",
        description="gpt-hedge: event-sourced Binance USD-M futures engine. Every tick, intent, "
        "risk decision, order and fill is an event on an append-only, hash-chained log.",
        epilog="'hedge VERB --help' shows each verb's options, examples and environment variables.",
    )
    parser.add_argument("--version", action="version", version=f"gpt-hedge {__version__}")
    common(parser)
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for verb, (module, help_) in VERBS.items():
        p = sub.add_parser(verb, help=help_, description=help_, epilog=epilog(verb),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        common(p, config=verb in CONFIG_VERBS)
        if only is not None and verb != only:
            continue
        mod = importlib.import_module(module)
        mod.register(p)
        p.set_defaults(_run=mod.run)
    return parser


def verb_in(argv: Sequence[str]) -> str | None:
    """The verb an argument list names (skipping the values of ``--home``/``--config`` given
    before it), or None: no verb, ``--help``, ``--version`` or a mistyped one."""
    skip = False
    for tok in argv:
        if skip:
            skip = False
        elif tok in ("--home", "--config"):
            skip = True
        elif not tok.startswith("-"):
            return tok if tok in VERBS else None
        elif tok in ("-h", "--help", "--version"):
            return None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(verb_in(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(argv)
    if not getattr(args, "verb", None):
        parser.print_help()
        return 2
    if getattr(args, "config", None) and args.verb not in CONFIG_VERBS:
        print(f"hedge {args.verb}: error: --config: this verb reads the config recorded in the log, not a "
              f"directory (--config is for {', '.join(CONFIG_VERBS)})", file=sys.stderr)
        return 2
    from hedge.settings import read

    settings = read(os.environ, home=getattr(args, "home", None), config=getattr(args, "config", None))
    args.settings = settings
    args.home = str(settings.home) if settings.home is not None else None
    args.config = str(settings.config_dir) if settings.config_dir is not None and args.verb in CONFIG_VERBS else None
    if settings.debug:
        return int(args._run(args) or 0)
    from config.loader import ConfigError
    from eventlog.chaincheck import ChainBroken
    from eventlog.codec import DecodeError

    try:
        try:
            return int(args._run(args) or 0)
        finally:
            sys.stdout.flush()  # a reader that went away (| head) shows up here, not at exit
    except BrokenPipeError:
        return _closed_stdout()
    except ConfigError as exc:
        print(f"hedge: config error: {exc}", file=sys.stderr)
        return 2
    except ChainBroken as exc:  # tamper evidence: a failed check, like 'hedge verify' failing
        print(f"hedge {args.verb}: {exc}", file=sys.stderr)
        return 1
    except FileNotFoundError as exc:
        print(f"hedge {args.verb}: error: {exc}{_home_hint(exc)}", file=sys.stderr)
        return 2
    except (UsageError, LookupError, NotADirectoryError, PermissionError,
            sqlite3.DatabaseError, DecodeError, ValueError) as exc:
        print(f"hedge {args.verb}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"hedge {args.verb}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # last resort: one line, not a traceback
        print(f"hedge {args.verb}: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


def environment() -> dict[str, str]:
    """A copy of this process's environment, for a verb that starts a child process (``hedge
    run``'s projection follower): this module is the one reader of it."""
    return dict(os.environ)


def _closed_stdout() -> int:
    """The reader of stdout went away (``hedge config show | head``): not an error, no traceback."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's own flush at exit must not fail again
    except (OSError, ValueError):
        pass
    return 0


def _home_hint(exc: FileNotFoundError) -> str:
    """How to point a verb at the right log when there is none where it looked."""
    if not str(exc).startswith("no event log"):
        return ""
    return ("; give the data directory with --home DIR or HEDGE_HOME=DIR "
            "(or a PostgreSQL log with HEDGE_STORE_URL), or record a session first: hedge run --bars 500")


if __name__ == "__main__":
    # Run via the imported module so ``hedge.cli.UsageError`` is the class verbs raise.
    from hedge.cli import main as _main

    sys.exit(_main())
