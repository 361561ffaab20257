"""Binance USD-M margin arithmetic: leverage brackets, maintenance margin, liquidation price.

Pure functions, shared by the simulated venue and anything that wants to recompute it.

* **Brackets** (``exchange/leverage_brackets_<date>.csv`` of a market directory, Binance's
  ``notionalFloor/notionalCap/maintMarginRatio/cum`` per tier): the tier of a position is
  the one whose ``[floor, cap)`` holds its notional at the mark.
* **Maintenance margin** of a position: ``notional * mmr - cum`` of its tier.
* **Liquidation price** (Binance's formula, one-way mode), for a position of side ``s``
  (+1 long, -1 short), size ``q`` and entry ``ep``, with ``wb`` the margin that backs it
  (isolated: the position's isolated margin; cross: the cross wallet minus the other
  positions' maintenance margin plus their unrealised PnL)::

      LP = (wb + cum - s * q * ep) / (q * mmr - s * q)

  with the tier of the notional *at LP* (solved by trying each tier). The **bankruptcy
  price** is the same with ``mmr = cum = 0``: the price where the backing margin is gone.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

# A conservative ladder for symbols the data has no brackets for (Binance's small-cap ladder
# shape: 50x up to 5,000 USD of notional, then less); the run records which one it used.
DEFAULT_LADDER = (
    (0.0, 5_000.0, 0.015, 50.0, 0.0),
    (5_000.0, 25_000.0, 0.02, 25.0, 25.0),
    (25_000.0, 100_000.0, 0.025, 20.0, 150.0),
    (100_000.0, 250_000.0, 0.05, 10.0, 2_650.0),
    (250_000.0, 1_000_000.0, 0.1, 5.0, 15_150.0),
    (1_000_000.0, 1e18, 0.125, 4.0, 40_150.0),
)


@dataclass(frozen=True, slots=True)
class Bracket:
    tier: int
    floor: float
    cap: float
    mmr: float
    max_leverage: float
    cum: float


def default_brackets() -> list[Bracket]:
    return [Bracket(i + 1, *row) for i, row in enumerate(DEFAULT_LADDER)]


def read_brackets(path: Path, symbols: list[str]) -> dict[str, list[Bracket]]:
    """USDT-perpetual brackets of ``symbols`` from one snapshot (errors name the file, row, field)."""
    out: dict[str, list[Bracket]] = {}
    want = set(symbols)
    with path.open(newline="") as f:
        for row_no, r in enumerate(csv.DictReader(f), start=2):
            sym = r.get("symbol", "")
            if sym not in want or not str(r.get("ccxt_symbol", "")).endswith(":USDT"):
                continue
            try:
                b = Bracket(int(r["bracket"]), float(r["notional_floor"]), float(r["notional_cap"]),
                            float(r["maint_margin_ratio"]), float(r["initial_leverage"]), float(r["cum"]))
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"{path}: row {row_no}: bad bracket field ({exc})") from None
            if not (0 < b.mmr < 1 and b.cap > b.floor >= 0 and b.max_leverage > 0):
                raise ValueError(f"{path}: row {row_no}: field 'maint_margin_ratio'/'notional_cap' out of range")
            out.setdefault(sym, []).append(b)
    for v in out.values():
        v.sort(key=lambda b: b.floor)
    return out


def load_brackets(exchange_dir: Path | None, symbols: list[str]) -> tuple[dict[str, list[Bracket]], dict[str, str]]:
    """Each symbol's ladder: the earliest snapshot that lists it, else ``DEFAULT_LADDER``.

    Returns (brackets, source per symbol: the file name or ``default``).
    """
    got: dict[str, list[Bracket]] = {}
    src: dict[str, str] = {}
    if exchange_dir is not None and exchange_dir.is_dir():
        for p in sorted(exchange_dir.glob("leverage_brackets_*.csv")):
            missing = [s for s in symbols if s not in got]
            if not missing:
                break
            for s, b in read_brackets(p, missing).items():
                got[s] = b
                src[s] = p.name
    for s in symbols:
        if s not in got:
            got[s] = default_brackets()
            src[s] = "default"
    return got, src


def bracket_for(brackets: list[Bracket], notional: float) -> Bracket:
    n = abs(notional)
    for b in brackets:
        if n < b.cap:
            return b
    return brackets[-1]


def tier_range(brackets: list[Bracket], notional: float) -> tuple[float, float]:
    """The notionals ``[low, high)`` that ``bracket_for`` puts in the same tier as ``notional``."""
    n = abs(notional)
    low = 0.0
    for i, b in enumerate(brackets):
        if n < b.cap or i == len(brackets) - 1:
            return low, (b.cap if n < b.cap else float("inf"))
        low = max(low, b.cap)
    return low, float("inf")


def maint_margin(brackets: list[Bracket], notional: float) -> tuple[float, Bracket]:
    """(maintenance margin, tier) of a position of ``notional`` USD (at the mark)."""
    b = bracket_for(brackets, notional)
    return max(0.0, abs(notional) * b.mmr - b.cum), b


def liquidation_price(side: int, qty: float, entry: float, wb: float, brackets: list[Bracket]) -> tuple[float, Bracket]:
    """Binance's liquidation price for ``qty`` (> 0) on ``side`` backed by margin ``wb``; 0 if none.

    The tier is the one that holds the notional at the price found (each tier is tried).
    """
    q = abs(qty)
    if q <= 0:
        return 0.0, brackets[0]
    best: tuple[float, Bracket] | None = None
    for b in brackets:
        den = q * b.mmr - side * q
        if den == 0:
            continue
        lp = (wb + b.cum - side * q * entry) / den
        if lp <= 0:
            continue
        if b.floor <= q * lp < b.cap:
            return lp, b
        if best is None:
            best = (lp, b)
    if best is None:
        return 0.0, brackets[0]  # the margin covers any price: no liquidation (e.g. a fully funded long)
    lp0, _ = best
    return lp0, bracket_for(brackets, q * lp0)


def bankruptcy_price(side: int, qty: float, entry: float, wb: float) -> float:
    """The price where margin ``wb`` backing the position is gone (0 if it never is)."""
    q = abs(qty)
    if q <= 0:
        return 0.0
    return max(0.0, entry - side * wb / q)
