"""``hedge audit``: ask the log in SQL (DuckDB over the Parquet audit tables).

``hedge audit "SQL"`` prints the result (``--format table|csv|json``);
``hedge audit`` alone lists the views and their columns; ``hedge audit --shell``
opens an interactive prompt with the views ready. The tables are maintained by the
projections (``hedge run`` / ``hedge project``; ``hedge rebuild`` recreates them).
Cookbook: ``docs/audit.md``.
"""

from __future__ import annotations

import argparse
import sys


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("sql", nargs="?", help="SQL to run (omit to list the views and columns)")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table",
                   help="table: aligned columns (default); csv; json: a list of objects, JSON columns nested")
    p.add_argument("--shell", action="store_true", help="interactive DuckDB prompt with the views ready")


def run(args: argparse.Namespace) -> int:
    from hedge.cli import UsageError
    from hedge.settings import home as home_of
    from projections.audit_sql import AuditError, connect, describe, query, render, shell

    home = home_of(args)
    if not (home / "audit").is_dir():
        raise UsageError(f"no audit tables in {home / 'audit'}: run 'hedge rebuild' (or hedge run/project) first")
    if args.shell and args.sql:
        raise UsageError("give either SQL or --shell, not both")
    con = connect(home)
    try:
        if args.shell:
            return shell(con, fmt=args.format)
        if not args.sql:
            sys.stdout.write(describe(con))
            return 0
        try:
            cols, rows = query(con, args.sql)
        except AuditError as exc:
            raise UsageError(f"SQL: {exc}") from None
        sys.stdout.write(render(cols, rows, args.format))
        return 0
    finally:
        con.close()
