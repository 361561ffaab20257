"""Shared pure indicators: Wilder's ATR, EMA, ATR regime, drawdown state, percentiles.

One definition used by risk (observations), KPIs (state files) and alerts, so the
number an investor sees is the number the risk gate saw.

ATR is Wilder's ATR(n), as TA-Lib defines it: the first value (at the n-th true
range after the first bar) is the simple mean of the first n true ranges, where
the first bar's true range is skipped (it has no previous close); afterwards
``atr = (atr_prev * (n - 1) + tr) / n``. True range is
``max(high - low, |high - prev_close|, |low - prev_close|)``; a flat halted bar
has true range 0 and is handled like any other bar.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from typing import Literal

AtrRegime = Literal["low", "normal", "high", "unknown"]
DdState = Literal["normal", "cautious", "defensive"]


def true_range(high: float, low: float, prev_close: float | None) -> float:
    if prev_close is None:
        return high - low
    return max(high - low, abs(high - prev_close), abs(low - prev_close))


class WilderAtr:
    """Incremental Wilder ATR(n) with a rolling baseline of its own values.

    ``update(high, low, close)`` returns the ATR after this bar or ``None`` during
    warm-up (TA-Lib returns its first value at index n, 0-based).
    ``baseline`` is the mean ATR over the last ``baseline_bars`` values.
    """

    __slots__ = ("_base", "_base_sum", "_prev_close", "_seed", "atr", "baseline_bars", "n")

    def __init__(self, n: int = 14, baseline_bars: int = 288):
        self.n = n
        self.baseline_bars = baseline_bars
        self._prev_close: float | None = None
        self._seed: list[float] = []
        self.atr: float | None = None
        self._base: deque[float] = deque()
        self._base_sum = 0.0

    def update(self, high: float, low: float, close: float) -> float | None:
        prev = self._prev_close
        self._prev_close = close
        if prev is None:
            return None
        tr = max(high - low, abs(high - prev), abs(low - prev))  # true_range(), inlined (hot path)
        if self.atr is None:
            self._seed.append(tr)
            if len(self._seed) < self.n:
                return None
            self.atr = sum(self._seed) / self.n
            self._seed = []
        else:
            self.atr = (self.atr * (self.n - 1) + tr) / self.n
        self._base.append(self.atr)
        self._base_sum += self.atr
        if len(self._base) > self.baseline_bars:
            self._base_sum -= self._base.popleft()
        return self.atr

    @property
    def baseline(self) -> float | None:
        if not self._base:
            return None
        return self._base_sum / len(self._base)

    @property
    def ratio(self) -> float | None:
        """ATR relative to its rolling baseline (1.0 = ordinary)."""
        b = self.baseline
        if self.atr is None or b is None or b <= 0:
            return None
        return self.atr / b


class Donchian:
    """High and low of the ``n`` bars *before* the current one (the Donchian channel a
    breakout is measured against); ``channel()`` is None until ``n + 1`` bars were seen.

    A bar costs two deque appends. ``channel()`` remembers its answer: asked again one bar
    later (the screener asks on every bar while it waits for a breakout), one bar entered
    the window and one left it, so the high is ``max(previous high, entering bar)`` unless
    the bar that left *was* the high - only then (and after a gap between questions) is the
    window scanned again. The same floats as ``max()`` / ``min()`` of the window.
    """

    __slots__ = ("_at", "_hi", "_lo", "_out_h", "_out_l", "bars", "highs", "lows", "n")

    def __init__(self, n: int):
        self.n = n
        self.bars = 0
        # the last n bars before the current one, plus the current one
        self.highs: deque[float] = deque(maxlen=n + 1)
        self.lows: deque[float] = deque(maxlen=n + 1)
        self._at = -1  # ``bars`` at the last answer
        self._hi = self._lo = 0.0  # the last answer
        self._out_h = self._out_l = 0.0  # the oldest bar of the last answer's window (the next to leave)

    def update(self, high: float, low: float) -> None:
        self.highs.append(high)
        self.lows.append(low)
        self.bars += 1

    def channel(self) -> tuple[float, float] | None:
        b = self.bars
        if b <= self.n:
            return None
        hs, ls = self.highs, self.lows
        hi: float | None = None
        lo: float | None = None
        if self._at == b - 1:
            h_in, l_in = hs[-2], ls[-2]
            if self._out_h < self._hi:
                hi = h_in if h_in > self._hi else self._hi
            if self._out_l > self._lo:
                lo = l_in if l_in < self._lo else self._lo
        if hi is None or lo is None:
            last_h, last_l = hs.pop(), ls.pop()
            if hi is None:
                hi = max(hs)
            if lo is None:
                lo = min(ls)
            hs.append(last_h)
            ls.append(last_l)
        self._at, self._hi, self._lo, self._out_h, self._out_l = b, hi, lo, hs[0], ls[0]
        return hi, lo


def ema_step(prev: float, x: float, n: int) -> float:
    """One step of an n-period EMA (alpha = 2 / (n + 1)); the first value seeds it."""
    return prev + (x - prev) * (2.0 / (n + 1))


def wilder_atr(highs: Sequence[float], lows: Sequence[float], closes: Sequence[float], n: int = 14) -> list[float | None]:
    """ATR series aligned with the input bars (``None`` during warm-up), as TA-Lib's ATR."""
    w = WilderAtr(n, baseline_bars=1)
    return [w.update(h, lo, c) for h, lo, c in zip(highs, lows, closes, strict=True)]


def atr_regime(ratio: float | None, low_ratio: float, high_ratio: float) -> AtrRegime:
    """low / normal / high volatility from ATR relative to its rolling baseline."""
    if ratio is None:
        return "unknown"
    if ratio < low_ratio:
        return "low"
    if ratio > high_ratio:
        return "high"
    return "normal"


def dd_state(dd_frac: float | None, cautious: float, defensive: float) -> DdState:
    """normal / cautious / defensive from drawdown (a fraction of peak NAV)."""
    if dd_frac is None or dd_frac < cautious:
        return "normal"
    if dd_frac < defensive:
        return "cautious"
    return "defensive"


def drawdown_frac(nav: float, peak: float) -> float:
    """Drawdown from peak as a fraction (0 at or above the peak)."""
    if peak <= 0:
        return 0.0
    return max(0.0, (peak - nav) / peak)


def percentile(values: Iterable[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in [0, 1]) of a finite sample; None if empty."""
    xs = sorted(values)
    if not xs:
        return None
    if len(xs) == 1:
        return xs[0]
    pos = q * (len(xs) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)
