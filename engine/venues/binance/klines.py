"""Closed klines from REST: warm-up at start and backfill after a market-stream gap.

``fetch`` is the network half of a backfill (any thread: the venue runs it off the loop),
``apply`` the gate half (the loop thread). Warm-up klines are history: they are delivered marked (``KlineClosed.history=True``)
so the engine updates its indicators with them and decides nothing on them. So are
backfilled klines older than the newest closed one: after a gap the engine catches
up its indicators, but only the current bar may lead to an order.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from engine.ports import VenueUpdate
from engine.venues.binance.client import BinanceRest, RestError
from engine.venues.binance.convert import KlineGate, kline_update
from engine.venues.binance.errors import Faults
from engine.venues.binance.wire import RestKline, WireError, decode_klines

KLINE_PAGE = 1500


class KlineHistory:
    """REST klines through the venue's ``KlineGate`` (each bar once, in order)."""

    def __init__(self, rest: BinanceRest, faults: Faults, gate: KlineGate, interval: str,
                 server_now_ms: Callable[[], int | None]):
        self.rest, self.faults, self.gate, self.interval = rest, faults, gate, interval
        self.server_now_ms = server_now_ms

    def warmup(self, symbols: list[str], bars: int) -> list[VenueUpdate]:
        """The last ``bars`` closed klines of each symbol, in time order."""
        if bars <= 0:
            return []
        now_ms, out = self._now()
        if now_ms is None:
            return out
        for sym in symbols:
            rows, errs = self.faults.attempt("rest.klines", partial(self._page, sym, None, None,
                                                                    min(KLINE_PAGE, bars + 1)))
            out += errs
            for r in [r for r in rows or [] if r.close_time_ms < now_ms][-bars:]:
                if self.gate.accept(sym, r.open_time_ms, r.close_time_ms):
                    out.append(kline_update(sym, self.interval, r, history=True))
        return sorted(out, key=lambda u: u.ts_event_ns)

    def backfill(self, symbol: str, start_ms: int, end_ms: int | None, *,
                 last_is_current: bool = False) -> list[VenueUpdate]:
        """Closed klines from ``start_ms`` (to ``end_ms``, else up to the server's now), marked
        ``history`` - all of them, or all but the newest when ``last_is_current``."""
        return self.apply(symbol, self.fetch(symbol, start_ms, end_ms), last_is_current=last_is_current)

    def fetch(self, symbol: str, start_ms: int, end_ms: int | None) -> tuple[Any, list[RestKline], Any]:
        """The network half (any thread): ``(now_ms or its error, rows, the error that cut the
        paging short or None)``; closed means closed before ``now_ms`` (``end_ms + 1`` when given)."""
        if end_ms is None:
            try:
                now: Any = self.rest.server_time_ms()
            except RestError as exc:
                return exc, [], None
        else:
            now = end_ms + 1
        rows: list[RestKline] = []
        while True:
            try:
                page = self._page(symbol, start_ms, end_ms, KLINE_PAGE)
            except (RestError, WireError) as exc:
                return now, rows, exc
            rows += page
            if len(page) < KLINE_PAGE:
                return now, rows, None
            start_ms = page[-1].close_time_ms + 1

    def apply(self, symbol: str, fetched: tuple[Any, list[RestKline], Any], *,
              last_is_current: bool = False) -> list[VenueUpdate]:
        """The gate half (loop thread): each closed kline not seen yet, in order."""
        now_ms, rows, exc = fetched
        if isinstance(now_ms, RestError):
            return [self.faults.rest(now_ms)]
        out: list[VenueUpdate] = []
        if isinstance(exc, RestError):
            out.append(self.faults.rest(exc))
        elif isinstance(exc, WireError):
            out.append(self.faults.err("rest.klines", "parse", exc.field, exc.message))
        got = [r for r in rows if r.close_time_ms < now_ms and self.gate.accept(symbol, r.open_time_ms,
                                                                                  r.close_time_ms)]
        last = len(got) - 1 if last_is_current else len(got)
        return out + [kline_update(symbol, self.interval, r, history=i < last) for i, r in enumerate(got)]

    def _page(self, symbol: str, start_ms: int | None, end_ms: int | None, limit: int) -> list[RestKline]:
        return decode_klines(self.rest.klines(symbol, self.interval, start_ms, end_ms, limit))

    def _now(self) -> tuple[int | None, list[VenueUpdate]]:
        return self.faults.attempt("rest.time", self.rest.server_time_ms)
