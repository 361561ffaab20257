"""DuckDB over the audit Parquet tables: views, queries, output formats, a small shell.

``connect(home)`` returns an in-memory DuckDB connection with one view per audit
table (``events``, ``bars``, ``intents``, ``risk_decisions``, ``plans``, ``orders``,
``fills``, ``fallbacks``, ``nav``) plus the derived ``vetoes`` and ``dd_changes``. A table
with no file yet is an empty view with the right columns. JSON columns
(``payload``, ``thresholds``, ``observations``, ``state_refs``) are typed JSON, so
``observations->>'nav_age_s'`` works. Times (``ts``) are UTC.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import json
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

import duckdb

from projections.audit import SCHEMAS, TABLES

JSON_COLUMNS = {"events": ("payload",), "risk_decisions": ("thresholds", "observations", "state_refs")}
# Round trips. A leg is a fill, or one half of a fill that flips the position (the part
# that closes the old position, then the part that opens the new one). A trip starts at
# a leg from flat and ends at the leg that brings the position back to flat; a position
# already open when the session started is not a trip of that session. Funding belongs
# to a trip when it was applied between its first and last leg (by log seq).
_LEGS = """
WITH f AS (
  SELECT *, CASE side WHEN 'BUY' THEN qty ELSE -qty END AS dq,
         position_qty_after - CASE side WHEN 'BUY' THEN qty ELSE -qty END AS pos_before,
         position_qty_after * (position_qty_after - CASE side WHEN 'BUY' THEN qty ELSE -qty END) < 0 AS flip
  FROM fills
), legs AS (
  SELECT seq, 0 AS leg, session_id, ts, symbol, side, order_id, price, is_maker,
         CASE WHEN flip THEN abs(pos_before) ELSE qty END AS qty,
         CASE WHEN flip THEN fee_usd * abs(pos_before) / qty ELSE fee_usd END AS fee_usd,
         realized_pnl, pos_before, CASE WHEN flip THEN 0.0 ELSE position_qty_after END AS pos_after
  FROM f
  UNION ALL
  SELECT seq, 1, session_id, ts, symbol, side, order_id, price, is_maker, qty - abs(pos_before),
         fee_usd * (qty - abs(pos_before)) / qty, 0.0, 0.0, position_qty_after
  FROM f WHERE flip
), numbered AS (
  SELECT *, abs(pos_after) > abs(pos_before) AS opening,
         sum(CASE WHEN pos_before = 0 THEN 1 ELSE 0 END)
           OVER (PARTITION BY session_id, symbol ORDER BY seq, leg ROWS UNBOUNDED PRECEDING) AS trip
  FROM legs
), trips AS (
  SELECT session_id, symbol, trip,
         CASE WHEN arg_min(pos_after, seq * 2 + leg) > 0 THEN 'long' ELSE 'short' END AS direction,
         min(seq) AS entry_seq, min(ts) AS entry_ts, arg_min(order_id, seq * 2 + leg) AS entry_order_id,
         sum(price * qty) FILTER (WHERE opening) / nullif(sum(qty) FILTER (WHERE opening), 0) AS entry_price,
         coalesce(sum(qty) FILTER (WHERE opening), 0) AS qty,
         arg_max(pos_after, seq * 2 + leg) = 0 AS closed,
         max(seq) AS last_seq, max(ts) AS last_ts, arg_max(order_id, seq * 2 + leg) AS last_order_id,
         sum(price * qty) FILTER (WHERE NOT opening) / nullif(sum(qty) FILTER (WHERE NOT opening), 0) AS exit_price,
         count(*) AS fills, sum(CASE WHEN is_maker THEN 1 ELSE 0 END) AS maker_fills,
         sum(realized_pnl) AS gross_pnl, sum(fee_usd) AS fees_usd
  FROM numbered WHERE trip > 0
  GROUP BY session_id, symbol, trip
), trip_funding AS (
  SELECT t.session_id, t.symbol, t.trip, sum(fu.amount_usd) AS funding_usd
  FROM trips t JOIN funding fu ON fu.session_id = t.session_id AND fu.symbol = t.symbol
   AND fu.seq > t.entry_seq AND (NOT t.closed OR fu.seq < t.last_seq)
  GROUP BY ALL
)
SELECT t.session_id, t.symbol || '#' || t.trip AS trade_id, t.symbol, t.direction,
       CASE WHEN t.closed THEN 'closed' ELSE 'open' END AS status,
       t.qty, t.entry_seq, t.entry_ts, t.entry_order_id, t.entry_price,
       CASE WHEN t.closed THEN t.last_seq END AS exit_seq, CASE WHEN t.closed THEN t.last_ts END AS exit_ts,
       CASE WHEN t.closed THEN t.last_order_id END AS exit_order_id, t.exit_price,
       CASE WHEN t.closed THEN epoch(t.last_ts) - epoch(t.entry_ts) END AS holding_s,
       t.fills, t.maker_fills, t.gross_pnl, t.fees_usd, coalesce(tf.funding_usd, 0.0) AS funding_usd,
       t.gross_pnl - t.fees_usd + coalesce(tf.funding_usd, 0.0) AS net_pnl
