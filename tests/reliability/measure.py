"""Measure the store on both backends: ``python -m tests.reliability.measure [N]``.

Appends N small events in batches of several sizes on SQLite and on a throwaway
PostgreSQL cluster (loopback, fsync on), then reads them back and verifies, and
prints one JSON line per figure. These are the figures quoted in docs/scaling.md.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable

from eventlog.codec import encode
from eventlog.store import EventStore
from eventlog.verify import verify
from tests.eventgen import new_session_id, tick


def _rows(n: int) -> list[tuple[str, int, str, bytes]]:
    sid = new_session_id()
    return [(sid, i, "MarketTick", encode(tick(sid, i, price=100.0 + i % 97))) for i in range(1, n + 1)]


def measure(name: str, open_store: Callable[[], EventStore], n: int) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for batch in (1, 100, 1000, 10_000):
        count = min(n, 2_000 if batch == 1 else n)
        rows = _rows(count)
        with open_store() as s:
            t0 = time.perf_counter()
            for i in range(0, count, batch):
                s.append_encoded(rows[i:i + batch])
            dt = time.perf_counter() - t0
        out.append({"backend": name, "what": "append", "batch": batch, "events": count,
                    "events_per_s": round(count / dt)})
    # Several writers at once (e.g. several engines): the table lock serialises them.
    per = n // 4
    with open_store() as s0:
        before = s0.count()
    stores = [open_store() for _ in range(4)]
    data = [_rows(per) for _ in stores]

    def work(s: EventStore, rows: list[tuple[str, int, str, bytes]]) -> None:
        for i in range(0, len(rows), 1000):
            s.append_encoded(rows[i:i + 1000])

    ts = [threading.Thread(target=work, args=(s, d)) for s, d in zip(stores, data, strict=True)]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    dt = time.perf_counter() - t0
    for s in stores:
        s.close()
    out.append({"backend": name, "what": "append, 4 concurrent writers", "batch": 1000, "events": 4 * per,
                "events_per_s": round(4 * per / dt)})
    with open_store() as s:
        total = s.count()
        assert total == before + 4 * per
        t0 = time.perf_counter()
        k = sum(len(b) for b in s.read_batches(batch=20_000))
        dt = time.perf_counter() - t0
        out.append({"backend": name, "what": "read+decode", "events": k, "events_per_s": round(k / dt)})
        t0 = time.perf_counter()
        res = verify(s)
        dt = time.perf_counter() - t0
        assert res.ok
        out.append({"backend": name, "what": "verify", "events": res.events, "events_per_s": round(res.events / dt)})
    return out


def main(n: int) -> None:
    d = tempfile.mkdtemp(prefix="hedge-measure-")
    try:
        for r in measure("sqlite", lambda: EventStore.open(d), n):
            print(json.dumps(r), flush=True)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    import pytest

    from tests.pgserver import start_server

    try:
        server = start_server()
    except pytest.skip.Exception as exc:
        print(json.dumps({"backend": "postgres", "skipped": str(exc)}))
        return
    try:
        url = server.create_database("measure")
        for r in measure("postgres", lambda: EventStore.open(url=url), n):
            print(json.dumps(r), flush=True)
    finally:
        server.stop()
        shutil.rmtree(server.base, ignore_errors=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
