"""Risk after the trade (rules v6): cap-drift trims and the actions on loss-limit breaches.

The pre-trade gates (``engine.gates``) keep an order under its caps when it is placed;
afterwards prices move. At every counted NAV reading ``engine.risk.check_positions``
(the same module as ``check_order``, the only risk authority) looks at the open
positions with the predicates below and records each decision as a ``RiskDecided``
with outcome ``trim`` (part of a position) or ``flatten`` (all of it), no intent, the
reducing order's ``side``, and its gate, thresholds and observations like every gate.
The router turns it into one reduce-only taker order (``engine.router.plan_trim``).

* ``cap_drift``: a position whose symbol gross, tier gross or the portfolio gross is
  over its cap x (1 + ``cap_drift_tolerance_frac``) is trimmed so that gross is back at
  the cap (the quantity rounded *up* to the step, so it lands at or just under it).
  The binding cap (the one needing the largest cut) names the breached threshold.
  Tier and portfolio cuts apply pro rata to every position of the tier / book.
* ``daily_loss_limit`` / ``drawdown_limit``: on a breach of ``daily_loss_limit_pct`` /
  ``max_drawdown_pct``, ``daily_loss_action`` / ``max_drawdown_action``:
  ``block`` (default: entries are vetoed by the pre-trade gate, nothing else),
  ``reduce`` (every position trimmed by ``breach_reduce_frac``, once per breach: once a
  UTC day for the daily loss, once until the drawdown is back under the limit), or
  ``flatten_halt`` (every position closed reduce-only, every resting entry order
  canceled; while the halt is in force any position that appears is closed again).
  The daily halt ends when the UTC day rolls; the drawdown halt at a ``hedge risk
  reset``. Entries stay vetoed by the ``daily_loss_limit`` / ``drawdown_limit`` gates
  while the loss stands, as under ``block``.

A symbol with an order plan in flight (an entry, an exit or an earlier trim) is left
alone until the plan ends. ``PostTradeBook`` is the fold (``engine.state``): which
breach already had its action and which halt is in force.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from engine.accounting import step_decimals
from engine.rules.units import utc_day
from eventlog.events import Scalar

POST_TRADE_OUTCOMES = ("trim", "flatten")
ACTIONS = {"daily_loss_limit": "daily_loss_action", "drawdown_limit": "max_drawdown_action"}


def round_step_up(qty: float, step: float) -> float:
    """Smallest multiple of ``step`` not below ``qty``."""
    if qty <= 0:
        return 0.0
    n = math.ceil(qty / step - 1e-9)
    return round(n * step, step_decimals(step))


@dataclass(slots=True)
class Holding:
    """One symbol as the post-trade rules see it."""

    symbol: str
    tier: str
    qty: float  # exchange-side position (signed)
    price: float  # mark
    step: float
    min_qty: float
    busy: bool  # an order plan in flight (entry, exit or trim) or an exit pending
    entry_plans: bool = False  # open entry plans (canceled by a flatten)
    exiting: bool = False  # a reduce-only plan (exit or trim) in flight or an exit pending
    refs: dict[str, int] = field(default_factory=dict)

    @property
    def gross(self) -> float:
        return abs(self.qty) * self.price


@dataclass(slots=True)
class Book:
    """The account at one NAV reading."""

    nav: float
    ts_ns: int
    holdings: list[Holding]
    dd_frac: float
    daily_loss_frac: float
    peak_nav: float
    day_start_nav: float
    refs: dict[str, int]

    def tier_gross(self, tier: str) -> float:
        return sum(h.gross for h in self.holdings if h.tier == tier)

    def gross(self) -> float:
        return sum(h.gross for h in self.holdings)


@dataclass(slots=True)
class Cut:
    """What a predicate decided for one holding."""

    gate: str
    outcome: str  # trim | flatten
    qty: float
    thresholds: dict[str, Scalar]
    breached: list[str]
    reason: str
    obs: dict[str, Scalar]


class PostTradeBook:
    """Fold of the post-trade decisions: breaches already acted on, the halt in force."""

    def __init__(self) -> None:
        self.daily_day: int | None = None  # UTC day whose daily-loss breach had its action
        self.dd_acted = False  # the current max-drawdown breach had its action
        self.halt_day: int | None = None  # daily-loss flatten_halt: keep flat through this UTC day
        self.halt_dd = False  # max-drawdown flatten_halt: keep flat until a risk reset
        self.trims = 0
        self.flattens = 0

    def on_decided(self, gate: str, outcome: str, ts_ns: int) -> None:
        if outcome == "trim":
            self.trims += 1
        else:
            self.flattens += 1
        if gate == "daily_loss_limit":
            self.daily_day = utc_day(ts_ns)
            if outcome == "flatten":
                self.halt_day = self.daily_day
        elif gate == "drawdown_limit":
            self.dd_acted = True
            if outcome == "flatten":
                self.halt_dd = True

    def on_nav(self, dd_frac: float | None, max_dd: float) -> None:
        """A counted NAV reading: a drawdown back under the limit ends its breach."""
        if dd_frac is not None and dd_frac < max_dd:
            self.dd_acted = False

    def on_reset(self) -> None:
        """A ``RiskReset`` lifts a flatten_halt (the drawdown's; the day's too)."""
        self.halt_dd = False
        self.halt_day = None

    def halted(self, ts_ns: int) -> str | None:
        """The gate whose flatten_halt is in force at ``ts_ns``, if any."""
        if self.halt_dd:
            return "drawdown_limit"
        if self.halt_day is not None and self.halt_day == utc_day(ts_ns):
            return "daily_loss_limit"
        return None


# --------------------------------------------------------------------------- predicates


def breach(book: Book, cfg: Any, pt: PostTradeBook) -> tuple[str, str] | None:
    """(gate, action) of a loss-limit breach whose configured action is due now, else None."""
    return breach_at(book.daily_loss_frac, book.dd_frac, book.ts_ns, cfg, pt)


def breach_at(daily_loss_frac: float, dd_frac: float, ts_ns: int, cfg: Any, pt: PostTradeBook) -> tuple[str, str] | None:
    """``breach`` from the account's figures alone (no holdings needed)."""
    g = cfg.risk_limits.global_
    if (g.daily_loss_action != "block" and daily_loss_frac >= g.daily_loss_limit_pct
            and pt.daily_day != utc_day(ts_ns)):
        return "daily_loss_limit", g.daily_loss_action
    if g.max_drawdown_action != "block" and dd_frac >= g.max_drawdown_pct and not pt.dd_acted:
        return "drawdown_limit", g.max_drawdown_action
    halt = pt.halted(ts_ns)
    if halt is not None:
        return halt, "flatten_halt"
    return None


