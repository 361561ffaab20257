"""Symbol filters from ``GET /fapi/v1/exchangeInfo`` through the shared ``engine.exchange_filters``.

Read at connect, re-read every ``FILTER_REFRESH_S`` and after an order is refused for
its price or quantity grid (-4014 / -1111 / -1013); every reading that differs from the
one in force is recorded as ``ExchangeFiltersLoaded`` (source ``exchangeInfo``), which is
what the engine rounds orders to.
"""

from __future__ import annotations

from typing import Any

from engine.exchange_filters import FilterError, SymbolFilters, parse_exchange_info, to_event_fields
from engine.ports import VenueUpdate
from engine.venues.binance.client import RestError
from engine.venues.binance.convert import STREAM_VENUE
from engine.venues.binance.errors import Faults
from eventlog.events import ExchangeFiltersLoaded

FILTER_REFRESH_S = 3600.0
GRID_CODES = frozenset({-4014, -1111, -1013, -4003, -4004, -4005, -4013})  # refused for price/qty filters


def load_filters(raw: Any, faults: Faults, symbols: list[str],
                 current: dict[str, SymbolFilters]) -> tuple[dict[str, SymbolFilters] | None, list[VenueUpdate]]:
    """The symbols' filters from an exchangeInfo answer (or the ``RestError`` the read
    raised: None) and what to record: an ``ExchangeFiltersLoaded`` when they differ from
    ``current``, VenueErrors for symbols not listed, not trading, or without filters."""
    if isinstance(raw, RestError):
        return None, [faults.rest(raw)]
    if not isinstance(raw, dict):
        return None, [faults.err("rest.exchangeInfo", "parse", "$", f"expected an object, got {type(raw).__name__}")]
    try:
        found = parse_exchange_info(raw, symbols)
    except FilterError as exc:
        return None, [faults.err("rest.exchangeInfo", "parse", exc.field, exc.message)]
    out: list[VenueUpdate] = []
    rows = {s.get("symbol"): s for s in raw.get("symbols", []) if isinstance(s, dict)}
    for sym in symbols:
        if sym not in found:
            out.append(faults.err("rest.exchangeInfo", "parse", "symbols", f"{sym} not listed"))
        elif rows[sym].get("status", "TRADING") != "TRADING":
            out.append(faults.err("rest.exchangeInfo", "parse", f"symbols[{sym}].status",
                                  f"status is {rows[sym].get('status')}, not TRADING"))
    if found != current:
        out.insert(0, VenueUpdate(ExchangeFiltersLoaded, STREAM_VENUE, faults.now_ns(),
                                  to_event_fields(found, "exchangeInfo")))
    return found, out
