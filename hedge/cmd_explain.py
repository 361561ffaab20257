"""``hedge explain DECISION_ID``: why one risk decision came out as it did.

Shows the outcome, gate and reasons, every threshold next to the observations
it was compared with (``!`` marks those that broke) and the config path it came
from, the config hash, and the events the decision saw (intent, NAV snapshot,
positions, tick, kline) with their log sequence numbers and values. Works for
vetoes, clamps and allows. ``DECISION_ID`` may be a unique prefix, ``last`` or
``last-veto``. Reads the log only.
"""

from __future__ import annotations

import argparse
import json

from eventlog.store import EventStore


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("decision", metavar="DECISION_ID",
                   help="decision id (or a unique prefix), 'last' or 'last-veto'")
    p.add_argument("--format", choices=["text", "json"], default="text")


def run(args: argparse.Namespace) -> int:
    from replay.explain import explain
    from replay.render import explain_text

    with EventStore.open(create=False) as store:
        doc = explain(store, args.decision)
    if args.format == "json":
        print(json.dumps(doc, default=str))
    else:
        print(explain_text(doc))
    return 0
