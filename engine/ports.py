"""Ports: what the loop needs from a venue and a clock. Adapters implement these.

A venue turns exchange traffic into ``VenueUpdate`` items - the *content* of domain
events (class + fields), already parsed and converted at the edge. The loop stamps
the header (session, session_seq, ts_init_ns) when it records them through the
log writer. Order results (ack, reject, fill) come back as updates too, either
straight from ``submit``/``cancel`` or later from ``next_updates``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from engine.exchange_filters import SymbolFilters
from eventlog.events import Event

__all__ = ["Clock", "OrderRequest", "SymbolFilters", "Venue", "VenueUpdate"]


class Clock(Protocol):
    def now_ns(self) -> int: ...


@dataclass(slots=True)
class VenueUpdate:
    """Content of one domain event produced at the venue edge (treat as immutable).

    Not ``frozen``: a frozen dataclass costs ~4x more to build, and the simulator builds
    several per bar.
    """

    cls: type[Event]
    stream: str
    ts_event_ns: int
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OrderRequest:
    """An order the router wants on the venue (ids derived from inputs: deterministic)."""

    order_id: str
    symbol: str
    side: str  # BUY | SELL
    order_type: str  # LIMIT | MARKET | STOP_MARKET | TAKE_PROFIT_MARKET
    time_in_force: str  # GTX (post-only) | IOC | GTC
    qty: float
    price: float | None = None
    reduce_only: bool = False
    stop_price: float | None = None  # trigger of STOP_MARKET / TAKE_PROFIT_MARKET
    close_position: bool = False  # close the whole position when triggered (qty ignored)
    working_type: str = "CONTRACT_PRICE"  # which price triggers: MARK_PRICE | CONTRACT_PRICE


class Venue(Protocol):
    name: str  # "sim" | "binance"
    mode: str  # "sim" | "binance-dry" | "testnet" | "live"

    def clock(self) -> Clock:
        """The clock this venue runs on (simulated time or the wall clock)."""
        ...

    def connect(self, symbols: list[str]) -> list[VenueUpdate]:
        """Start streams; return reconciliation updates (exchange state is authoritative)."""
        ...

    def filters(self) -> dict[str, SymbolFilters]: ...

    def next_updates(self) -> list[VenueUpdate] | None:
        """Next batch of market/account/order updates; [] if nothing yet, None when the data ended."""
        ...

    def submit(self, req: OrderRequest) -> list[VenueUpdate]:
        """Send an order; immediate results (ack/reject/fills) are returned."""
        ...

    def cancel(self, symbol: str, order_id: str) -> list[VenueUpdate]: ...

    def close(self) -> None: ...
