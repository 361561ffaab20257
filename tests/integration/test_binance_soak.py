"""Soak: a day of market time on the loopback fake Binance at an accelerated clock, with
every fault of issue 15 on, and the log held against the exchange's own books.

``hedge run --venue binance`` (the real composition root, the real connector) trades
288 five-minute bars in two sessions, the engine down in between, then a third start
(``--once``) picks up what happened after the second. Meanwhile, at random (seeded):
ACCOUNT_UPDATE before ORDER_TRADE_UPDATE and partial fills (always), private-stream
drops with trades by hand in the gap, market/public socket drops, a slow order
endpoint, order answers lost after the order was placed (5xx), 5xx and 429 on reads,
post-only rejects, funding settlements, a filter change, and -1021 at every start.

Then: every exchange trade is logged exactly once with its fee and realised PnL (the
ones made while the engine was down too); the position after every fill, in the log
and in the positions view that writes ``positions_state.json``, is the exchange's;
the final ``positions_state.json``, wallet, fees and funding equal the exchange's; no
intent is decided on a bar older than the newest one or before a live tick priced it;
no -4014/-1111 for an order sent once the changed filters are recorded; the -1021 at start is survived;
the longest loop stall stays under the configured bound. The figures are printed
(``-s``) for ``docs/binance.md``.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from eventlog import events as E
from eventlog.store import EventStore
from projections.fold import Projector
from tests.fakes.binance_venue import FakeBinance
from tests.integration.test_binance_session import KEY, SECRET, SYMBOLS, run_hedge, session_env

pytestmark = pytest.mark.slow

SEED = int(os.environ.get("SOAK_SEED", "15"))  # faults and market: run other seeds with SOAK_SEED=N
BAR_S = 0.03  # wall seconds per five-minute bar: a day (288 bars) in under 10 s of market
WARMUP = 150
HALF_DAY = 144
STALL_BOUND_MS = 4000  # the slow order endpoint answers after 5 s: an order sent on the loop would exceed it
FUNDING_MS = 8 * 3_600_000


class Faults(threading.Thread):
    """Random faults against the fake, from a seeded RNG, until stopped."""

    def __init__(self, fake: FakeBinance, seed: int):
        super().__init__(daemon=True, name="soak-faults")
        self.fake, self.rng = fake, random.Random(seed)
        self.halt = threading.Event()
        self.counts: Counter[str] = Counter()
        self.filter_changed_at: int | None = None
        self.change_filters_at = fake.ex.now_ms + 60 * 300_000  # five market hours in
        self.hand = 0
        self.slow: list[list[float]] = []  # [on, off] monotonic spans of the slow order endpoint

    def run(self) -> None:
        fake, rng = self.fake, self.rng
        while fake.connected("private") == 0 and not self.halt.wait(0.02):
            pass  # trades before the engine first connected are history: its reconciliation takes them
        next_funding = (fake.ex.now_ms // FUNDING_MS + 1) * FUNDING_MS
        while not self.halt.wait(rng.uniform(0.05, 0.25)):
            if fake.ex.now_ms >= next_funding:
                next_funding += FUNDING_MS
                fake.settle_funding(0.0001)
                self.counts["funding"] += 1
            r = rng.random()
            if fake._faults or fake._limits:  # one scripted answer at a time: they queue on the fake
                r = max(r, 0.32) if 0.18 <= r < 0.27 else r
            if r < 0.05:
                self._private_outage()
            elif r < 0.10:
                fake.drop(rng.choice(["market", "public"]))
                self.counts["socket drop"] += 1
            elif r < 0.15:
                if not fake.order_delay_s:  # slow until a draw below turns it off
                    fake.order_delay_s = 5.0
                    self.slow.append([time.monotonic(), float("inf")])
                    self.counts["slow order endpoint"] += 1
            elif r < 0.18:
                if fake.order_delay_s:
                    fake.order_delay_s = 0.0
                    self.slow[-1][1] = time.monotonic()
            elif r < 0.22:
                fake.fail(1, status=503, after=True, path="/fapi/v1/order")
                self.counts["order answer lost"] += 1
            elif r < 0.25:
                fake.fail(1, status=503, path="/fapi/v3/account")
                self.counts["5xx on a read"] += 1
            elif r < 0.27:
                fake.rate_limit(1, status=429, retry_after=0.5)
                self.counts["429"] += 1
            elif r < 0.32:
                fake.run(lambda ex: setattr(ex, "force_post_only_rejects", 1))
                self.counts["post-only reject"] += 1
            if self.filter_changed_at is None and fake.ex.now_ms >= self.change_filters_at:
                fake.run(lambda ex: ex.set_filters("ETHUSDT", tick=0.05))
                self.filter_changed_at = fake.ex.now_ms
                self.counts["filter change"] += 1

    def _private_outage(self) -> None:
        """The private stream goes away and trades happen that nobody hears about."""
        fake = self.fake
        fake.refuse("private")
        fake.drop("private")
        for _ in range(self.rng.randint(1, 2)):
            self.trade_by_hand()
        time.sleep(self.rng.uniform(0.1, 0.6))
        fake.refuse("private", on=False)
        self.counts["private outage"] += 1

    def trade_by_hand(self) -> None:
        sym = self.rng.choice(SYMBOLS)
        qty = {"BTCUSDT": "0.005", "ETHUSDT": "0.1"}[sym]
        self.hand += 1
        self.fake.run(lambda ex: ex.place({"symbol": sym, "side": self.rng.choice(["BUY", "SELL"]),
                                           "type": "MARKET", "quantity": qty,
                                           "newClientOrderId": f"hand-{self.hand}"}))

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=30)
        self.fake.order_delay_s = 0.0
        self.fake.refuse("private", on=False)


def one_quote(fake: FakeBinance, connections_before: int) -> None:
    """Once the next session's public socket is up: one book ticker (its first live batch)."""
    end = time.monotonic() + 60
    while fake.connections["public"] <= connections_before or not fake.subscriptions:
        if time.monotonic() > end:
            return
        time.sleep(0.02)
    time.sleep(0.3)  # its SUBSCRIBE is in
    fake.inject("public", json.dumps(fake.ex.book_frame("BTCUSDT")))


