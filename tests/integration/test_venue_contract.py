"""The venue contract, run once per venue: the simulator, Binance through the real
connector against the loopback fake exchange, and the Binance dry run.

Like ``StoreContract``: ``VenueContract`` holds the behaviour, each venue's harness
only says how to build the venue, move its market one bar, and read the exchange's
own truth (position, open orders, touch). Order lifecycle (accept, fill, rest,
cancel), rejects (-2022 reduce-only, -5022 post-only that would take, -4014 off the
tick grid), partial fills, the position after every fill, and restart.

Orders are real ``OrderRequest`` objects on the venue's filters; nothing is mocked.
Waits poll; no assertion depends on the machine's speed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from config.loader import load_config
from engine.accounting import round_price
from engine.exchange_filters import SymbolFilters
from engine.ports import OrderRequest, VenueUpdate
from engine.venues.binance.restart import from_fills
from engine.venues.binance.venue import BinanceVenue
from engine.venues.scripted import ScriptedMarket
from engine.venues.sim import SimVenue
from engine.venues.sim_resume import SimResume
from eventlog.events import AccountOpened, Event, OrderFilled, OrderSubmitted
from tests.fakes.binance_venue import FakeBinance
from tests.integration.test_binance_venue import make_venue, subscribed, wait_for

SYMBOLS = ["BTCUSDT", "ETHUSDT"]
WAIT = 60.0
Pred = Callable[[list[VenueUpdate]], bool]


def of(ups: list[VenueUpdate], name: str, order_id: str | None = None) -> list[VenueUpdate]:
    return [u for u in ups if u.cls.__name__ == name and (order_id is None or u.fields.get("order_id") == order_id)]


class Harness:
    """How the contract drives one venue. ``needs_bars``: orders reach the book only with
    the next bar (the simulated matching), so waiting means moving the market."""

    needs_bars = False
    venue: Any
    answered: list[VenueUpdate]  # what submit/cancel answered at once (drained with the rest)

    def submit(self, req: OrderRequest) -> None:
        self.sent = [*getattr(self, "sent", []), req]
        self.answered += self.venue.submit(req)

    def cancel(self, symbol: str, order_id: str) -> None:
        self.answered += self.venue.cancel(symbol, order_id)

    def take_answered(self) -> list[VenueUpdate]:
        out, self.answered = self.answered, []
        return out

    def start(self) -> list[VenueUpdate]:
        raise NotImplementedError

    def step(self, closes: dict[str, float] | None = None, volume: float | None = None) -> list[VenueUpdate]:
        """The exchange closes one bar (``closes``: where a symbol's bar goes, straight from
        its open; ``volume``: the bar's volume); returns the venue's updates up to its klines."""
        raise NotImplementedError

    def drain(self) -> list[VenueUpdate]:
        return self.take_answered()

    def position(self, symbol: str) -> float:
        """The exchange's own position."""
        raise NotImplementedError

    def open_orders(self) -> set[str]:
        raise NotImplementedError

    def touch(self, symbol: str) -> tuple[float, float]:
        raise NotImplementedError

    def last_close(self, symbol: str) -> float:
        raise NotImplementedError

    def restart(self, logged: list[VenueUpdate], while_down: Callable[[], None]) -> list[VenueUpdate] | None:
        """Close the venue, let ``while_down`` trade on the exchange, start a new venue
        resumed from the fills ``logged``; None when the venue's exchange dies with it."""
        return None

    def paper_restart(self, logged: list[VenueUpdate]) -> list[VenueUpdate] | None:
        """Close the venue and start a new one on the same paper account, folded from what
        was ``logged`` (and the orders sent); None when the account is an exchange's."""
        return None

    def stop(self) -> None:
        self.venue.close()

    def settle(self, until: Pred, got: list[VenueUpdate] | None = None, bars: int = 4) -> list[VenueUpdate]:
        """``got`` and what the venue reports next, up to ``until(all of it)``."""
        got = list(got or [])
        end = time.monotonic() + WAIT
        while True:
            got += self.drain()
            if until(got):
                return got
            if self.needs_bars and bars > 0:
                bars -= 1
                got += self.step()
                continue
            if not self.needs_bars and time.monotonic() < end:
                continue
            raise AssertionError(f"not reached; got {[u.cls.__name__ for u in got]}")


class SimHarness(Harness):
    needs_bars = True

    def __init__(self) -> None:
        self.cfg = load_config().config
        self.market = ScriptedMarket(SYMBOLS, start_ms=1_751_328_000_000, interval_ms=300_000)
        self.venue = SimVenue(self.cfg, SYMBOLS, self.market)
        self.closes = {"BTCUSDT": 60_000.0, "ETHUSDT": 3_000.0}
        self.answered = []

    def start(self) -> list[VenueUpdate]:
        out = self.venue.connect(SYMBOLS)
        return out + self.step() + self.step()

    def step(self, closes: dict[str, float] | None = None, volume: float | None = None) -> list[VenueUpdate]:
        bars = {}
        for s, o in self.closes.items():
            c = (closes or {}).get(s, o * 1.0005)
            bars[s] = (o, max(o, c), min(o, c), c, 1_000.0 if volume is None else volume)
            self.closes[s] = c
        self.market.push(bars)
        got = self.venue.next_updates()
        assert got is not None
        return got

    def position(self, symbol: str) -> float:
        return float(self.venue.matching.pos[symbol][0])

    def open_orders(self) -> set[str]:
        m = self.venue.matching
        return {w.req.order_id for s in SYMBOLS for w in (*m.arriving[s], *m.resting[s].values())}

    def touch(self, symbol: str) -> tuple[float, float]:
        return self.venue.matching.book[symbol]  # type: ignore[no-any-return]

    def last_close(self, symbol: str) -> float:
        return self.closes[symbol]


class FakeHarness(Harness):
    """Binance (or its dry run) against the loopback fake exchange."""

    def __init__(self, fake: FakeBinance, dry: bool):
        self.fake, self.dry = fake, dry
        self.needs_bars = dry
        self.answered = []
        self.venue = self._venue()

    def _venue(self) -> BinanceVenue:
        return make_venue(self.fake, dry=self.dry, offloop_orders=True)

    def start(self) -> list[VenueUpdate]:
        out = self.venue.connect(SYMBOLS)
        for route in ("market", "public") if self.dry else ("market", "public", "private"):
            wait_for(subscribed(self.fake, route))
        return out + self.step() + self.step()

    def step(self, closes: dict[str, float] | None = None, volume: float | None = None) -> list[VenueUpdate]:
        def script(ex: Any) -> None:
            for s in SYMBOLS:
                c = (closes or {}).get(s)
                if c is not None or volume is not None:
                    ex.scripted[s] = [(c if c is not None else ex.last(s).close * 1.0005,
                                       volume if volume is not None else 120.0)]
        self.fake.run(script)
        want = self.fake.ex.now_ms
        self.fake.step()
        got: list[VenueUpdate] = []
        end = time.monotonic() + WAIT
        while {u.fields["symbol"] for u in of(got, "KlineClosed") if u.fields["open_time_ms"] == want} != set(SYMBOLS):
            assert time.monotonic() < end, "the bar never reached the venue"
            got += self.drain()
        return got

    def drain(self) -> list[VenueUpdate]:
        got = self.venue.next_updates()
        assert got is not None
        return self.take_answered() + got

    def position(self, symbol: str) -> float:
        if self.dry:
            return float(self.venue.dry.m.pos[symbol][0])
        return float(self.fake.run(lambda ex: ex.positions[symbol][0]))

    def open_orders(self) -> set[str]:
        if self.dry:
            m = self.venue.dry.m
            return {w.req.order_id for s in SYMBOLS for w in (*m.arriving[s], *m.resting[s].values())}
        return set(self.fake.run(lambda ex: [o.client_id for o in ex.orders.values()
                                             if o.status in ("NEW", "PARTIALLY_FILLED")]))

    def touch(self, symbol: str) -> tuple[float, float]:
        if self.dry:
            return self.venue.dry.m.book[symbol]  # type: ignore[no-any-return]
        return self.fake.run(lambda ex: ex.book(symbol))  # type: ignore[no-any-return]

    def last_close(self, symbol: str) -> float:
        return float(self.fake.run(lambda ex: ex.last(symbol).close))

    def paper_restart(self, logged: list[VenueUpdate]) -> list[VenueUpdate] | None:
        if not self.dry:
            return None
        self.venue.close()
        books = SimResume()
        for ev in account_log(load_config().config.runtime.sim.initial_balance_usd, getattr(self, "sent", []), logged):
            books.apply(ev)
        self.venue = self._venue()
        self.venue.resume_paper(books)
        out = self.venue.connect(SYMBOLS)
        for route in ("market", "public"):
            wait_for(subscribed(self.fake, route))
        return out

    def restart(self, logged: list[VenueUpdate], while_down: Callable[[], None]) -> list[VenueUpdate] | None:
        if self.dry:
            return None  # a paper account: no exchange trades while it is down (paper_restart)
        self.venue.close()
        while_down()
        self.venue = self._venue()
        self.venue.resume_from(from_fills([as_fill(u) for u in of(logged, "OrderFilled")]))
        out = self.venue.connect(SYMBOLS)
        wait_for(subscribed(self.fake, "private"))
        return out


def account_log(capital: float, sent: list[OrderRequest], logged: list[VenueUpdate]) -> list[Event]:
    """What the log of a paper account holds: its opening, the orders the engine sent, and
    what the venue reported (in order; the orders first, as the engine records them before
    the venue answers)."""
    head: dict[str, Any] = {"session_id": "s", "session_seq": 1, "ts_init_ns": 0}
    out: list[Event] = [AccountOpened(**head, stream="session", ts_event_ns=0, account="paper", mode="paper",
                                      venue="binance", starting_capital_usd=capital)]
    out += [OrderSubmitted(**head, stream="orders", ts_event_ns=0, order_id=r.order_id, plan_id="p",
                           symbol=r.symbol, side=r.side, order_type=r.order_type, time_in_force=r.time_in_force,
                           qty=r.qty, price=r.price, decision_price=r.price or 0.0, reduce_only=r.reduce_only)
            for r in sent]
    return out + [u.cls(**head, stream=u.stream, ts_event_ns=u.ts_event_ns, **u.fields) for u in logged]


def as_fill(u: VenueUpdate) -> OrderFilled:
    return OrderFilled(session_id="s", session_seq=1, stream=u.stream, ts_event_ns=u.ts_event_ns, ts_init_ns=0,
                       **u.fields)


def filled(order_id: str, qty: float) -> Pred:
    return lambda g: sum(u.fields["qty"] for u in of(g, "OrderFilled", order_id)) >= qty - 1e-12


def signed(u: VenueUpdate) -> float:
    return float(u.fields["qty"]) * (1.0 if u.fields["side"] == "BUY" else -1.0)


def assert_positions_follow_the_fills(h: Harness, got: list[VenueUpdate], start: dict[str, float]) -> None:
    """Every fill's ``position_qty_after`` is the position before it plus that fill (never
    a fill counted twice), and the venue's last reading of each symbol is the exchange's."""
    pos = dict(start)
    for f in of(got, "OrderFilled"):
        s = f.fields["symbol"]
        pos[s] = round(pos.get(s, 0.0) + signed(f), 10)
        assert f.fields["position_qty_after"] == pytest.approx(pos[s], abs=1e-9), f.fields
    for s in SYMBOLS:
        assert pos.get(s, 0.0) == pytest.approx(h.position(s), abs=1e-9), s
        snaps = [u.fields["qty"] for u in of(got, "PositionSnapshot") if u.fields["symbol"] == s]
        if snaps:
            assert snaps[-1] == pytest.approx(h.position(s), abs=1e-9), s


class VenueContract:
    """Behaviour every venue must have. Subclasses provide the ``harness`` fixture."""

    @pytest.fixture
    def harness(self) -> Iterator[Harness]:
        raise NotImplementedError

    @staticmethod
    def f(h: Harness, symbol: str) -> SymbolFilters:
        return h.venue.filters()[symbol]  # type: ignore[no-any-return]

    def below(self, h: Harness, symbol: str, frac: float = 0.02) -> float:
        """A buy price ``frac`` under the bid: the market's own noise never reaches it."""
        f = self.f(h, symbol)
        bid = h.touch(symbol)[0]
        return round_price(bid * (1 - frac), f.tick_size, "BUY")

    # -- connect -------------------------------------------------------------------------

    def test_connect_records_the_filters_and_an_account_reading(self, harness: Harness) -> None:
        out = harness.start()
        names = [u.cls.__name__ for u in out]
        assert names[0] == "ExchangeFiltersLoaded" and "NavSnapshot" in names
        assert set(SYMBOLS) <= set(harness.venue.filters())
        assert {u.fields["symbol"] for u in of(out, "KlineClosed")} == set(SYMBOLS)

    # -- lifecycle -----------------------------------------------------------------------

    def test_a_market_order_is_accepted_then_filled_at_the_exchanges_position(self, harness: Harness) -> None:
        h = harness
        h.start()
        step = self.f(h, "BTCUSDT").step_size
        qty = round(10 * step, 10)
        h.submit(OrderRequest("m-1", "BTCUSDT", "BUY", "MARKET", "", qty))
        got = h.settle(lambda g: sum(u.fields["qty"] for u in of(g, "OrderFilled", "m-1")) >= qty - 1e-12)
        names = [u.cls.__name__ for u in got if u.fields.get("order_id") == "m-1"]
        assert names.index("OrderAccepted") < names.index("OrderFilled")
        fill = of(got, "OrderFilled", "m-1")[0].fields
        assert fill["fee_usd"] > 0 and fill["is_maker"] is False and fill["side"] == "BUY"
        assert_positions_follow_the_fills(h, got, {"BTCUSDT": 0.0})
        assert h.position("BTCUSDT") == pytest.approx(qty)

    def test_a_resting_post_only_is_accepted_then_canceled(self, harness: Harness) -> None:
        h = harness
        h.start()
        f = self.f(h, "ETHUSDT")
        px = self.below(h, "ETHUSDT")
        qty = round(20 * f.step_size, 10)
        h.submit(OrderRequest("r-1", "ETHUSDT", "BUY", "LIMIT", "GTX", qty, px))
        got = h.settle(lambda g: bool(of(g, "OrderAccepted", "r-1")))
        got += h.step()  # the market drifts up: nothing trades through the order
        assert not of(got, "OrderFilled") and "r-1" in h.open_orders()
        h.cancel("ETHUSDT", "r-1")  # answered now or later
        got = h.settle(lambda g: bool(of(g, "OrderCanceled", "r-1")), got)
        assert of(got, "OrderCanceled", "r-1")[0].fields["filled_qty"] == 0.0
        assert "r-1" not in h.open_orders() and h.position("ETHUSDT") == 0.0

    def test_a_resting_order_the_market_trades_through_fills_as_maker(self, harness: Harness) -> None:
        h = harness
        h.start()
        f = self.f(h, "ETHUSDT")
        px = self.below(h, "ETHUSDT")
        qty = round(20 * f.step_size, 10)
        h.submit(OrderRequest("t-1", "ETHUSDT", "BUY", "LIMIT", "GTX", qty, px))
        got = h.settle(lambda g: bool(of(g, "OrderAccepted", "t-1")))
        got += h.step({"ETHUSDT": px * 0.99})
        got = h.settle(lambda g: bool(of(g, "OrderFilled", "t-1")), got)
        fill = of(got, "OrderFilled", "t-1")[0].fields
        assert fill["is_maker"] is True and fill["price"] == pytest.approx(px) and fill["qty"] == pytest.approx(qty)
        assert_positions_follow_the_fills(h, got, {"ETHUSDT": 0.0})
        assert "t-1" not in h.open_orders()

    # -- rejects -------------------------------------------------------------------------

    def test_rejects_carry_binances_codes(self, harness: Harness) -> None:
        h = harness
        h.start()
        f = self.f(h, "ETHUSDT")
        qty = round(20 * f.step_size, 10)
        _, ask = h.touch("ETHUSDT")
        h.submit(OrderRequest("x-ro", "ETHUSDT", "SELL", "MARKET", "", qty, reduce_only=True))
        h.submit(OrderRequest("x-take", "ETHUSDT", "BUY", "LIMIT", "GTX", qty,
                                    round_price(ask + 5 * f.tick_size, f.tick_size, "SELL")))
        h.submit(OrderRequest("x-grid", "ETHUSDT", "BUY", "LIMIT", "GTX", qty,
                                    self.below(h, "ETHUSDT") + f.tick_size / 2))
        got = h.settle(lambda g: len(of(g, "OrderRejected")) >= 3)
        codes = {u.fields["order_id"]: u.fields["code"] for u in of(got, "OrderRejected")}
        assert codes == {"x-ro": -2022, "x-take": -5022, "x-grid": -4014}
        assert not of(got, "OrderFilled") and not of(got, "OrderAccepted")
        assert h.open_orders() == set() and h.position("ETHUSDT") == 0.0

    def test_cancel_of_an_unknown_order_is_refused_2011(self, harness: Harness) -> None:
        h = harness
        h.start()
        h.cancel("ETHUSDT", "never-placed")
        got = h.settle(lambda g: any(u.fields.get("code") == -2011 or "-2011" in str(u.fields.get("message", ""))
                                     for u in g))
        assert not of(got, "OrderCanceled")

    # -- partial fills and positions -----------------------------------------------------

    def test_partial_fills_add_up_and_the_position_follows_each_one(self, harness: Harness) -> None:
        h = harness
        h.start()
        f = self.f(h, "ETHUSDT")
        qty = round(100 * f.step_size, 10)  # 0.1 ETH; a bar of volume 0.2 lets a quarter of it trade
        if isinstance(h, FakeHarness) and not h.dry:
            h.fake.run(lambda ex: setattr(ex, "partial_fills", True))
        px = self.below(h, "ETHUSDT")
        h.submit(OrderRequest("p-1", "ETHUSDT", "BUY", "LIMIT", "GTX", qty, px))
        got = h.settle(lambda g: bool(of(g, "OrderAccepted", "p-1")))
        got += h.step({"ETHUSDT": px * 0.99}, volume=0.2)
        got = h.settle(lambda g: bool(of(g, "OrderFilled", "p-1")), got)
        assert "p-1" in h.open_orders()  # part of it still rests
        got += h.step({"ETHUSDT": px * 0.98}, volume=0.2)
        got = h.settle(lambda g: sum(u.fields["qty"] for u in of(g, "OrderFilled", "p-1")) >= qty - 1e-12, got)
        fills = of(got, "OrderFilled", "p-1")
        assert len(fills) >= 2 and sum(u.fields["qty"] for u in fills) == pytest.approx(qty)
        assert len({u.fields["trade_id"] for u in fills}) == len(fills)
        assert_positions_follow_the_fills(h, got, {"ETHUSDT": 0.0})
        assert "p-1" not in h.open_orders()

    def test_the_position_after_every_fill_is_the_exchanges(self, harness: Harness) -> None:
        h = harness
        h.start()
        f = self.f(h, "BTCUSDT")
        legs = [("BUY", 30), ("SELL", 10), ("SELL", 40), ("BUY", 20)]  # long, less long, short, flat
        got: list[VenueUpdate] = []
        for i, (side, lots) in enumerate(legs):
            oid = f"leg-{i}"
            qty = round(lots * f.step_size, 10)
            h.submit(OrderRequest(oid, "BTCUSDT", side, "MARKET", "", qty))
            got = h.settle(filled(oid, qty), got)
            assert_positions_follow_the_fills(h, got, {"BTCUSDT": 0.0})
        assert h.position("BTCUSDT") == pytest.approx(0.0, abs=1e-12)
        realized = [u.fields["realized_pnl"] for u in of(got, "OrderFilled")]
        assert realized[0] == 0.0 and any(r != 0.0 for r in realized[1:])

    # -- restart -------------------------------------------------------------------------

    def test_a_restart_records_what_happened_while_down_once_and_takes_the_exchanges_positions(
            self, harness: Harness) -> None:
        h = harness
        logged = h.start()
        f = self.f(h, "ETHUSDT")
        qty = round(20 * f.step_size, 10)
        h.submit(OrderRequest("d-1", "ETHUSDT", "BUY", "MARKET", "", qty))
        logged = h.settle(lambda g: bool(of(g, "OrderFilled", "d-1")), logged)

        def while_down() -> None:  # someone trades by hand while the engine is down
            h.fake.run(lambda ex: ex.place({"symbol": "ETHUSDT", "side": "BUY", "type": "MARKET",  # type: ignore[attr-defined]
                                            "quantity": f"{qty:g}", "newClientOrderId": "by-hand"}))

        out = h.restart(logged, while_down)
        if out is None:
            pytest.skip(f"{type(h).__name__}: a paper account, no exchange trades while it is down "
                        "(test_a_paper_restart_continues_the_paper_account)")
        fills = of(out, "OrderFilled")
        assert [u.fields["order_id"] for u in fills] == ["by-hand"]  # d-1 was logged already
        assert fills[0].fields["position_qty_after"] == pytest.approx(2 * qty)
        recon = of(out, "VenueReconciled")[0].fields
        assert [p.qty for p in recon["positions"] if p.symbol == "ETHUSDT"] == [pytest.approx(h.position("ETHUSDT"))]
        assert [u.fields["qty"] for u in of(out, "PositionSnapshot") if u.fields["symbol"] == "ETHUSDT"][-1] == \
            pytest.approx(2 * qty)


    def test_a_paper_restart_continues_the_paper_account(self, harness: Harness) -> None:
        """A paper account (the dry run) resumes its wallet, positions and working orders from
        its log; a restart does not start a fresh paper balance."""
        h = harness
        logged = h.start()
        f = self.f(h, "ETHUSDT")
        qty = round(20 * f.step_size, 10)
        h.submit(OrderRequest("p-1", "ETHUSDT", "BUY", "MARKET", "", qty))
        logged = h.settle(lambda g: bool(of(g, "OrderFilled", "p-1")), logged)
        price = self.below(h, "ETHUSDT", 0.2)
        h.submit(OrderRequest("p-2", "ETHUSDT", "BUY", "LIMIT", "GTX", qty, price))
        logged = h.settle(lambda g: bool(of(g, "OrderAccepted", "p-2")), logged)
        logged += h.drain()
        wallet = [u.fields["wallet_balance"] for u in of(logged, "NavSnapshot")][-1]
        position = h.position("ETHUSDT")
        out = h.paper_restart(logged)
        if out is None:
            pytest.skip(f"{type(h).__name__}: not a paper account kept in the log (restart covers an exchange's; "
                        "the simulator's resume: tests/integration/test_sim_resume_venue.py)")
        assert position == pytest.approx(qty) and wallet < load_config().config.runtime.sim.initial_balance_usd
        nav = of(out, "NavSnapshot")[0].fields
        assert nav["wallet_balance"] == wallet  # the same float: the fold does what the matching did
        assert h.position("ETHUSDT") == position
        assert [u.fields["qty"] for u in of(out, "PositionSnapshot") if u.fields["symbol"] == "ETHUSDT"] == [position]
        assert h.open_orders() == {"p-2"}  # the resting order rests on
        got = h.step() + h.step()  # the bars go on; nothing fills twice, nothing is lost
        assert not of(got, "OrderFilled") and h.open_orders() == {"p-2"} and h.position("ETHUSDT") == position


class TestSimVenue(VenueContract):
    @pytest.fixture
    def harness(self) -> Iterator[Harness]:
        h = SimHarness()
        yield h
        h.stop()


class TestBinanceVenue(VenueContract):
    @pytest.fixture
    def harness(self) -> Iterator[Harness]:
        with FakeBinance(SYMBOLS, history=30) as fake:
            h = FakeHarness(fake, dry=False)
            yield h
            h.stop()


class TestBinanceDryRun(VenueContract):
    @pytest.fixture
    def harness(self) -> Iterator[Harness]:
        with FakeBinance(SYMBOLS, history=30) as fake:
            h = FakeHarness(fake, dry=True)
            yield h
            h.stop()
