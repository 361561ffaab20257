"""Audit: time of every cookbook query of ``docs/audit.md`` on the >= 5M-event log's audit
tables (Parquet under ``$HEDGE_HOME/audit``, opened with DuckDB by ``hedge audit``'s own
``projections.audit_sql.connect``/``query``). The queries are extracted from the markdown
exactly as ``tests/integration/test_audit_cookbook.py`` does.

Baseline (same run, interleaved): the floor of one query through the same views -
``SELECT count(*) FROM events`` (view expansion, Parquet footers, no column data).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from bench.common import REPO, Figure
from bench.fixtures import big_log, log_events

COOKBOOK = REPO / "docs" / "audit.md"
FLOOR_SQL = "SELECT count(*) FROM events"


def cookbook(path: Path = COOKBOOK) -> list[tuple[str, str]]:
    """(title, sql) of every SQL block of the cookbook."""
    text = path.read_text()
    return [(m[1].strip(), m[2]) for m in
            re.finditer(r"^### (.+?)\n(?:(?!^### ).)*?```sql\n(.*?)```", text, re.S | re.M)]


def _ensure_audit(home: Path) -> None:
    if not (home / "audit" / "events").is_dir():
        from bench.rebuild import rebuild_subprocess

        rebuild_subprocess(home)


def _time(con: object, sql: str) -> float:
    from projections.audit_sql import query

    t = time.perf_counter()
    query(con, sql)  # type: ignore[arg-type]
    return (time.perf_counter() - t) * 1000.0


def run(scale: float = 1.0, repeats: int = 3) -> list[Figure]:
    from projections.audit_sql import connect

    _small, home = big_log(scale)
    _ensure_audit(home)
    n = log_events(home)
    queries = cookbook()
    best = {title: float("inf") for title, _ in queries}
    floor = float("inf")
    con = connect(home)
    try:
        for _ in range(max(1, repeats)):
            floor = min(floor, _time(con, FLOOR_SQL))
            for title, sql in queries:
                best[title] = min(best[title], _time(con, sql))
    finally:
        con.close()
    return [Figure("audit", title, ms, "ms", "count(*) over events", floor, target="<= 200 ms",
                   notes=f"best of {max(1, repeats)} on {n:,} events") for title, ms in best.items()]