def breach_cut(h: Holding, book: Book, cfg: Any, gate: str, action: str, pt: PostTradeBook) -> Cut | None:
    """The trim / close of one holding that a breach's action asks for."""
    g = cfg.risk_limits.global_
    if gate == "daily_loss_limit":
        th: dict[str, Scalar] = {"daily_loss_limit_pct": g.daily_loss_limit_pct, "daily_loss_action": action}
        seen, lim, what = book.daily_loss_frac, g.daily_loss_limit_pct, "daily_loss_frac"
    else:
        th = {"max_drawdown_pct": g.max_drawdown_pct, "max_drawdown_action": action}
        seen, lim, what = book.dd_frac, g.max_drawdown_pct, "dd_frac"
    q = abs(h.qty)
    halted = pt.halted(book.ts_ns) == gate
    if action == "flatten_halt":
        if q <= 0 and not h.entry_plans:
            return None
        why = (f"{gate} halt in force since the breach: close {q:g}" if halted and seen < lim
               else f"{what} {seen:.4f} >= {lim:g}: flatten_halt, close {q:g} and cancel resting entries")
        return Cut(gate, "flatten", q, th, [next(iter(th))], why, {})
    if q <= 0:
        return None
    th["breach_reduce_frac"] = g.breach_reduce_frac
    qty = min(q, max(round_step_up(q * g.breach_reduce_frac, h.step), h.min_qty))
    return Cut(gate, "flatten" if qty >= q else "trim", qty, th, [next(iter(th))],
               f"{what} {seen:.4f} >= {lim:g}: reduce every position by {g.breach_reduce_frac:g} (once per breach), "
               f"trim {qty:g} of {q:g}", {})


