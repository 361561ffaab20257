"""Bytes per event on disk, and where they go (issue 20: <= 150 bytes/event).

Measured on the real session log (``session_home``, written by today's code: the compact
layout of ``eventlog.sqlite_keys`` with compact payloads, ``eventlog.compact``): the
SQLite file's pages over the event count, split with SQLite's own ``dbstat`` into the
chain link (32 bytes a row), the stored payload, the row's key columns and record
header, and the b-tree overhead (cell pointers, page headers, free space) of the table
and of every index.

Baseline (same run, same events): the log as it was written before the compact format
- format 1: self-describing msgpack maps with field names, the session id as 32-char
text and the type name per row, the (session, session_seq) primary-key index - built
here with ``layout="v1"`` and the format-1 encoder. On PostgreSQL (when its binaries are
on the machine) the same log is copied with ``hedge migrate`` into a throwaway cluster
and measured with ``pg_total_relation_size``.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.common import REPO, Figure
from bench.fixtures import hedge_argv, log_rows, session_home


def _dbstat(db: Path) -> dict[str, dict[str, int]]:
    """Per table/index: pages bytes, cell payload bytes, unused bytes (SQLite's dbstat)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        got = con.execute("SELECT name, sum(pgsize), sum(payload), sum(unused) FROM dbstat GROUP BY name").fetchall()
    finally:
        con.close()
    return {n: {"pages": int(p), "payload": int(pl), "unused": int(u)} for n, p, pl, u in got}


def breakdown(db: Path) -> dict[str, Any]:
    """Where the bytes of an SQLite log go, per event."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        n = int(con.execute("SELECT count(*) FROM stored_events").fetchone()[0])
        state = int(con.execute("SELECT sum(length(state)) FROM stored_events").fetchone()[0])
        per_type: dict[Any, list[int]] = defaultdict(lambda: [0, 0])
        for topic, c, s in con.execute("SELECT topic, count(*), sum(length(state)) - 32 * count(*) "
                                       "FROM stored_events GROUP BY topic"):
            per_type[topic] = [int(c), int(s)]
        pages = int(con.execute("PRAGMA page_count").fetchone()[0]) * int(con.execute("PRAGMA page_size").fetchone()[0])
    finally:
        con.close()
    stat = _dbstat(db)
    table = stat.get("stored_events", {"pages": 0, "payload": 0, "unused": 0})
    index = sum(v["pages"] for k, v in stat.items() if k.startswith("sqlite_autoindex_stored_events"))
    other = pages - table["pages"] - index
    from eventlog.typecodes import TYPE_NAMES

    types = {TYPE_NAMES.get(t, t) if isinstance(t, int) else t: v for t, v in per_type.items()}
    top = sorted(types.items(), key=lambda kv: -kv[1][0])[:4]
    return {
        "events": n,
        "file_per_event": pages / n,
        "chain_link": 32.0,
        "payload": (state - 32 * n) / n,
        "row_key_and_record_header": (table["payload"] - state) / n,
        "table_btree_overhead": (table["pages"] - table["payload"]) / n,
        "session_index": index / n,
        "other_tables": other / n,
        "payload_by_type": {t: round(s / c, 1) for t, (c, s) in types.items()},
        "top_types": ", ".join(f"{t} {c / n:.0%} ({s / c:.0f} B)" for t, (c, s) in top),
    }


def _format1_copy(src: Path, dst: Path) -> Path:
    """The same events in format 1 (the layout and payloads before the compact format)."""
    from eventlog.codec import decode, encode_map
    from eventlog.sqlite_backend import ChainedSQLiteRecorder
    from eventlog.store import EventStore

    shutil.rmtree(dst, ignore_errors=True)
    dst.mkdir(parents=True)
    rec = ChainedSQLiteRecorder(str(dst / "eventlog.sqlite"), layout="v1")
    rec.create_table()
    with EventStore(rec, str(dst)) as store:
        for rows in log_rows(src):
            store.recorder.insert_rows([(r[1], r[2], r[3], encode_map(decode(r[4][32:]))) for r in rows])
    con = sqlite3.connect(dst / "eventlog.sqlite")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return dst / "eventlog.sqlite"


def _postgres_bytes(home: Path) -> dict[str, float] | None:
    """Bytes per event of ``home``'s log copied into a throwaway PostgreSQL cluster (None without one)."""
    if not (shutil.which("initdb") or Path("/usr/lib/postgresql").exists()) or os.geteuid() != 0:
        return None
    bins = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    if not bins:
        return None
    b = bins[-1]
    d = Path(tempfile.mkdtemp(prefix="hedge-bench-pg-"))
    os.chmod(d, 0o777)
    data, port = d / "data", 55_000 + os.getpid() % 5000
    run = ["runuser", "-u", "postgres", "--"]
    try:
        subprocess.run([*run, str(b / "initdb"), "-D", str(data), "-A", "trust"], check=True, capture_output=True)
        subprocess.run([*run, str(b / "pg_ctl"), "-D", str(data), "-o", f"-p {port} -k {d}", "-w", "start",
                        "-l", str(d / "log")], check=True, capture_output=True)
        url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        out = subprocess.run([*hedge_argv(), "migrate", "--from", str(home / "eventlog.sqlite"), "--to", url], cwd=REPO,
                             capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"hedge migrate failed: {out.stdout[-800:]} {out.stderr[-800:]}")
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True) as con:
            con.execute("VACUUM ANALYZE stored_events")
            n, total, heap = con.execute(
                "SELECT count(*), pg_total_relation_size('stored_events'), pg_relation_size('stored_events') "
                "FROM stored_events").fetchone()
        return {"events": n, "per_event": total / n, "heap_per_event": heap / n,
                "indexes_per_event": (total - heap) / n}
    finally:
        subprocess.run([*run, str(b / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(d, ignore_errors=True)


def run(scale: float = 1.0, repeats: int = 1) -> list[Figure]:
    del repeats  # a size, not a timing
    home = session_home(scale)
    db = home / "eventlog.sqlite"
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    now = breakdown(db)
    with tempfile.TemporaryDirectory(prefix="hedge-bench-bytes-") as tmp:
        before = breakdown(_format1_copy(home, Path(tmp) / "v1"))
    notes = (f"{now['events']:,} events ({now['top_types']}); per event: link 32, payload {now['payload']:.0f}, "
             f"row key + record header {now['row_key_and_record_header']:.0f}, table b-tree "
             f"{now['table_btree_overhead']:.0f}, session index {now['session_index']:.0f}; format 1 had payload "
             f"{before['payload']:.0f}, key columns + header {before['row_key_and_record_header']:.0f}, "
             f"b-tree {before['table_btree_overhead']:.0f}, primary-key index {before['session_index']:.0f}")
    figs = [Figure("bytes", "SQLite bytes per event on disk (compact format)", now["file_per_event"], "B/event",
                   "the same events in format 1", before["file_per_event"], target="<= 150 B/event",
                   notes=notes, extra={"now": now, "format1": before})]
    pg = _postgres_bytes(home)
    if pg is not None:
        figs.append(Figure("bytes", "PostgreSQL bytes per event (table + indexes)", pg["per_event"], "B/event",
                           "SQLite, same log", now["file_per_event"], target="<= 150 B/event",
                           notes=f"heap {pg['heap_per_event']:.0f} B/event, indexes {pg['indexes_per_event']:.0f}",
                           extra=pg))
    return figs
