"""Typed nested payloads of events: the rows inside an event's list fields.

Frozen, keyword-only msgspec Structs with snake_case names (units in the names, like
``eventlog.events``). They encode as msgpack maps of all their fields (as the dicts did),
so a payload that already had these keys decodes unchanged; where a shape changed,
the event's version was bumped and ``eventlog.upcast`` rewrites the old rows on read.
The venue adapters convert the exchange's own names (Binance camelCase) into these at
the edge; folds and projections read the typed fields only.
"""

from __future__ import annotations

from typing import Any

import msgspec


class Payload(msgspec.Struct, frozen=True, kw_only=True):
    """Base of the nested payloads (no tag: the owning event's field says what it is)."""


class ReconciledPosition(Payload, frozen=True, kw_only=True):
    """One non-flat position as the venue reported it (``VenueReconciled.positions``);
    ``qty`` signed: > 0 long, < 0 short."""

    symbol: str
    qty: float
    entry_price: float = 0.0
    mark_price: float = 0.0
    unrealized_pnl: float = 0.0


class OpenOrder(Payload, frozen=True, kw_only=True):
    """One order resting at the venue when it was read (``VenueReconciled.open_orders``)."""

    order_id: str  # client order id
    symbol: str
    side: str  # BUY | SELL, as the venue listed it
    order_type: str  # LIMIT | MARKET | STOP_MARKET ...
    qty: float
    price: float = 0.0
    venue_order_id: str = ""
    time_in_force: str = ""
    filled_qty: float = 0.0
    status: str = ""


class HoldingValued(Payload, frozen=True, kw_only=True):
    """One off-exchange holding at a valuation (``OffExchangeValued.holdings``).

    ``price_source``: the price symbol whose last price was used, or ``fixed`` (the
    config's ``fixed_price_usd``).
    """

    asset: str
    qty: float
    price_usd: float
    value_usd: float
    cost_basis_usd: float = 0.0
    pnl_usd: float = 0.0
    price_source: str = ""


class FilterCorrection(Payload, frozen=True, kw_only=True):
    """A config filter replaced by the mainnet value (``ExchangeFiltersLoaded.corrections``)."""

    symbol: str
    field: str  # tick_size | step_size | min_qty
    config: float
    mainnet: float


class ConfigChange(Payload, frozen=True, kw_only=True):
    """One config leaf that changed (``ConfigChanged.changes``): dotted ``key``, values before
    and after (``None`` when the leaf did not exist); values are the config's own JSON leaves."""

    key: str
    old: Any = None
    new: Any = None


PAYLOAD_TYPES: tuple[type[Payload], ...] = (
    ReconciledPosition, OpenOrder, HoldingValued, FilterCorrection, ConfigChange,
)
