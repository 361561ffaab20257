"""Logs written before the typed payloads still read, verify, replay and rebuild the same.

A real Binance session (loopback fake exchange, real connector, a restart that finds a
position and a stale order, so ``VenueReconciled`` has rows of both kinds) is recorded
by today's code. Its events are then written again, as the code before the typed
payloads wrote them - ``VenueReconciled`` v1 with plain dict rows (``type``, not
``order_type``), encoded with that old schema kept here - into a second log. The old
log decodes through the upcasters into the very same events, its chain verifies,
``hedge replay --verify`` re-derives every decision, and ``hedge rebuild`` writes
byte-identical state files from both logs.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import msgspec
import pytest

from eventlog.chain import split
from eventlog.codec import encode_map
from eventlog.events import Event, VenueReconciled
from eventlog.store import EventStore
from hedge.cli import main
from tests.fakes.binance_venue import FakeBinance
from tests.integration.test_binance_session import (
    KEY,
    SECRET,
    SYMBOLS,
    events_of,
    run_hedge,
    session_env,
)
from tests.integration.test_rebuild_identical import tree

pytestmark = pytest.mark.slow


class OldVenueReconciled(Event, tag="VenueReconciled", frozen=True, kw_only=True):
    """``VenueReconciled`` as it was before typed payloads (v1): rows were plain dicts."""

    open_orders: list[dict[str, Any]]
    positions: list[dict[str, Any]]
    canceled_orders: list[str] = []


def old_shape(ev: Event) -> bytes:
    """The bytes the code before this change wrote for ``ev``."""
    if type(ev) is not VenueReconciled:
        return encode_map(ev)  # a format-1 map, unchanged wire shape (tests/unit/test_payloads.py)
    orders = []
    for o in ev.open_orders:
        row = msgspec.to_builtins(o)
        orders.append({"order_id": row["order_id"], "venue_order_id": row["venue_order_id"],
                       "symbol": row["symbol"], "side": row["side"], "type": row["order_type"],
                       "time_in_force": row["time_in_force"], "price": row["price"], "qty": row["qty"],
                       "filled_qty": row["filled_qty"], "status": row["status"]})
    old = OldVenueReconciled(
        session_id=ev.session_id, session_seq=ev.session_seq, stream=ev.stream, ts_event_ns=ev.ts_event_ns,
        ts_init_ns=ev.ts_init_ns, v=1, open_orders=orders,
        positions=[msgspec.to_builtins(p) for p in ev.positions], canceled_orders=list(ev.canceled_orders))
    return msgspec.msgpack.encode(old)


def cli(*args: str) -> tuple[int, str]:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(io.StringIO()):
        rc = main(list(args))
    return rc, buf.getvalue()


def test_a_log_written_before_typed_payloads_upcasts_replays_and_rebuilds_identically(tmp_path: Path) -> None:
    home, old = tmp_path / "home", tmp_path / "old"
    with FakeBinance(SYMBOLS, interval="5m", history=300, api_key=KEY, api_secret=SECRET) as fake:
        fake.autorun(0.05)

        def left_over(ex: Any) -> None:  # a crashed session's position and resting order
            ex.positions["BTCUSDT"] = [0.05, 60000.0]
            bid = ex.book("ETHUSDT")[0]
            ex.place({"symbol": "ETHUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTX",
                      "quantity": "0.5", "price": f"{bid * 0.5:.2f}", "newClientOrderId": "crashed-O1-0"})

        fake.run(left_over)
        out = run_hedge(["run", "--venue", "binance", "--symbols", ",".join(SYMBOLS), "--bars", "160",
                         "--no-projections"], session_env(fake, home))
    assert out.returncode == 0, out.stderr[-3000:]
    new_events = events_of(home)
    rec = [e for e in new_events if type(e) is VenueReconciled]
    assert rec and rec[0].v == 2 and rec[0].positions and rec[0].open_orders

    with EventStore.open(old) as store:
        store.append_encoded([(e.session_id, e.session_seq, type(e).__name__, old_shape(e)) for e in new_events])
    with EventStore.open(old, create=False) as store:  # the stored bytes are the old ones
        raw = [msgspec.msgpack.decode(split(r[4])[1]) for rows in store.rows() for r in rows]
    stored_v1 = [r for r in raw if r["type"] == "VenueReconciled"]
    assert stored_v1 and all(r["v"] == 1 and "type" in r["open_orders"][0] for r in stored_v1)

    # decoding the old log goes through eventlog.upcast and gives the same typed events
    assert events_of(old) == new_events

    assert cli("verify", "--home", str(old))[0] == 0
    rc, text = cli("replay", "--home", str(old), "last", "--verify", "--no-progress")
    assert rc == 0, text

    assert cli("rebuild", "--home", str(home), "--quiet")[0] == 0
    assert cli("rebuild", "--home", str(old), "--quiet")[0] == 0
    new_files, old_files = tree(home), tree(old)
    assert any(k.startswith("state/") for k in new_files)
    assert new_files == old_files
