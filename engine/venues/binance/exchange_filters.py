"""Symbol filters from ``GET /fapi/v1/exchangeInfo`` (tick size, step size, min qty/notional)."""

from __future__ import annotations

from engine.ports import SymbolFilters, VenueUpdate
from engine.venues.binance.client import BinanceRest
from engine.venues.binance.errors import Faults, VenueStartError
from engine.venues.binance.wire import RestExchangeInfo, WireError, convert


def load_filters(rest: BinanceRest, faults: Faults,
                 symbols: list[str]) -> tuple[dict[str, SymbolFilters], list[VenueUpdate]]:
    """Each symbol's filters; a symbol without usable filters is a VenueError (and left out)."""
    raw, errs = faults.attempt("rest.exchangeInfo", rest.exchange_info)
    if raw is None:
        raise VenueStartError(f"exchangeInfo unavailable: {errs[0].fields['message']}")
    try:
        info = convert(raw, RestExchangeInfo)
    except WireError as exc:
        return {}, [faults.err("rest.exchangeInfo", "parse", exc.field, exc.message)]
    out: list[VenueUpdate] = []
    found: dict[str, SymbolFilters] = {}
    by_symbol = {s.symbol: s for s in info.symbols}
    for sym in symbols:
        s = by_symbol.get(sym)
        if s is None:
            out.append(faults.err("rest.exchangeInfo", "parse", "symbols", f"{sym} not listed"))
            continue
        f = {x.filter_type: x for x in s.filters}
        price, lot, notional = f.get("PRICE_FILTER"), f.get("LOT_SIZE"), f.get("MIN_NOTIONAL")
        if price is None or lot is None or price.tick_size is None or lot.step_size is None:
            out.append(faults.err("rest.exchangeInfo", "parse", f"symbols[{sym}].filters",
                                  "PRICE_FILTER.tickSize or LOT_SIZE.stepSize missing"))
            continue
        found[sym] = SymbolFilters(
            tick_size=price.tick_size, step_size=lot.step_size, min_qty=lot.min_qty or lot.step_size,
            min_notional=(notional.notional if notional and notional.notional is not None else 0.0))
        if s.status != "TRADING":
            out.append(faults.err("rest.exchangeInfo", "parse", f"symbols[{sym}].status",
                                  f"status is {s.status}, not TRADING"))
    return found, out
