"""The network half of placing and canceling an order (the worker thread; no book is touched).

``place_order`` / ``cancel_order`` return ``(answer, error, query, held_s)``: the exchange's answer,
or the error and - when the outcome is unknown (network, 5xx) or the order is no longer
open (-2011) - what asking for the order gave. An order refused for a rate limit (429/418)
waits out ``Retry-After`` and is sent again, when ``patient`` (off the loop thread), at
most ``OFFLOOP_MAX_WAIT_S`` in all and ``ORDER_TRIES`` sends; ``held_s`` is how long it
waited (the venue records it). Past that it gives up and the venue rejects it -1003.
An order is never resent after an unknown outcome: it is looked up by client id.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from engine.ports import OrderRequest
from engine.venues.binance.client import BinanceRest, RestError

OFFLOOP_MAX_WAIT_S = 5.0  # a call off the loop thread waits out a 429/418 this long at most
ORDER_TRIES = 4  # an order (or cancel) refused for a rate limit is sent at most this often

Result = tuple[Any, RestError | None, Any, float]


def rate_limit_pause(rest: BinanceRest, exc: RestError, held: float, tries: int) -> float | None:
    """How long to wait before sending again (None: give up)."""
    if not exc.rate_limited or tries >= ORDER_TRIES:
        return None
    pause = max(rest.blocked_for(), exc.retry_after or 0.0, 0.05)
    return pause if held + pause <= OFFLOOP_MAX_WAIT_S else None


def _send(rest: BinanceRest, call: Callable[[], Any], ask: Callable[[], Any] | None,
          unknown: Callable[[RestError], bool], patient: bool) -> Result:
    held = 0.0
    for tries in range(1, ORDER_TRIES + 1):
        try:
            return call(), None, None, held
        except RestError as exc:
            pause = rate_limit_pause(rest, exc, held, tries) if patient else None
            if pause is not None:
                time.sleep(pause)
                held += pause
                continue
            if ask is not None and unknown(exc):
                try:
                    return None, exc, ask(), held
                except RestError as exc2:
                    return None, exc, exc2, held
            return None, exc, None, held
    raise AssertionError("unreachable: the last try returns")


def place_order(rest: BinanceRest, req: OrderRequest, params: dict[str, Any], patient: bool) -> Result:
    return _send(rest, lambda: rest.new_order(**params), lambda: rest.query_order(req.symbol, req.order_id),
                 lambda exc: exc.status == 0 or exc.status >= 500, patient)


def cancel_order(rest: BinanceRest, symbol: str, order_id: str, patient: bool) -> Result:
    return _send(rest, lambda: rest.cancel_order(symbol, order_id), lambda: rest.query_order(symbol, order_id),
                 lambda exc: exc.code == -2011, patient)
