"""A market fed bar by bar by its caller (tests, notebooks, a DRY_RUN adapter).

``ScriptedMarket`` has the same shape as the generated and CSV markets: an
iterator of ``(open_time_ms, [(symbol, o, h, l, c, v), ...])`` steps, a
``start_ms`` and ``funding_rates()``. ``push`` queues steps; iteration ends when
the queue is empty (the venue then reports the data as ended).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

Bar = tuple[str, float, float, float, float, float]


class ScriptedMarket:
    def __init__(self, symbols: list[str], *, start_ms: int, interval_ms: int = 300_000,
                 funding_rate: float = 0.0001):
        self.symbols = list(symbols)
        self.start_ms = start_ms
        self.interval_ms = interval_ms
        self.funding_rate = funding_rate
        self._queue: deque[tuple[int, list[Bar]]] = deque()
        self._next_ms = start_ms

    def push(self, bars: dict[str, tuple[float, float, float, float, float]]) -> int:
        """Queue one step: symbol -> (open, high, low, close, volume). Returns its open time."""
        t = self._next_ms
        self._queue.append((t, [(s, *bars[s]) for s in self.symbols if s in bars]))
        self._next_ms += self.interval_ms
        return t

    def flat(self, price: dict[str, float], volume: float = 100.0) -> int:
        """Queue one step where every symbol trades flat at ``price``."""
        return self.push({s: (p, p, p, p, volume) for s, p in price.items()})

    def funding_rates(self) -> dict[str, float]:
        return {s: self.funding_rate for s in self.symbols}

    def __iter__(self) -> Iterator[tuple[int, list[Bar]]]:
        while self._queue:
            yield self._queue.popleft()
