"""``hedge sync --to DIR``: mirror the state files one way into DIR (``projections.mirror``).

For a dashboard on another host: point it at DIR (a shared or synced directory).
Exit 1 when a file was refused (it does not match the state contract; the previous
good copy stays), 0 otherwise. ``hedge project --follow --mirror DIR`` keeps the
mirror current after every catch-up.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("--to", metavar="DIR", required=True, help="mirror directory (created if missing)")
    p.add_argument("--account", metavar="NAME", default=None,
                   help="the account whose state files to mirror (default $HEDGE_ACCOUNT, else main)")


def report(res: object) -> int:
    from projections.mirror import MirrorResult

    assert isinstance(res, MirrorResult)
    for name, problems in sorted(res.problems.items()):
        print(f"refused {name}: {'; '.join(problems)}", file=sys.stderr)
    return 1 if res.problems else 0


def run(args: argparse.Namespace) -> int:
    from eventlog.accounts import account_home
    from hedge.cli import UsageError
    from hedge.settings import home as home_of
    from hedge.settings import of as settings_of
    from projections.mirror import mirror

    root = home_of(args)
    try:
        home = Path(account_home(root, args.account or settings_of(args).account or "main"))
    except ValueError as exc:
        raise UsageError(f"--account: {exc}") from None
    if not (home / "state").is_dir():
        raise UsageError(f"--home: {home} has no state/ directory (run hedge run or hedge rebuild first)")
    try:
        res = mirror(home, Path(args.to))
    except (ValueError, OSError) as exc:
        raise UsageError(str(exc)) from None
    print(f"{res.summary()} -> {args.to}")
    return report(res)
