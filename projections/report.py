"""The backtest/session report: every figure of ``docs/report.md``, in polars over the audit tables.

``build(home, session_id, start, end)`` reads the audit views (``nav``, ``trades``,
``fills``, ``funding``, ``risk_decisions``, ``events``) through DuckDB into polars
frames and returns one plain dict (JSON-ready: numbers, strings, lists, nested
dicts; ``None`` where a figure does not exist, e.g. a win rate without a closed
trade). Each figure is defined once, in ``docs/report.md``; the round trip is the
``trades`` view's (``projections/audit_sql.py``); Sharpe and Sortino are ``engine.rules.perf``'s.
Pure: the same audit tables give the same dict.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from engine.rules.perf import sharpe, sortino
from projections.audit_sql import connect

DAY_S = 86_400.0
MIN_CAGR_DAYS = 30.0  # annualising a shorter window is noise: CAGR and Calmar are None below it


class ReportError(LookupError):
    """Nothing to report (no session, audit tables behind the log): the message says how to fix it."""


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> tuple[Any, ...] | None:
    rows = con.execute(sql, params).fetchall()
    return rows[0] if rows else None


def _frame(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> pl.DataFrame:
    return con.sql(sql, params=params).pl()


def _iso(ts: datetime | None) -> str | None:
    return None if ts is None else ts.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")


def _num(x: Any) -> float:
    """A polars scalar (sum/mean/max, maybe None) as a float."""
    return 0.0 if x is None else float(x)


def _f(x: Any, nd: int = 8) -> float | None:
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else round(x, nd)


def build(home: Path, session_id: str, start: datetime | None = None, end: datetime | None = None) -> dict[str, Any]:
    """The report of one session (optionally restricted to ``[start, end]``, naive UTC)."""
    con = connect(home)
    try:
        return _build(con, session_id, start, end)
    finally:
        con.close()


def _where(start: datetime | None, end: datetime | None, col: str = "ts") -> tuple[str, list[Any]]:
    sql, params = "", []
    if start is not None:
        sql += f" AND {col} >= ?"
        params.append(start)
    if end is not None:
        sql += f" AND {col} <= ?"
        params.append(end)
    return sql, params


def _build(con: duckdb.DuckDBPyConnection, sid: str, start: datetime | None, end: datetime | None) -> dict[str, Any]:
    w, wp = _where(start, end)
    head = _one(con, "SELECT payload FROM events WHERE session_id = ? AND type = 'SessionStarted'", [sid])
    if head is None:
        raise ReportError(f"session {sid} is not in the audit tables yet: run 'hedge rebuild' "
                          "(or let 'hedge run'/'hedge project' catch up)")
    import json

    started = json.loads(head[0])
    ended_row = _one(con, "SELECT payload, ts FROM events WHERE session_id = ? AND type = 'SessionEnded'", [sid])
    span = _one(con, f"SELECT min(ts), max(ts), max(seq) FROM events WHERE session_id = ?{w}", [sid, *wp])
    assert span is not None
    t0, t1 = span[0], span[1]
    nav = _frame(con, f"SELECT ts, nav_usd FROM nav WHERE session_id = ? AND sources_ok{w} ORDER BY seq",
                 [sid, *wp])
    tw, twp = _where(start, end, "coalesce(exit_ts, entry_ts)")
    trades = _frame(con, f"SELECT * FROM trades WHERE session_id = ?{tw} ORDER BY entry_seq", [sid, *twp])
    fills = _frame(con, f"SELECT ts, symbol, fee_usd, is_maker, notional_usd FROM fills WHERE session_id = ?{w}",
                   [sid, *wp])
    funding = _frame(con, f"SELECT ts, symbol, amount_usd FROM funding WHERE session_id = ?{w}", [sid, *wp])
    decisions = _frame(con, f"SELECT ts, outcome, gate FROM risk_decisions WHERE session_id = ?{w}", [sid, *wp])
    window_s = (t1 - t0).total_seconds() if t0 is not None and t1 is not None else 0.0

    out: dict[str, Any] = {
        "session": {
            "session_id": sid, "mode": started.get("mode"), "venue": started.get("venue"),
            "data_source": started.get("data_source") or None, "symbols": started.get("symbols", []),
            "config_hash": started.get("config_hash"), "started": _iso(started_ts(con, sid)),
            "ended": _iso(ended_row[1]) if ended_row else None,
            "end_reason": json.loads(ended_row[0]).get("reason") if ended_row else None,
        },
        "window": {"from": _iso(t0), "to": _iso(t1), "days": _f(window_s / DAY_S, 4), "last_seq": span[2]},
    }
    out["nav"], nav_hourly = _nav(nav, window_s)
    out["risk"] = _risk(nav, nav_hourly, out["nav"])
    closed = trades.filter(pl.col("status") == "closed")
    out["trades"] = _trades(trades, closed)
    out["costs"] = {
        "fees_usd": _f(fills["fee_usd"].sum(), 6), "funding_usd": _f(funding["amount_usd"].sum(), 6),
        "fills": fills.height, "maker_fills": int(fills["is_maker"].sum()),
        "traded_notional_usd": _f(fills["notional_usd"].sum(), 2),
    }
    out["exposure"] = {"time_frac": _exposure(trades, t0, t1)}
    out["activity"] = _activity(fills, t0, t1)
    vetoes = decisions.filter(pl.col("outcome") == "veto")
    by_gate = vetoes.group_by("gate").len().sort(["len", "gate"], descending=[True, False])
    out["vetoes"] = {
        "total": vetoes.height, "clamps": decisions.filter(pl.col("outcome") == "clamp").height,
        "decisions": decisions.height,
        "by_gate": {str(r["gate"]): int(r["len"]) for r in by_gate.iter_rows(named=True)},
    }
    out["symbols"] = _per_symbol(trades, closed, fills, funding)
    out["months"] = _per_month(nav, closed)
    return out


def started_ts(con: duckdb.DuckDBPyConnection, sid: str) -> datetime | None:
    row = _one(con, "SELECT min(ts) FROM events WHERE session_id = ?", [sid])
    return row[0] if row else None


def _nav(nav: pl.DataFrame, window_s: float) -> tuple[dict[str, Any], list[float]]:
    if nav.is_empty():
        return {"start_usd": None, "end_usd": None, "peak_usd": None, "return_frac": None, "cagr": None,
                "readings": 0}, []
    first, last = float(nav["nav_usd"][0]), float(nav["nav_usd"][-1])
    days = (nav["ts"][-1] - nav["ts"][0]).total_seconds() / DAY_S
    ret = last / first - 1.0 if first > 0 else None
    cagr = None
    if ret is not None and days >= MIN_CAGR_DAYS and last > 0:
        cagr = (last / first) ** (365.0 / days) - 1.0
    hourly = (nav.sort("ts").group_by_dynamic("ts", every="1h", label="left")
              .agg(pl.col("nav_usd").last())["nav_usd"].to_list())
    return {"start_usd": _f(first, 6), "end_usd": _f(last, 6), "peak_usd": _f(nav["nav_usd"].max(), 6),
            "return_frac": _f(ret), "cagr": _f(cagr), "readings": nav.height}, hourly


def drawdowns(nav: pl.DataFrame) -> pl.DataFrame:
    """One row per drawdown episode (peak to recovery): start, end, depth, recovered."""
    if nav.is_empty():
        return pl.DataFrame(schema={"start": pl.Datetime, "end": pl.Datetime, "depth": pl.Float64,
                                    "recovered": pl.Boolean, "duration_s": pl.Float64})
    d = nav.with_columns(peak=pl.col("nav_usd").cum_max())
    d = d.with_columns(dd=1.0 - pl.col("nav_usd") / pl.col("peak"),
                       episode=(pl.col("nav_usd") >= pl.col("peak")).cast(pl.Int64).cum_sum())
    eps = d.group_by("episode", maintain_order=True).agg(start=pl.col("ts").first(), depth=pl.col("dd").max())
    eps = eps.with_columns(end=pl.col("start").shift(-1), recovered=pl.col("start").shift(-1).is_not_null())
    eps = eps.with_columns(end=pl.col("end").fill_null(d["ts"][-1])).filter(pl.col("depth") > 0)
    return eps.with_columns(duration_s=(pl.col("end") - pl.col("start")).dt.total_seconds().cast(pl.Float64))


def _risk(nav: pl.DataFrame, hourly: list[float], navd: dict[str, Any]) -> dict[str, Any]:
    eps = drawdowns(nav)
    out: dict[str, Any] = {"sharpe": _f(sharpe(hourly), 6), "sortino": _f(sortino(hourly), 6),
                           "max_dd_frac": 0.0 if not nav.is_empty() else None, "max_dd_start": None,
                           "max_dd_end": None, "max_dd_duration_days": None, "max_dd_recovered": None,
                           "longest_dd_days": None, "calmar": None}
    if not eps.is_empty():
        worst = eps.sort(["depth", "start"], descending=[True, False]).row(0, named=True)
        out.update(max_dd_frac=_f(worst["depth"]), max_dd_start=_iso(worst["start"]), max_dd_end=_iso(worst["end"]),
                   max_dd_duration_days=_f(worst["duration_s"] / DAY_S, 4), max_dd_recovered=worst["recovered"],
                   longest_dd_days=_f(_num(eps["duration_s"].max()) / DAY_S, 4))
        if navd["cagr"] is not None and worst["depth"] > 0:
            out["calmar"] = _f(navd["cagr"] / worst["depth"], 6)
    return out


def _trades(trades: pl.DataFrame, closed: pl.DataFrame) -> dict[str, Any]:
    net = closed["net_pnl"]
    wins, losses = closed.filter(pl.col("net_pnl") > 0), closed.filter(pl.col("net_pnl") < 0)
    gain, loss = _num(wins["net_pnl"].sum()), _num(losses["net_pnl"].sum())
    n = closed.height
    return {
        "round_trips": n, "open": trades.height - n, "wins": wins.height, "losses": losses.height,
        "win_rate": _f(wins.height / n) if n else None,
        "profit_factor": _f(gain / -loss, 6) if loss < 0 else None,
        "avg_win_usd": _f(wins["net_pnl"].mean(), 6) if wins.height else None,
        "avg_loss_usd": _f(losses["net_pnl"].mean(), 6) if losses.height else None,
        "expectancy_usd": _f(net.mean(), 6) if n else None,
        "gross_pnl_usd": _f(closed["gross_pnl"].sum(), 6), "net_pnl_usd": _f(net.sum(), 6),
        "best_usd": _f(net.max(), 6) if n else None, "worst_usd": _f(net.min(), 6) if n else None,
        "avg_holding_h": _f(_num(closed["holding_s"].mean()) / 3600.0, 4) if n else None,
        "long": closed.filter(pl.col("direction") == "long").height,
        "short": closed.filter(pl.col("direction") == "short").height,
    }


def _exposure(trades: pl.DataFrame, t0: datetime | None, t1: datetime | None) -> float | None:
    """Share of the window with at least one position open (trip intervals merged across symbols)."""
    if t0 is None or t1 is None or t1 <= t0:
        return None
    if trades.is_empty():
        return 0.0
    iv = (trades.select(s=pl.col("entry_ts").clip(t0, t1), e=pl.col("exit_ts").fill_null(t1).clip(t0, t1))
          .sort("s"))
    iv = iv.with_columns(prev_end=pl.col("e").cum_max().shift(1))
    iv = iv.with_columns(grp=(pl.col("prev_end").is_null() | (pl.col("s") > pl.col("prev_end"))).cum_sum())
    merged = iv.group_by("grp").agg(s=pl.col("s").min(), e=pl.col("e").max())
    held = _num((merged["e"] - merged["s"]).dt.total_seconds().sum())
    return _f(held / (t1 - t0).total_seconds(), 6)


def _activity(fills: pl.DataFrame, t0: datetime | None, t1: datetime | None) -> dict[str, Any]:
    if t0 is None or t1 is None:
        return {"days": 0, "days_without_trade": None, "longest_without_trade_days": None, "last_trade": None}
    days = pl.date_range(t0.date(), t1.date(), "1d", eager=True)
    traded = set(fills["ts"].dt.date().unique().to_list()) if fills.height else set()
    ts = fills["ts"].sort()
    stamps = pl.concat([pl.Series([t0], dtype=ts.dtype), ts, pl.Series([t1], dtype=ts.dtype)])
    gaps = stamps.diff().drop_nulls().dt.total_seconds()
    last: Any = fills["ts"].max() if fills.height else None
    return {
        "days": days.len(), "days_without_trade": sum(1 for d in days.to_list() if d not in traded),
        "longest_without_trade_days": _f(_num(gaps.max()) / DAY_S, 4),
        "last_trade": _iso(last),
        "since_last_trade_days": _f((t1 - last).total_seconds() / DAY_S, 4) if last is not None else None,
    }


def _per_symbol(trades: pl.DataFrame, closed: pl.DataFrame, fills: pl.DataFrame,
                funding: pl.DataFrame) -> list[dict[str, Any]]:
    syms = sorted(set(fills["symbol"].to_list()) | set(trades["symbol"].to_list()))
    out = []
    for s in syms:
        c = closed.filter(pl.col("symbol") == s)
        f = fills.filter(pl.col("symbol") == s)
        n = c.height
        out.append({
            "symbol": s, "round_trips": n, "open": trades.filter(pl.col("symbol") == s).height - n,
            "win_rate": _f(c.filter(pl.col("net_pnl") > 0).height / n) if n else None,
            "gross_pnl_usd": _f(c["gross_pnl"].sum(), 6), "net_pnl_usd": _f(c["net_pnl"].sum(), 6),
            "fees_usd": _f(f["fee_usd"].sum(), 6),
            "funding_usd": _f(funding.filter(pl.col("symbol") == s)["amount_usd"].sum(), 6),
            "fills": f.height, "avg_holding_h": _f(_num(c["holding_s"].mean()) / 3600.0, 4) if n else None,
        })
    return out


def _per_month(nav: pl.DataFrame, closed: pl.DataFrame) -> list[dict[str, Any]]:
    if nav.is_empty():
        return []
    m = (nav.with_columns(month=pl.col("ts").dt.truncate("1mo"))
         .group_by("month", maintain_order=True).agg(first=pl.col("nav_usd").first(), last=pl.col("nav_usd").last()))
    m = m.with_columns(base=pl.col("last").shift(1).fill_null(pl.col("first")))
    t = (closed.with_columns(month=pl.col("exit_ts").dt.truncate("1mo"))
         .group_by("month").agg(n=pl.len(), net=pl.col("net_pnl").sum(), wins=(pl.col("net_pnl") > 0).sum()))
    m = m.join(t, on="month", how="left").sort("month")
    return [{
        "month": r["month"].strftime("%Y-%m"), "start_nav_usd": _f(r["base"], 6), "end_nav_usd": _f(r["last"], 6),
        "return_frac": _f(r["last"] / r["base"] - 1.0) if r["base"] else None,
        "round_trips": int(r["n"] or 0), "net_pnl_usd": _f(r["net"] or 0.0, 6),
        "win_rate": _f((r["wins"] or 0) / r["n"]) if r["n"] else None,
    } for r in m.iter_rows(named=True)]


def session_figures(home: Path) -> dict[str, dict[str, Any]]:
    """Per session, from the audit tables: start/end NAV, PnL, return, max drawdown, bars, fills.

    ``{}`` when there are no audit tables yet (``hedge sessions`` then falls back to the
    summaries in ``SessionEnded``). The drawdown is the report's (peak-to-trough of the
    session's NAV readings with ``sources_ok``); PnL is end NAV − start NAV.
    """
    if not (Path(home) / "audit").is_dir():
        return {}
    con = connect(home)
    try:
        nav = con.sql("SELECT session_id, seq, nav_usd FROM nav WHERE sources_ok ORDER BY session_id, seq").pl()
        bars = dict(con.execute("SELECT session_id, count(*) FROM bars GROUP BY 1").fetchall())
        fills = dict(con.execute("SELECT session_id, count(*) FROM fills GROUP BY 1").fetchall())
    finally:
        con.close()
    per = (nav.with_columns(peak=pl.col("nav_usd").cum_max().over("session_id"))
           .group_by("session_id").agg(start=pl.col("nav_usd").first(), end=pl.col("nav_usd").last(),
                                       dd=(1.0 - pl.col("nav_usd") / pl.col("peak")).max()))
    out: dict[str, dict[str, Any]] = {}
    for r in per.iter_rows(named=True):
        start, end = r["start"], r["end"]
        out[r["session_id"]] = {
            "start_nav_usd": _f(start, 6), "end_nav_usd": _f(end, 6), "pnl_usd": _f(end - start, 6),
            "return_frac": _f(end / start - 1.0) if start else None, "max_dd_frac": _f(r["dd"]),
        }
    for sid in set(bars) | set(fills):
        out.setdefault(sid, {}).update(bars=int(bars.get(sid, 0)), fills=int(fills.get(sid, 0)))
    return out
