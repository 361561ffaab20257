"""``hedge report``: a session's performance report (every figure defined in docs/report.md).

Short by default (NAV, return, risk ratios, round trips, costs, vetoes, activity);
``--full`` adds the per-symbol and per-month tables; ``--format json`` prints the
whole report as nested JSON; ``--html FILE`` writes the offline tearsheet.
``hedge run`` prints the short report when it ends.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hedge.report_fmt import days, num, pct, usd


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("session", nargs="?", default="last", metavar="SESSION",
                   help="session id, unique prefix or 'last' (default: the newest session)")
    p.add_argument("--from", dest="start", metavar="TIME",
                   help="only events at or after this UTC time (ISO 8601, e.g. 2025-09-01)")
    p.add_argument("--to", dest="end", metavar="TIME", help="only events at or before this UTC time (ISO 8601)")
    p.add_argument("--full", action="store_true", help="add the per-symbol and per-month tables")
    p.add_argument("--account", metavar="NAME", default=None,
                   help="the account whose audit tables hold the session (default: the session's own)")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="text (default) or json (the whole report, nested)")
    p.add_argument("--html", metavar="FILE", help="also write the self-contained HTML tearsheet to FILE")


def _audit_home(store: Any, home: Path, session_id: str, account: str | None) -> Path:
    """The home whose audit tables hold ``session_id`` (its account's, docs/accounts.md)."""
    from eventlog.accounts import account_home, account_index

    if account is None:
        account = next((a.name for a in account_index(store).values() if session_id in a.session_ids), "main")
    return Path(account_home(home, account))


def _time(text: str | None, flag: str) -> datetime | None:
    from hedge.cli import UsageError

    if text is None:
        return None
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{flag}: expected an ISO 8601 time like 2025-09-01 or 2025-09-01T12:00, got {text!r}") from None
    return dt.astimezone(UTC).replace(tzinfo=None) if dt.tzinfo else dt


def run(args: argparse.Namespace) -> int:
    from hedge.cli import UsageError
    from hedge.settings import home as home_of
    from hedge.settings import open_store
    from projections.report import ReportError, build

    home = home_of(args)
    start, end = _time(args.start, "--from"), _time(args.end, "--to")
    with open_store(args, create=False) as store:
        session = store.find_session(args.session)
        home = _audit_home(store, home, session.session_id, getattr(args, "account", None))
        head = store.head()
    if not (home / "audit").is_dir():
        raise UsageError(f"no audit tables in {home / 'audit'}: run 'hedge rebuild' first")
    try:
        rep = build(home, session.session_id, start, end)
    except ReportError as exc:
        raise UsageError(str(exc)) from None
    rep["log_head"] = f"{head[0]}:{head[1]}"
    if args.html:
        from hedge.tearsheet import write_tearsheet

        write_tearsheet(home, rep, Path(args.html))
    if args.format == "json":
        print(json.dumps(rep, indent=2, sort_keys=False))
    else:
        print(render(rep, full=args.full))
        if args.html:
            print(f"tearsheet -> {args.html}")
    return 0


# --------------------------------------------------------------------------- text


def _day(iso: str | None) -> str:
    return "—" if not iso else iso[:16].replace("T", " ")


def render(rep: dict[str, Any], *, full: bool = False) -> str:
    s, w, nav, r, t, c = rep["session"], rep["window"], rep["nav"], rep["risk"], rep["trades"], rep["costs"]
    v, a = rep["vetoes"], rep["activity"]
    short_cagr = " (under 30 days: not annualised)" if nav["cagr"] is None and nav["return_frac"] is not None else ""
    dd_note = ""
    if r["max_dd_frac"]:
        dd_note = f" over {days(r['max_dd_duration_days'])}" + ("" if r["max_dd_recovered"] else ", not recovered")
    gates = ", ".join(f"{g} {n}" for g, n in v["by_gate"].items()) or "none"
    lines = [
        f"report  session {s['session_id'][:8]}  {s['mode']} on {s['venue']}  data {s['data_source'] or '-'}  "
        f"{_day(w['from'])} -> {_day(w['to'])} UTC ({days(w['days'])})",
        f"  NAV       {usd(nav['start_usd'])} -> {usd(nav['end_usd'])} USD  return {pct(nav['return_frac'], sign=True)}  "
        f"CAGR {pct(nav['cagr'], 1, sign=True)}{short_cagr}",
        f"  risk      Sharpe {num(r['sharpe'])}  Sortino {num(r['sortino'])}  Calmar {num(r['calmar'])}  "
        f"max drawdown {pct(r['max_dd_frac'])}{dd_note}",
        f"  trades    {t['round_trips']} round trips ({t['open']} open)  win rate {pct(t['win_rate'], 1)}  "
        f"profit factor {num(t['profit_factor'])}  expectancy {usd(t['expectancy_usd'], True)} USD/trip",
        f"            avg win {usd(t['avg_win_usd'], True)}  avg loss {usd(t['avg_loss_usd'], True)}  "
        f"avg holding {days(t['avg_holding_h'] / 24 if t['avg_holding_h'] is not None else None)}  "
        f"exposure {pct(rep['exposure']['time_frac'], 0)} of the time",
        f"  PnL       net {usd(t['net_pnl_usd'], True)} USD after fees {usd(c['fees_usd'])} and funding "
        f"{usd(c['funding_usd'], True)} ({c['fills']} fills, {c['maker_fills']} maker)",
        f"  vetoes    {v['total']} ({gates})  clamps {v['clamps']}",
        f"  activity  no trade on {a['days_without_trade']} of {a['days']} days; longest without a trade "
        f"{days(a['longest_without_trade_days'])}; last trade {_day(a['last_trade'])} UTC",
    ]
    if not full:
        lines.append("  (hedge report --full: per-symbol and per-month tables; --html FILE: the tearsheet)")
        return "\n".join(lines)
    lines += ["", "  per symbol (PnL of closed round trips; fees and funding of every fill in the window)",
              f"  {'symbol':10} {'trips':>5} {'open':>4} {'win rate':>8} {'net PnL':>12} {'fees':>10} "
              f"{'funding':>9} {'avg hold':>10}"]
    for row in rep["symbols"]:
        hold = days(row["avg_holding_h"] / 24) if row["avg_holding_h"] is not None else "—"
        lines.append(f"  {row['symbol']:10} {row['round_trips']:>5} {row['open']:>4} {pct(row['win_rate'], 1):>8} "
                     f"{usd(row['net_pnl_usd'], True):>12} {usd(row['fees_usd']):>10} "
                     f"{usd(row['funding_usd'], True):>9} {hold:>10}")
    lines += ["", "  per month (return from the previous month's last NAV; trips by exit)",
              f"  {'month':8} {'start NAV':>12} {'end NAV':>12} {'return':>8} {'trips':>5} {'net PnL':>12} "
              f"{'win rate':>8}"]
    for row in rep["months"]:
        lines.append(f"  {row['month']:8} {usd(row['start_nav_usd']):>12} {usd(row['end_nav_usd']):>12} "
                     f"{pct(row['return_frac'], sign=True):>8} {row['round_trips']:>5} "
                     f"{usd(row['net_pnl_usd'], True):>12} {pct(row['win_rate'], 1):>8}")
    lines += ["", f"  config {s['config_hash'][:12]}  log head {rep.get('log_head', '-')}"]
    return "\n".join(lines)


def print_after_run(home: Path, session_id: str, *, full: bool = False, account: str = "main") -> None:
    """The short report at the end of ``hedge run`` (one stderr line when it cannot be built)."""
    from eventlog.accounts import account_home
    from projections.report import ReportError, build

    try:
        rep = build(account_home(home, account), session_id)
    except (ReportError, OSError, ValueError) as exc:
        print(f"hedge run: no report: {exc}", file=sys.stderr)
        return
    print(render(rep, full=full))
