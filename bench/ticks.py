"""Ticks: live market-tick ingestion with ``all`` tick capture (``BINANCE_TICK_INTERVAL_MS=all``).

The path is the Binance venue's own: raw websocket frames (bookTicker on ``/public``,
markPriceUpdate on ``/market``, as JSON text, the way the stream threads queue them) go
through ``BinanceVenue._on_market`` (wire decode, ``TickMerger`` with ``min_interval_ms=0``),
in batches of up to 2,000 frames as ``BinanceVenue.next_updates`` drains its queue, then
``Engine.apply`` (edge validation on, as for every non-simulated venue), the fold, ``decide``,
and a ``LogWriter`` with the config's group commit into a real SQLite log. No socket and no
REST call (the venue is built with loopback URLs it never contacts): the figure is the
engine's and the log's, not the network's. The rate counts from the first frame until every
tick is durable (``writer.flush()``).

Frames: 30 symbols (the universe's names and real closes where ``../shared/market/universe``
is present), a bookTicker per frame and a markPriceUpdate every 10th, exchange time 1 ms
apart - a busy book.

Baseline (same run): the storage floor of the same ticks - encode the logged events,
chain them and ``executemany`` them into a WAL, ``synchronous=NORMAL`` table in batches of
4,096 - as ticks/s. A second figure reports the venue edge alone (decode + merge, no log).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from typing import Any

from bench.common import MARKET_DIR, Figure, insert_chained, raw_sqlite

N_SYMBOLS = 30
BATCH = 2000  # BinanceVenue._next_updates drains at most this many frames per loop turn


def _symbols_and_prices() -> dict[str, list[float]]:
    uni = MARKET_DIR / "universe"
    out: dict[str, list[float]] = {}
    if uni.is_dir():
        for f in sorted(uni.glob("*USDT.csv"))[:N_SYMBOLS]:
            closes: list[float] = []
            with f.open() as fh:
                next(fh)
                for i, line in enumerate(fh):
                    if i >= 2000:
                        break
                    closes.append(float(line.rstrip().split(",")[4]))
            out[f.stem] = closes
    if len(out) < N_SYMBOLS:
        for i in range(N_SYMBOLS - len(out)):
            out[f"SYM{i:02d}USDT"] = [100.0 + (j % 97) * 0.01 for j in range(2000)]
    return out


def frames(n: int) -> list[tuple[str, str]]:
    """``n`` (route, raw JSON text) frames: bookTickers and every 10th a markPriceUpdate."""
    prices = _symbols_and_prices()
    syms = sorted(prices)
    t0 = 1_767_000_000_000
    out: list[tuple[str, str]] = []
    for i in range(n):
        mark = i % 10 == 9
        sym = syms[(i // 10 if mark else i) % len(syms)]
        series = prices[sym]
        px = series[(i // len(syms)) % len(series)]
        tick = px * 1e-4
        ms = t0 + i
        if mark:
            out.append(("market", json.dumps({
                "e": "markPriceUpdate", "E": ms, "s": sym, "p": f"{px:.8f}", "i": f"{px:.8f}",
                "P": f"{px:.8f}", "r": "0.00010000", "T": ms + 3_600_000})))
        else:
            out.append(("public", json.dumps({
                "e": "bookTicker", "u": 400_900_217 + i, "E": ms, "T": ms - 2, "s": sym,
                "b": f"{px - tick:.8f}", "B": f"{1 + i % 7}.000", "a": f"{px + tick:.8f}",
                "A": f"{2 + i % 5}.000"})))
    return out


class _Edge:
    """The Binance venue for the engine: its market-frame path, no connection."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.name = inner.name
        self.mode = inner.mode

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def connect(self, symbols: list[str]) -> list[Any]:
        self.inner.symbols = list(symbols)
        return []


def _venue() -> Any:
    from engine.venues.binance.env import BinanceEnv
    from engine.venues.binance.venue import BinanceVenue

    env = BinanceEnv(rest_url="http://127.0.0.1:9", stream_url="ws://127.0.0.1:9", testnet=True, dry_run=True)
    return BinanceVenue(env, interval="5m", tick_min_interval_ms=0)  # BINANCE_TICK_INTERVAL_MS=all


