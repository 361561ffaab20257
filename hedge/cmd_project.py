"""``hedge project``: run the projections as their own process, resuming from their checkpoint.

Without ``--follow`` it catches up once and exits; with it, it keeps following the
log until SIGINT/SIGTERM (then a final catch-up). Point ``HEDGE_STORE_URL`` at the
PostgreSQL log to run it on another host than the engine. ``hedge run`` starts this same
command as its projection follower (``hedge.follower_process``).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("--follow", action="store_true", help="keep following the log until interrupted")
    p.add_argument("--account", metavar="NAME", default=None,
                   help="the account to project (default $HEDGE_ACCOUNT, else main); its state files go to "
                        "HOME/state for main, HOME/accounts/NAME/state otherwise")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between catch-ups (default 1)")
    p.add_argument("--batch", type=int, default=5000, help="events per read batch (default 5000)")
    # hedge run's follower (hedge.follower_process): its own peak memory, which its parent
    # cannot read from wait4 (Linux carries the parent's high-water mark across exec)
    p.add_argument("--status-fd", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--mirror", metavar="DIR", help="after every catch-up, mirror the state files one way into DIR "
                   "(as hedge sync --to DIR)")


def run(args: argparse.Namespace) -> int:
    from hedge.argcheck import int_in, seconds
    from hedge.cli import UsageError
    from hedge.settings import home as home_of
    from hedge.settings import of as settings_of
    from projections.runner import ProjectionError, run_projections

    seconds("--interval", args.interval)
    int_in("--batch", args.batch, 1, 10_000_000)
    home = home_of(args)
    from hedge.accounts_cli import account_name

    account = account_name(args.account, settings=settings_of(args))
    stop = threading.Event()
    after = None
    refused: dict[str, list[str]] = {}
    if args.mirror:
        from eventlog.accounts import account_home
        from projections.mirror import mirror

        dest = Path(args.mirror)
        source = Path(account_home(home, account))  # the account's state files (main: the home itself)
        if dest.resolve() in (home.resolve(), source.resolve()):
            raise UsageError(f"--mirror: {dest} is the home itself; choose another directory")

        def after() -> None:
            res = mirror(source, dest)
            for name, problems in res.problems.items():
                if refused.get(name) != problems:  # say it once per distinct problem
                    print(f"mirror refused {name}: {'; '.join(problems)}", file=sys.stderr)
            refused.clear()
            refused.update(res.problems)

    def _term(signum: int, frame: Any) -> None:
        stop.set()

    old = None
    if threading.current_thread() is threading.main_thread():
        old = signal.signal(signal.SIGTERM, _term)
        old_int = signal.signal(signal.SIGINT, _term)
        # started by 'hedge run' (hedge.follower_process), these arrive blocked so that a stop
        # sent during start-up waits for the handler: a pending one is delivered now
        signal.pthread_sigmask(signal.SIG_UNBLOCK, (signal.SIGTERM, signal.SIGINT))
    try:
        n = run_projections(home, settings_of(args).store_url, follow=args.follow,
                            interval_s=args.interval, should_stop=stop.is_set, batch=args.batch,
                            account=account, after_sync=after)
    except ProjectionError as exc:
        raise UsageError(str(exc)) from None
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)
            signal.signal(signal.SIGINT, old_int)
        if args.status_fd is not None:
            _write_status(args.status_fd)
    print(f"projections: {n:,} events applied -> {home / 'state'}" + (f" (mirrored to {args.mirror})"
                                                                         if args.mirror else ""))
    return 1 if refused else 0


def _write_status(fd: int) -> None:
    """One JSON line on ``fd`` (a pipe from ``hedge run``): this process's own peak RSS."""
    import json
    import os

    from eventlog.peak_rss import peak_rss_mb

    try:
        os.write(fd, (json.dumps({"peak_rss_mb": round(peak_rss_mb(), 1)}) + "\n").encode())
        os.close(fd)
    except OSError:
        pass  # the parent went away: nobody to tell
