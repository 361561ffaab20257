"""Warm-up bars update indicators only (rules v4): nothing is decided on a ``history``
kline, nor on a live kline before a tick since the bar's open has priced the book.

Real parts: the engine's loop on the simulated venue, the real log writer and a
SQLite store; the klines are the ones a Binance restart would record (a warm-up
read from REST, marked ``history``). The same bars live and priced do lead to
intents, so the test can fail.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from config.loader import load_config
from engine.bootstrap import build_sim_engine
from engine.ports import VenueUpdate
from engine.replay_core import rederive
from engine.rules.versions import RULES_VERSION
from engine.venues.scripted import ScriptedMarket
from eventlog.events import IntentEmitted, KlineClosed, MarketTick, OrderSubmitted
from eventlog.store import EventStore

SYM = "BTCUSDT"
T0 = 1_751_328_000_000
BAR = 300_000
MS = 1_000_000


def bar(i: int, *, history: bool) -> VenueUpdate:
    """Bar ``i`` of a steady uptrend: every close breaks the channel above."""
    o = 60_000.0 * 1.003 ** i
    c = o * 1.003
    fields: dict[str, Any] = {"symbol": SYM, "interval": "5m", "open_time_ms": T0 + i * BAR,
                              "close_time_ms": T0 + (i + 1) * BAR - 1, "open": o, "high": c * 1.001,
                              "low": o * 0.999, "close": c, "volume": 100.0}
    if history:
        fields["history"] = True
    return VenueUpdate(KlineClosed, f"market.{SYM}", (T0 + (i + 1) * BAR) * MS, fields)


def tick(i: int) -> VenueUpdate:
    """A live top of book inside bar ``i``."""
    c = 60_000.0 * 1.003 ** (i + 1)
    return VenueUpdate(MarketTick, f"market.{SYM}", (T0 + (i + 1) * BAR - 1_000) * MS,
                       {"symbol": SYM, "bid": round(c - 0.1, 1), "ask": round(c + 0.1, 1), "mark": c})


def run(home: Path, updates: list[VenueUpdate]) -> list[Any]:
    store = EventStore.open(home)
    eng = build_sim_engine(load_config(), [SYM], ScriptedMarket([SYM], start_ms=T0), store, str(uuid.uuid4()))
    for u in updates:
        eng.apply([u])
    eng.writer.flush()
    events = list(store.read(session=eng.writer.session_id))
    eng.writer.close()
    store.close()
    return events


def intents(events: list[Any]) -> list[IntentEmitted]:
    return [e for e in events if isinstance(e, IntentEmitted)]


def test_the_same_bars_live_and_priced_lead_to_intents(home: Path) -> None:
    n = load_config().config.strategy.breakout_bars + 30
    events = run(home, [u for i in range(n) for u in (tick(i), bar(i, history=False))])
    assert events[0].rules_version == RULES_VERSION >= 4
    assert intents(events), "the trend should trigger entries: else the tests below prove nothing"


def test_warm_up_bars_decide_nothing_then_the_first_live_priced_bar_does(home: Path) -> None:
    n = load_config().config.strategy.breakout_bars + 30
    warm = [bar(i, history=True) for i in range(n)]
    live_unpriced = bar(n, history=False)  # the first live bar, no tick since its open
    stale_tick = tick(n)  # a tick of bar n: too old for bar n+1
    live_stale = bar(n + 1, history=False)
    priced = [tick(n + 2), bar(n + 2, history=False)]
    events = run(home, [*warm, live_unpriced, stale_tick, live_stale, *priced])
    got = intents(events)
    klines = {e.session_seq: e for e in events if isinstance(e, KlineClosed)}
    assert len(got) == 1 and got[0].side == "BUY"  # on the first live bar priced since its open
    assert klines[got[0].kline_ref].open_time_ms == T0 + (n + 2) * BAR
    assert not [e for e in events if isinstance(e, OrderSubmitted) and e.session_seq < got[0].session_seq]
    report = rederive(events)  # the rule is a pure function of the log
    assert report.ok and report.decisions_checked > 0