def ingest(raw: list[tuple[str, str]], *, log: bool = True) -> dict[str, float]:
    """Frames -> venue edge -> engine -> durable log. {ticks, seconds, events}."""
    from config.loader import load_config
    from engine.loop import Engine
    from eventlog.store import EventStore
    from eventlog.writer import LogWriter

    loaded = load_config(None)
    venue = _venue()
    on_market, flush_ticks = venue._on_market, venue._flush_ticks
    if not log:
        t = time.perf_counter()
        n = 0
        for i in range(0, len(raw), BATCH):
            out: list[Any] = []
            for route, frame in raw[i:i + BATCH]:
                out += on_market(route, frame)
            out += flush_ticks()
            n += len(out)
        return {"ticks": n, "seconds": time.perf_counter() - t, "events": n}
    symbols = sorted({json.loads(f)["s"] for _, f in raw[:N_SYMBOLS * 2]})
    with tempfile.TemporaryDirectory(prefix="bench-ticks-") as d:
        store = EventStore.open(d)
        gc = loaded.config.runtime.group_commit
        writer = LogWriter(store, str(uuid.uuid4()), clock_ns=venue.clock().now_ns, max_batch=gc.max_batch,
                           max_latency_ms=gc.max_latency_ms)
        engine = Engine(_Edge(venue), writer)  # type: ignore[arg-type]
        engine.start(engine_version=loaded.config.runtime.engine_version, mode=venue.mode, venue=venue.name,
                     symbols=symbols, config=loaded.as_dict(), config_hash=loaded.config_hash,
                     normalisations=list(loaded.normalisations), data_source="bench", params={},
                     ts_event_ns=venue.clock().now_ns())
        writer.flush()
        before = writer.committed
        apply, end_step = engine.apply, writer.end_step
        cpu = time.process_time()  # both threads: the loop's and the commit thread's
        t = time.perf_counter()
        for i in range(0, len(raw), BATCH):
            out = []
            for route, frame in raw[i:i + BATCH]:
                out += on_market(route, frame)
            out += flush_ticks()
            apply(out)
            end_step()
        writer.flush()
        dt = time.perf_counter() - t
        cpu = time.process_time() - cpu
        events = writer.committed - before
        writer.close()
        ticks = sum(1 for _ in store.read(types=("MarketTick",)))  # any row layout (docs/storage.md)
        store.close()
    return {"ticks": float(ticks), "seconds": dt, "events": float(events), "cpu_seconds": cpu}


def storage_floor(raw: list[tuple[str, str]]) -> float:
    """ticks/s of encode + chain + raw ``executemany`` of the MarketTick events these frames log."""
    from engine.venues.binance.convert import TickMerger
    from engine.venues.binance.wire import WsBookTicker, WsMarkPrice, decode_market

    merger = TickMerger(0)
    sid = str(uuid.uuid4())
    events: list[Any] = []
    for _, frame in raw:
        f = decode_market(frame)
        ups = merger.on_book(f) if isinstance(f, WsBookTicker) else merger.on_mark(f) if isinstance(f, WsMarkPrice) else []
        for u in ups:
            events.append(u.cls(session_id=sid, session_seq=len(events) + 1, stream=u.stream,
                                ts_event_ns=u.ts_event_ns, ts_init_ns=u.ts_event_ns, **u.fields))
    with tempfile.TemporaryDirectory(prefix="bench-ticks-floor-") as d:
        db = raw_sqlite(d)
        t = time.perf_counter()
        insert_chained(db, events, [(sid, e.session_seq, "MarketTick") for e in events])
        dt = time.perf_counter() - t
        db.close()
    return len(events) / dt


def run(scale: float = 1.0, repeats: int = 3) -> list[Figure]:
    n = max(2000, int(300_000 * scale))
    raw = frames(n)
    best: dict[str, float] | None = None
    edge = 0.0
    floor = 0.0
    for _ in range(max(1, repeats)):
        got = ingest(raw)
        if best is None or got["ticks"] / got["seconds"] > best["ticks"] / best["seconds"]:
            best = got
        e = ingest(raw, log=False)
        edge = max(edge, e["ticks"] / e["seconds"])
        floor = max(floor, storage_floor(raw))
    assert best is not None
    rate = best["ticks"] / best["seconds"]
    load = os.getloadavg()[0]
    notes = (f"{n:,} frames, {N_SYMBOLS} symbols, {int(best['ticks']):,} ticks logged "
             f"({int(best['events']):,} events) in {best['seconds']:.2f} s, {best['cpu_seconds']:.2f} CPU-s "
             f"({best['ticks'] / best['cpu_seconds']:,.0f} ticks per CPU-s); load {load:.1f}")
    return [
        Figure("ticks", "live tick ingestion, all ticks captured (frames -> Binance venue edge -> engine -> "
               "durable log)", rate, "ticks/s", "encode + chain + executemany of the same ticks", floor,
               target=">= 50,000 ticks/s", notes=notes, extra=best),
        Figure("ticks", "Binance venue edge alone (wire decode + tick merge, no engine, no log)", edge,
               "ticks/s", "encode + chain + executemany of the same ticks", floor),
    ]


if __name__ == "__main__":  # pragma: no cover - a quick look: python -m bench.ticks
    for f in run(float(os.environ.get("SCALE", "0.2")), 1):
        print(f.name, f"{f.value:,.0f}", f.unit, f.baseline and f"{f.baseline:,.0f}", f.notes)
