"""The margin check's guard skips only checks that would liquidate nothing.

Two identical simulated accounts live through the same random marks: one runs the full
``SimMargin.check`` at every point (the simulator before the guard), the other
``SimMargin.check_at`` (the guard, the full check only when a mark leaves its band or the
account changed). Every point must give the same liquidations, at the same prices, and
leave the same account; between points the account sometimes changes (a fill, funding).
"""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from config.loader import load_config
from engine.ports import VenueUpdate
from engine.venues.liq_guard import bands
from engine.venues.margin import Bracket, default_brackets, maint_margin, tier_range
from engine.venues.sim_matching import SimMatching
from tests.configdir import REPO

SYMS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
CFG = load_config(REPO / "config").config


def _ladder(rng: random.Random) -> list[Bracket]:
    """A random Binance-shaped ladder (continuous maintenance margin), or the default one."""
    if rng.random() < 0.5:
        return default_brackets()
    out, floor, cum, mmr = [], 0.0, 0.0, rng.uniform(0.004, 0.02)
    for tier in range(1, rng.randint(2, 6) + 1):
        cap = floor + rng.uniform(500.0, 200_000.0)
        out.append(Bracket(tier, floor, cap, mmr, 50.0 / tier, cum))
        nxt = mmr * rng.uniform(1.2, 2.5)
        cum += cap * (nxt - mmr)  # keeps maintenance margin continuous at the cap, as Binance's cum does
        floor, mmr = cap, min(nxt, 0.4)
    return out


def _account(seed: int) -> SimMatching:
    rng = random.Random(seed)
    m = SimMatching(CFG, SYMS, initial_balance=rng.uniform(500.0, 20_000.0), leverage=rng.choice([5.0, 20.0, 50.0]))
    mg = m.margin
    mg.isolated = {s for s in SYMS if rng.random() < 0.4}
    mg.lev = {s: rng.choice([2.0, 10.0, 25.0, 75.0]) for s in SYMS}
    mg.brackets = {s: _ladder(rng) for s in SYMS}
    for s in SYMS:
        px = rng.uniform(1.0, 50_000.0)
        m.mark[s] = px
        if rng.random() < 0.8:
            m.pos[s] = [rng.choice([-1, 1]) * m.wallet * rng.uniform(0.5, 30.0) / px, px * rng.uniform(0.97, 1.03)]
            mg.iso_funding[s] = rng.uniform(-5.0, 5.0) if s in mg.isolated else 0.0
    return m


def _as_data(out: list[VenueUpdate]) -> list[tuple[Any, ...]]:
    return [(u.cls.__name__, u.stream, u.ts_event_ns, sorted(u.fields.items())) for u in out]


def _book(m: SimMatching) -> tuple[Any, ...]:
    return m.wallet, {s: tuple(p) for s, p in m.pos.items()}, dict(m.margin.iso_funding), m.realized, m.fees_paid


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), bars=st.integers(5, 100))
def test_the_guarded_check_liquidates_exactly_where_the_full_check_does(seed: int, bars: int) -> None:
    full, guarded = _account(seed), _account(seed)
    rng = random.Random(seed ^ 0x5EED)
    marks = {s: full.mark[s] for s in SYMS}
    vol = rng.choice([0.0005, 0.003, 0.02])
    for bar in range(bars):
        priced = [s for s in SYMS if rng.random() > 0.05]  # a symbol without a bar in this step
        path = []  # the bar step's four points: each symbol's marks
        for _ in range(4):
            for s in SYMS:
                jump = rng.random() < 0.01
                marks[s] *= 1.0 + (rng.uniform(-0.15, 0.15) if jump else rng.gauss(0.0, vol))
            path.append({s: marks[s] for s in priced})
        span = {s: (min(p[s] for p in path), max(p[s] for p in path)) for s in priced}
        step = object()
        for k, at in enumerate(path):
            ts = bar * 4 + k
            want = full.margin.check(ts, dict(at), gap=k == 0)
            got = guarded.margin.check_at(ts, at.get, priced, gap=k == 0, span_id=step, span_of=span.get)
            assert _as_data(got) == _as_data(want), f"bar {bar} point {k}"
            assert _book(guarded) == _book(full), f"bar {bar} point {k}"
            if rng.random() < 0.03:  # the account changes between points: a fill, a funding payment
                s = rng.choice(SYMS)
                dq, amount = rng.uniform(-1.0, 1.0) * abs(full.pos[s][0] or 1.0), rng.uniform(-50.0, 50.0)
                for m in (full, guarded):
                    m.pos[s] = [m.pos[s][0] + dq, marks[s]]
                    m.wallet += amount


def test_the_guard_skips_most_checks_on_a_quiet_market() -> None:
    """Not a speed test: proof that the bands hold between account changes (the skip is real)."""
    m = _account(7)
    calls = 0
    check = m.margin.check

    def counted(*a: Any, **k: Any) -> list[VenueUpdate]:
        nonlocal calls
        calls += 1
        return check(*a, **k)

    m.margin.check = counted  # type: ignore[method-assign]
    m.wallet = 1e9  # nothing can be liquidated
    for k in range(1_000):
        at = {s: m.mark[s] * (1.0 + 0.001 * ((k * 7 + i) % 5 - 2)) for i, s in enumerate(SYMS)}
        assert m.margin.check_at(k, at.get, SYMS, gap=False) == []
    assert calls == 1


def test_a_band_stays_inside_its_tier_and_inside_the_margin() -> None:
    m = _account(11)
    marks = dict(m.mark)
    got = bands(m.margin, marks)
    assert got is not None
    for s, lo, hi in got:
        q = m.pos[s][0]
        low, high = tier_range(m.margin.brackets[s], q * marks[s])
        assert lo >= low / abs(q) and hi <= high / abs(q)
        for px in (lo, hi):  # the edges themselves: still the same tier, still not liquidated alone
            assert low <= abs(q) * px * (1 + 1e-13) and abs(q) * px * (1 - 1e-13) <= high
            assert maint_margin(m.margin.brackets[s], q * px)[1].mmr > 0


def test_a_position_without_a_mark_has_no_band() -> None:
    m = _account(3)
    s = next(s for s in SYMS if m.pos[s][0])
    assert bands(m.margin, {x: m.mark[x] for x in SYMS if x != s}) is None


@given(st.floats(0.01, 1e6), st.floats(0.01, 1e6), st.floats(0.01, 1e6), st.floats(0.01, 1e6),
       st.floats(0.01, 1e6), st.floats(0.01, 1e6))
def test_the_mark_is_monotone_in_the_last_price_within_a_bar(o: float, h: float, lo: float, last_open: float,
                                                             a: float, b: float) -> None:
    """What lets the guard bound a bar's marks by the marks of its extreme prices."""
    from engine.venues.mark_data import MarkModel

    model = MarkModel({"X": {0: (o, max(h, lo), min(h, lo), o)}})
    model.on_bar_open("X", 0, last_open)
    x, y = sorted((a, b))
    assert model.mark("X", 0, x) <= model.mark("X", 0, y)
    assert MarkModel({}).mark("X", 0, x) <= MarkModel({}).mark("X", 0, y)
