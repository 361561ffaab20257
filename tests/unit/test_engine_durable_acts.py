"""Decide, record, act: on a real venue an order is durable in the log before it is sent."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from config.loader import load_config
from engine.bootstrap import SimOptions, make_sim_venue
from engine.loop import Engine
from eventlog.store import EventStore
from eventlog.writer import LogWriter


class ExchangeLike:
    """The simulated venue under another name, checking the log at every order it receives."""

    name = "exchange-like"

    def __init__(self, inner: Any, home: Path):
        self.inner = inner
        self.home = home
        self.mode = "sim"
        self.checked: list[tuple[str, bool]] = []

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.inner, attr)

    def submit(self, req: Any) -> Any:
        with EventStore.open(self.home) as reader:  # a separate connection: only committed rows
            ids = {getattr(e, "order_id", None) for e in reader.read(types=("OrderSubmitted",))}
        self.checked.append((req.order_id, req.order_id in ids))
        return self.inner.submit(req)


def test_orders_are_durable_before_a_non_simulated_venue_sees_them(home: Path) -> None:
    loaded = load_config()
    symbols = sorted(loaded.config.universe.symbols)
    venue = ExchangeLike(make_sim_venue(loaded, symbols, SimOptions(seed=3)), home)
    store = EventStore.open(home)
    sid = str(uuid.uuid4())
    # A long latency bound: without the flush, the order would still be queued when sent.
    writer = LogWriter(store, sid, clock_ns=time.time_ns, max_batch=100_000, max_latency_ms=60_000,
                       idle_us=60_000_000)
    engine = Engine(venue, writer)  # type: ignore[arg-type]
    engine.start(engine_version="t", mode="sim", venue=venue.name, symbols=symbols, config=loaded.as_dict(),
                 config_hash=loaded.config_hash, normalisations=[], data_source="test", params={},
                 ts_event_ns=venue.clock().now_ns())
    engine.run(max_bars=1500)
    engine.end("bars")
    writer.close()
    store.close()
    assert venue.checked, "the session sent no order"
    assert all(durable for _, durable in venue.checked), [o for o, d in venue.checked if not d][:5]
