"""``hedge rebuild``: drop every projection (state files, veto JSONL, audit tables) and fold the log again.

The log is only read. Rebuilt files are byte-identical to the ones a live run wrote.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("--batch", type=int, default=5000, help="events per read batch (default 5000)")
    p.add_argument("--quiet", action="store_true", help="no progress bar, no summary")


def run(args: argparse.Namespace) -> int:
    from eventlog.store import describe_store, resolve_home
    from hedge.cli import UsageError
    from projections.runner import ProjectionError, rebuild

    if args.batch < 1:
        raise UsageError("--batch: must be >= 1")
    home = Path(resolve_home(getattr(args, "home", None)))
    try:
        stats = rebuild(home, os.environ.get("HEDGE_STORE_URL") or None, progress=not args.quiet,
                        batch=args.batch)
    except ProjectionError as exc:
        raise UsageError(str(exc)) from None
    if not args.quiet:
        rate = stats["events_per_s"]
        print(f"rebuilt projections from {describe_store(home)}: {stats['events']:,} events "
              f"in {stats['seconds']:.2f} s" + (f" ({rate:,.0f} events/s)" if rate else "")
              + f" -> {home / 'state'}, {home / 'audit'}, {home / 'execution' / 'risk_vetoes.jsonl'}")
    return 0
