"""Binance USD-M exchange filters: parse exchangeInfo, round onto the grid, validate orders.

One module for both venues. The Binance adapter parses the ``exchangeInfo`` payload
it reads at connect; the simulated venue builds the same shape from an
exchangeInfo-shaped JSON file (``exchange/exchangeInfo.json`` in a market directory),
else from the config corrected to mainnet tick/step sizes (``exchange/universe_meta.csv``).
Either way the result is recorded as one ``ExchangeFiltersLoaded`` event
(``to_event_fields``) and every order is validated by ``validate_order`` with the
error code Binance returns for the same breach.

Filters modelled (names as in exchangeInfo):

* ``PRICE_FILTER`` minPrice / maxPrice / tickSize -> -4013, -4014 (and -4016/-4024
  via ``PERCENT_PRICE`` for limit prices);
* ``LOT_SIZE`` minQty / maxQty / stepSize (limit orders) and ``MARKET_LOT_SIZE``
  (market orders) -> -4003, -4004, -4005, -1111 (off the step);
* ``MIN_NOTIONAL`` notional -> -4164 (reduce-only orders are exempt, as on Binance);
* ``PERCENT_PRICE`` multiplierUp / multiplierDown against the mark price -> -4016 /
  -4024 for limit prices, -4131 for a market order whose best price breaches it.

Pure: no I/O except the explicit file readers at the bottom.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from engine.accounting import round_price, round_step_down, step_decimals
from eventlog.payloads import FilterCorrection

__all__ = [
    "FilterError",
    "SymbolFilters",
    "correct",
    "from_config",
    "from_event_fields",
    "load_exchange_info_file",
    "load_universe_meta",
    "on_grid",
    "parse_exchange_info",
    "round_price",
    "round_qty",
    "to_event_fields",
    "to_exchange_info",
    "validate_order",
]


class FilterError(ValueError):
    """An exchangeInfo payload that does not parse; ``field`` names where."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class SymbolFilters:
    """One symbol's exchange filters (Binance names in the comments)."""

    tick_size: float  # PRICE_FILTER.tickSize
    step_size: float  # LOT_SIZE.stepSize
    min_qty: float  # LOT_SIZE.minQty
    min_notional: float  # MIN_NOTIONAL.notional
    min_price: float = 0.0  # PRICE_FILTER.minPrice
    max_price: float = 0.0  # PRICE_FILTER.maxPrice (0 = no cap)
    max_qty: float = 0.0  # LOT_SIZE.maxQty (0 = no cap)
    market_step_size: float = 0.0  # MARKET_LOT_SIZE.stepSize (0 = LOT_SIZE's)
    market_min_qty: float = 0.0  # MARKET_LOT_SIZE.minQty (0 = LOT_SIZE's)
    market_max_qty: float = 0.0  # MARKET_LOT_SIZE.maxQty (0 = no cap)
    multiplier_up: float = 0.0  # PERCENT_PRICE.multiplierUp (0 = not enforced)
    multiplier_down: float = 0.0  # PERCENT_PRICE.multiplierDown

    def lot(self, order_type: str) -> tuple[float, float, float]:
        """(step, min, max) of the lot filter that applies to ``order_type``."""
        if order_type != "LIMIT":
            return (self.market_step_size or self.step_size, self.market_min_qty or self.min_qty,
                    self.market_max_qty or self.max_qty)
        return self.step_size, self.min_qty, self.max_qty


def round_qty(qty: float, step: float) -> float:
    """Largest multiple of ``step`` not above ``qty`` (how Binance truncates a lot)."""
    return round_step_down(qty, step)


def on_grid(value: float, step: float) -> bool:
    """True if ``value`` is a whole multiple of ``step`` (to 1e-9 of a step)."""
    n = value / step
    return abs(n - round(n)) <= 1e-9 * max(1.0, abs(n))


# --------------------------------------------------------------------------- validation


