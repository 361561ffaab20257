"""Router autotune and the feedback allocator: the proposals, as pure functions (issue 16).

Both the engine (which applies them, when the flags allow, as ``ConfigChanged``
with ``source="autotune"`` / ``"feedback_allocator"``) and the projections
(``router_policy_suggestions_v6.json``, ``risk_allocation_suggestions_v6.json``)
call these with the same folds of the same events, so what the file proposes is
what the engine would apply.

**Router policy** per symbol, from the symbol's router window of the fills routed
with the policy in force (``PolicyEvidence``: the last 500 fills and post-only
slices since the policy last changed), with at least ``MIN_FILLS`` of them
(otherwise the policy in force is kept):

* maker timeout (``maker_wait_s``): fallback ratio > 0.30 -> x1.5 (at most 120 s, or the
  current value if it is already longer: a cap never moves a value the other way);
  fallback ratio < 0.05 and maker fill rate >= 0.80 -> x0.75 (at least 5 s);
* reprice budget (``max_reprices``): fallback ratio > 0.30 -> +1 (at most 5);
  fallback ratio < 0.05 -> -1 (at least 1);
* post-only offset (``reprice_offset_ticks``): post-only reject rate (rejects /
  orders) > 0.30 -> +1 (at most 5); < 0.05 -> -1 (at least 1);
* TWAP slicing (``twap_slices``), once ``MIN_FILLS`` first-slice fills are in:
  first-slice slippage p95 (see ``PolicyEvidence``) above the symbol's allowance
  (``max_slippage_bps`` of its bucket) -> +2 (at most 12); below a quarter of it
  -> -1 (at least 2).

**Allocation** per symbol: weight = ``0.5 + symbol score`` (the intel score,
0..1) rounded to 0.05, within [0.25, 1.5]; a symbol with fewer than
``runtime.signal_gate.expectancy_min_trades`` round trips in the rolling window
keeps the neutral weight 1.0. The screener multiplies an entry's notional by
its weight (``strategy.symbol_weights``).
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from engine.rules.indicators import percentile
from engine.rules.router_kpis import (
    DEFAULT_MAX_SLIP_BPS,
    ORDERS_MAX,
    ROUTER_WINDOW,
    RouterKpis,
    RouterWindow,
)

if TYPE_CHECKING:  # type only
    from config.schema import HedgeConfig, RouterCfg
    from engine.rules.intel.book import IntelBook
    from eventlog.events import Event, OrderFilled, OrderSubmitted

MIN_FILLS = 20
FALLBACK_HIGH, FALLBACK_LOW = 0.30, 0.05
MAKER_GOOD = 0.80
REJECT_HIGH, REJECT_LOW = 0.30, 0.05
WAIT_MIN_S, WAIT_MAX_S = 5.0, 120.0
REPRICES_MAX = 5
OFFSET_MAX = 5
SLICES_MIN, SLICES_MAX = 2, 12
WEIGHT_MIN, WEIGHT_MAX, WEIGHT_STEP = 0.25, 1.5, 0.05
POLICY_KEYS = ("maker_wait_s", "max_reprices", "twap_slices", "reprice_offset_ticks")


@dataclass(frozen=True, slots=True)
class RouterPolicy:
    maker_wait_s: float
    max_reprices: int
    twap_slices: int
    reprice_offset_ticks: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def policy_of(rc: RouterCfg, symbol: str) -> RouterPolicy:
    """The router policy in force for a symbol: ``runtime.router`` overlaid by ``router.symbols[symbol]``."""
    o = rc.symbols.get(symbol)
    base = RouterPolicy(rc.maker_wait_s, rc.max_reprices, rc.twap.slices, rc.reprice_offset_ticks)
    if o is None:
        return base
    return RouterPolicy(
        o.maker_wait_s if o.maker_wait_s is not None else base.maker_wait_s,
        o.max_reprices if o.max_reprices is not None else base.max_reprices,
        o.twap_slices if o.twap_slices is not None else base.twap_slices,
        o.reprice_offset_ticks if o.reprice_offset_ticks is not None else base.reprice_offset_ticks,
    )


def maker_deadline_ns(rc: RouterCfg, symbol: str, submitted_ns: int) -> int:
    """When a post-only order sent at ``submitted_ns`` has waited ``maker_wait_s``: from then
    on the router falls back to taker (the simulated venue publishes its book then, too)."""
    return submitted_ns + math.ceil(policy_of(rc, symbol).maker_wait_s * 1_000_000_000)


class PolicyEvidence:
    """Per-symbol router windows of the fills made under the router policy in force.

    A symbol's window starts over when its policy changes (autotune, a reload, a new
    session), so a proposal is judged on fills routed with the policy it would change,
    never twice on the evidence that already moved it. Fed the same events by the
    engine (``engine.autotune``) and the projections (``projections.suggestions``).

    Besides the router windows it keeps each symbol's *first-slice* slippage: of fills
    of slice 0 of a plan (the only slice of a maker-first or taker plan), i.e. the
    slippage at the decision, without the drift a TWAP's later slices add (that drift
    grows with the number of slices, so it cannot judge how many to use).
    """

    __slots__ = ("first_slice", "kpis", "policies", "slice_of")

    def __init__(self) -> None:
        self.kpis = RouterKpis()
        self.policies: dict[str, tuple[float, int, int, int]] = {}
        self.first_slice: dict[str, deque[float]] = {}
        self.slice_of: OrderedDict[str, int] = OrderedDict()  # order id -> slice index (bounded)

    def apply(self, ev: Event) -> None:
        """Fold a router event (``OrderSubmitted``, ``OrderRejected``, ``RouterFallback``, ``OrderFilled``)."""
        t = type(ev).__name__  # by name: the shared rules import no event module (docs/architecture.md)
        if t == "OrderFilled":
            f: OrderFilled = ev  # type: ignore[assignment]
            self.kpis.on_fill(f.is_maker, f.qty, f.price, f.slippage_bps, f.symbol, f.ts_event_ns)
            if self.slice_of.get(f.order_id) == 0:
                d = self.first_slice.get(f.symbol)
                if d is None:
                    d = self.first_slice[f.symbol] = deque(maxlen=ROUTER_WINDOW)
                d.append(f.slippage_bps)
        elif t == "OrderSubmitted":
            s: OrderSubmitted = ev  # type: ignore[assignment]
            self.kpis.on_submitted(s.order_id, s.plan_id, s.symbol, s.time_in_force, s.slice_index)
            self.slice_of[s.order_id] = s.slice_index
            if len(self.slice_of) > ORDERS_MAX:
                self.slice_of.popitem(last=False)
        elif t == "OrderRejected":
            self.kpis.on_rejected(ev.order_id, ev.symbol, ev.code)  # type: ignore[attr-defined]
        elif t == "RouterFallback":
            self.kpis.on_fallback(ev.order_id, ev.symbol)  # type: ignore[attr-defined]

    def __getstate__(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}

    def __setstate__(self, s: dict[str, Any]) -> None:
        for k, v in s.items():
            setattr(self, k, v)

    def on_config(self, cfg: HedgeConfig) -> None:
        """A config took effect: restart the window of every symbol whose policy changed."""
        rc = cfg.runtime.router
        for sym in sorted(set(self.policies) | set(rc.symbols) | set(cfg.universe.symbols)):
            p = policy_of(rc, sym)
            pol = (p.maker_wait_s, p.max_reprices, p.twap_slices, p.reprice_offset_ticks)
            old = self.policies.get(sym)
            if old != pol:
                if old is not None:
                    self.kpis.by_sym.pop(sym, None)
                    self.first_slice.pop(sym, None)
                self.policies[sym] = pol


def allowance_of(cfg: HedgeConfig, symbol: str) -> float:
    """A symbol's slippage allowance: its liquidity bucket's ``max_slippage_bps``."""
    spec = cfg.universe.symbols.get(symbol)
    b = cfg.liquidity_buckets.buckets.get(spec.liquidity_bucket) if spec is not None else None
    return b.max_slippage_bps if b is not None else DEFAULT_MAX_SLIP_BPS


def router_proposals(evidence: PolicyEvidence, cfg: HedgeConfig, symbols: list[str]
                     ) -> dict[str, tuple[RouterPolicy, RouterPolicy, dict[str, Any], list[str]]]:
    """symbol -> (policy in force, proposed policy, evidence, reasons)."""
    out = {}
    rc = cfg.runtime.router
    for sym in symbols:
        ev = router_evidence(evidence.kpis.by_sym.get(sym), allowance_of(cfg, sym),
                             list(evidence.first_slice.get(sym, ())))
        cur = policy_of(rc, sym)
        new, why = propose_router(ev, cur)
        out[sym] = (cur, new, ev, why)
    return out


def router_evidence(w: RouterWindow | None, allowance_bps: float, first_slice: list[float] | None = None
                    ) -> dict[str, Any]:
    """What a router proposal rests on: fill rate, fallback ratio, slippage, sample size."""
    if w is None:
        w = RouterWindow()
    _, maker_count = w.maker_rates()
    slips = [f[2] for f in w.fills]
    return {
        "sample_size": len(w.fills), "fill_rate": maker_count, "fallback_ratio": w.fallback_ratio(),
        "slippage_p50_bps": percentile(slips, 0.5), "slippage_p95_bps": percentile(slips, 0.95),
        "slip_allowance_bps": allowance_bps, "post_only_slices": len(w.slices),
        "post_only_reject_rate": (w.rejects_n / w.orders_n) if w.orders_n else None,
        "first_slice_slippage_p95_bps": percentile(first_slice or [], 0.95),
        "first_slice_fills": len(first_slice or []),
    }


def propose_router(ev: dict[str, Any], cur: RouterPolicy) -> tuple[RouterPolicy, list[str]]:
    """(proposed policy, one reason per key) from the evidence of ``router_evidence``."""
    n = ev["sample_size"]
    if n < MIN_FILLS:
        return cur, [f"{n} fills < {MIN_FILLS}: keep the policy in force"]
    fb = ev["fallback_ratio"] or 0.0
    fill = ev["fill_rate"] or 0.0
    rej = ev["post_only_reject_rate"] or 0.0
    # first-slice slippage judges TWAP slicing once it has its own MIN_FILLS fills (a p95 of a
    # dozen fills swings across both bands from one review to the next)
    q95 = ev["first_slice_slippage_p95_bps"] if ev["first_slice_fills"] >= MIN_FILLS else None
    allow = ev["slip_allowance_bps"]
    wait, reprices, slices, offset = cur.maker_wait_s, cur.max_reprices, cur.twap_slices, cur.reprice_offset_ticks
    why: list[str] = []
    if fb > FALLBACK_HIGH:
        wait = min(max(WAIT_MAX_S, wait), float(round(wait * 1.5)))  # a cap never shortens a longer wait
        reprices = min(max(REPRICES_MAX, reprices), reprices + 1)
        why.append(f"fallback ratio {fb:.2f} > {FALLBACK_HIGH}: wait longer, one more reprice")
    elif fb < FALLBACK_LOW:
        if fill >= MAKER_GOOD:
            wait = max(WAIT_MIN_S, float(round(wait * 0.75)))
            why.append(f"fallback ratio {fb:.2f} < {FALLBACK_LOW} and fill rate {fill:.2f} >= {MAKER_GOOD}: "
                       "shorter maker timeout")
        if reprices > 1:
            reprices -= 1
            why.append(f"fallback ratio {fb:.2f} < {FALLBACK_LOW}: one reprice less")
    if rej > REJECT_HIGH:
        offset = min(max(OFFSET_MAX, offset), offset + 1)
        why.append(f"post-only reject rate {rej:.2f} > {REJECT_HIGH}: post one tick further from the touch")
    elif rej < REJECT_LOW and offset > 1:
        offset -= 1
        why.append(f"post-only reject rate {rej:.2f} < {REJECT_LOW}: post one tick closer")
    if q95 is not None and q95 > allow:
        slices = min(max(SLICES_MAX, slices), slices + 2)
        why.append(f"first-slice slippage p95 {q95:.2f} bps > allowance {allow:g}: two more TWAP slices")
    elif q95 is not None and q95 < allow / 4 and slices > SLICES_MIN:
        slices -= 1
        why.append(f"first-slice slippage p95 {q95:.2f} bps < a quarter of the allowance {allow:g}: "
                   "one TWAP slice less")
    new = RouterPolicy(wait, reprices, slices, offset)
    return new, why or ["within every band: keep the policy in force"]


def propose_weight(book: IntelBook, symbol: str, cfg: HedgeConfig) -> tuple[float, str, dict[str, Any]]:
    """(suggested weight, rationale, evidence) of one symbol for the feedback allocator."""
    sg = cfg.runtime.signal_gate
    roll = book.rolling(symbol, sg.expectancy_window)
    sc = book.score(symbol, cfg)
    evidence = {"score": round(sc.score, 12), "components": {k: round(v, 12) for k, v in sc.components.items()},
                "round_trips": roll.round_trips, "expectancy_frac": roll.expectancy_frac,
                "win_rate": roll.win_rate}
    if roll.round_trips < sg.expectancy_min_trades:
        return 1.0, (f"{roll.round_trips} round trips < {sg.expectancy_min_trades} "
                     "(runtime.signal_gate.expectancy_min_trades): neutral weight"), evidence
    raw = 0.5 + sc.score
    w = round(min(WEIGHT_MAX, max(WEIGHT_MIN, round(raw / WEIGHT_STEP) * WEIGHT_STEP)), 4)
    c = sc.components
    exp = roll.expectancy_frac or 0.0
    why = (f"score {sc.score:.2f} (expectancy {c['expectancy']:.2f}, trend {c['trend']:.2f}, "
           f"volatility {c['volatility']:.2f}, router {c['router']:.2f}, liquidity {c['liquidity']:.2f}); "
           f"{roll.round_trips} round trips, {exp:+.4%} per trip -> weight 0.5 + score")
    return w, why, evidence


def router_changes(cfg: HedgeConfig, proposals: dict[str, RouterPolicy]) -> dict[str, dict[str, Any]]:
    """symbol -> {key: new value} for every proposal that differs from the policy in force."""
    out: dict[str, dict[str, Any]] = {}
    rc = cfg.runtime.router
    for sym, new in sorted(proposals.items()):
        cur = policy_of(rc, sym)
        diff = {k: getattr(new, k) for k in POLICY_KEYS if getattr(new, k) != getattr(cur, k)}
        if diff:
            out[sym] = diff
    return out
