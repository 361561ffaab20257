"""``hedge accounts``: every account in the log - the fund and any backtest books.

Columns: account, mode, venue, sessions, first and last market time, NAV, return
since inception, max drawdown (from the high-water mark, the engine's own rule in
``engine.rules.nav``), open positions, whether an engine holds it now. Folded from
the log (only the event types these figures need), never from state files.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

TYPES = ("SessionStarted", "AccountOpened", "SessionEnded", "NavSnapshot", "PositionSnapshot",
         "VenueReconciled", "KlineClosed")


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=["text", "json"], default="text",
                   help="text: one aligned row per account (default); json: a list of objects")


def summarise(store: Any) -> list[dict[str, Any]]:
    """One summary per account, in the order the accounts were opened."""
    from engine.rules.nav import NavTrack
    from eventlog.account_lock import is_held
    from eventlog.accounts import account_of, fold_accounts
    from eventlog.events import (
        KlineClosed,
        NavSnapshot,
        PositionSnapshot,
        SessionStarted,
        VenueReconciled,
    )

    events = list(store.read(types=TYPES))
    accounts = fold_accounts(events)
    owner: dict[str, str] = {}
    track: dict[str, NavTrack] = {a: NavTrack() for a in accounts}
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    pos: dict[str, dict[str, float]] = {a: {} for a in accounts}
    for ev in events:
        if type(ev) is SessionStarted:
            owner[ev.session_id] = account_of(ev)
            continue
        a = owner.get(ev.session_id)
        if a is None:
            continue
        t = type(ev)
        if t is KlineClosed or t is NavSnapshot:
            first.setdefault(a, ev.ts_event_ns)
            last[a] = max(last.get(a, 0), ev.ts_event_ns)
        if t is NavSnapshot:
            track[a].update(ev.nav_usd, ev.ts_event_ns, ev.sources_ok)  # type: ignore[attr-defined]
        elif t is PositionSnapshot:
            pos[a][ev.symbol] = ev.qty  # type: ignore[attr-defined]
        elif t is VenueReconciled:
            for p in ev.positions:  # type: ignore[attr-defined]
                pos[a][p.symbol] = p.qty
    out = []
    for name, info in accounts.items():
        tr = track[name]
        start = info.starting_capital_usd or tr.start
        nav = tr.last
        out.append({
            "account": name, "mode": info.mode, "venue": info.venue, "sessions": len(info.sessions),
            "first_market_ts": _iso(first.get(name)), "last_market_ts": _iso(last.get(name)),
            "nav_usd": nav, "return_since_inception_frac": (nav / start - 1.0) if nav and start else None,
            "max_drawdown_frac": tr.max_dd, "peak_nav_usd": tr.peak,
            "open_positions": {s: q for s, q in sorted(pos[name].items()) if q},
            "running": is_held(store, name),
        })
    return out


def _iso(ns: int | None) -> str | None:
    if ns is None:
        return None
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%dT%H:%MZ")


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:+.2%}"


def run(args: argparse.Namespace) -> int:
    from hedge.settings import home as home_of
    from hedge.settings import open_store

    home = home_of(args)
    with open_store(args, create=False) as store:
        rows = summarise(store)
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print(f"no accounts in {home} yet: 'hedge run' opens the account 'main' (or --account NAME)")
        return 0
    head = ("account", "mode", "venue", "sessions", "first", "last", "NAV", "return", "max DD", "open positions",
            "running")
    table = [head]
    for r in rows:
        opens = ", ".join(f"{s} {q:g}" for s, q in r["open_positions"].items()) or "none"
        table.append((r["account"], r["mode"], r["venue"], str(r["sessions"]), r["first_market_ts"] or "-",
                      r["last_market_ts"] or "-", f"{r['nav_usd']:,.2f}" if r["nav_usd"] is not None else "-",
                      _pct(r["return_since_inception_frac"]), f"{r['max_drawdown_frac']:.2%}", opens,
                      {True: "yes", False: "no", None: "?"}[r["running"]]))
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    for row in table:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return 0