def validate_order(f: SymbolFilters, *, side: str, order_type: str, qty: float, price: float | None,
                   mark: float | None, reduce_only: bool = False, close_position: bool = False,
                   best: float | None = None) -> tuple[int, str] | None:
    """The Binance error (code, message) this order would get, or None if it passes.

    ``price`` is the limit price (None for market orders), ``mark`` the mark price
    used by PERCENT_PRICE and for a market order's notional, ``best`` the touch a
    market order would take (for -4131). A ``closePosition`` order carries no qty.
    """
    if price is not None:
        if not price > 0:
            return -4013, "Price less than min price."
        if f.min_price and price < f.min_price - 1e-12:
            return -4013, "Price less than min price."
        if f.max_price and price > f.max_price + 1e-12:
            return -4013, "Price greater than max price."
        if not on_grid(price, f.tick_size):
            return -4014, "Price not increased by tick size."
    if close_position:
        return _percent(f, side, order_type, price, mark, best)
    step, lo, hi = f.lot(order_type)
    if not qty > 0:
        return -4003, "Quantity less than or equal to zero."
    if not on_grid(qty, step):
        return -1111, "Precision is over the maximum defined for this asset."
    if qty < lo - 1e-12:
        return -4004, "Quantity less than min quantity."
    if hi and qty > hi + 1e-12:
        return -4005, "Quantity greater than max quantity."
    ref = price if price is not None else mark
    if not reduce_only and f.min_notional and ref and qty * ref < f.min_notional - 1e-9:
        return -4164, (f"Order's notional must be no smaller than {f.min_notional:g} "
                       "(unless you choose reduce only).")
    return _percent(f, side, order_type, price, mark, best)


def _percent(f: SymbolFilters, side: str, order_type: str, price: float | None, mark: float | None,
             best: float | None) -> tuple[int, str] | None:
    if not (f.multiplier_up and mark):
        return None
    up, down = mark * f.multiplier_up, mark * f.multiplier_down
    px = price if order_type == "LIMIT" else best
    if px is None:
        return None
    if order_type != "LIMIT" and (px > up or px < down):
        return -4131, "The counterparty's best price does not meet the PERCENT_PRICE filter limit."
    if side == "BUY" and px > up:
        return -4016, f"Limit price can't be higher than {up:.{step_decimals(f.tick_size)}f}."
    if side == "SELL" and px < down:
        return -4024, f"Limit price can't be lower than {down:.{step_decimals(f.tick_size)}f}."
    return None


# --------------------------------------------------------------------------- exchangeInfo


def _num(d: Mapping[str, Any], key: str, where: str, *, required: bool = True) -> float:
    v = d.get(key)
    if v is None:
        if required:
            raise FilterError(f"{where}.{key}", "missing")
        return 0.0
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise FilterError(f"{where}.{key}", f"not a number: {v!r}") from None
    if not math.isfinite(x) or x < 0:
        raise FilterError(f"{where}.{key}", f"must be a finite number >= 0, got {v!r}")
    return x


def parse_symbol(s: Mapping[str, Any], where: str) -> SymbolFilters:
    """One ``symbols[i]`` entry of exchangeInfo -> SymbolFilters (PRICE_FILTER and LOT_SIZE required)."""
    raw = s.get("filters")
    if not isinstance(raw, list):
        raise FilterError(f"{where}.filters", "missing or not a list")
    by: dict[str, Mapping[str, Any]] = {}
    for i, x in enumerate(raw):
        if not isinstance(x, Mapping) or not isinstance(x.get("filterType"), str):
            raise FilterError(f"{where}.filters[{i}].filterType", "missing")
        by[x["filterType"]] = x
    if "PRICE_FILTER" not in by:
        raise FilterError(f"{where}.filters", "no PRICE_FILTER")
    if "LOT_SIZE" not in by:
        raise FilterError(f"{where}.filters", "no LOT_SIZE")
    pf, lot = by["PRICE_FILTER"], by["LOT_SIZE"]
    tick = _num(pf, "tickSize", f"{where}.PRICE_FILTER")
    step = _num(lot, "stepSize", f"{where}.LOT_SIZE")
    if tick <= 0:
        raise FilterError(f"{where}.PRICE_FILTER.tickSize", "must be > 0")
    if step <= 0:
        raise FilterError(f"{where}.LOT_SIZE.stepSize", "must be > 0")
    mk = by.get("MARKET_LOT_SIZE", {})
    mn = by.get("MIN_NOTIONAL", {})
    pp = by.get("PERCENT_PRICE", {})
    return SymbolFilters(
        tick_size=tick, step_size=step,
        min_qty=_num(lot, "minQty", f"{where}.LOT_SIZE", required=False) or step,
        min_notional=_num(mn, "notional", f"{where}.MIN_NOTIONAL", required=False),
        min_price=_num(pf, "minPrice", f"{where}.PRICE_FILTER", required=False),
        max_price=_num(pf, "maxPrice", f"{where}.PRICE_FILTER", required=False),
        max_qty=_num(lot, "maxQty", f"{where}.LOT_SIZE", required=False),
        market_step_size=_num(mk, "stepSize", f"{where}.MARKET_LOT_SIZE", required=False),
        market_min_qty=_num(mk, "minQty", f"{where}.MARKET_LOT_SIZE", required=False),
        market_max_qty=_num(mk, "maxQty", f"{where}.MARKET_LOT_SIZE", required=False),
        multiplier_up=_num(pp, "multiplierUp", f"{where}.PERCENT_PRICE", required=False),
        multiplier_down=_num(pp, "multiplierDown", f"{where}.PERCENT_PRICE", required=False),
    )


