"""Synthetic tick stream for the load test: ``python -m tests.reliability.loadgen RATE SECONDS``.

Writes one session through the real ``LogWriter`` (group commit) into the store
named by ``HEDGE_HOME`` / ``HEDGE_STORE_URL``, paced to ``RATE`` events a second
for ``SECONDS``; every second it prints a JSON line with what it emitted, what is
durable and its own resident memory, and at the end a summary line.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
import uuid

from config.loader import load_config
from eventlog.events import MarketTick, NavSnapshot, SessionEnded, SessionStarted
from eventlog.store import EventStore
from eventlog.writer import LogWriter

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "AVAXUSDT", "WIFUSDT")


def rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main(rate: float, seconds: float) -> None:
    loaded = load_config()
    sim_ns = [1_750_000_000_000_000_000]

    def clock() -> int:
        return sim_ns[0]

    store = EventStore.open(os.environ.get("HEDGE_HOME"), os.environ.get("HEDGE_STORE_URL"))  # from the load test
    sid = str(uuid.uuid4())
    w = LogWriter(store, sid, clock_ns=clock, max_batch=4096, max_latency_ms=5)
    w.emit(SessionStarted, stream="session", ts_event_ns=clock(), engine_version="loadgen", mode="sim",
           venue="sim", symbols=list(SYMBOLS), config=loaded.as_dict(), config_hash=loaded.config_hash)
    rnd = random.Random(1)
    px = dict.fromkeys(SYMBOLS, 100.0)
    t0 = time.monotonic()
    n = 0
    next_report = 1.0
    while True:
        el = time.monotonic() - t0
        if el >= seconds:
            break
        due = int(el * rate)
        while n < due:
            sym = SYMBOLS[n % len(SYMBOLS)]
            px[sym] *= 1 + rnd.gauss(0, 0.0005)
            sim_ns[0] += 10_000_000
            w.emit(MarketTick, stream=f"market.{sym}", ts_event_ns=clock(), symbol=sym, bid=px[sym],
                   ask=px[sym] * 1.0002, mark=px[sym] * 1.0001)
            n += 1
            if n % 1000 == 0:
                nav = 100_000 + (px["BTCUSDT"] - 100) * 10
                w.emit(NavSnapshot, stream="account", ts_event_ns=clock(), nav_usd=nav, wallet_balance=nav,
                       unrealized_pnl=0.0, available_balance=nav)
        if el >= next_report:
            print(json.dumps({"t": round(el, 2), "emitted": n, "durable": w.durable_session_seq,
                              "head": w.last_global_seq, "rss_kb": rss_kb()}), flush=True)
            next_report += 1.0
        time.sleep(0.002)
    w.emit(SessionEnded, stream="session", ts_event_ns=clock(), reason="load test done")
    durable = w.flush()
    w.close()
    head = store.head()
    store.close()
    el = time.monotonic() - t0
    print(json.dumps({"done": True, "events": durable, "seconds": round(el, 2), "events_per_s": round(durable / el),
                      "head_seq": head[0], "rss_kb": rss_kb()}), flush=True)


if __name__ == "__main__":
    main(float(sys.argv[1]), float(sys.argv[2]))
