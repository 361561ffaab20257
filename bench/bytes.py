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
on the machine) the same log is copied with ``hedge migrate`` into a throwaway cluster,
once per layout (the compact ``eventlog.pg_compact`` and the eventsourcing table), and
measured with ``pg_total_relation_size`` (tables, TOAST, indexes); then the session's
events are written into and read back from each layout alternately (events/s, wall and
this process's CPU).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.common import REPO, Figure
from bench.fixtures import hedge_argv, log_rows, run_session_argv, session_home


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


def _pg_size(con: Any, layout: str) -> dict[str, float]:
    """Bytes per event of one database's log (tables with their TOAST and indexes)."""
    if layout == "v1":
        con.execute("VACUUM ANALYZE stored_events")
        n, total, heap = con.execute(
            "SELECT count(*), pg_total_relation_size('stored_events'), pg_relation_size('stored_events') "
            "FROM stored_events").fetchone()
        return {"events": n, "per_event": total / n, "heap_per_event": heap / n,
                "indexes_per_event": (total - heap) / n, **_stattuple(con, "stored_events", n)}
    for t in ("event_blocks", "log_sessions", "log_format"):
        con.execute(f"VACUUM ANALYZE {t}")
    n, blocks, raw, stored = con.execute(
        "SELECT sum(events), count(*), sum(octet_length(body)), sum(pg_column_size(body)) FROM event_blocks").fetchone()
    total = con.execute("SELECT pg_total_relation_size('event_blocks') + pg_total_relation_size('log_sessions') "
                        "+ pg_total_relation_size('log_format')").fetchone()[0]
    heap, toast = con.execute(
        "SELECT pg_relation_size(c.oid), COALESCE(pg_total_relation_size(NULLIF(c.reltoastrelid, 0)), 0) "
        "FROM pg_class c WHERE c.relname = 'event_blocks'").fetchone()
    codec = con.execute("SELECT attcompression FROM pg_attribute WHERE attrelid = 'event_blocks'::regclass "
                        "AND attname = 'body'").fetchone()[0]
    n = int(n)
    return {"events": n, "per_event": total / n, "blocks": int(blocks), "events_per_block": n / int(blocks),
            "body_raw_per_event": int(raw) / n, "body_stored_per_event": int(stored) / n,
            "heap_per_event": heap / n, "toast_per_event": toast / n,
            "indexes_and_small_tables_per_event": (total - heap - toast) / n,
            "compression": {"l": "lz4", "p": "pglz"}.get(codec, "default"),
            **_stattuple(con, "event_blocks", n)}


def _stattuple(con: Any, table: str, n: int) -> dict[str, float]:
    """``pgstattuple`` of the heap per event: tuple bytes (header + columns as stored inline),
    free space, and the rest (line pointers, page headers); {} where the extension is missing."""
    try:
        con.execute("CREATE EXTENSION IF NOT EXISTS pgstattuple")
        size, tuples, free = con.execute(
            f"SELECT table_len, tuple_len, free_space FROM pgstattuple('{table}')").fetchone()
    except Exception:  # the contrib package is not installed: the sizes above still stand
        return {}
    return {"stattuple_tuple_per_event": tuples / n, "stattuple_free_per_event": free / n,
            "stattuple_other_per_event": (size - tuples - free) / n}


def _pg_throughput(url: str, layout: str, rows: list[list[tuple[int, str, int, str, bytes]]]) -> dict[str, float]:
    """Write the session's events (batches of 4096, as the writer's group commit) into a new
    log of ``layout``, then read them back in order (chain checked, decoded): events/s, wall and
    this process's CPU (the server's own CPU is not in it)."""
    import resource

    from eventlog.store import EventStore

    def cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    payloads = [(r[1], r[2], r[3], r[4][32:]) for batch in rows for r in batch]
    n = len(payloads)
    with EventStore.open(url=url, layout=layout) as store:
        w0, c0 = time.perf_counter(), cpu()
        for i in range(0, n, 4096):
            store.recorder.insert_rows(payloads[i: i + 4096])
        w1, c1 = time.perf_counter(), cpu()
    with EventStore.open(url=url, create=False) as store:
        w2, c2 = time.perf_counter(), cpu()
        got = sum(len(b) for b in store.read_batches())
        w3, c3 = time.perf_counter(), cpu()
    assert got == n, (got, n)
    return {"write_ev_s": n / (w1 - w0), "write_ev_cpu_s": n / (c1 - c0), "read_ev_s": n / (w3 - w2),
            "read_ev_cpu_s": n / (c3 - c2)}


def _pg_by_batch(admin: Any, port: int, rows: list[list[tuple[int, str, int, str, bytes]]],
                 n: int = 8192) -> dict[int, float]:
    """Bytes per event of ``event_blocks`` (heap, TOAST, key index) when the session's first ``n``
    events are committed in batches of 1, 16, 256, 4096 (a live loop commits a few events at a
    time, a run over history thousands; each commit is one row)."""
    import psycopg

    from eventlog.store import EventStore

    payloads = [(r[1], r[2], r[3], r[4][32:]) for batch in rows for r in batch][:n]
    out: dict[int, float] = {}
    for size in (1, 16, 256, 4096):
        name = f"batch_{size}"
        admin.execute(f"CREATE DATABASE {name}")
        with EventStore.open(url=f"postgresql://postgres@127.0.0.1:{port}/{name}") as store:
            for i in range(0, len(payloads), size):
                store.recorder.insert_rows(payloads[i: i + size])
        with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname=name, autocommit=True) as con:
            con.execute("VACUUM ANALYZE event_blocks")
            got = con.execute("SELECT pg_total_relation_size('event_blocks')").fetchone()
            out[size] = (got[0] if got else 0) / len(payloads)
        admin.execute(f"DROP DATABASE {name}")
    return out


