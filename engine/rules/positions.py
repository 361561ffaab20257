"""Position accounting: Binance one-way mode, one definition for the engine, the venues and the projections.

Average entry price and realised PnL on the reducing part of a fill, so the books
folded from the log, the simulated venue's books and the positions projection
agree to the last bit.
"""

from __future__ import annotations

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
