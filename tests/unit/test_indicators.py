"""engine.rules.indicators: Wilder ATR (TA-Lib definition), the Donchian channel, regimes, drawdown, percentiles."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.rules.indicators import (
    Donchian,
    WilderAtr,
    atr_regime,
    dd_state,
    drawdown_frac,
    percentile,
    wilder_atr,
)

# A short series; the expected values are written out from TA-Lib's recurrence in the test.
H = [10.0, 11.0, 12.0, 12.0, 14.0, 13.0]
L = [9.0, 10.0, 10.0, 11.0, 11.0, 12.0]
C = [9.5, 10.5, 11.0, 11.5, 13.0, 12.5]


def test_wilder_atr_matches_a_hand_computed_ta_lib_series() -> None:
    # true ranges from bar 1: max(1, 1.5, .5)=1.5, max(2, 1.5, .5)=2, max(1, 1, 0)=1... (prev close used)
    trs = [max(h - lo, abs(h - pc), abs(lo - pc)) for h, lo, pc in zip(H[1:], L[1:], C[:-1], strict=True)]
    first = sum(trs[:3]) / 3
    second = (first * 2 + trs[3]) / 3
    third = (second * 2 + trs[4]) / 3
    got = wilder_atr(H, L, C, 3)
    assert got[:3] == [None, None, None]
    assert got[3:] == pytest.approx([first, second, third], rel=1e-12)


def reference_atr(highs: list[float], lows: list[float], closes: list[float], n: int) -> list[float | None]:
    out: list[float | None] = [None]
    atr = None
    trs: list[float] = []
    for i in range(1, len(closes)):
        tr = max(highs[i] - lows[i], abs(highs[i] - closes[i - 1]), abs(lows[i] - closes[i - 1]))
        trs.append(tr)
        if atr is None:
            if len(trs) == n:
                atr = sum(trs) / n
        else:
            atr = (atr * (n - 1) + tr) / n
        out.append(atr)
    return out


bar = st.tuples(st.floats(1, 1000), st.floats(0, 50), st.floats(0, 1))


@given(st.lists(bar, min_size=1, max_size=80), st.integers(1, 20))
def test_incremental_atr_equals_the_reference_for_any_series(bars: list[tuple[float, float, float]], n: int) -> None:
    lows = [lo for lo, _, _ in bars]
    highs = [lo + rng for lo, rng, _ in bars]
    closes = [lo + rng * f for lo, rng, f in bars]
    got = wilder_atr(highs, lows, closes, n)
    want = reference_atr(highs, lows, closes, n)
    assert [g is None for g in got] == [w is None for w in want]
    assert [g for g in got if g is not None] == pytest.approx([w for w in want if w is not None], rel=1e-9, abs=1e-12)


def test_flat_halted_bars_give_zero_true_range_and_ratio_follows_baseline() -> None:
    w = WilderAtr(2, baseline_bars=3)
    for _ in range(4):
        w.update(100.0, 100.0, 100.0)
    assert w.atr == 0.0 and w.ratio is None  # baseline 0: no ratio rather than a division by zero
    w.update(103.0, 99.0, 101.0)
    assert w.atr == 2.0 and w.ratio == pytest.approx(2.0 / ((0 + 0 + 2.0) / 3))


def test_regimes_and_states_have_their_boundaries_where_the_config_says() -> None:
    assert atr_regime(None, 0.75, 1.5) == "unknown"
    assert [atr_regime(r, 0.75, 1.5) for r in (0.74, 0.75, 1.5, 1.51)] == ["low", "normal", "normal", "high"]
    assert [dd_state(d, 0.04, 0.08) for d in (None, 0.0399, 0.04, 0.0799, 0.08)] == [
        "normal", "normal", "cautious", "cautious", "defensive"]
    assert drawdown_frac(90.0, 100.0) == pytest.approx(0.1)
    assert drawdown_frac(110.0, 100.0) == 0.0 and drawdown_frac(1.0, 0.0) == 0.0


def test_percentile_interpolates_and_is_null_on_empty() -> None:
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.95) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([4.0, 1.0, 3.0, 2.0], 0.95) == pytest.approx(3.85)


# few distinct prices, so ties (the same high in several bars of a window) are common
price = st.sampled_from([1.0, 2.0, 2.5, 3.0, 1e5, 0.1 + 0.2, 0.3]) | st.floats(0.01, 1e6, allow_nan=False)


@given(st.lists(st.tuples(price, price, st.booleans()), max_size=160), st.integers(1, 12))
def test_donchian_is_max_and_min_of_the_bars_before_the_current_one(bars: list[tuple[float, float, bool]],
                                                                   n: int) -> None:
    d = Donchian(n)
    for i, (h, lo, ask) in enumerate(bars):
        d.update(h, lo)
        if not ask:  # the screener asks on some bars only: runs of questions and gaps
            continue
        window = bars[max(0, i - n):i]
        want = (max(b[0] for b in window), min(b[1] for b in window)) if i >= n else None
        got = d.channel()
        assert got == want
        assert repr(got) == repr(want)  # the very same floats, not merely equal ones
