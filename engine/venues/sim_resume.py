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
  the book at the next bar); accepted and not done are *resting*, in acceptance
  order, with what has filled;
* marks and the book: the last close of each symbol;
* bar bookkeeping: the number of bar steps, the funding bucket, the account
  feed's halt/reconnect counters (re-run per step with the venue's own state
  machine);
* the market cursor: the first bar after the last recorded one.

``SimResume.apply(event)`` folds; ``SimResume.restore(venue)`` installs the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.accounting import apply_fill
from engine.ports import OrderRequest
from eventlog.events import (
    AccountOpened,
    Event,
    FundingApplied,
    KlineClosed,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    PositionLiquidated,
)


@dataclass
class _Order:
    req: OrderRequest
    filled: float = 0.0


@dataclass
class _Step:
    open_ms: int
    close_ns: int
    halted: bool = False


@dataclass
class SimResume:
    """The simulator's books folded from an account's earlier events."""

    starting_capital: float | None = None
    wallet_delta: list[float] = field(default_factory=list)  # applied in order onto the opening balance
    pos: dict[str, list[float]] = field(default_factory=dict)
    arriving: dict[str, _Order] = field(default_factory=dict)  # submission order
    resting: dict[str, _Order] = field(default_factory=dict)  # acceptance order
    last_close: dict[str, float] = field(default_factory=dict)
    steps: list[_Step] = field(default_factory=list)
    trades: int = 0
    fees: float = 0.0
    realized: float = 0.0
    funding: float = 0.0
    events: int = 0

    def apply(self, ev: Event) -> None:
        self.events += 1
        t = type(ev)
        if t is KlineClosed:
            k: KlineClosed = ev  # type: ignore[assignment]
            if k.history:
                return
            if not self.steps or k.open_time_ms > self.steps[-1].open_ms:
                self.steps.append(_Step(k.open_time_ms, ev.ts_event_ns))
            if k.volume <= 0:
                self.steps[-1].halted = True
            self.last_close[k.symbol] = k.close
        elif t is OrderFilled:
            f: OrderFilled = ev  # type: ignore[assignment]
            p = self.pos.setdefault(f.symbol, [0.0, 0.0])
            p[0], p[1], _ = apply_fill(p[0], p[1], 1 if f.side == "BUY" else -1, f.qty, f.price)
            self.wallet_delta.append(f.realized_pnl - f.fee_usd)
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
            self.wallet_delta.append(fa.amount_usd)
            self.funding += fa.amount_usd
        elif t is PositionLiquidated:
            lq: PositionLiquidated = ev  # type: ignore[assignment]
            p = self.pos.setdefault(lq.symbol, [0.0, 0.0])
            p[0], p[1], _ = apply_fill(p[0], p[1], 1 if lq.side == "BUY" else -1, lq.qty, lq.fill_price)
            self.wallet_delta.append(lq.realized_pnl - lq.fee_usd)
            self.fees += lq.fee_usd
            self.realized += lq.realized_pnl
        elif t is OrderSubmitted:
            s: OrderSubmitted = ev  # type: ignore[assignment]
            self.arriving[s.order_id] = _Order(OrderRequest(
                order_id=s.order_id, symbol=s.symbol, side=s.side, order_type=s.order_type,
                time_in_force=s.time_in_force, qty=s.qty, price=s.price, reduce_only=s.reduce_only))
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
            self.starting_capital = ev.starting_capital_usd  # type: ignore[attr-defined]

    @property
    def last_open_ms(self) -> int | None:
        return self.steps[-1].open_ms if self.steps else None

    def restore(self, venue: object) -> None:
        """Install the folded books into a fresh ``SimVenue`` (before ``connect``)."""
        from engine.venues.sim import SimVenue
        from engine.venues.sim_matching import _Working

        assert isinstance(venue, SimVenue)
        m = venue.matching
        wallet = float(self.starting_capital) if self.starting_capital is not None else m.wallet
        for d in self.wallet_delta:
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
        for o in self.arriving.values():
            if o.req.symbol in m.arriving:
                m.arriving[o.req.symbol].append(_Working(o.req, o.filled))
        for oid, o in self.resting.items():
            if o.req.symbol in m.resting:
                m.resting[o.req.symbol][oid] = _Working(o.req, o.filled)
        for st in self.steps:
            venue.replay_step_bookkeeping(st.close_ns, st.halted)
        if self.steps:
            venue.skip_market_to(self.steps[-1].open_ms, self.steps[-1].close_ns)
