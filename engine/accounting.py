"""Position and cash arithmetic shared by the simulated venue and the engine's fold.

One definition (Binance one-way mode: average entry price, realised PnL on the
reducing part of a fill) so the books folded from the log and the simulated
venue's own books agree to the last bit.
"""

from __future__ import annotations

import math
from functools import cache

QTY_DECIMALS = 10


def apply_fill(qty0: float, entry0: float, side_sign: int, qty: float, price: float) -> tuple[float, float, float]:
    """Apply a fill of ``qty`` (> 0) at ``price`` to a signed position.

    Returns ``(new_qty, new_entry, realized_pnl)``. Adding keeps a volume-weighted
    entry; reducing realises ``closed * (price - entry) * sign(position)``; a flip
    re-opens the remainder at the fill price.
    """
    dq = side_sign * qty
    if qty0 == 0.0 or (qty0 > 0) == (dq > 0):
        new_qty = round(qty0 + dq, QTY_DECIMALS)
        entry = (abs(qty0) * entry0 + qty * price) / abs(new_qty) if new_qty else 0.0
        return new_qty, entry, 0.0
    closing = min(qty, abs(qty0))
    realized = closing * (price - entry0) * (1.0 if qty0 > 0 else -1.0)
    new_qty = round(qty0 + dq, QTY_DECIMALS)
    if new_qty == 0.0:
        return 0.0, 0.0, realized
    if (new_qty > 0) == (qty0 > 0):
        return new_qty, entry0, realized
    return new_qty, price, realized  # flipped: the remainder opens at the fill price


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
