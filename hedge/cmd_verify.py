"""``hedge verify``: walk the log, check the chain and that every event decodes.

The log is opened read-only: verify never writes, never creates the schema, never
checkpoints or deletes SQLite's write-ahead log (a damaged WAL is evidence).
"""

from __future__ import annotations

import argparse
import json
import sqlite3

import msgspec

from eventlog.chaincheck import NotAnEventLog
from eventlog.sqlite_backend import NotSQLite
from eventlog.store import EventStore, describe_store
from eventlog.verify import VerifyResult, parse_head, verify
from hedge.progress import counter
from hedge.settings import home as home_of
from hedge.settings import of as settings_of
from hedge.settings import open_store


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("--head", metavar="[SEQ:]HASH",
                   help="published head (hash, or seq:hash) to check against: detects tail truncation "
                   "and, with SEQ, an altered last row")
    p.add_argument("--format", choices=["text", "json"], default="text",
                   help="text: one line (default); json: the full result (head_seq, head_hash, ...)")


def _progress_total(store: EventStore) -> int:
    """Rows to walk, for the progress bar only: a damaged page is verify's to name, not count's
    (the compact layout has no index for ``count(*)`` to read instead of the table)."""
    try:
        return store.count()
    except sqlite3.DatabaseError:
        return 0


def run(args: argparse.Namespace) -> int:
    parse_head(args.head)  # a malformed --head is a usage error before the log is opened
    try:
        with open_store(args, create=False, readonly=True) as store:
            total = _progress_total(store)
            with counter("verifying", total, enabled=args.format == "text") as tick:
                res = verify(store, published_head=args.head, progress=tick)
    except NotAnEventLog as exc:  # an empty file, a dropped table: damage, not a clean empty log
        res = VerifyResult(ok=False, events=0, bad_seq=1, problem=str(exc))
    except (FileNotFoundError, LookupError):
        raise
    except Exception as exc:  # a database that cannot be read at all (schema pages damaged)
        if isinstance(exc, NotSQLite) or type(exc).__module__.split(".")[0] not in ("sqlite3", "psycopg"):
            raise
        res = VerifyResult(ok=False, events=0, bad_seq=1,
                           problem=f"the log cannot be read at all: {' '.join(str(exc).split())}")
    if args.format == "json":
        print(json.dumps(msgspec.to_builtins(res)))
    elif res.ok:
        print(f"ok: {res.events} events (seq {res.first_seq}..{res.last_seq}), {res.sessions} sessions, "
              f"chain intact, head {res.last_seq}:{res.head_hash}  [{describe_store(home_of(args), settings_of(args).store_url)}]")
    elif res.bad_seq is None:
        print(f"FAILED: {res.problem}")
    else:
        where = f" at seq {res.bad_seq}" if res.bad_seq is not None else ""
        print(f"FAILED{where}: {res.problem} ({res.events} events verified before it)")
    return 0 if res.ok else 1
