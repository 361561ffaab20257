"""Hypothesis stateful: positions and cash folded from the log equal the simulated venue's books.

Ticks (bars), intents and the fills they lead to are interleaved at random; after
every step the books of ``SimMatching`` must equal what a fresh fold of the
stored log says, and the engine's live state must equal that fold.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from config.loader import apply_overrides, from_dict, load_config
from engine.bootstrap import build_sim_engine
from engine.state import fold
from engine.venues.scripted import ScriptedMarket
from eventlog.events import IntentEmitted
from eventlog.store import EventStore

SYMS = ["BTCUSDT", "SOLUSDT"]
START = {"BTCUSDT": 60_000.0, "SOLUSDT": 150.0}
TICK = {"BTCUSDT": 0.1, "SOLUSDT": 0.01}
BASE = load_config()


class SimBooksMatchTheLog(RuleBasedStateMachine):
    @initialize()
    def start(self) -> None:
        d, _ = apply_overrides(BASE.as_dict(), ["runtime.router.maker_wait_s=300", "runtime.sim.funding_interval_h=1"])
        self.loaded = from_dict(d)
        self.dir = Path(tempfile.mkdtemp(prefix="hedge-stateful-"))
        self.store = EventStore.open(self.dir)
        self.market = ScriptedMarket(SYMS, start_ms=1_751_328_000_000)
        self.price = dict(START)
        self.engine = build_sim_engine(self.loaded, SYMS, self.market, self.store, str(uuid.uuid4()))
        self.n = 0

    def teardown(self) -> None:
        if hasattr(self, "engine"):
            event(f"fills>0: {self.engine.state.summary.fills > 0}")
            self.engine.writer.close()
            self.store.close()
            shutil.rmtree(self.dir, ignore_errors=True)

    @rule(moves=st.lists(st.integers(min_value=-30, max_value=30), min_size=2, max_size=2),
          wick=st.integers(min_value=0, max_value=20), halted=st.booleans())
    def bar(self, moves: list[int], wick: int, halted: bool) -> None:
        bars = {}
        for sym, m in zip(SYMS, moves, strict=True):
            t = TICK[sym]
            o = self.price[sym]
            c = round(max(o + m * t * 10, t * 100), 2)
            hi, lo = max(o, c) + wick * t, min(o, c) - wick * t
            bars[sym] = (o, o, o, o, 0.0) if halted else (o, round(hi, 2), round(lo, 2), c, 50.0)
            self.price[sym] = o if halted else c
        self.market.push(bars)
        self.engine.apply(self.engine.venue.next_updates())

    @rule(sym=st.sampled_from(SYMS), side=st.sampled_from(["BUY", "SELL"]), units=st.integers(min_value=1, max_value=40))
    def intent(self, sym: str, side: str, units: int) -> None:
        qty = units * (0.001 if sym == "BTCUSDT" else 1.0)
        q = self.engine.state.syms[sym].pos_qty
        reduce_only = q != 0 and (q > 0) == (side == "SELL") and units % 2 == 0
        if reduce_only:
            qty = min(qty, abs(q))
        self.n += 1
        now = self.engine.venue.clock().now_ns()
        self.engine.record(IntentEmitted, "strategy", now, {
            "intent_id": f"h-{self.n}", "symbol": sym, "side": side, "qty": qty,
            "notional_usd": qty * self.price[sym], "price": self.price[sym], "reduce_only": reduce_only})

    @invariant()
    def books_equal_the_fold_of_the_log(self) -> None:
        if not hasattr(self, "engine"):
            return
        self.engine.writer.flush()
        folded = fold(self.store.read(session=self.engine.writer.session_id))
        m = self.engine.venue.matching
        for sym in SYMS:
            vq, ve = m.pos[sym]
            s = folded.syms[sym]
            assert s.led_qty == vq, (sym, s.led_qty, vq)
            assert s.pos_qty == vq, "the exchange-side snapshot is current after every step"
            assert abs(s.led_entry - ve) <= 1e-9 * max(1.0, ve)
            assert self.engine.state.syms[sym].led_qty == s.led_qty
        assert folded.cash is not None
        assert abs(folded.cash - m.wallet) <= 1e-7, (folded.cash, m.wallet)
        assert folded.summary.fees_usd == self.engine.state.summary.fees_usd


TestSimBooks = SimBooksMatchTheLog.TestCase
TestSimBooks.settings = settings(max_examples=40, stateful_step_count=50, deadline=None,
                                 suppress_health_check=[HealthCheck.too_slow])