FROM trips t LEFT JOIN trip_funding tf USING (session_id, symbol, trip)
"""
DERIVED = {
    "vetoes": "SELECT * FROM risk_decisions WHERE outcome = 'veto'",
    "clamps": "SELECT * FROM risk_decisions WHERE outcome = 'clamp'",
    "funding": (
        "SELECT seq, session_id, ts, payload->>'symbol' AS symbol, (payload->>'rate')::DOUBLE AS rate,"
        " (payload->>'rate')::DOUBLE AS funding_rate,"
        " (payload->>'mark_price')::DOUBLE AS mark_price, (payload->>'position_qty')::DOUBLE AS position_qty,"
        " (payload->>'amount_usd')::DOUBLE AS amount_usd, coalesce(payload->>'source', 'default') AS source,"
        " coalesce((payload->>'funding_time_ms')::BIGINT, 0) AS funding_time_ms"
        " FROM events WHERE type = 'FundingApplied'"
    ),
    "trades": _LEGS,
    "dd_changes": (
        "SELECT seq, session_id, ts, prev_dd_state, dd_state, drawdown_frac, nav_usd FROM ("
        " SELECT *, lag(dd_state) OVER (PARTITION BY session_id ORDER BY seq) AS prev_dd_state FROM nav)"
        " WHERE prev_dd_state IS NOT NULL AND prev_dd_state <> dd_state"
    ),
}
FORMATS = ("table", "csv", "json")


class AuditError(ValueError):
    """A query DuckDB refused (message names the problem)."""


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def connect(home: Path) -> duckdb.DuckDBPyConnection:
    """In-memory DuckDB with the audit views of ``$HEDGE_HOME/audit``."""
    root = Path(home) / "audit"
    con = duckdb.connect(":memory:")
    # DuckDB spills big joins to ``.tmp`` in the working directory by default: keep the
    # auditor's working directory (often the repo) clean, spill to the system temp dir.
    spill = Path(tempfile.gettempdir()) / "gpt-hedge-duckdb"
    con.execute(f"SET temp_directory={_quote(spill)}")
    for t in TABLES:
        d = root / t
        if d.is_dir() and any(d.glob("*.parquet")):
            src = f"read_parquet({_quote(d / '*.parquet')})"
        else:
            con.register(f"_empty_{t}", SCHEMAS[t].empty_table())
            src = f"_empty_{t}"
        cols = JSON_COLUMNS.get(t)
        sel = f"* REPLACE ({', '.join(f'{c}::JSON AS {c}' for c in cols)})" if cols else "*"
        con.execute(f"CREATE VIEW {t} AS SELECT {sel} FROM {src}")
    for name, sql in DERIVED.items():
        con.execute(f"CREATE VIEW {name} AS {sql}")
    return con


def views(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[str, str]]]:
    """view -> [(column, type)] for every audit view."""
    out = {}
    for name in (*TABLES, *DERIVED):
        out[name] = [(r[0], r[1]) for r in con.execute(f"DESCRIBE {name}").fetchall()]
    return out


def query(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """(column names, rows) of one SQL statement; ``AuditError`` with DuckDB's message."""
    try:
        cur = con.execute(sql)
        if cur.description is None:
            return [], []
        desc = cur.description
        cols = [d[0] for d in desc]
        rows = cur.fetchall()
    except duckdb.Error as exc:
        raise AuditError(str(exc).strip()) from None
    # JSON columns arrive as text: parse them, so --format json nests real objects
    js = {i for i, d in enumerate(desc) if str(d[1]).upper() == "JSON"}
    if js:
        rows = [tuple(json.loads(v) if i in js and isinstance(v, str) else v for i, v in enumerate(r))
                for r in rows]
    return cols, rows


