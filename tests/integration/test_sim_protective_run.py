"""Protective orders end to end (``runtime.router.protective_orders``) on the generated market.

After each entry fill the engine places closePosition STOP_MARKET / TAKE_PROFIT_MARKET
orders, replaces them when TP/SL change and cancels them when the position is flat; the
venue triggers them inside the bar; every stop exit fills at or through its trigger;
``hedge replay --verify`` re-derives every ``ProtectiveOrdersSet`` and order.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eventlog.store import EventStore
from tests.configdir import copy_config, edit_json, hedge

pytestmark = [pytest.mark.slow]


def test_stop_exits_fill_at_or_through_their_trigger_and_replay(tmp_path: Path) -> None:
    cfg = copy_config(tmp_path)
    edit_json(cfg / "runtime.json", lambda rt: rt.setdefault("router", {}).update(protective_orders=True))
    home = tmp_path / "home"
    r = hedge(home, cfg, "run", "--bars", "3000", "--quiet")
    assert r.returncode == 0, r.stderr[-2000:]
    with EventStore.open(home, create=False) as store:
        subs = {e.order_id: e for e in store.read(types=("OrderSubmitted",)) if e.plan_id == "protect"}
        sets = list(store.read(types=("ProtectiveOrdersSet",)))
        fills = [e for e in store.read(types=("OrderFilled",)) if e.order_id in subs]
        canceled = {e.order_id for e in store.read(types=("OrderCanceled",))}
        done = canceled | {e.order_id for e in store.read(types=("OrderFilled", "OrderExpired", "OrderRejected"))}
    assert sets and {s.order_type for s in subs.values()} == {"STOP_MARKET", "TAKE_PROFIT_MARKET"}
    assert all(s.close_position and s.reduce_only and s.stop_price for s in subs.values())
    stops = [f for f in fills if subs[f.order_id].order_type == "STOP_MARKET"]
    assert len(stops) >= 5
    for f in stops:
        stop = subs[f.order_id].stop_price or 0.0
        assert (f.price <= stop) if f.side == "SELL" else (f.price >= stop), (f.order_id, f.price, stop)
        assert f.position_qty_after == 0.0
    # every flat position had its protective orders canceled (or they filled)
    flat_sets = [s for s in sets if s.position_qty == 0.0]
    assert flat_sets and all(oid in canceled for s in flat_sets for oid in s.cancel)
    # the position ledger's TP/SL are the resting protective orders' stops
    ledger = json.loads((home / "state" / "positions_ledger.json").read_text())["entries"]
    live = {(s.symbol, {"STOP_MARKET": "sl", "TAKE_PROFIT_MARKET": "tp"}[s.order_type]): s.stop_price
            for oid, s in subs.items() if oid not in done}
    assert live, "the run ends with protective orders resting"
    for (sym, kind), stop in live.items():
        entry = next(e for e in ledger.values() if e["symbol"] == sym)
        assert entry["tp_sl"][kind] == stop
    v = hedge(home, cfg, "replay", "all", "--verify")
    assert v.returncode == 0 and "0 with differences" in v.stdout, v.stdout[-2000:] + v.stderr[-2000:]
    assert "ProtectiveOrdersSet" in v.stdout
