"""``hedge verify``: walk the log, check the chain and that every event decodes."""

from __future__ import annotations

import argparse
import json

from eventlog.store import EventStore, describe_store
from eventlog.verify import verify
from hedge.progress import counter


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("--head", metavar="[SEQ:]HASH",
                   help="published head (hash, or seq:hash) to check against: detects tail truncation "
                   "and, with SEQ, an altered last row")
    p.add_argument("--format", choices=["text", "json"], default="text",
                   help="text: one line (default); json: the full result (head_seq, head_hash, ...)")


def run(args: argparse.Namespace) -> int:
    with EventStore.open(create=False) as store:
        total = store.count()
        with counter("verifying", total, enabled=args.format == "text") as tick:
            res = verify(store, published_head=args.head, progress=tick)
    if args.format == "json":
        import msgspec

        print(json.dumps(msgspec.to_builtins(res)))
    elif res.ok:
        print(f"ok: {res.events} events (seq {res.first_seq}..{res.last_seq}), {res.sessions} sessions, "
              f"chain intact, head {res.last_seq}:{res.head_hash}  [{describe_store()}]")
    elif res.bad_seq is None:
        print(f"FAILED: {res.problem}")
    else:
        print(f"FAILED at seq {res.bad_seq}: {res.problem} ({res.events} events verified before it)")
    return 0 if res.ok else 1
