"""Round trips: flat -> position -> flat, net of fees and funding.

A round trip opens with the first fill on a flat symbol and closes with the fill
that brings it back to flat (a fill that flips the position closes the trip and
opens the next one with the remainder; the flipping fill's fee is shared pro rata, as in
``engine.rules.perf.RoundTrips``, the KPI fold). Its net PnL is the venue's realised PnL
minus the fees paid plus the funding received while it was open; its return is
that net over the entry notional (the notional of every fill that increased the
position). Expectancy is the mean net per round trip (USD, and as a fraction of
entry notional).
"""

from __future__ import annotations

from dataclasses import dataclass

QTY_DECIMALS = 10


@dataclass(frozen=True, slots=True)
class RoundTrip:
    symbol: str
    opened_ns: int
    closed_ns: int
    side: str  # long | short
    entry_notional_usd: float
    realized_pnl_usd: float
    fees_usd: float
    funding_usd: float

    @property
    def net_usd(self) -> float:
        return self.realized_pnl_usd - self.fees_usd + self.funding_usd

    @property
    def return_frac(self) -> float:
        return self.net_usd / self.entry_notional_usd if self.entry_notional_usd > 0 else 0.0


class OpenTrip:
    """The trip in progress on one symbol (signed qty folded from fills)."""

    __slots__ = ("entry_notional", "fees", "funding", "opened_ns", "qty", "realized", "symbol")

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.qty = 0.0
        self.entry_notional = self.fees = self.funding = self.realized = 0.0
        self.opened_ns = 0

    def on_fill(self, side: str, qty: float, price: float, fee: float, realized: float,
                ts_ns: int) -> RoundTrip | None:
        """Fold one fill; returns the round trip it closed, if any."""
        dq = qty if side == "BUY" else -qty
        q0 = self.qty
        if q0 == 0.0:
            self.opened_ns = ts_ns
        increasing = q0 == 0.0 or (q0 > 0) == (dq > 0)
        new_q = round(q0 + dq, QTY_DECIMALS)
        self.realized += realized
        if increasing:
            self.fees += fee
            self.entry_notional += qty * price
            self.qty = new_q
            return None
        if new_q != 0.0 and (new_q > 0) == (q0 > 0):  # a partial reduce: the trip goes on
            self.fees += fee
            self.qty = new_q
            return None
        # flat or flipped: the trip closes; a flip's fee is shared by the closing share of the
        # fill (as engine.rules.perf.RoundTrips does), the rest opens the next trip
        share = abs(q0) / qty if qty > 0 else 1.0
        self.fees += fee * share
        closed = RoundTrip(self.symbol, self.opened_ns, ts_ns, "long" if q0 > 0 else "short",
                           round(self.entry_notional, 8), round(self.realized, 8), round(self.fees, 8),
                           round(self.funding, 8))
        self.entry_notional = self.fees = self.funding = self.realized = 0.0
        if new_q != 0.0:  # flipped: the remainder opens the next trip at this price
            self.opened_ns = ts_ns
            self.entry_notional = abs(new_q) * price
            self.fees = fee * (1.0 - share)
        self.qty = new_q
        return closed

    def on_funding(self, amount_usd: float) -> None:
        if self.qty != 0.0:
            self.funding += amount_usd


@dataclass(frozen=True, slots=True)
class TripStats:
    round_trips: int
    wins: int
    losses: int
    win_rate: float | None
    avg_win_usd: float | None
    avg_loss_usd: float | None
    expectancy_usd: float | None
    expectancy_frac: float | None
    net_pnl_usd: float
    fees_usd: float
    funding_usd: float

    def as_dict(self) -> dict[str, float | int | None]:
        return {k: (round(v, 8) if isinstance(v, float) else v) for k, v in (
            ("round_trips", self.round_trips), ("wins", self.wins), ("losses", self.losses),
            ("win_rate", self.win_rate), ("avg_win_usd", self.avg_win_usd), ("avg_loss_usd", self.avg_loss_usd),
            ("expectancy_usd", self.expectancy_usd), ("expectancy_frac", self.expectancy_frac),
            ("net_pnl_usd", self.net_pnl_usd), ("fees_usd", self.fees_usd), ("funding_usd", self.funding_usd))}


def trip_stats(trips: list[RoundTrip]) -> TripStats:
    """Win rate, average win / loss and expectancy (net of fees and funding) of some trips."""
    n = len(trips)
    nets = [t.net_usd for t in trips]
    wins = [x for x in nets if x > 0]
    losses = [x for x in nets if x <= 0]
    return TripStats(
        round_trips=n, wins=len(wins), losses=len(losses),
        win_rate=len(wins) / n if n else None,
        avg_win_usd=sum(wins) / len(wins) if wins else None,
        avg_loss_usd=sum(losses) / len(losses) if losses else None,
        expectancy_usd=sum(nets) / n if n else None,
        expectancy_frac=sum(t.return_frac for t in trips) / n if n else None,
        net_pnl_usd=sum(nets, 0.0), fees_usd=sum((t.fees_usd for t in trips), 0.0),
        funding_usd=sum((t.funding_usd for t in trips), 0.0),
    )
