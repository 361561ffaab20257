"""Router fidelity on the simulated venue: how the maker-first router fares against the book.

``python -m bench.router_fidelity HOME [HOME ...]`` reads each log (``HOME/eventlog.sqlite``)
and prints, per log:

* ``first_reprices`` / ``first_reprices_rejected``: GTX orders with ``attempt == 1`` (the
  first reprice after a -5022) and how many of them were rejected -5022 again;
* ``reject_5022``: every post-only reject; ``maker_plans``: route plans that start as maker
  (``maker_first``/``twap``); ``fallbacks`` by reason and ``fallback_ratio`` (fallbacks per
  maker plan);
* ``fills``, ``maker_notional_frac`` (share of the filled notional that was maker) and the
  slippage against the decision price (bps, positive = worse), notional-weighted, overall,
  maker and taker, and by how the order came about (``by_route``: ``first_maker`` - a maker
  plan's first post-only order, ``reprice`` - a post-only reprice, ``fallback`` - a maker
  plan's taker remainder, ``taker`` - a taker plan's order): notional share and slippage.

The figures in ``docs/engine.md`` (the venue model's latency) come from this tool over
``hedge run`` logs written with different ``runtime.sim.latency_ms``.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from eventlog.store import EventStore

TYPES = ("RoutePlanned", "OrderSubmitted", "OrderRejected", "RouterFallback", "OrderFilled")


def measure(home: Path) -> dict[str, Any]:
    """The router's fidelity figures of every session in the log at ``home``."""
    store = EventStore.open(home, create=False)
    first: set[str] = set()
    again = rejects = plans = maker_plans = 0
    fallbacks: Counter[str] = Counter()
    notional = {True: 0.0, False: 0.0}
    slip = {True: 0.0, False: 0.0}
    fills = 0
    style: dict[str, str] = {}
    route: dict[str, str] = {}
    by_route: dict[str, list[float]] = {}
    try:
        for ev in store.read(1, types=TYPES):
            t = type(ev).__name__
            if t == "RoutePlanned":
                plans += 1
                maker_plans += ev.style != "taker"  # type: ignore[attr-defined]
                style[ev.plan_id] = ev.style  # type: ignore[attr-defined]
            elif t == "OrderSubmitted":
                maker_plan = style.get(ev.plan_id, "taker") != "taker"  # type: ignore[attr-defined]
                route[ev.order_id] = ("taker" if not maker_plan else  # type: ignore[attr-defined]
                                      "fallback" if ev.order_type == "MARKET" else  # type: ignore[attr-defined]
                                      "reprice" if ev.attempt else "first_maker")  # type: ignore[attr-defined]
                if ev.attempt == 1 and ev.time_in_force == "GTX":  # type: ignore[attr-defined]
                    first.add(ev.order_id)  # type: ignore[attr-defined]
            elif t == "OrderRejected" and ev.code == -5022:  # type: ignore[attr-defined]
                rejects += 1
                again += ev.order_id in first  # type: ignore[attr-defined]
            elif t == "RouterFallback":
                fallbacks[ev.reason] += 1  # type: ignore[attr-defined]
            elif t == "OrderFilled" and ev.decision_price:  # type: ignore[attr-defined]
                n = ev.qty * ev.price  # type: ignore[attr-defined]
                maker = bool(ev.is_maker)  # type: ignore[attr-defined]
                notional[maker] += n
                slip[maker] += n * ev.slippage_bps  # type: ignore[attr-defined]
                fills += 1
                r = by_route.setdefault(route.get(ev.order_id, "other"), [0.0, 0.0])  # type: ignore[attr-defined]
                r[0] += n
                r[1] += n * ev.slippage_bps  # type: ignore[attr-defined]
    finally:
        store.close()
    total = notional[True] + notional[False]

    def wavg(n: float, s: float) -> float | None:
        return round(s / n, 3) if n else None

    return {
        "plans": plans, "maker_plans": maker_plans, "first_reprices": len(first),
        "first_reprices_rejected": again, "reject_5022": rejects,
        "fallbacks": dict(sorted(fallbacks.items())),
        "fallback_ratio": round(sum(fallbacks.values()) / maker_plans, 4) if maker_plans else None,
        "fills": fills, "maker_notional_frac": round(notional[True] / total, 4) if total else None,
        "slippage_bps": wavg(total, slip[True] + slip[False]),
        "slippage_bps_maker": wavg(notional[True], slip[True]),
        "slippage_bps_taker": wavg(notional[False], slip[False]),
        "by_route": {k: {"notional_frac": round(n / total, 4), "slippage_bps": wavg(n, sl)}
                     for k, (n, sl) in sorted(by_route.items())} if total else {},
    }


def main(argv: list[str] | None = None) -> int:
    homes = argv if argv is not None else sys.argv[1:]
    if not homes:
        print("usage: python -m bench.router_fidelity HOME [HOME ...]", file=sys.stderr)
        return 2
    for h in homes:
        print(json.dumps({"home": h, **measure(Path(h))}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
