"""Named upcasters: old event versions are rewritten on read, never in the log.

Each upcaster takes the raw dict of version N and returns version N+1. Register it
in ``UPCASTERS`` under (type name, N), bump ``CURRENT_VERSIONS`` and the event's
``v`` default (``tests/unit/test_upcast.py`` checks they agree); the stored bytes stay
as they were (the log is append-only), decoding applies the chain.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Raw = dict[str, Any]

# Current schema version per event type (absent = 1).
CURRENT_VERSIONS: dict[str, int] = {"VenueReconciled": 2}


def _number(row: Raw, *names: str) -> float | None:
    """The first of ``names`` present in ``row`` as a float (Binance sends numbers as strings)."""
    for name in names:
        value = row.get(name)
        if value is None or isinstance(value, bool):
            continue
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name}: not a number ({value!r})") from None
    return None


def venue_reconciled_v1_v2(raw: Raw) -> Raw:
    """v1 rows were plain dicts. Open orders: ``type`` -> ``order_type``. Positions: the
    engine wrote snake_case, but a v1 row in Binance's names (``positionAmt``,
    ``entryPrice``, ``markPrice``, ``unRealizedProfit``, numbers as strings) was accepted
    by the projection: it becomes the same typed row. Rows that are not objects, or have
    no symbol or quantity, were skipped by every fold and are dropped."""
    positions = []
    for row in raw.get("positions") or []:
        if not isinstance(row, dict) or not isinstance(row.get("symbol"), str):
            continue
        qty = _number(row, "qty", "positionAmt")
        if qty is None:
            continue
        positions.append({
            "symbol": row["symbol"], "qty": qty,
            "entry_price": _number(row, "entry_price", "entryPrice") or 0.0,
            "mark_price": _number(row, "mark_price", "markPrice") or 0.0,
            "unrealized_pnl": _number(row, "unrealized_pnl", "unRealizedProfit") or 0.0,
        })
    orders = []
    for row in raw.get("open_orders") or []:
        row = dict(row)
        if "type" in row:
            row["order_type"] = row.pop("type")
        orders.append(row)
    raw["positions"] = positions
    raw["open_orders"] = orders
    return raw


UPCASTERS: dict[tuple[str, int], Callable[[Raw], Raw]] = {
    ("VenueReconciled", 1): venue_reconciled_v1_v2,
}


def upcast(raw: Raw) -> Raw:
    """Apply registered upcasters until the payload is at its current version."""
    name = raw["type"]
    version = int(raw.get("v", 1))
    target = CURRENT_VERSIONS.get(name, 1)
    while version < target:
        step = UPCASTERS[(name, version)]
        raw = step(dict(raw))
        version += 1
        raw["v"] = version
    return raw
