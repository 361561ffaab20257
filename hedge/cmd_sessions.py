"""``hedge sessions``: the sessions in the log, with what each was and how it did.

Columns: session, mode, venue, data source, start (UTC), bars, fills, PnL (end NAV −
start NAV), return, max drawdown, end (short reason; ``open`` while running). The
figures come from the audit tables (``hedge report`` defines them, docs/report.md);
without them - or when they cannot be read (a damaged Parquet file: a note on stderr
says so and how to restore them) - from the summary recorded in ``SessionEnded``.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from eventlog.store import SessionInfo


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=["text", "json"], default="text",
                   help="text: one aligned row per session (default); json: a list of objects")


def _ts(ns: int | None) -> str:
    if ns is None:
        return "-"
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M")


def short_reason(reason: str | None) -> str:
    """``open`` while running; a long reason (an error with its message) cut to its kind."""
    if not reason:
        return "open"
    if len(reason) <= 16:
        return reason
    head = reason.split(":")[0].strip()
    return (head[:15] if head else reason[:15]) + "…"


def short_data(source: str) -> str:
    if not source:
        return "-"
    return source if len(source) <= 24 else "…" + source[-23:]


def rows(home: Path, sessions: list[SessionInfo]) -> list[dict[str, Any]]:
    import duckdb

    from eventlog.accounts import account_home
    from projections.report import session_figures

    figs: dict[str, dict[str, Any]] = {}
    for account in sorted({s.account for s in sessions} or {"main"}):  # each account's own audit tables
        try:
            figs.update(session_figures(Path(account_home(home, account))))
        except duckdb.Error as exc:  # the audit tables are outputs: a damaged one costs the figures, not the list
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            print(f"hedge sessions: the audit tables cannot be read ({first}); figures from the SessionEnded "
                  "summaries ('hedge rebuild' restores the tables)", file=sys.stderr)
    out = []
    for s in sessions:
        f = figs.get(s.session_id, {})
        summ = s.summary
        start_nav = f.get("start_nav_usd")
        end_nav = f.get("end_nav_usd", summ.get("final_nav_usd"))
        out.append({
            "session_id": s.session_id, "account": s.account, "mode": s.mode, "venue": s.venue, "data_source": s.data_source or None,
            "symbols": s.symbols, "config_hash": s.config_hash,
            "started": _iso(s.started_ns), "ended": _iso(s.ended_ns), "events": s.events,
            "first_seq": s.first_seq, "last_seq": s.last_seq,
            "bars": f.get("bars", summ.get("bars")), "fills": f.get("fills", summ.get("fills")),
            "start_nav_usd": start_nav, "end_nav_usd": end_nav, "pnl_usd": f.get("pnl_usd"),
            "return_frac": f.get("return_frac"), "max_dd_frac": f.get("max_dd_frac", summ.get("max_dd_frac")),
            "end": short_reason(s.end_reason), "end_reason": s.end_reason,
        })
    return out


def _iso(ns: int | None) -> str | None:
    if ns is None:
        return None
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).isoformat().replace("+00:00", "Z")


def _n(x: Any) -> str:
    return "-" if x is None else f"{x:,}"


def _usd(x: Any) -> str:
    return "-" if x is None else f"{x:+,.2f}"


def _pct(x: Any, sign: bool = True) -> str:
    if x is None:
        return "-"
    return f"{x * 100:+.2f}%" if sign else f"{x * 100:.2f}%"


def run(args: argparse.Namespace) -> int:
    from hedge.settings import home as home_of
    from hedge.settings import open_store

    home = home_of(args)
    with open_store(args, create=False) as store:
        sessions = store.sessions()
    table = rows(home, sessions)
    if args.format == "json":
        print(json.dumps(table, indent=2, default=msgspec.to_builtins))
        return 0
    if not table:
        print("no sessions yet: 'hedge run --bars 2000' records a simulated one")
        return 0
    print(f"{'session':8}  {'account':10} {'mode':11} {'venue':7} {'data':24}  {'started (UTC)':16}  {'bars':>9}  {'fills':>6}  "
          f"{'PnL USD':>12}  {'return':>8}  {'max DD':>7}  end")
    for r in table:
        print(f"{r['session_id'][:8]:8}  {r['account'][:10]:10} {r['mode']:11} {r['venue']:7} {short_data(r['data_source'] or ''):24}  "
              f"{_ts_iso(r['started']):16}  {_n(r['bars']):>9}  {_n(r['fills']):>6}  {_usd(r['pnl_usd']):>12}  "
              f"{_pct(r['return_frac']):>8}  {_pct(r['max_dd_frac'], False):>7}  {r['end']}")
    return 0


def _ts_iso(iso: str | None) -> str:
    return "-" if not iso else iso[:16].replace("T", " ")
