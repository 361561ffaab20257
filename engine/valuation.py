"""Off-exchange holdings valuation (BTC, XAUT, USDC...): a pure function of state and config.

Triggered by the first ``NavSnapshot`` of each UTC hour. A holding with a
``price_symbol`` is valued at that symbol's last tick (mark, else mid); without
a tick yet, or without a price symbol, at ``fixed_price_usd``. NAV stays the
futures wallet only; AUM = NAV + this total is a projection's business.
"""

from __future__ import annotations

from typing import Any

from engine.state import EngineState
from eventlog.events import NavSnapshot, OffExchangeValued

HOUR_NS = 3_600_000_000_000


def value_holdings(state: EngineState) -> dict[str, Any]:
    """OffExchangeValued fields for the configured holdings at the current state."""
    rows = []
    total = 0.0
    for asset, h in sorted(state.config.offexchange.holdings.items()):
        price: float | None = None
        source = "fixed"
        if h.price_symbol and h.price_symbol in state.syms and state.syms[h.price_symbol].price() > 0:
            price = state.syms[h.price_symbol].price()
            source = h.price_symbol
        elif h.fixed_price_usd is not None:
            price = h.fixed_price_usd
        if price is None:
            continue
        value = h.qty * price
        total += value
        rows.append({"asset": asset, "qty": h.qty, "price_usd": price, "value_usd": round(value, 8),
                     "cost_basis_usd": h.cost_basis_usd, "pnl_usd": round(value - h.cost_basis_usd, 8),
                     "price_source": source})
    return {"holdings": rows, "total_usd": round(total, 8)}


def on_nav(state: EngineState, ev: NavSnapshot) -> list[tuple[type, str, dict[str, Any]]]:
    if not state.config.offexchange.holdings or ev.ts_event_ns // HOUR_NS == state.offx_hour:
        return []
    return [(OffExchangeValued, "account", value_holdings(state))]