def parse_exchange_info(payload: Mapping[str, Any], symbols: list[str] | None = None) -> dict[str, SymbolFilters]:
    """``{symbol: SymbolFilters}`` from an exchangeInfo payload (only ``symbols`` if given).

    Raises FilterError naming the field (``symbols[BTCUSDT].LOT_SIZE.stepSize``).
    """
    rows = payload.get("symbols")
    if not isinstance(rows, list):
        raise FilterError("symbols", "missing or not a list")
    want = set(symbols) if symbols is not None else None
    out: dict[str, SymbolFilters] = {}
    for i, s in enumerate(rows):
        if not isinstance(s, Mapping) or not isinstance(s.get("symbol"), str):
            raise FilterError(f"symbols[{i}].symbol", "missing")
        name = s["symbol"]
        if want is not None and name not in want:
            continue
        out[name] = parse_symbol(s, f"symbols[{name}]")
    return out


def _s(x: float) -> str:
    return f"{x:.10f}".rstrip("0").rstrip(".") if x else "0"


def to_exchange_info(filters: Mapping[str, SymbolFilters]) -> dict[str, Any]:
    """The exchangeInfo shape of ``filters`` (strings, as Binance sends them); parses back equal."""
    syms = []
    for name in sorted(filters):
        f = filters[name]
        fl: list[dict[str, Any]] = [
            {"filterType": "PRICE_FILTER", "minPrice": _s(f.min_price), "maxPrice": _s(f.max_price),
             "tickSize": _s(f.tick_size)},
            {"filterType": "LOT_SIZE", "minQty": _s(f.min_qty), "maxQty": _s(f.max_qty), "stepSize": _s(f.step_size)},
            {"filterType": "MIN_NOTIONAL", "notional": _s(f.min_notional)},
        ]
        if f.market_step_size or f.market_min_qty or f.market_max_qty:
            fl.append({"filterType": "MARKET_LOT_SIZE", "minQty": _s(f.market_min_qty),
                       "maxQty": _s(f.market_max_qty), "stepSize": _s(f.market_step_size)})
        if f.multiplier_up:
            fl.append({"filterType": "PERCENT_PRICE", "multiplierUp": _s(f.multiplier_up),
                       "multiplierDown": _s(f.multiplier_down), "multiplierDecimal": "4"})
        syms.append({"symbol": name, "status": "TRADING", "contractType": "PERPETUAL", "filters": fl})
    return {"symbols": syms}


# --------------------------------------------------------------------------- event fields


def to_event_fields(filters: Mapping[str, SymbolFilters], source: str,
                    corrections: list[FilterCorrection] | None = None) -> dict[str, Any]:
    """The ``ExchangeFiltersLoaded`` fields: source, per-symbol filters, corrections made."""
    return {"source": source, "filters": {s: asdict(filters[s]) for s in sorted(filters)},
            "corrections": list(corrections or [])}


def from_event_fields(filters: Mapping[str, Mapping[str, Any]]) -> dict[str, SymbolFilters]:
    """Inverse of ``to_event_fields(...)["filters"]`` (what a fold of the event rebuilds)."""
    return {s: SymbolFilters(**dict(v)) for s, v in filters.items()}


