"""Off-exchange holdings valuation (BTC, XAUT, USDC...): a pure function of state and config.

Triggered by the first ``NavSnapshot`` of each UTC hour; each holding priced by
``engine.rules.valuation.holding_price`` (the price symbol's last price, else
``fixed_price_usd``; an unpriceable holding is left out of the event and shown as
an error by the AUM view). NAV stays the
futures wallet only; AUM = NAV + this total is a projection's business.
"""

from __future__ import annotations

from engine.drafts import Decisions, head
from engine.rules.units import HOUR_NS
from engine.rules.valuation import holding_price
from engine.state import EngineState
from eventlog.events import NavSnapshot, OffExchangeValued
from eventlog.payloads import HoldingValued


def value_holdings(state: EngineState) -> OffExchangeValued:
    """The OffExchangeValued decision (a draft, ``engine.drafts``) for the configured holdings now."""
    rows = []
    total = 0.0
    for asset, h in sorted(state.config.offexchange.holdings.items()):
        last = state.syms[h.price_symbol].price() if h.price_symbol and h.price_symbol in state.syms else None
        price, source = holding_price(h, last)
        if price is None:
            continue  # unpriceable: the AUM view reports it (engine/rules/valuation.py)
        value = h.qty * price
        total += value
        rows.append(HoldingValued(asset=asset, qty=h.qty, price_usd=price, value_usd=round(value, 8),
                                  cost_basis_usd=h.cost_basis_usd, pnl_usd=round(value - h.cost_basis_usd, 8),
                                  price_source=source))
    return OffExchangeValued(**head("account"), holdings=rows, total_usd=round(total, 8))


def on_nav(state: EngineState, ev: NavSnapshot) -> Decisions:
    if not state.config.offexchange.holdings or ev.ts_event_ns // HOUR_NS == state.offx_hour:
        return []
    return [value_holdings(state)]
