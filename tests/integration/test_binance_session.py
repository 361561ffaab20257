"""``hedge run --venue binance`` end to end against the loopback fake Binance.

The engine runs as a subprocess with the fake's URLs in its environment (the real
connector, real HTTP and websockets on 127.0.0.1); the fake market moves on its
own. Then: the log verifies, the session's decisions re-derive identically from
the log, a restart reconciles the exchange state, and the API key and secret
appear nowhere - not in the log, not in any file under HEDGE_HOME, not in the
output.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.replay_core import rederive
from eventlog.store import EventStore
from tests.fakes.binance_venue import FakeBinance

REPO = Path(__file__).resolve().parents[2]
HEDGE = [sys.executable, "-m", "hedge.cli"] if not (REPO / ".venv/bin/hedge").exists() else [
    str(REPO / ".venv/bin/hedge")]
SYMBOLS = ["BTCUSDT", "ETHUSDT"]
KEY = "hk-7Qm2xVb9ZpL4tR8sW1nE5yU3oI6aD0fG"
SECRET = "hs-Jk8Lq2Wm5Xn7Bv4Cz1Pa9So3Di6Fu0Gh"


@pytest.fixture
def fake() -> Iterator[FakeBinance]:
    with FakeBinance(SYMBOLS, interval="5m", history=300, api_key=KEY, api_secret=SECRET) as f:
        f.autorun(0.05)
        yield f


def run_hedge(args: list[str], env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HEDGE, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout)


def session_env(fake: FakeBinance, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BINANCE_", "HEDGE_"))}
    env.update(fake.env())
    env.update({"HEDGE_HOME": str(home), "BINANCE_CLOCK": "venue", "BINANCE_TICK_INTERVAL_MS": "0",
                "BINANCE_WARMUP_BARS": "150", "PYTHONPATH": str(REPO), "HEDGE_DEBUG": "1"})
    return env


def events_of(home: Path) -> list:  # type: ignore[type-arg]
    with EventStore.open(home, create=False) as store:
        return list(store.read())


def test_a_session_trades_end_to_end_replays_and_leaks_no_secret(fake: FakeBinance, tmp_path: Path) -> None:
    fake.run(lambda ex: setattr(ex, "force_post_only_rejects", 1))  # the first maker order meets a fast market
    home = tmp_path / "home"
    env = session_env(fake, home)
    out = run_hedge(["run", "--venue", "binance", "--symbols", ",".join(SYMBOLS), "--bars", "400"], env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "venue binance (live)" in out.stdout

    evs = events_of(home)
    kinds = [type(e).__name__ for e in evs]
    assert kinds[0] == "SessionStarted" and kinds[-1] == "SessionEnded"
    assert kinds.index("VenueReconciled") < kinds.index("KlineClosed")
    assert {"OrderSubmitted", "OrderAccepted", "OrderFilled", "NavSnapshot", "MarketTick"} <= set(kinds)
    posted = [r for r in fake.requests if r.path == "/fapi/v1/order" and r.method == "POST"]
    assert len(posted) == kinds.count("OrderSubmitted")  # every order went to the (fake) exchange
    klines = [(e.symbol, e.open_time_ms) for e in evs if type(e).__name__ == "KlineClosed"]
    assert len(klines) == len(set(klines))

    # a post-only refused with -5022 comes back as OrderRejected and the router reprices it (or falls back)
    rejected = [e for e in evs if type(e).__name__ == "OrderRejected" and e.code == -5022]
    assert rejected
    submitted = {e.order_id: e for e in evs if type(e).__name__ == "OrderSubmitted"}
    for rej in rejected:
        first = submitted[rej.order_id]
        after = [e for e in evs if e.session_seq > rej.session_seq and getattr(e, "plan_id", None) == first.plan_id]
        nxt = after[0]
        assert type(nxt).__name__ in ("OrderSubmitted", "RouterFallback")
        if type(nxt).__name__ == "OrderSubmitted" and nxt.order_type == "LIMIT":
            assert nxt.attempt == first.attempt + 1
            # orders go out off the loop thread, so the book may have moved since the first
            # price: the reprice is away from the touch the engine saw when it repriced
            ticks = [e for e in evs if type(e).__name__ == "MarketTick" and e.symbol == nxt.symbol
                     and e.session_seq < nxt.session_seq]
            bid, ask = (ticks[-1].bid, ticks[-1].ask) if ticks else (first.price, first.price)
            assert (nxt.price < bid) if first.side == "BUY" else (nxt.price > ask)

    verify = run_hedge(["verify"], env)
    assert verify.returncode == 0 and "chain intact" in verify.stdout, verify.stdout + verify.stderr
    report = rederive(evs)
    assert report.ok, (report.mismatches[:3], report.unexpected[:3], report.missing[:3])
    assert report.decisions_checked > 0
    replay = run_hedge(["replay", "--verify", evs[0].session_id], env)
    stub = replay.returncode == 2 and ("not built yet" in replay.stderr or "unrecognized arguments" in replay.stderr)
    if not stub:  # 'hedge replay --verify' is another issue; checked here as soon as it exists
        assert replay.returncode == 0, replay.stdout + replay.stderr

    # no key or secret anywhere: log rows, every file under HEDGE_HOME, and the output
    for text in (out.stdout, out.stderr, verify.stdout, verify.stderr, replay.stdout, replay.stderr):
        assert KEY not in text and SECRET not in text
    for path in home.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert KEY.encode() not in data and SECRET.encode() not in data, path
    assert all(KEY not in repr(e) and SECRET not in repr(e) for e in evs)


def test_a_restart_takes_the_exchange_position_and_cancels_stale_orders(fake: FakeBinance, tmp_path: Path) -> None:
    def left_over(ex: object) -> None:  # what a crashed session left on the exchange
        ex.positions["BTCUSDT"] = [0.05, 60000.0]  # type: ignore[attr-defined]
        bid = ex.book("ETHUSDT")[0]  # type: ignore[attr-defined]
        ex.place({"symbol": "ETHUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTX",  # type: ignore[attr-defined]
                  "quantity": "0.5", "price": f"{bid * 0.5:.2f}", "newClientOrderId": "crashed-O1-0"})
    fake.run(left_over)
    home = tmp_path / "home"
    env = session_env(fake, home)
    out = run_hedge(["run", "--venue", "binance", "--symbols", ",".join(SYMBOLS), "--bars", "155",
                     "--no-projections"], env)
    assert out.returncode == 0, out.stderr[-3000:]
    evs = events_of(home)
    rec = next(e for e in evs if type(e).__name__ == "VenueReconciled")
    assert rec.canceled_orders == ["crashed-O1-0"]
    assert [(p.symbol, p.qty) for p in rec.positions] == [("BTCUSDT", 0.05)]
    first_pos = next(e for e in evs if type(e).__name__ == "PositionSnapshot" and e.symbol == "BTCUSDT")
    assert first_pos.qty == 0.05 and first_pos.entry_price == 60000.0
    assert fake.ex.orders["crashed-O1-0"].status == "CANCELED"
    kinds = [type(e).__name__ for e in evs]
    if "OrderSubmitted" in kinds:  # any trading came after the reconciliation
        assert kinds.index("VenueReconciled") < kinds.index("OrderSubmitted")


def test_a_dry_run_session_reads_public_data_only_and_replays(fake: FakeBinance, tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {k: v for k, v in session_env(fake, home).items() if k not in ("BINANCE_API_KEY", "BINANCE_API_SECRET")}
    env.pop("DRY_RUN")  # no keys and no DRY_RUN: dry by default
    out = run_hedge(["run", "--venue", "binance", "--symbols", ",".join(SYMBOLS), "--bars", "300",
                     "--no-projections"], env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "(binance-dry)" in out.stdout
    evs = events_of(home)
    assert evs[0].mode == "binance-dry"
    report = rederive(evs)
    assert report.ok, (report.mismatches[:3], report.unexpected[:3], report.missing[:3])
    assert {r.path for r in fake.requests} <= {"/fapi/v1/time", "/fapi/v1/exchangeInfo", "/fapi/v1/klines"}


def _wallet_moves(events: list[Any]) -> float:
    """What these events add to the paper wallet: realized PnL less fees, funding."""
    moved = 0.0
    for e in events:
        name = type(e).__name__
        if name in ("OrderFilled", "PositionLiquidated"):
            moved += e.realized_pnl - e.fee_usd
        elif name == "FundingApplied":
            moved += e.amount_usd
    return moved


def test_a_dry_run_restart_continues_the_paper_account(fake: FakeBinance, tmp_path: Path) -> None:
    """DRY_RUN=1: the paper account's wallet and positions at the second start are the ones
    the first session ended with - not a fresh paper balance (issue 15)."""
    home = tmp_path / "home"
    env = session_env(fake, home) | {"DRY_RUN": "1"}
    args = ["run", "--venue", "binance", "--symbols", ",".join(SYMBOLS), "--no-projections", "--quiet"]
    first = run_hedge([*args, "--bars", "300"], env)
    assert first.returncode == 0, first.stderr[-3000:]
    evs = events_of(home)
    assert "(binance-dry)" in first.stdout or any(getattr(e, "mode", "") == "binance-dry" for e in evs)
    assert [e for e in evs if type(e).__name__ == "OrderFilled"], "the paper account never traded"
    last_nav = max(i for i, e in enumerate(evs) if type(e).__name__ == "NavSnapshot")
    # the paper wallet the first session ended with: its last NAV reading plus what moved the
    # wallet after it (a fill or funding recorded after the last reading, before SessionEnded)
    wallet = evs[last_nav].wallet_balance + _wallet_moves(evs[last_nav + 1:])
    positions = {e.symbol: e.qty for e in evs if type(e).__name__ == "PositionSnapshot"}
    second = run_hedge([*args, "--bars", "152"], env)
    assert second.returncode == 0, second.stderr[-3000:]
    later = events_of(home)[len(evs):]
    assert type(later[0]).__name__ == "SessionStarted" and "AccountOpened" not in [type(e).__name__ for e in later]
    first_nav = next(i for i, e in enumerate(later) if type(e).__name__ == "NavSnapshot")
    # The first reading of the second session: where the first ended, plus only what the
    # second session itself recorded before it (a resumed resting order filling on the first
    # live bar, a funding settlement) - never a fresh paper balance.
    moved = _wallet_moves(later[:first_nav])
    assert later[first_nav].wallet_balance == pytest.approx(wallet + moved, abs=1e-6)
    resumed = {}
    for e in later:
        if type(e).__name__ == "PositionSnapshot" and e.symbol not in resumed:
            resumed[e.symbol] = e.qty
    assert resumed == {s: positions.get(s, 0.0) for s in resumed} and set(resumed) >= set(SYMBOLS)
    assert any(q for q in positions.values()) or wallet != 100_000.0
    replay = run_hedge(["replay", "--verify", later[0].session_id], env)
    assert replay.returncode == 0, replay.stdout[-1500:] + replay.stderr[-1500:]
