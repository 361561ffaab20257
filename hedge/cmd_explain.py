"""``hedge explain DECISION_ID``: why one risk decision came out as it did.

Shows the outcome, gate and reasons, every threshold next to the observations
it was compared with (``!`` marks those that broke) and the config path it came
from, the config hash, and the events the decision saw (intent, NAV snapshot,
positions, tick, kline) with their log sequence numbers and values. Works for
vetoes, clamps and allows. ``DECISION_ID`` may be a unique prefix, ``last`` or
``last-veto``. ``--check`` takes the decision again from the logged inputs (exit 1
if it does not come out identical); ``--set key=value`` takes it again under a changed
limit, everything else as recorded. Reads the log only.
"""

from __future__ import annotations

import argparse
import json

from hedge.settings import open_store


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("decision", metavar="DECISION_ID",
                   help="decision id (or a unique prefix), 'last' or 'last-veto'")
    p.add_argument("--format", choices=["text", "json"], default="text",
                   help="text: the decision in words (default); json: every field, nested")
    p.add_argument("--check", action="store_true",
                   help="take the decision again from the logged inputs and say if it comes out identical")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="take it again under a changed config value (repeatable), e.g. risk.max_open_positions=5")


def run(args: argparse.Namespace) -> int:
    from hedge.progress import counter
    from replay.explain import explain
    from replay.render import explain_text

    enabled = args.format == "text"
    with open_store(args, create=False) as store:
        doc = explain(store, args.decision, check=args.check, sets=args.sets,
                      progress=lambda total: counter("folding the session", total, enabled=enabled))
    if args.format == "json":
        print(json.dumps(doc, default=str))
    else:
        print(explain_text(doc))
    again = doc.get("rederived")
    return 1 if again and not args.sets and not again["identical"] else 0