def events_of(home: Path) -> list[Any]:
    with EventStore.open(home, create=False) as store:
        return list(store.read())


def test_a_day_with_every_fault_ends_equal_to_the_exchange(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with FakeBinance(SYMBOLS, interval="5m", history=WARMUP + 20, api_key=KEY, api_secret=SECRET,
                     partial_fills=True, seed=SEED) as fake:
        env = session_env(fake, home) | {"BINANCE_STALL_BOUND_MS": str(STALL_BOUND_MS),
                                         "BINANCE_WARMUP_BARS": str(WARMUP)}
        faults = Faults(fake, SEED)
        timing: dict[str, float] = {}
        runs = []

        def session(name: str, *args: str) -> None:
            t, mark = time.monotonic(), len(fake.requests)
            runs.append(run_hedge(["run", "--venue", "binance", "--symbols", ",".join(SYMBOLS), *args,
                                   "--no-projections", "--quiet"], env))
            timing[name] = round(time.monotonic() - t, 1)
            assert runs[-1].returncode == 0, (name, runs[-1].stderr[-600:], " ".join(
                f"{r.method}{r.path.removeprefix('/fapi')}:{r.status}" for r in fake.requests[mark:mark + 25]))

        t0 = time.monotonic()
        fake.time_faults(1)  # -1021 at the first start
        fake.autorun(BAR_S)
        faults.start()
        session("first half day", "--bars", str(WARMUP + HALF_DAY))
        # the engine is down: a resting order may fill, and someone trades by hand
        faults.trade_by_hand()
        faults.trade_by_hand()
        time.sleep(20 * BAR_S)
        fake.time_faults(1)
        session("second half day", "--bars", str(WARMUP + HALF_DAY))
        faults.stop()
        fake._auto_stop.set()  # the market stops; what happened since the last session ...
        fake._auto.join(timeout=10)  # type: ignore[union-attr]
        faults.trade_by_hand()
        fake.time_faults(1)  # ... is picked up by one more start, which one quote ends (--once)
        quote = threading.Thread(target=one_quote, args=(fake, fake.connections["public"]), daemon=True)
        quote.start()
        session("restart --once", "--once")
        quote.join(timeout=30)
        wall = time.monotonic() - t0
        verified = [run_hedge(["replay", e.session_id, "--verify"], env) for e in events_of(home)
                    if isinstance(e, E.SessionStarted)]
        rebuilt = run_hedge(["rebuild"], env)
        assert rebuilt.returncode == 0, rebuilt.stderr[-2000:]
        trades = {t["id"]: dict(t) for t in fake.run(lambda e: list(e.trades))}
        positions = {s: q for s, (q, _) in fake.run(lambda e: dict(e.positions)).items()}
        balance = float(fake.run(lambda e: e.balance))
        funding = sum(float(r["income"]) for r in fake.run(lambda e: list(e.income)))
        upnl = float(fake.run(lambda e: e.upnl()))
        sent = list(fake.requests)
        (tmp_path / "exchange.json").write_text(json.dumps({  # for whoever has to find out why a run failed
            "trades": list(trades.values()), "income": fake.run(lambda e: list(e.income)),
            "requests": [[r.at, r.method, r.path, r.query, r.status] for r in sent],
            "sessions": [{"stdout": o.stdout, "stderr": o.stderr} for o in runs]}, default=str))

    evs = events_of(home)
    sessions = [e for e in evs if isinstance(e, E.SessionStarted)]
    assert len(sessions) == 3

    # every exchange trade logged exactly once, with the exchange's fee, PnL and position
    fills = [e for e in evs if isinstance(e, E.OrderFilled)]
    ids = Counter(int(f.trade_id) for f in fills)
    assert max(ids.values()) == 1, [i for i, n in ids.items() if n > 1]
    missing = sorted(set(trades) - set(ids))
    cids = {o.order_id: o.client_id for o in fake.ex.orders.values()}
    if missing:  # what the log says around them, for whoever has to find out why
        (tmp_path / "missing.txt").write_text("\n".join(
            [repr((i, trades[i]["time"], cids.get(trades[i]["orderId"]))) for i in missing]
            + [f"{e.seq} {type(e).__name__} {e.ts_event_ns // 1_000_000} {getattr(e, 'source', '')} "
               f"{getattr(e, 'message', '')[:80]} {getattr(e, 'trade_id', '')} {getattr(e, 'order_id', '')}"
               for e in evs if not isinstance(e, E.KlineClosed | E.MarketTick | E.NavSnapshot)]
            + [o.stderr for o in runs]))
    assert set(ids) == set(trades), (
        [(i, trades[i]["time"], cids.get(trades[i]["orderId"]), trades[i]["qty"]) for i in missing],
        [(type(e).__name__, e.ts_event_ns // 1_000_000, getattr(e, "reason", ""), getattr(e, "source", ""),
          getattr(e, "message", "")[:60]) for e in evs if isinstance(e, E.SessionStarted | E.SessionEnded)
         or (isinstance(e, E.VenueError) and e.source == "ws.private")])
    for f in fills:
        t = trades[int(f.trade_id)]
        assert f.position_qty_after == pytest.approx(t["posAfter"], abs=1e-9), (f.trade_id, f.order_id)
        assert f.fee_usd == pytest.approx(round(t["commission"], 8), abs=1e-12)  # served to 8 decimals
        assert f.realized_pnl == pytest.approx(round(t["realizedPnl"], 8), abs=1e-12)
    down = {f.trade_id for f in fills if f.order_id.startswith("hand-")}
    assert len(down) >= 3  # trades by hand: with the private stream down or the engine down

    # the positions view (what writes positions_state.json) at every settle point
    p = Projector()
    for ev in evs:
        p.apply(ev)
        if isinstance(ev, E.OrderFilled):
            rows = {r["symbol"]: r["qty"] for r in p.positions.render_positions(p.cfg)["positions"]}
            assert rows.get(ev.symbol, 0.0) == pytest.approx(trades[int(ev.trade_id)]["posAfter"], abs=1e-9)
    state = json.loads((home / "state" / "positions_state.json").read_text())
    got = {r["symbol"]: r["qty"] for r in state["positions"] if r["qty"]}
    assert got == pytest.approx({s: q for s, q in positions.items() if q})

    # wallet, fees, funding
    nav = [e for e in evs if isinstance(e, E.NavSnapshot)][-1]
    assert nav.wallet_balance == pytest.approx(balance, abs=1e-6)
    assert nav.nav_usd == pytest.approx(balance + upnl, abs=1e-6)
    assert sum(f.fee_usd for f in fills) == pytest.approx(sum(round(t["commission"], 8) for t in trades.values()),
                                                          abs=1e-9)
    paid = sum(e.amount_usd for e in evs if isinstance(e, E.FundingApplied))
    assert paid == pytest.approx(funding, abs=1e-6)

    # no decision on an old bar, nor before a live tick priced the book
    last_kline: dict[str, Any] = {}
    last_tick: dict[str, Any] = {}
    by_seq = {}
    intents = 0
    for ev in evs:
        if isinstance(ev, E.SessionStarted):
            last_kline, last_tick = {}, {}
        if isinstance(ev, E.KlineClosed):
            by_seq[(ev.session_id, ev.session_seq)] = ev
            last_kline[ev.symbol] = ev
        elif isinstance(ev, E.MarketTick):
            last_tick[ev.symbol] = ev
        elif isinstance(ev, E.IntentEmitted):
            intents += 1
            k = by_seq[(ev.session_id, ev.kline_ref)]
            assert not k.history and k is last_kline[ev.symbol]
            tick = last_tick[ev.symbol]
            assert tick.ts_event_ns >= k.open_time_ms * 1_000_000
    assert intents > 0

    # no grid reject of an order priced once the changed filters are recorded (one sent before
    # may be refused after: reads and orders go out on separate worker threads)
    changed = [i for i, e in enumerate(evs) if isinstance(e, E.ExchangeFiltersLoaded)
               and e.filters.get("ETHUSDT", {}).get("tick_size") == 0.05]
    sent_at = {e.order_id: i for i, e in enumerate(evs) if isinstance(e, E.OrderSubmitted)}
    grid = [sent_at[e.order_id] for e in evs if isinstance(e, E.OrderRejected) and e.code in (-4014, -1111)]
    if faults.filter_changed_at is not None and changed:
        assert all(i < changed[0] for i in grid)
    elif grid:
        pytest.fail("a grid reject with no filter change recorded")

    # -1021 at every start survived; the loop never stalled past its bound, slow endpoint or not
    slow_orders = sum(1 for r in sent if r.method in ("POST", "DELETE") and r.path == "/fapi/v1/order"
                      and any(a <= r.at < b for a, b in faults.slow))
    synced = [e.reason for e in evs if isinstance(e, E.VenueClockSynced)]
    assert synced.count("-1021") == 3
    ended = [e for e in evs if isinstance(e, E.SessionEnded)]
    loops = [e.summary["venue_loop"] for e in ended]
    assert all(lp["over_bound"] == 0 and lp["busy_max_ms"] < STALL_BOUND_MS for lp in loops), loops
    assert not [e for e in evs if isinstance(e, E.VenueError) and e.kind == "stall"]

    for v in verified:  # each session re-derives from the log (a resumed one from its account's state)
        assert v.returncode == 0, v.stdout[-1500:] + v.stderr[-1500:]
    assert all(KEY not in o.stdout + o.stderr and SECRET not in o.stdout + o.stderr for o in runs)

    bars = sum(1 for e in evs if isinstance(e, E.KlineClosed) and not e.history) // len(SYMBOLS)
    print("SOAK " + json.dumps({
        "wall_s": round(wall, 1), "live_bars_per_symbol": bars, "market_hours": round(bars * 5 / 60, 1),
        "events": len(evs), "fills": len(fills), "fills_by_hand": len(down),
        "orders": sum(1 for e in evs if isinstance(e, E.OrderSubmitted)),
        "rejects": dict(Counter(e.code for e in evs if isinstance(e, E.OrderRejected))),
        "venue_errors": dict(Counter(f"{e.source}/{e.kind}" for e in evs if isinstance(e, E.VenueError))),
        "faults": dict(faults.counts), "grid_rejects_before_change_recorded": len(grid),
        "orders_sent_to_the_slow_endpoint": slow_orders,
        "venue_loop": loops, "positions": positions, "wallet": round(balance, 4), "timing_s": timing,
    }, sort_keys=True))
