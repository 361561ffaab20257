"""A run with liquidations: 20x isolated on the generated market (its scripted crash), end to end.

``hedge run`` records ``PositionLiquidated`` events (each at the liquidation price the
venue's formula gives, never past the bankruptcy price), the account trades on, the audit
table and the state files carry them, and ``hedge replay --verify`` re-derives every decision.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eventlog.store import EventStore
from projections.audit_sql import connect, query
from tests.configdir import copy_config, edit_json, hedge

pytestmark = [pytest.mark.slow]


def test_liquidations_are_recorded_replayed_and_the_account_trades_on(tmp_path: Path) -> None:
    cfg = copy_config(tmp_path)
    edit_json(cfg / "runtime.json", lambda rt: rt["sim"].update(margin_type="isolated", leverage=20))
    home = tmp_path / "home"
    r = hedge(home, cfg, "run", "--bars", "3000", "--quiet")
    assert r.returncode == 0, r.stderr[-2000:]
    with EventStore.open(home, create=False) as store:
        liq = list(store.read(types=("PositionLiquidated",)))
        fills = list(store.read(types=("OrderFilled",)))
    assert len(liq) >= 3
    for ev in liq:
        long = ev.side == "SELL"
        assert (ev.mark_price <= ev.liquidation_price) if long else (ev.mark_price >= ev.liquidation_price)
        between = sorted((ev.liquidation_price, ev.bankruptcy_price))
        assert between[0] - 1e-9 <= ev.fill_price <= between[1] + 1e-9
        assert ev.realized_pnl == pytest.approx((1 if long else -1) * ev.qty * (ev.fill_price - ev.entry_price))
    assert sum(f.seq > liq[0].seq for f in fills) > 10, "the account trades on after a liquidation"
    con = connect(home)
    assert query(con, "select count(*) from liquidations")[1][0][0] == len(liq)
    snap = json.loads((home / "state" / "risk_snapshot.json").read_text())
    assert snap["liquidations"] == len(liq) and snap["margin_ratio"] is not None
    v = hedge(home, cfg, "replay", "all", "--verify")
    assert v.returncode == 0 and "0 with differences" in v.stdout, v.stdout[-2000:] + v.stderr[-2000:]
