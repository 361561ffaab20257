"""The margin check's guard: marks at which no position can be liquidated.

``SimMargin.check`` runs at every path point of every bar step and values every position
at that point's marks. Between two changes of the account - a fill, a funding settlement,
a liquidation (the wallet, a position, an isolated margin) - only the marks move, and the
margin arithmetic (``engine.venues.margin``) bounds how fast they can eat the margin:
inside one leverage tier a position's uPnL minus its maintenance margin falls by at most
``|qty| * (1 + mmr)`` per unit of mark. So, from the slack at a reference reading
(isolated: the position's margin + uPnL - maintenance; cross: the cross margin balance -
the cross maintenance margin, shared by the cross positions in proportion to their
notional), each position gets a band of marks - ``ref * (1 +- r)``, cut to its tier's
notional range - inside which the check cannot liquidate anything.

A mark outside its band (or any change of the account, ``account_key``) runs the full
check, which decides exactly as before; when it liquidates nothing the bands are
recentred on those marks. The slack is first reduced by ``SAFETY`` x the magnitudes it
is made of - far above the rounding of the check's own sums - so the guard only ever
skips a check that would have found nothing (``tests/unit/test_liq_guard.py`` compares
it with the full check on random books and marks).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from engine.venues.margin import maint_margin, tier_range

if TYPE_CHECKING:
    from engine.venues.sim_margin import SimMargin

SAFETY = 1e-9  # of the magnitudes a slack is made of
EDGE = 1e-12  # a band stops this far (relatively) inside its tier's notional range

Band = tuple[str, float, float]  # symbol, marks strictly between low and high are safe


def account_key(margin: SimMargin) -> tuple[Any, ...]:
    """Everything besides the marks that the margin check reads (a band holds while it is equal)."""
    m = margin.m
    return (m.wallet, id(margin.brackets), tuple([(p[0], p[1]) for p in m.pos.values()]),
            tuple(margin.iso_funding.values()))


def _band(margin: SimMargin, s: str, q: float, ref: float, r: float) -> Band:
    aq = abs(q)
    low, high = tier_range(margin.brackets[s], q * ref)
    lo = max(ref * (1.0 - r), low / aq * (1.0 + EDGE))
    hi = min(ref * (1.0 + r), high / aq * (1.0 - EDGE))
    return s, lo, hi


def bands(margin: SimMargin, marks: Mapping[str, float]) -> tuple[Band, ...] | None:
    """The safe band of each open position around ``marks`` (None: a position has no mark here)."""
    m = margin.m
    out: list[Band] = []
    cross: list[tuple[str, float, float, float]] = []  # symbol, qty, mark, sensitivity
    iso_total = 0.0
    cross_scale = 0.0
    for s in m.symbols:
        q, e = m.pos[s]
        if not q:
            continue
        mk = marks.get(s)
        if mk is None or not mk > 0:
            return None
        mm, b = maint_margin(margin.brackets[s], q * mk)
        sens = abs(q) * (1.0 + b.mmr) * mk
        scale = abs(q) * (mk + abs(e)) + mm + abs(b.cum)
        if s in margin.isolated:
            iso = margin.iso_margin(s)
            iso_total += abs(iso)
            slack = iso + q * (mk - e) - mm - SAFETY * (abs(iso) + scale + 1.0)
            out.append(_band(margin, s, q, mk, max(0.0, slack) / sens))
        else:
            cross.append((s, q, mk, sens))
            cross_scale += scale
    if cross:
        bal, mm_total = margin.cross(dict(marks))
        slack = bal - mm_total - SAFETY * (abs(m.wallet) + iso_total + cross_scale + 1.0)
        r = max(0.0, slack) / sum(c[3] for c in cross)
        out.extend(_band(margin, s, q, mk, r) for s, q, mk, _ in cross)
    return tuple(out)


class LiqGuard:
    """The bands in force, the account they were computed for, and the bar step whose
    whole path is known to stay inside them."""

    __slots__ = ("bands", "key", "span_id")

    def __init__(self) -> None:
        self.key: tuple[Any, ...] | None = None
        self.bands: tuple[Band, ...] = ()
        self.span_id: object = None

    def holds(self, key: tuple[Any, ...], mark_of: Callable[[str], float | None],
              span_id: object = None, span_of: Callable[[str], tuple[float, float] | None] | None = None) -> bool:
        """True when the account is the one of the bands and every mark is inside its band.

        ``span_of(symbol)``: the lowest and highest mark of the bar step ``span_id`` (its path's
        extreme prices: the mark is monotone in the last price within a bar, ``MarkModel.mark``);
        when the whole span is inside, every point of that bar step is, while the account stays.
        """
        if key != self.key:
            return False
        if span_id is not None:
            if self.span_id is span_id:
                return True
            if span_of is not None and self._inside(span_of):
                self.span_id = span_id
                return True
        for s, lo, hi in self.bands:
            mk = mark_of(s)
            if mk is None or not lo < mk < hi:
                return False
        return True

    def _inside(self, span_of: Callable[[str], tuple[float, float] | None]) -> bool:
        for s, lo, hi in self.bands:
            span = span_of(s)
            if span is None or not (lo < span[0] and span[1] < hi):
                return False
        return True

    def reset(self, key: tuple[Any, ...] | None, got: tuple[Band, ...] | None) -> None:
        if got is None:
            key = None
        self.key = key
        self.bands = got or ()
        self.span_id = None
