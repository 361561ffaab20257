"""Off-exchange holdings: how one holding is priced, for the engine's valuation and the AUM view.

A holding with a ``price_symbol`` is priced at that symbol's last price in the log
(mark, else mid, else the last close) once there is one; otherwise at its
``fixed_price_usd``; a holding with neither is **unpriceable** - the AUM view shows
it as an explicit error instead of leaving it out.
"""

from __future__ import annotations

from typing import Protocol


class HoldingLike(Protocol):
    @property
    def qty(self) -> float: ...
    @property
    def cost_basis_usd(self) -> float: ...
    @property
    def price_symbol(self) -> str | None: ...
    @property
    def fixed_price_usd(self) -> float | None: ...


def holding_price(h: HoldingLike, last_price: float | None) -> tuple[float | None, str]:
    """(price, source): source is the price symbol, ``fixed`` or ``none`` (unpriceable)."""
    if h.price_symbol and last_price is not None and last_price > 0:
        return last_price, h.price_symbol
    if h.fixed_price_usd is not None:
        return h.fixed_price_usd, "fixed"
    return None, "none"


def unpriceable_reason(asset: str, h: HoldingLike) -> str:
    if h.price_symbol:
        return f"{asset}: no {h.price_symbol} price in the log yet and no fixed_price_usd"
    return f"{asset}: neither price_symbol nor fixed_price_usd configured"
