"""Protective orders in the simulated venue: STOP_MARKET and TAKE_PROFIT_MARKET, as Binance has them.

An order with a ``stop_price`` (``closePosition`` or a reduce-only quantity, triggered by
``workingType`` ``CONTRACT_PRICE`` (the last price) or ``MARK_PRICE``) is accepted when it
reaches the book and then waits. Inside every later bar the trigger price walks the bar's
documented path - open -> low -> high -> close when the bar closes up, open -> high ->
low -> close when it closes down (``path_points``) - and the order triggers at the first
point that crosses its stop:

* crossed **at the open** (the bar gapped through the stop): a market order at the open;
* crossed between two points: a market order at the stop.

The market order fills at once for the whole quantity (``closePosition``: the whole
position) at the far touch of the book around that reference plus the symbol's impact
(``SimMatching._taker_price``), i.e. at or *through* the stop, never better. Nothing fills
in a halted bar. A triggered order with no position left to reduce expires. Binance
refuses a stop that would trigger immediately (-2021); so does this venue.

``SELL STOP_MARKET`` (a long's stop-loss) and ``BUY TAKE_PROFIT_MARKET`` (a short's
take-profit) trigger when the price falls to the stop; ``BUY STOP_MARKET`` and ``SELL
TAKE_PROFIT_MARKET`` when it rises to it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from engine.ports import OrderRequest, VenueUpdate
from eventlog.events import OrderExpired

if TYPE_CHECKING:
    from engine.venues.sim_matching import SimMatching, _Working

STOP_TYPES = ("STOP_MARKET", "TAKE_PROFIT_MARKET")


def path_points(o: float, h: float, lo: float, c: float) -> tuple[float, float, float, float]:
    """The documented intrabar path: open -> low -> high -> close if the bar closes up, else via the high first."""
    return (o, lo, h, c) if c >= o else (o, h, lo, c)


def falls_to(req: OrderRequest) -> bool:
    """True if the order triggers when the price falls to its stop (else when it rises)."""
    return (req.side == "SELL") == (req.order_type == "STOP_MARKET")


def crossed(req: OrderRequest, price: float) -> bool:
    stop = req.stop_price or 0.0
    return price <= stop if falls_to(req) else price >= stop


def check_submit(m: SimMatching, req: OrderRequest) -> tuple[int, str] | None:
    """Binance's refusals of a stop order at submission (None: accepted)."""
    if not (req.stop_price and req.stop_price > 0):
        return -1102, "Mandatory parameter 'stopPrice' was not sent, was empty/null, or malformed."
    if req.working_type not in ("MARK_PRICE", "CONTRACT_PRICE"):
        return -1116, f"Invalid workingType {req.working_type}."
    q = m.pos[req.symbol][0]
    sign = 1.0 if req.side == "BUY" else -1.0
    if q == 0 or (q > 0) == (sign > 0):
        return -2022, "ReduceOnly Order is rejected."
    ref = m.mark.get(req.symbol) if req.working_type == "MARK_PRICE" else m.last.get(req.symbol)
    if ref is not None and crossed(req, ref):
        return -2021, "Order would immediately trigger."
    return None


def trigger(m: SimMatching, symbol: str, open_ns: int, close_ns: int, bar: tuple[float, float, float, float],
            mark_of: Callable[[float], float]) -> list[VenueUpdate]:
    """Trigger and fill the symbol's waiting stop orders along the bar's path (in time order)."""
    if not m.stops[symbol]:
        return []
    step = (close_ns - open_ns) // 3
    out: list[VenueUpdate] = []
    for k, p in enumerate(path_points(*bar)):
        out.extend(trigger_point(m, symbol, k, p, open_ns + k * step if k < 3 else close_ns - 1, bar[0], mark_of))
    return out


def trigger_point(m: SimMatching, symbol: str, k: int, p: float, ts: int, open_px: float,
                  mark_of: Callable[[float], float], accepted_at: dict[str, int] | None = None) -> list[VenueUpdate]:
    """The symbol's stops that path point ``k`` (price ``p`` at ``ts``) crosses: each fills at its
    stop, or at the open when the bar gapped through it (``k == 0``). ``accepted_at``: stops
    that reached the book inside this bar, and when (a point before that cannot trigger them)."""
    stops = m.stops[symbol]
    out: list[VenueUpdate] = []
    done: list[str] = []
    for oid, w in list(stops.items()):
        if accepted_at and accepted_at.get(oid, ts) > ts:
            continue
        req = w.req
        px = mark_of(p) if req.working_type == "MARK_PRICE" else p
        if not crossed(req, px):
            continue
        ref = open_px if k == 0 else (req.stop_price or p)  # a gap at the open fills at the open
        out.extend(_fill_stop(m, w, ref, ts))
        done.append(oid)
    for oid in done:
        stops.pop(oid, None)
    return out


def _fill_stop(m: SimMatching, w: _Working, ref: float, ts: int) -> list[VenueUpdate]:
    req = w.req
    s = req.symbol
    q = m.pos[s][0]
    sign = 1.0 if req.side == "BUY" else -1.0
    if q == 0 or (q > 0) == (sign > 0):
        return [VenueUpdate(OrderExpired, "orders", ts, {"order_id": req.order_id, "symbol": s, "filled_qty": 0.0,
                                                         "reason": "reduce_only: position already closed"})]
    qty = abs(q) if req.close_position else min(w.remaining, abs(q))
    bid, ask = m.quote(s, ref)
    px = m._taker_price(s, req.side, qty * ref, bid, ask)
    return m._fill(w, qty, px, False, ts)