def _pg_run(admin: Any, port: int, scale: float, tmp: Path) -> dict[str, float]:
    """Bytes per event of the same ``hedge run --speed max`` written straight into PostgreSQL
    (``HEDGE_STORE_URL``): the blocks are the writer's own group-commit batches."""
    import psycopg

    admin.execute("CREATE DATABASE run_direct")
    got = subprocess.run(run_session_argv(tmp / "run-home", scale, projections=False), cwd=REPO,
                         capture_output=True, text=True, check=False,
                         env={**os.environ, "HEDGE_STORE_URL": f"postgresql://postgres@127.0.0.1:{port}/run_direct"})
    if got.returncode != 0:
        raise RuntimeError(f"hedge run on PostgreSQL failed: {got.stderr[-800:]}")
    with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="run_direct", autocommit=True) as con:
        return _pg_size(con, "compact")


def _postgres(home: Path, repeats: int, scale: float) -> dict[str, Any] | None:
    """``home``'s log copied with ``hedge migrate`` into both PostgreSQL layouts of a throwaway
    cluster: bytes per event of each; then write/read throughput of each, interleaved (None
    without the server's binaries)."""
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
        import psycopg

        admin = psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True)
        out: dict[str, Any] = {}
        for layout in ("compact", "v1"):
            admin.execute(f"CREATE DATABASE size_{layout}")
            url = f"postgresql://postgres@127.0.0.1:{port}/size_{layout}"
            got = subprocess.run([*hedge_argv(), "migrate", "--from", str(home / "eventlog.sqlite"), "--to", url],
                                 cwd=REPO, capture_output=True, text=True, check=False,
                                 env={**os.environ, "HEDGE_LOG_LAYOUT": layout})
            if got.returncode != 0:
                raise RuntimeError(f"hedge migrate failed: {got.stdout[-800:]} {got.stderr[-800:]}")
            with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname=f"size_{layout}",
                                 autocommit=True) as con:
                out[layout] = _pg_size(con, layout)
        rows = list(log_rows(home))
        out["compact"]["by_batch"] = _pg_by_batch(admin, port, rows)
        out["compact"]["run"] = _pg_run(admin, port, scale, d)
        speed: dict[str, list[dict[str, float]]] = {"compact": [], "v1": []}
        for k in range(max(1, repeats)):
            for layout in ("v1", "compact"):  # old and new alternately
                name = f"speed_{layout}_{k}"
                admin.execute(f"CREATE DATABASE {name}")
                speed[layout].append(_pg_throughput(f"postgresql://postgres@127.0.0.1:{port}/{name}", layout, rows))
                admin.execute(f"DROP DATABASE {name}")
        for layout, runs in speed.items():
            out[layout]["speed"] = {key: max(r[key] for r in runs) for key in runs[0]}
        admin.close()
        return out
    finally:
        subprocess.run([*run, str(b / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(d, ignore_errors=True)


def run(scale: float = 1.0, repeats: int = 1) -> list[Figure]:
    # the sizes need no repeats; the PostgreSQL write/read speeds take the best of ``repeats``
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
    pg = _postgres(home, repeats, scale)
    if pg is not None:
        new, old = pg["compact"], pg["v1"]
        figs.append(Figure(
            "bytes", "PostgreSQL bytes per event (compact layout: tables + TOAST + indexes)", new["per_event"],
            "B/event", "the eventsourcing table, same log", old["per_event"], target="<= 150 B/event",
            notes=(f"{new['events_per_block']:.0f} events a row ({new['compression']}): body {new['body_raw_per_event']:.0f}"
                   f" B/event packed, {new['body_stored_per_event']:.0f} compressed; heap {new['heap_per_event']:.0f},"
                   f" TOAST {new['toast_per_event']:.0f}, indexes + sessions {new['indexes_and_small_tables_per_event']:.1f}"
                   f"; the eventsourcing table: heap {old['heap_per_event']:.0f}, indexes {old['indexes_per_event']:.0f}"
                   "; by commit batch (first 8192 events, event_blocks only): "
                   + ", ".join(f"{k}: {v:.0f}" for k, v in new["by_batch"].items())
                   + f"; the run written straight into PostgreSQL: {new['run']['per_event']:.1f} B/event, "
                   f"{new['run']['events_per_block']:.0f} events a row"),
            extra=pg))
        for key, what in (("write_ev_s", "write (batches of 4096)"), ("read_ev_s", "read + chain check + decode")):
            figs.append(Figure(
                "bytes", f"PostgreSQL {what}, compact layout", new["speed"][key], "ev/s",
                "the eventsourcing table, interleaved", old["speed"][key],
                notes=(f"client CPU: {new['speed'][key.replace('_s', '_cpu_s')]:,.0f} vs "
                       f"{old['speed'][key.replace('_s', '_cpu_s')]:,.0f} events per CPU-s")))
    return figs