def _plain(v: Any) -> Any:
    if isinstance(v, dt.datetime | dt.date | dt.time):
        return v.isoformat()
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, dt.timedelta):
        return v.total_seconds()
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, bytes):
        return v.hex()
    return v


def _cell(v: Any) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, float):
        return f"{v:.10g}"
    v = _plain(v)
    if isinstance(v, list | dict):
        return json.dumps(v, sort_keys=True)
    return str(v)


def render(cols: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str = "table", *, max_width: int = 80) -> str:
    """Rows as an aligned text table, CSV or a JSON array of objects."""
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(cols)
        for r in rows:
            w.writerow(["" if v is None else _cell(v) for v in r])
        return buf.getvalue()
    if fmt == "json":
        return json.dumps([{c: _plain(v) for c, v in zip(cols, r, strict=True)} for r in rows],
                          indent=2, default=str) + "\n"
    if fmt != "table":
        raise AuditError(f"unknown format {fmt!r} (expected one of {', '.join(FORMATS)})")
    cells = [[_cell(v) for v in r] for r in rows]
    cells = [[c if len(c) <= max_width else c[: max_width - 1] + "…" for c in r] for r in cells]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(cols)]
    out = [" | ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)),
           "-+-".join("-" * w for w in widths)]
    out += [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    out.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(out) + "\n"


def describe(con: duckdb.DuckDBPyConnection) -> str:
    """The listing ``hedge audit`` prints with no query: views, row counts and columns."""
    lines = []
    for name, cols in views(con).items():
        n = con.execute(f"SELECT count(*) FROM {name}").fetchone()
        lines.append(f"{name} ({n[0] if n else 0} rows)")
        lines += [f"    {c}  {t}" for c, t in cols]
    return "\n".join(lines) + "\n"


HELP = """Enter SQL ending with ';'. Commands: .tables  .schema VIEW  .format table|csv|json  .help  .quit"""


def shell(con: duckdb.DuckDBPyConnection, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout,
          fmt: str = "table", prompt: Callable[[str], None] | None = None) -> int:
    """A small interactive prompt: SQL statements end with ';', dot-commands for help."""
    interactive = prompt is not None or stdin.isatty()
    say = prompt or (lambda s: (stdout.write(s), stdout.flush()))
    if interactive:
        stdout.write(f"hedge audit shell (DuckDB {duckdb.__version__}). {HELP}\n")
    buf: list[str] = []
    errors = 0
    while True:
        if interactive:
            say("audit> " if not buf else "   ...> ")
        line = stdin.readline()
        if not line:
            break
        text = line.strip()
        if not buf and text.startswith("."):
            parts = text.split()
            cmd = parts[0]
            if cmd in (".quit", ".exit", ".q"):
                break
            if cmd == ".help":
                stdout.write(HELP + "\n")
            elif cmd == ".tables":
                stdout.write("  ".join((*TABLES, *DERIVED)) + "\n")
            elif cmd == ".schema" and len(parts) == 2 and parts[1] in views(con):
                stdout.write("\n".join(f"{c}  {t}" for c, t in views(con)[parts[1]]) + "\n")
            elif cmd == ".format" and len(parts) == 2 and parts[1] in FORMATS:
                fmt = parts[1]
            else:
                stdout.write(f"error: unknown command {text!r}. {HELP}\n")
                errors += 1
            continue
        if not text:
            continue
        buf.append(line)
        if not text.endswith(";"):
            continue
        sql = "".join(buf)
        buf = []
        errors += _run_script(con, sql, fmt, stdout)
    if buf:
        errors += _run_script(con, "".join(buf), fmt, stdout)
    return 1 if errors and not interactive else 0


def _run_script(con: duckdb.DuckDBPyConnection, sql: str, fmt: str, stdout: TextIO) -> int:
    """Run one or more ';'-separated statements, printing each result; returns the errors."""
    try:
        statements = [str(st.query) for st in con.extract_statements(sql)]
    except duckdb.Error as exc:
        stdout.write(f"error: {str(exc).strip()}\n")
        return 1
    errors = 0
    for st in statements:
        try:
            cols, rows = query(con, st)
            if cols:
                stdout.write(render(cols, rows, fmt))
        except AuditError as exc:
            errors += 1
            stdout.write(f"error: {exc}\n")
    return errors
