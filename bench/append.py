"""Append: events/s into the SQLite log (hash chain, group commit) vs raw executemany and
the naive eventsourcing path (one ``Application.save`` per event)."""

from __future__ import annotations

import tempfile
import time
import uuid
from pathlib import Path

from bench.common import Figure, best_of, raw_sqlite
from eventlog.chain import GENESIS, chain_states
from eventlog.codec import encode
from eventlog.events import MarketTick
from eventlog.store import EventStore
from eventlog.writer import LogWriter


def _events(n: int, sid: str) -> list[MarketTick]:
    return [
        MarketTick(session_id=sid, session_seq=i + 1, stream="market.BTCUSDT", ts_event_ns=i,
                   ts_init_ns=i, symbol="BTCUSDT", bid=100.0 + i * 0.1, ask=100.5 + i * 0.1)
        for i in range(n)
    ]


def ours(n: int, batch: int) -> float:
    """Through LogWriter: header stamping, group commit thread, encode, chain, bulk insert."""
    with tempfile.TemporaryDirectory() as d:
        store = EventStore.open(d)
        sid = uuid.uuid4().hex
        w = LogWriter(store, sid, clock_ns=time.time_ns, max_batch=batch, max_latency_ms=5)
        t = time.perf_counter()
        for i in range(n):
            w.emit(MarketTick, stream="market.BTCUSDT", ts_event_ns=i, symbol="BTCUSDT",
                   bid=100.0 + i * 0.1, ask=100.5 + i * 0.1)
        w.close()
        rate = n / (time.perf_counter() - t)
        store.close()
        return rate


def store_append(n: int, batch: int) -> float:
    """EventStore.append on pre-built events (encode + chain + bulk insert)."""
    with tempfile.TemporaryDirectory() as d:
        store = EventStore.open(d)
        evs = _events(n, uuid.uuid4().hex)
        t = time.perf_counter()
        for i in range(0, n, batch):
            store.append(evs[i : i + batch])
        rate = n / (time.perf_counter() - t)
        store.close()
        return rate


def raw_executemany(n: int, batch: int) -> float:
    """The raw limit: the same chained bytes, plain sqlite3 executemany, WAL, synchronous=NORMAL."""
    sid = uuid.uuid4().hex
    states, _ = chain_states(GENESIS, [encode(e) for e in _events(n, sid)])
    rows = [(sid, i + 1, "MarketTick", s) for i, s in enumerate(states)]
    with tempfile.TemporaryDirectory() as d:
        con = raw_sqlite(d)
        t = time.perf_counter()
        for i in range(0, n, batch):
            con.execute("BEGIN")
            con.executemany("INSERT INTO stored_events VALUES (?,?,?,?)", rows[i : i + batch])
            con.execute("COMMIT")
        rate = n / (time.perf_counter() - t)
        con.close()
        return rate


def naive_eventsourcing(n: int) -> float:
    """One eventsourcing Application.save per event (the library's default path)."""
    from eventsourcing.application import Application
    from eventsourcing.domain import Aggregate, event

    class Tape(Aggregate):
        @event("Ticked")
        def tick(self, bid: float, ask: float) -> None:
            self.bid, self.ask = bid, ask

    with tempfile.TemporaryDirectory() as d:
        env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(Path(d) / "es.sqlite")}
        app: Application = Application(env=env)
        tape = Tape()
        app.save(tape)
        t = time.perf_counter()
        for i in range(n):
            tape.tick(bid=100.0 + i, ask=100.5 + i)
            app.save(tape)
        rate = n / (time.perf_counter() - t)
        app.close()
        return rate


def run(scale: float = 1.0, repeats: int = 3) -> list[Figure]:
    n = max(2000, int(300_000 * scale))
    batch = 4096
    # Interleave the measured path and its baseline so load spikes hit both alike.
    raw = via_store = via_writer = 0.0
    for _ in range(max(1, repeats)):
        raw = max(raw, raw_executemany(n, batch))
        via_store = max(via_store, store_append(n, batch))
        via_writer = max(via_writer, ours(n, batch))
    naive = best_of(lambda: naive_eventsourcing(max(500, n // 100)), 1)
    return [
        Figure("append", "store.append (encode+chain+bulk insert)", via_store, "ev/s",
               "raw executemany", raw, target=">= 0.80"),
        Figure("append", "LogWriter.emit (header+group commit)", via_writer, "ev/s",
               "raw executemany", raw, target=">= 0.80"),
        Figure("append", "store.append vs naive eventsourcing", via_store, "ev/s",
               "Application.save per event", naive),
    ]
