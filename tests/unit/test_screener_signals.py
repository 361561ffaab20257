"""Screener: warm-up, breakout entries with TP/SL and vol-targeted size, exits, cooldown."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from config.loader import LoadedConfig, load_config
from engine.bootstrap import build_sim_engine
from engine.venues.scripted import ScriptedMarket
from eventlog.store import EventStore


@pytest.fixture(scope="module")
def loaded() -> LoadedConfig:
    return load_config()


def _engine(home: Path, loaded: LoadedConfig) -> tuple[Any, ScriptedMarket, EventStore]:
    market = ScriptedMarket(["BTCUSDT"], start_ms=1_751_328_000_000)
    store = EventStore.open(home)
    return build_sim_engine(loaded, ["BTCUSDT"], market, store, str(uuid.uuid4())), market, store


def _bar(eng: Any, market: ScriptedMarket, o: float, c: float, wick: float = 2.0) -> None:
    market.push({"BTCUSDT": (o, max(o, c) + wick, min(o, c) - wick, c, 100.0)})
    eng.apply(eng.venue.next_updates())


def _of(eng: Any, store: EventStore, name: str) -> list[Any]:
    eng.writer.flush()
    return list(store.read(session=eng.writer.session_id, types=(name,)))


def test_no_intent_during_warm_up_then_a_breakout_long_with_tp_sl(home: Path, loaded: LoadedConfig) -> None:
    eng, market, store = _engine(home, loaded)
    sc = loaded.config.strategy
    p = 60_000.0
    warm_up = max(sc.min_bars, sc.breakout_bars + 1)  # indicators and the channel need history
    for _ in range(warm_up - 1):  # a steady rally: every close is a new high
        _bar(eng, market, p, p + 10)
        p += 10
    assert _of(eng, store, "IntentEmitted") == []
    _bar(eng, market, p, p + 10)
    intents = _of(eng, store, "IntentEmitted")
    assert len(intents) == 1
    it = intents[0]
    atr = eng.state.syms["BTCUSDT"].atr.atr
    assert it.side == "BUY" and it.reason == "breakout_long" and not it.reduce_only
    assert it.tp == pytest.approx(it.price + sc.tp_atr_mult * atr) and it.sl == pytest.approx(it.price - sc.sl_atr_mult * atr)
    nav = eng.state.nav_usd
    assert nav * sc.per_trade_nav_pct * 0.25 <= it.notional_usd <= nav * sc.per_trade_nav_pct * 2.0 * (1 + 1e-6)
    kl = _of(eng, store, "KlineClosed")[-1]
    assert it.kline_ref == kl.session_seq and it.intent_id.endswith(f"-I{kl.session_seq}-0")
    eng.writer.close()
    store.close()


def test_cooldown_blocks_the_next_entry_then_a_stop_hit_closes_the_whole_position(home: Path, loaded: LoadedConfig) -> None:
    eng, market, store = _engine(home, loaded)
    sc = loaded.config.strategy
    p = 60_000.0
    for _ in range(max(sc.min_bars, sc.breakout_bars + 1) + 3):
        _bar(eng, market, p, p + 10)
        p += 10
    assert len(_of(eng, store, "IntentEmitted")) == 1, "cooldown: one entry despite new highs"
    assert eng.state.syms["BTCUSDT"].pos_qty > 0
    sl = eng.state.syms["BTCUSDT"].sl
    assert sl is not None
    _bar(eng, market, p, sl - 50)  # the bar crashes through the stop
    closed = _of(eng, store, "PositionClosed")
    intents = _of(eng, store, "IntentEmitted")
    assert [c.trigger for c in closed] == ["sl"] and closed[0].level == sl
    assert intents[-1].reduce_only and intents[-1].side == "SELL" and intents[-1].reason == "exit_sl"
    assert intents[-1].qty == eng.state.syms["BTCUSDT"].pos_qty
    plan = _of(eng, store, "RoutePlanned")[-1]
    assert plan.style == "taker", "stop exits do not wait for a maker fill"
    eng.writer.close()
    store.close()