def drift_cut(h: Holding, book: Book, cfg: Any) -> Cut | None:
    """``cap_drift``: trim back to the binding cap when gross drifted over cap x (1 + tolerance)."""
    g = cfg.risk_limits.global_
    tol = g.cap_drift_tolerance_frac
    if tol is None or h.qty == 0 or h.gross <= 0 or book.nav <= 0:
        return None
    tl = cfg.risk_limits.tiers.get(h.tier)
    sym_pct = tl.per_symbol_nav_pct if tl else 0.0
    tier_pct = tl.tier_gross_nav_pct if tl else 0.0
    caps = (
        ("per_symbol_nav_pct", sym_pct * book.nav, h.gross),
        ("tier_gross_nav_pct", tier_pct * book.nav, book.tier_gross(h.tier)),
        ("max_gross_nav_mult", g.max_gross_nav_mult * book.nav, book.gross()),
    )
    th: dict[str, Scalar] = {"per_symbol_nav_pct": sym_pct, "tier_gross_nav_pct": tier_pct,
                             "max_gross_nav_mult": g.max_gross_nav_mult, "cap_drift_tolerance_frac": tol}
    breached: list[str] = []
    frac, binding = 0.0, ""
    for name, cap, gross in caps:
        if gross > cap * (1.0 + tol) + 1e-9:
            breached.append(name)
            f = 1.0 - cap / gross if gross > 0 else 0.0
            if f > frac:
                frac, binding = f, name
    if not breached:
        return None
    q = abs(h.qty)
    qty = min(q, max(round_step_up(q * frac, h.step), h.min_qty))
    cap_usd = next(c for n, c, _ in caps if n == binding)
    over = next(gr for n, _, gr in caps if n == binding)
    why = (f"{binding} gross {over:.2f} USD > cap {cap_usd:.2f} x (1 + {tol:g}); "
           f"trim {qty:g} of {q:g} ({frac:.4%}) back to the cap")
    obs: dict[str, Scalar] = {
        "symbol_cap_usd": round(caps[0][1], 8), "tier_cap_usd": round(caps[1][1], 8),
        "portfolio_cap_usd": round(caps[2][1], 8), "binding_cap": binding,
        "symbol_gross_frac": round(h.gross / book.nav, 8), "trim_frac": round(frac, 8),
        "gross_after_usd": round((q - qty) * h.price, 8),
    }
    return Cut("cap_drift", "flatten" if qty >= q else "trim", qty, th, breached, why, obs)


def book_observations(h: Holding, book: Book) -> dict[str, Scalar]:
    """What every post-trade decision records about the account and the holding."""
    return {
        "nav_usd": round(book.nav, 8), "price": h.price, "tier": h.tier, "position_qty": h.qty,
        "symbol_gross": round(h.gross, 8), "tier_gross": round(book.tier_gross(h.tier), 8),
        "portfolio_gross": round(book.gross(), 8), "peak_nav_usd": round(book.peak_nav, 8),
        "dd_frac": round(book.dd_frac, 8), "day_start_nav_usd": round(book.day_start_nav, 8),
        "daily_loss_frac": round(book.daily_loss_frac, 8), "risk_increasing": False, "post_trade": True,
    }
