"""``hedge investors add|remove|list``: investor logins in an htpasswd file (bcrypt).

The password is read from a prompt (typed twice, not echoed) or, when stdin is not a
terminal, from the first line of stdin — never from the command line, never printed.
Default file: ``$HEDGE_HOME/investors.htpasswd`` (what ``hedge serve`` uses).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from hedge.cli import UsageError
from hedge.settings import home as home_of
from ui import htpasswd


def default_file(home: Path) -> Path:
    """``<home>/investors.htpasswd`` (``--home``, else ``$HEDGE_HOME``)."""
    return home / "investors.htpasswd"


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["add", "remove", "list"], metavar="ACTION", help="add (or re-password), remove, list")
    p.add_argument("name", nargs="?", help="investor login name (add/remove)")
    p.add_argument("--htpasswd", metavar="FILE", type=Path,
                   help="htpasswd file (default $HEDGE_HOME/investors.htpasswd)")


def read_password(name: str) -> str:
    """The new password: prompted twice on a terminal, else the first line of stdin."""
    if sys.stdin.isatty():
        first = getpass.getpass(f"password for {name}: ")
        if getpass.getpass("again: ") != first:
            raise UsageError("passwords do not match")
        return first
    line = sys.stdin.readline()
    if not line:
        raise UsageError("no password on stdin")
    return line.rstrip("\r\n")


def run(args: argparse.Namespace) -> int:
    path: Path = args.htpasswd or default_file(home_of(args))
    if args.action == "list":
        if args.name:
            raise UsageError("'list' takes no name")
        for name in htpasswd.names(path):
            print(name)
        return 0
    if not args.name:
        raise UsageError(f"'{args.action}' needs a NAME")
    name = htpasswd.check_name(args.name)
    if args.action == "remove":
        htpasswd.remove(path, name)
        print(f"removed investor {name} from {path}")
        return 0
    new = htpasswd.add(path, name, read_password(name))
    print(f"{'added' if new else 'updated'} investor {name} in {path} (bcrypt)")
    return 0
