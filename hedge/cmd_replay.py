"""``hedge replay SESSION``: verify a session's decisions, or ask what-if.

* ``--verify`` re-derives every decision of the session (screener intents, risk
  decisions, router choices, fill enrichment) from its logged inputs with the
  recorded config, compares them field by field with the recorded ones and
  exits 0 only if all are identical (1 otherwise, listing the first
  differences). Nothing is sent anywhere; the log is only read.
* ``--set key=value`` (repeatable) re-simulates the session's recorded market
  data on the simulated venue with the changed config, in a scratch log (a
  temp dir, or ``--out DIR`` kept for ``hedge audit --home DIR``), and prints
  recorded vs what-if side by side. ``--out`` alone runs the unchanged config.
* ``--sweep key=v1,v2,...`` runs one what-if per value (``--set`` applied to
  all) and prints one column per value beside the recorded session.

SESSION is an id, a unique prefix or ``last``; ``all --verify`` checks every session. Bad session, bad key or bad value:
one line, exit 2.

The whole log is read with its hash chain checked. A what-if refuses a log that does
not verify (``ChainBroken``, exit 1). ``--verify`` alone is itself a check: it says
where the chain breaks (stderr, and ``chain`` in the JSON), then reads on past it
(``EventStore.check_chain``) to compare the decisions - so a tampered row is also
named by the decision that saw it - and exits 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from eventlog.chaincheck import ChainBroken
from eventlog.store import EventStore
from hedge.cli import UsageError
from hedge.progress import counter
from hedge.settings import open_store

if TYPE_CHECKING:
    from replay.source import Session


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("session", metavar="SESSION", nargs="?", default=None,
                   help="session id, unique prefix, 'last', or 'all' (with --verify: every session)")
    p.add_argument("--account", metavar="NAME", default=None,
                   help="with --verify and no SESSION: every session of this account, in order (each "
                        "resumed session starts from the fold of the ones before it)")
    p.add_argument("--verify", action="store_true", help="re-derive every decision and compare with the log")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="what-if: change one config value (repeatable), e.g. risk.max_trade_nav_pct=0.08")
    p.add_argument("--out", metavar="DIR", help="what-if: keep the scratch log and its state files in DIR")
    p.add_argument("--sweep", metavar="KEY=V1,V2,...",
                   help="what-if for each value of one key (with --set applied to all), one column each")
    p.add_argument("--max-diffs", type=int, default=20, metavar="N", help="differences to list (default 20)")
    p.add_argument("--format", choices=["text", "json"], default="text",
                   help="text: a readable verdict or comparison (default); json: the same as an object")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    if not args.verify and not args.sets and not args.out and not args.sweep:
        raise UsageError("nothing to do: give --verify, or --set KEY=VALUE / --out DIR / --sweep for a what-if")
    if args.sweep and args.out:
        raise UsageError("--out keeps one what-if's log; it does not go with --sweep")
    if args.max_diffs < 0:
        raise UsageError("--max-diffs: must be >= 0")
    if args.session is None:
        if not args.account:
            raise UsageError("give a SESSION (id, prefix, 'last' or 'all') or --account NAME")
        if not args.verify or args.sets or args.out or args.sweep:
            raise UsageError("--account is for --verify (a what-if replays one session)")
        return _verify_all(args)
    if args.session == "all":
        if args.sets or args.out or args.sweep or not args.verify:
            raise UsageError("'all' is for --verify only (a what-if replays one session)")
        return _verify_all(args)
    rc = 0
    with open_store(args, create=False) as store:
        session, broken = _load(store, args.session, past_break=args.verify and not (args.sets or args.out or args.sweep))
        doc: dict[str, object] = {}
        if args.verify:
            vdoc = _verify(store, session, args, broken)
            doc["verify"] = vdoc
            rc = 0 if vdoc["ok"] else 1
        if args.sweep:
            doc["sweep"] = _sweep(store, session, args)
        elif args.sets or args.out:
            doc["what_if"] = _what_if(store, session, args)
    if args.format == "json":
        print(json.dumps(doc if len(doc) > 1 else next(iter(doc.values())), default=str))
    return rc


def _load(store: EventStore, ref: str, *, past_break: bool) -> tuple[Session, ChainBroken | None]:
    """The session named ``ref``; with ``past_break`` (``--verify`` alone) a broken chain is
    reported on stderr and returned instead of raised, and the log is read on past it."""
    from replay.source import load_session

    try:
        return load_session(store, ref), None
    except ChainBroken as exc:
        if not past_break:
            raise
        _read_on(store, exc)
        return load_session(store, ref), exc


def _read_on(store: EventStore, exc: ChainBroken) -> None:
    """Say where the chain breaks, then let the verifier read the whole log past it."""
    store.check_chain = False
    print(f"hedge replay: the event log does not verify at seq {exc.seq}: {exc.problem} "
          "(the decisions are compared anyway; 'hedge verify' names the altered row)", file=sys.stderr)


def _chain_doc(broken: ChainBroken | None) -> dict[str, object]:
    return {"ok": True} if broken is None else {"ok": False, "seq": broken.seq, "problem": broken.problem}


def _verify_all(args: argparse.Namespace) -> int:
    """Verify every session of the log; exit 1 if any decision of any session differs or the chain breaks."""
    from replay.render import verify_text
    from replay.source import load_session
    from replay.verify import ReplayFailed, verify_session

    docs: list[dict[str, object]] = []
    with open_store(args, create=False) as store:
        broken: ChainBroken | None = None
        try:
            infos = store.sessions()
        except ChainBroken as exc:
            broken = exc
            _read_on(store, exc)
            infos = store.sessions()
        if getattr(args, "account", None) and args.session is None:
            from eventlog.accounts import account_index

            acct = account_index(store).get(args.account)
            if acct is None:
                raise LookupError(f"no account {args.account!r} in {store.location} (see 'hedge accounts')")
            ids = set(acct.session_ids)
            infos = [i for i in infos if i.session_id in ids]
        if not infos:
            raise LookupError(f"no sessions in {store.location}")
        for info in infos:
            session = load_session(store, info.session_id)
            try:
                with counter(f"replaying {info.session_id[:8]}", session.events,
                             enabled=args.format == "text" and not args.no_progress) as tick:
                    res = verify_session(store, session, progress=tick)
                doc = res.to_dict(max_diffs=None if args.format == "json" else args.max_diffs)
            except ReplayFailed as exc:
                doc = {"session_id": info.session_id, "ok": False, "error": str(exc)}
            docs.append(doc)
            if args.format == "text":
                print(verify_text(doc, max_diffs=args.max_diffs) if "error" not in doc
                      else f"FAILED: session {info.session_id}: {doc['error']}")
    bad = [d for d in docs if not d["ok"]]
    ok = not bad and broken is None
    if args.format == "json":
        print(json.dumps({"ok": ok, "chain": _chain_doc(broken), "sessions": docs}, default=str))
    else:
        if broken is not None:
            print(f"hash chain: BROKEN at seq {broken.seq}: {broken.problem}")
        print(f"{len(docs)} sessions: {len(docs) - len(bad)} identical, {len(bad)} with differences")
    return 0 if ok else 1


def _verify(store: EventStore, session: Session, args: argparse.Namespace,
            broken: ChainBroken | None = None) -> dict[str, object]:
    from replay.render import verify_text
    from replay.verify import ReplayFailed, verify_session

    try:
        with counter("replaying", session.events, enabled=args.format == "text" and not args.no_progress) as tick:
            res = verify_session(store, session, progress=tick)
    except ReplayFailed as exc:
        print(f"hedge replay: {exc}", file=sys.stderr)
        return {"ok": False, "error": str(exc), "chain": _chain_doc(broken)}
    doc = res.to_dict(max_diffs=None if args.format == "json" else args.max_diffs)
    doc["chain"] = _chain_doc(broken)
    doc["ok"] = doc["ok"] and broken is None
    if args.format == "text":
        print(verify_text(doc, max_diffs=args.max_diffs))
    return doc


def _what_if(store: EventStore, session: Session, args: argparse.Namespace) -> dict[str, object]:
    from replay.compare import comparison_text
    from replay.whatif import run_what_if

    enabled = args.format == "text" and not args.no_progress
    result = run_what_if(store, session, args.sets, out_dir=args.out,
                         progress=lambda label, total: counter(label, total, enabled=enabled))
    doc = result.to_dict()
    if args.format == "text":
        print(comparison_text(doc))
    return doc


def _sweep(store: EventStore, session: Session, args: argparse.Namespace) -> dict[str, object]:
    from replay.compare import sweep_text
    from replay.whatif import run_sweep

    enabled = args.format == "text" and not args.no_progress
    result = run_sweep(store, session, args.sets, args.sweep,
                       progress=lambda label, total: counter(label, total, enabled=enabled))
    doc = result.to_dict()
    if args.format == "text":
        print(sweep_text(doc))
    return doc
