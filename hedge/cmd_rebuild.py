"""``hedge rebuild``: fold the log again into every projection (state files, veto JSONL, audit tables).

The log is only read. Rebuilt files are byte-identical to the ones a live run wrote.
They are built in a scratch directory and swapped in when complete: Ctrl-C, SIGTERM,
SIGKILL or a log that does not verify leave the previous projections as they were.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("--batch", type=int, default=5000, help="events per read batch (default 5000)")
    p.add_argument("--quiet", action="store_true", help="no progress bar, no summary")
    p.add_argument("--account", metavar="NAME", default=None,
                   help="rebuild only this account's projections (default: every account in the log)")


def _sigterm_as_interrupt() -> Any:
    """SIGTERM stops a rebuild like Ctrl-C: workers stopped, scratch removed, old views kept."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def _term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, _term)


def run(args: argparse.Namespace) -> int:
    from eventlog.store import describe_store
    from hedge.cli import UsageError
    from hedge.progress import counter
    from hedge.settings import home as home_of
    from hedge.settings import of as settings_of
    from projections.runner import ProjectionError, rebuild

    if args.batch < 1:
        raise UsageError("--batch: must be >= 1")
    home = home_of(args)
    store_url = settings_of(args).store_url
    old = _sigterm_as_interrupt()
    try:
        with counter("rebuild", None, enabled=not args.quiet) as tick:
            stats = rebuild(home, store_url, progress=tick, batch=args.batch,
                            account=args.account)
    except ProjectionError as exc:
        raise UsageError(str(exc)) from None
    except KeyboardInterrupt:
        print(f"hedge rebuild: interrupted; the previous projections in {home} are unchanged", file=sys.stderr)
        return 130
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)
    if not args.quiet:
        rate = stats["events_per_s"]
        print(f"rebuilt projections from {describe_store(home, store_url)}: {stats['events']:,} events "
              f"in {stats['seconds']:.2f} s" + (f" ({rate:,.0f} events/s)" if rate else "")
              + f" -> {home / 'state'}, {home / 'audit'}, {home / 'execution' / 'risk_vetoes.jsonl'}"
              + (f" (accounts: {', '.join(stats['accounts'])})" if len(stats.get("accounts", [])) > 1 else ""))
    return 0
