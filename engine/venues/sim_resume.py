"""Resuming the simulated venue: its paper account is a fold of the account's log.

The simulator is the exchange of a ``sim`` account. When a session of that account
starts, the venue's books must be exactly what they were when the last session
stopped, or the resumed run would not decide as an uninterrupted one. Everything
the simulator keeps is derivable from the events it emitted:

* wallet: the opening balance (``AccountOpened``) + every fill's ``realized - fee``,
  every funding amount and liquidation, in log order (the same float operations
  the matching engine did, so the result is bit-identical);
* positions: ``apply_fill`` over fills and liquidations (the venue's own rule);
* working orders: ``OrderSubmitted`` not yet answered are *arriving* (they reach
  the book ``runtime.sim.latency_ms`` after the submission's time, ``sim_intrabar``); accepted and not done are *resting*, in acceptance
  order, with what has filled;
* marks and the book: the last close of each symbol (the book), the last
  ``MarketTick`` mark (the mark), the last price at each hour's open (``MarkModel``);
* protective orders (STOP_MARKET / TAKE_PROFIT_MARKET): accepted ones wait in the
  venue's stop book, not the limit book;
* isolated margin: the funding each position settled since it opened;
* bar bookkeeping: the number of bar steps, the funding bucket, the account
  feed's halt/reconnect counters (re-run per step with the venue's own
  ``FeedState``);
* the market cursor: the first bar after the last recorded one.

``SimResume.apply(event)`` folds; ``SimResume.restore(venue)`` installs the result
(``restore_matching(m)``: the paper account alone, for the Binance dry run);
``SimResume.from_venue(venue)`` reads a running venue's books at a step boundary (for
the engine's resume checkpoint at the end of a session).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.accounting import apply_fill
from engine.ports import OrderRequest
from eventlog.events import (
    AccountOpened,
    Event,
    FundingApplied,
    KlineClosed,
    MarketTick,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    PositionLiquidated,
)

if TYPE_CHECKING:
    from engine.venues.sim_matching import SimMatching


@dataclass
class _Order:
    req: OrderRequest
    filled: float = 0.0
    sent_ns: int = 0  # OrderSubmitted's time: the order reaches the book runtime.sim.latency_ms later


class SimResume:
    """The simulator's books folded from an account's earlier events (a plain object:
    the engine's resume checkpoint stores it, ``engine.resume_checkpoint``)."""

    def __init__(self) -> None:
        from engine.venues.sim import FeedState

        self.wallet: float | None = None  # from AccountOpened's starting capital on
        self.legacy_deltas: list[float] = []  # a log without AccountOpened: applied at restore
        self.pos: dict[str, list[float]] = {}
        self.arriving: dict[str, _Order] = {}  # submission order
        self.resting: dict[str, _Order] = {}  # acceptance order
        self.last_close: dict[str, float] = {}
        self.marks: dict[str, float] = {}  # the venue's mark at the last close (MarketTick.mark)
        self.hour_last: dict[str, tuple[int, float]] = {}  # MarkModel: last price at the hour's open
        self.pos_funding: dict[str, float] = {}  # funding settled since the position opened
        self.n_steps = 0  # bar steps folded (the last one may still be open: ``step_halted``)
        self.last_open_ms: int | None = None
        self.last_close_ns = 0
        self.step_halted = False
        self.step_open = False  # the last step's feed state is not yet applied
        self.feed = FeedState()
        self.trades = 0
        self.fees = 0.0
        self.realized = 0.0
        self.funding = 0.0

    def _wallet(self, delta: float) -> None:
        if self.wallet is None:
            self.legacy_deltas.append(delta)
        else:
            self.wallet += delta

    def _close_step(self) -> None:
        if self.step_open:
            self.feed.step(self.step_halted)
            self.step_open = False

    def apply(self, ev: Event) -> None:
        t = type(ev)
        if t is KlineClosed:
            k: KlineClosed = ev  # type: ignore[assignment]
            if k.history:
                return
            if self.last_open_ms is None or k.open_time_ms > self.last_open_ms:
                self._close_step()
                self.n_steps += 1
                self.last_open_ms = k.open_time_ms
                self.last_close_ns = ev.ts_event_ns
                self.step_halted = False
                self.step_open = True
            if k.volume <= 0:
                self.step_halted = True
            self.last_close[k.symbol] = k.close
            if k.open_time_ms % 3_600_000 == 0:
                self.hour_last[k.symbol] = (k.open_time_ms, k.open)
        elif t is MarketTick:
            mt: MarketTick = ev  # type: ignore[assignment]
            if mt.mark is not None:
                self.marks[mt.symbol] = mt.mark
        elif t is OrderFilled:
            f: OrderFilled = ev  # type: ignore[assignment]
            p = self.pos.setdefault(f.symbol, [0.0, 0.0])
            before = p[0]
            p[0], p[1], _ = apply_fill(p[0], p[1], 1 if f.side == "BUY" else -1, f.qty, f.price)
            if p[0] == 0 or (p[0] > 0) != (before > 0):
                self.pos_funding[f.symbol] = 0.0  # a new position starts a new isolated wallet
            self._wallet(f.realized_pnl - f.fee_usd)
            self.fees += f.fee_usd
            self.realized += f.realized_pnl
            self.trades += 1
            o = self.resting.get(f.order_id) or self.arriving.get(f.order_id)
            if o is not None:
                o.filled = round(o.filled + f.qty, 10)
                if round(o.req.qty - o.filled, 10) <= 1e-12:
                    self.resting.pop(f.order_id, None)
                    self.arriving.pop(f.order_id, None)
        elif t is FundingApplied:
            fa: FundingApplied = ev  # type: ignore[assignment]
            self._wallet(fa.amount_usd)
            self.funding += fa.amount_usd
            self.pos_funding[fa.symbol] = self.pos_funding.get(fa.symbol, 0.0) + fa.amount_usd
        elif t is PositionLiquidated:
            lq: PositionLiquidated = ev  # type: ignore[assignment]
            p = self.pos.setdefault(lq.symbol, [0.0, 0.0])
            p[0], p[1], _ = apply_fill(p[0], p[1], 1 if lq.side == "BUY" else -1, lq.qty, lq.fill_price)
            p[0], p[1] = 0.0, 0.0  # the venue zeroes a liquidated position outright
            self.pos_funding[lq.symbol] = 0.0
            self._wallet(lq.realized_pnl - lq.fee_usd)
            self.fees += lq.fee_usd
            self.realized += lq.realized_pnl
        elif t is OrderSubmitted:
            s: OrderSubmitted = ev  # type: ignore[assignment]
            self.arriving[s.order_id] = _Order(OrderRequest(
                order_id=s.order_id, symbol=s.symbol, side=s.side, order_type=s.order_type,
                time_in_force=s.time_in_force, qty=s.qty, price=s.price, reduce_only=s.reduce_only,
                stop_price=s.stop_price, close_position=s.close_position, working_type=s.working_type),
                sent_ns=s.ts_event_ns)
        elif t is OrderAccepted:
            oid = ev.order_id  # type: ignore[attr-defined]
            o2 = self.arriving.pop(oid, None)
            if o2 is not None:
                self.resting[oid] = o2
        elif t is OrderRejected or t is OrderCanceled or t is OrderExpired:
            oid = ev.order_id  # type: ignore[attr-defined]
            self.arriving.pop(oid, None)
            self.resting.pop(oid, None)
        elif t is AccountOpened:
            self.wallet = float(ev.starting_capital_usd)  # type: ignore[attr-defined]

    @classmethod
    def from_venue(cls, venue: object) -> SimResume:
        """The books of a running ``SimVenue`` at a step boundary (what the fold of its log gives)."""
        from engine.venues.sim import SimVenue

        assert isinstance(venue, SimVenue)
        m = venue.matching
        r = cls()
        r.wallet = m.wallet
        r.pos = {s: [q, e] for s, (q, e) in m.pos.items() if q or e}
        for sym in m.symbols:
            for w in m.arriving[sym]:
                r.arriving[w.req.order_id] = _Order(w.req, w.filled, w.sent_ns)
            for oid, w in (*m.resting[sym].items(), *m.stops[sym].items()):
                r.resting[oid] = _Order(w.req, w.filled)
        r.last_close = dict(m.last)
        r.marks = dict(m.mark)
        r.hour_last = dict(venue.marks.hour_last)
        r.pos_funding = dict(m.margin.iso_funding)
        r.n_steps = venue._bar
        r.last_open_ms = venue._last_open_ms
        r.last_close_ns = venue.clock().now_ns()
        r.feed = copy.copy(venue.feed)
        r.trades, r.fees, r.realized, r.funding = m.trade_seq, m.fees_paid, m.realized, m.funding
        return r

    def restore(self, venue: object) -> None:
        """Install the folded books into a fresh ``SimVenue`` (before ``connect``)."""
        from engine.venues.sim import SimVenue

        assert isinstance(venue, SimVenue)
        self.restore_matching(venue.matching)
        venue.marks.hour_last.update(self.hour_last)
        venue.restore_counters(self.n_steps, self.last_close_ns, copy.copy(self.feed))
        if self.last_open_ms is not None:
            venue.skip_market_to(self.last_open_ms, self.last_close_ns)
        venue.resumed = True

    def restore_matching(self, m: SimMatching) -> None:
        """Install the paper account - wallet, positions, working orders, marks - into a
        fresh matching engine (the simulator's, or the Binance dry run's)."""
        from engine.venues.sim_matching import _Working
        from engine.venues.sim_stops import STOP_TYPES

        self._close_step()
        wallet = self.wallet if self.wallet is not None else m.wallet
        for d in self.legacy_deltas:
            wallet += d
        m.wallet = wallet
        for sym, (q, e) in self.pos.items():
            if sym in m.pos:
                m.pos[sym] = [q, e]
        m.trade_seq = self.trades
        m.fees_paid, m.realized, m.funding = self.fees, self.realized, self.funding
        for sym, c in self.last_close.items():
            if sym in m.pos:
                m.set_mark(sym, c)
                if sym in self.marks:
                    m.mark[sym] = self.marks[sym]
        for sym, amt in self.pos_funding.items():
            if sym in m.margin.iso_funding and m.pos.get(sym, [0.0])[0]:
                m.margin.iso_funding[sym] = amt
        for o in self.arriving.values():
            if o.req.symbol in m.arriving:
                m.arriving[o.req.symbol].append(_Working(o.req, o.filled, o.sent_ns))
        for oid, o in self.resting.items():
            if o.req.symbol in m.resting:
                book = m.stops if o.req.order_type in STOP_TYPES else m.resting
                book[o.req.symbol][oid] = _Working(o.req, o.filled)
