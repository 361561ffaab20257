"""Audit: time of every cookbook query of ``docs/audit.md`` on the >= 5M-event log's audit
tables (Parquet under ``$HEDGE_HOME/audit``, opened with DuckDB by ``hedge audit``'s own
``projections.audit_sql.connect``/``query``). The queries are extracted from the markdown
exactly as ``tests/integration/test_audit_cookbook.py`` does.

Baseline (same run, interleaved): the floor of one query through the same views -
``SELECT count(*) FROM events`` (view expansion, Parquet footers, no column data).
The machine is shared, so DuckDB gets a memory limit and a query running past
``TIMEOUT_S`` is interrupted and reported as a lower bound (a timed-out query is not
repeated).
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import REPO, Figure
from bench.fixtures import big_log, log_events

COOKBOOK = REPO / "docs" / "audit.md"
FLOOR_SQL = "SELECT count(*) FROM events"
TIMEOUT_S = 30.0  # a query past this is interrupted and reported as "> 30 s"
MEMORY_LIMIT = "4GB"  # the machine is shared: a runaway join must not take all of it


def cookbook(path: Path = COOKBOOK) -> list[tuple[str, str]]:
    """(title, sql) of every SQL block of the cookbook."""
    text = path.read_text()
    return [(m[1].strip(), m[2]) for m in
            re.finditer(r"^### (.+?)\n(?:(?!^### ).)*?```sql\n(.*?)```", text, re.S | re.M)]


def _ensure_audit(home: Path) -> None:
    if not (home / "audit" / "events").is_dir():
        from bench.rebuild import rebuild_subprocess

        rebuild_subprocess(home)


def _time(con: Any, sql: str) -> float:
    """ms of one query through ``hedge audit``'s ``query``; ``inf`` when interrupted."""
    from projections.audit_sql import query

    timer = threading.Timer(TIMEOUT_S, con.interrupt)
    timer.start()
    t = time.perf_counter()
    try:
        query(con, sql)
    except Exception:
        if time.perf_counter() - t >= TIMEOUT_S * 0.99:
            return float("inf")
        raise
    finally:
        timer.cancel()
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
    con.execute(f"SET memory_limit='{MEMORY_LIMIT}'")
    try:
        for _ in range(max(1, repeats)):
            floor = min(floor, _time(con, FLOOR_SQL))
            for title, sql in queries:
                if best[title] != float("-inf"):
                    got = _time(con, sql)
                    best[title] = min(best[title], got) if got != float("inf") else float("-inf")
    finally:
        con.close()
    figs = []
    for title, ms in best.items():
        timed_out = ms == float("-inf")
        figs.append(Figure(
            "audit", title, TIMEOUT_S * 1000.0 if timed_out else ms, "ms", "count(*) over events", floor,
            target="<= 200 ms",
            notes=(f"interrupted after {TIMEOUT_S:.0f} s (value is a lower bound)" if timed_out
                   else f"best of {max(1, repeats)}") + f" on {n:,} events; DuckDB memory_limit {MEMORY_LIMIT}"))
    return figs
