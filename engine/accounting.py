"""Exchange rounding (lot size, tick grid) and position arithmetic for the engine and the venues.

``apply_fill`` (average entry price, realised PnL) lives in ``engine.rules.positions``
so the projections use the very same rule; it is re-exported here for the venues.
"""

from __future__ import annotations

import math
from functools import cache

from engine.rules.positions import QTY_DECIMALS, apply_fill

__all__ = ["QTY_DECIMALS", "apply_fill", "round_price", "round_step_down", "step_decimals"]


@cache
def step_decimals(step: float) -> int:
    """Decimals needed to print a multiple of ``step`` exactly (0.001 -> 3, 1 -> 0)."""
    if step >= 1:
        return 0
    return max(0, min(12, round(-math.log10(step) + 0.4999)))


def round_step_down(qty: float, step: float) -> float:
    """Largest multiple of ``step`` not above ``qty`` (exchange LOT_SIZE rounding)."""
    if qty <= 0:
        return 0.0
    n = math.floor(qty / step + 1e-9)
    return round(n * step, step_decimals(step))


def round_price(price: float, tick: float, side: str) -> float:
    """Round a limit price onto the tick grid, never more aggressive than asked."""
    n = price / tick
    n = math.floor(n + 1e-9) if side == "BUY" else math.ceil(n - 1e-9)
    return round(n * tick, step_decimals(tick))
