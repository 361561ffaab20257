"""``hedge migrate --to postgresql://...``: copy the SQLite log into PostgreSQL, chain intact.

Rows are copied byte for byte with their seq numbers; the copy is verified and its
head must equal the source's. Re-running it copies only what was appended since
(the target must be a prefix of the source). Then set ``HEDGE_STORE_URL``. The other
way, ``--from postgresql://... --to FILE`` copies a PostgreSQL log into an SQLite file.
A new target gets the compact layout unless ``HEDGE_LOG_LAYOUT=v1``.
"""

from __future__ import annotations

import argparse
import json

import msgspec

from hedge.progress import counter
from hedge.settings import home as home_of
from hedge.settings import of as settings_of


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("--to", metavar="URL|FILE", help="target postgresql://user:pass@host:port/db "
                   "(default $HEDGE_MIGRATE_TO; the password may also come from PGPASSWORD), or an SQLite "
                   "file (or directory) when the source is a PostgreSQL URL")
    p.add_argument("--from", dest="source", metavar="FILE|URL",
                   help="source SQLite log (default $HEDGE_HOME/eventlog.sqlite) or postgresql:// URL")
    p.add_argument("--batch", type=int, default=20_000, help="rows per copy transaction (default 20000)")
    p.add_argument("--format", choices=["text", "json"], default="text",
                   help="text: progress and a summary line (default); json: the summary as an object")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from eventlog.migrate import is_url, migrate
    from hedge.cli import UsageError

    settings = settings_of(args)
    url = args.to or settings.migrate_to
    if not url:
        raise UsageError("--to postgresql://user:pass@host:port/db is required")
    if args.batch < 1:
        raise UsageError("--batch must be at least 1")
    pw = settings.pg_password.reveal()
    url = _with_env_password(url, pw) if is_url(url) else url
    source: Path | str = Path(args.source) if args.source else home_of(args) / "eventlog.sqlite"
    if args.source and is_url(args.source):
        source = _with_env_password(args.source, pw)
    with counter("migrating", None, enabled=args.format == "text") as tick:
        res = migrate(source, url, batch=args.batch, progress=tick, layout=settings.log_layout)
    if args.format == "json":
        print(json.dumps(msgspec.to_builtins(res)))
    else:
        print(f"ok: {res.copied} events copied ({res.already_there} already there) from {res.source} "
              f"to {res.target}; verified, head {res.head_seq}:{res.head_hash}")
    return 0


def _with_env_password(url: str, pw: str) -> str:
    """Let the password come from PGPASSWORD (``pw``) so it need not be on the command line."""
    from urllib.parse import quote, urlparse

    u = urlparse(url)
    if pw and u.password is None and u.hostname:
        user = u.username or "postgres"
        netloc = f"{quote(user, safe='')}:{quote(pw, safe='')}@{u.hostname}" + (f":{u.port}" if u.port else "")
        return u._replace(netloc=netloc).geturl()
    return url