# --------------------------------------------------------------------------- simulator sources


def from_config(specs: Mapping[str, Any], symbols: list[str]) -> dict[str, SymbolFilters]:
    """Filters from the config's universe specs (tick, step, min qty, min notional)."""
    return {s: SymbolFilters(tick_size=specs[s].tick_size, step_size=specs[s].step_size,
                             min_qty=specs[s].min_qty, min_notional=specs[s].min_notional)
            for s in symbols if s in specs}


def load_universe_meta(path: Path) -> dict[str, tuple[float, float]]:
    """``{symbol: (tick_size, step_size)}`` from a ``universe_meta.csv`` (mainnet values)."""
    out: dict[str, tuple[float, float]] = {}
    with path.open(newline="") as fh:
        for row_no, row in enumerate(csv.DictReader(fh), start=2):
            for k in ("symbol", "tick_size", "step_size"):
                if not row.get(k):
                    raise FilterError(f"{path}: row {row_no}: {k}", "empty")
            try:
                tick, step = float(row["tick_size"]), float(row["step_size"])
            except ValueError:
                raise FilterError(f"{path}: row {row_no}: tick_size/step_size", "not a number") from None
            if not (tick > 0 and step > 0):
                raise FilterError(f"{path}: row {row_no}: tick_size/step_size", "must be > 0")
            out[row["symbol"]] = (tick, step)
    return out


def correct(filters: Mapping[str, SymbolFilters], meta: Mapping[str, tuple[float, float]]
            ) -> tuple[dict[str, SymbolFilters], list[FilterCorrection]]:
    """Filters with tick/step (and a min qty below the step) set to mainnet; the corrections made."""
    out: dict[str, SymbolFilters] = {}
    changes: list[FilterCorrection] = []
    for s in sorted(filters):
        f = filters[s]
        if s in meta:
            tick, step = meta[s]
            g = replace(f, tick_size=tick, step_size=step,
                        min_qty=step if not on_grid(f.min_qty, step) or f.min_qty < step else f.min_qty)
            for k in ("tick_size", "step_size", "min_qty"):
                if getattr(g, k) != getattr(f, k):
                    changes.append(FilterCorrection(symbol=s, field=k, config=getattr(f, k), mainnet=getattr(g, k)))
            f = g
        out[s] = f
    return out, changes


def load_exchange_info_file(path: Path, symbols: list[str]) -> dict[str, SymbolFilters]:
    """Filters from an exchangeInfo-shaped JSON file; errors name the file and field."""
    try:
        payload = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise FilterError(str(path), f"not readable JSON ({exc})") from None
    try:
        return parse_exchange_info(payload, symbols)
    except FilterError as exc:
        raise FilterError(f"{path}: {exc.field}", exc.message) from None


def for_simulator(specs: Mapping[str, Any], symbols: list[str], market_dir: Path | None
                  ) -> tuple[dict[str, SymbolFilters], str, list[FilterCorrection]]:
    """(filters, source, corrections) for the simulated venue.

    A market directory's ``exchange/exchangeInfo.json`` wins (the exchange's own shape);
    else the config's specs, with tick/step corrected to mainnet from
    ``exchange/universe_meta.csv`` when the directory has one; else the config as is.
    Symbols missing from an exchangeInfo file keep their config filters.
    """
    base = from_config(specs, symbols)
    if market_dir is not None:
        info = market_dir / "exchange" / "exchangeInfo.json"
        if info.exists():
            got = load_exchange_info_file(info, symbols)
            return {**base, **got}, f"file:{info}", []
        meta = market_dir / "exchange" / "universe_meta.csv"
        if meta.exists():
            fixed, changes = correct(base, load_universe_meta(meta))
            return fixed, f"config+{meta}", changes
    return base, "config", []


def effective(filters: Mapping[str, SymbolFilters], specs: Mapping[str, Any], symbol: str) -> SymbolFilters | None:
    """The filters decisions round to: the venue's (``ExchangeFiltersLoaded``), else the config's."""
    f = filters.get(symbol)
    if f is not None:
        return f
    sp = specs.get(symbol)
    if sp is None:
        return None
    return SymbolFilters(tick_size=sp.tick_size, step_size=sp.step_size, min_qty=sp.min_qty,
                         min_notional=sp.min_notional)
