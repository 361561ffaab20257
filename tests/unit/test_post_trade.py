"""Risk after the trade (rules v6): the post-trade decisions of ``engine.risk.check_positions``.

The state is folded by the engine's own ``evolve`` from a handful of recorded events (a
session, a NAV reading, a position, its mark), so these are the decisions the engine takes.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from config.errors import ConfigError
from config.loader import apply_overrides, config_hash, config_to_dict, from_dict, load_config
from engine.core import Cancel, Emit, decide
from engine.rules.units import DAY_NS
from engine.state import EngineState, evolve
from eventlog.events import (
    Event,
    IntentEmitted,
    MarketTick,
    NavSnapshot,
    OrderFilled,
    OrderSubmitted,
    PositionSnapshot,
    RiskDecided,
    RiskReset,
    SessionStarted,
)

T0 = 1_751_328_000 * 10**9  # 2025-07-01 00:00 UTC
SID = "0badc0de-0000-4000-8000-000000000001"


class Log:
    """Folds events into a fresh EngineState and keeps the engine's post-trade decisions."""

    def __init__(self, sets: list[str]) -> None:
        cfg = from_dict(apply_overrides(load_config().as_dict(), sets)[0]).config
        self.st = EngineState()
        self.seq = 0
        self.cancels: list[Cancel] = []
        self.orders: list[OrderSubmitted] = []
        self.put(SessionStarted, T0, engine_version="t", mode="sim", venue="sim",
                 symbols=["BTCUSDT", "ETHUSDT", "SOLUSDT"], config=config_to_dict(cfg),
                 config_hash=config_hash(cfg), rules_version=6)

    def put(self, cls: type[Event], ts: int, **f: Any) -> Event:
        self.seq += 1
        ev = cls(session_id=SID, session_seq=self.seq, stream="t", ts_event_ns=ts, ts_init_ns=ts, **f)
        evolve(self.st, ev)
        return ev

    def position(self, ts: int, sym: str, qty: float, price: float) -> None:
        self.put(PositionSnapshot, ts, symbol=sym, qty=qty, entry_price=price, mark_price=price, unrealized_pnl=0.0)
        self.put(MarketTick, ts, symbol=sym, bid=price, ask=price, mark=price)

    def record(self, ev: Event, out: list[Event]) -> None:
        """What the engine records in answer to ``ev``, depth-first (its plan and order too)."""
        for a in decide(self.st, ev):
            if isinstance(a, Emit):
                self.seq += 1  # the draft, stamped as the writer stamps it
                e = msgspec.structs.replace(a.event, session_id=SID, session_seq=self.seq,
                                            ts_event_ns=a.ts_event_ns, ts_init_ns=a.ts_event_ns)
                evolve(self.st, e)
                out.append(e)
                self.record(e, out)
            elif isinstance(a, Cancel):
                self.cancels.append(a)

    def nav(self, ts: int, nav: float) -> list[RiskDecided]:
        """Record a NAV reading and what the engine decides on it; return the post-trade decisions."""
        ev = self.put(NavSnapshot, ts, nav_usd=nav, wallet_balance=nav, unrealized_pnl=0.0, available_balance=nav)
        out: list[Event] = []
        self.record(ev, out)
        self.orders = [e for e in out if isinstance(e, OrderSubmitted)]
        return [d for d in out if isinstance(d, RiskDecided)]

    def fill(self, ts: int, o: OrderSubmitted, price: float, qty_after: float) -> None:
        self.put(OrderFilled, ts, order_id=o.order_id, trade_id=f"t{self.seq}", symbol=o.symbol, side=o.side,
                 qty=o.qty, price=price, is_maker=False, fee_usd=0.0, realized_pnl=0.0, slippage_bps=0.0,
                 decision_price=price, position_qty_after=qty_after)
        self.position(ts, o.symbol, qty_after, price)


def test_cap_drift_over_tolerance_then_one_trim_back_to_the_cap_recomputed() -> None:
    log = Log(["risk.cap_drift_tolerance_frac=0.02"])
    log.nav(T0, 100_000.0)
    # SOL is SATELLITE: per-symbol cap 20% of NAV = 20,000 USD; 150 SOL at 140 = 21,000 (5% over the cap)
    log.position(T0 + 1, "SOLUSDT", 150.0, 140.0)
    decs = log.nav(T0 + 2, 100_000.0)
    assert len(decs) == 1
    d = decs[0]
    assert (d.outcome, d.gate, d.symbol, d.side, d.intent_id) == ("trim", "cap_drift", "SOLUSDT", "SELL", "")
    assert d.thresholds["per_symbol_nav_pct"] == 0.2 and d.thresholds["cap_drift_tolerance_frac"] == 0.02
    assert d.breached == ["per_symbol_nav_pct"]
    assert d.observations["symbol_gross"] == 21_000.0 and d.observations["nav_usd"] == 100_000.0
    # recomputed: gross after the trim is at the cap, within one step (0.01 SOL) under it
    cap = 0.2 * 100_000.0
    after = (150.0 - d.approved_qty) * 140.0
    assert cap - 0.01 * 140.0 < after <= cap + 1e-9
    assert d.observations["gross_after_usd"] == round(after, 8)
    assert d.state_refs["nav"] and d.state_refs["position.SOLUSDT"]
    # the router placed one reduce-only market order for it
    (o,) = log.orders
    assert (o.side, o.qty, o.reduce_only, o.order_type) == ("SELL", d.approved_qty, True, "MARKET")
    assert log.nav(T0 + 3, 100_000.0) == []  # exactly one: the trim in flight, nothing more
    log.fill(T0 + 4, o, 140.0, round(150.0 - o.qty, 2))
    assert log.st.syms["SOLUSDT"].open_plans == []
    assert log.nav(T0 + 5, 100_000.0) == []  # back at the cap: nothing more


def test_cap_drift_within_tolerance_then_no_decision() -> None:
    log = Log(["risk.cap_drift_tolerance_frac=0.06"])
    log.nav(T0, 100_000.0)
    log.position(T0 + 1, "SOLUSDT", 150.0, 140.0)  # 5% over the cap, tolerance 6%
    assert log.nav(T0 + 2, 100_000.0) == []


def test_cap_drift_off_by_default_then_no_decision() -> None:
    log = Log([])
    log.nav(T0, 100_000.0)
    log.position(T0 + 1, "SOLUSDT", 300.0, 140.0)  # 42% of NAV against a 20% cap
    assert log.nav(T0 + 2, 100_000.0) == []


def test_portfolio_cap_drift_then_every_position_trimmed_pro_rata() -> None:
    log = Log(["risk.cap_drift_tolerance_frac=0.01", "risk.max_gross_nav_mult=0.5"])
    log.nav(T0, 100_000.0)
    log.position(T0 + 1, "BTCUSDT", 0.45, 60_000.0)  # 27,000 (CORE cap 30%)
    log.position(T0 + 1, "ETHUSDT", -9.0, 3_000.0)  # 27,000 short; gross 54,000 > 50,000 x 1.01
    decs = log.nav(T0 + 2, 100_000.0)
    assert {d.symbol: d.side for d in decs} == {"BTCUSDT": "SELL", "ETHUSDT": "BUY"}
    assert all(d.gate == "cap_drift" and d.observations["binding_cap"] == "max_gross_nav_mult" for d in decs)
    after = (0.45 - decs[0].approved_qty) * 60_000.0 + (9.0 - decs[1].approved_qty) * 3_000.0
    assert 50_000.0 - 0.001 * 63_000.0 < after <= 50_000.0 + 1e-9


def test_daily_loss_reduce_then_every_position_trimmed_once_per_day() -> None:
    log = Log(["risk.daily_loss_action=reduce", "risk.breach_reduce_frac=0.5"])
    log.nav(T0, 100_000.0)
    log.position(T0 + 1, "BTCUSDT", 0.2, 60_000.0)
    log.position(T0 + 1, "SOLUSDT", -30.0, 150.0)
    assert log.nav(T0 + 2, 98_000.0) == []  # 2% loss, limit 3%
    decs = log.nav(T0 + 3, 96_500.0)  # 3.5%
    assert [(d.symbol, d.outcome, d.gate, d.approved_qty, d.side) for d in decs] == [
        ("BTCUSDT", "trim", "daily_loss_limit", 0.1, "SELL"), ("SOLUSDT", "trim", "daily_loss_limit", 15.0, "BUY")]
    d = decs[0]
    assert d.thresholds == {"daily_loss_limit_pct": 0.03, "daily_loss_action": "reduce", "breach_reduce_frac": 0.5}
    assert d.observations["daily_loss_frac"] == 0.035 and d.breached == ["daily_loss_limit_pct"]
    placed = log.orders
    assert [(o.symbol, o.side, o.qty, o.reduce_only) for o in placed] == [
        ("BTCUSDT", "SELL", 0.1, True), ("SOLUSDT", "BUY", 15.0, True)]
    log.fill(T0 + 4, placed[0], 60_000.0, 0.1)
    log.fill(T0 + 4, placed[1], 150.0, -15.0)
    assert log.nav(T0 + 4, 95_000.0) == []  # once per breach (the same UTC day)
    assert len(log.nav(T0 + DAY_NS + 5, 90_000.0)) == 0  # a new day: the day starts at 90,000, no loss yet
    assert len(log.nav(T0 + DAY_NS + 6, 87_000.0)) == 2  # a new breach on the new day


def test_daily_loss_flatten_halt_then_close_all_and_keep_flat_until_the_day_rolls() -> None:
    log = Log(["risk.daily_loss_action=flatten_halt"])
    log.nav(T0, 100_000.0)
    log.position(T0 + 1, "BTCUSDT", 0.2, 60_000.0)
    decs = log.nav(T0 + 2, 96_000.0)
    assert [(d.outcome, d.gate, d.approved_qty, d.side) for d in decs] == [("flatten", "daily_loss_limit", 0.2, "SELL")]
    assert log.st.post_trade.halted(T0 + 3) == "daily_loss_limit"
    (o,) = log.orders
    assert (o.side, o.qty, o.reduce_only) == ("SELL", 0.2, True)
    assert log.nav(T0 + 3, 96_000.0) == []  # the close is in flight
    log.fill(T0 + 4, o, 60_000.0, 0.0)
    # a position that appears while the halt is in force is closed again
    log.position(T0 + 4, "BTCUSDT", 0.05, 60_000.0)
    again = log.nav(T0 + 5, 96_000.0)
    assert [(d.outcome, d.approved_qty) for d in again] == [("flatten", 0.05)]
    assert "halt in force" in again[0].reasons[0] or "flatten_halt" in again[0].reasons[0]
    # the next UTC day: no halt, no loss, nothing decided
    assert log.st.post_trade.halted(T0 + DAY_NS) is None
    assert log.nav(T0 + DAY_NS + 1, 96_000.0) == []


def test_drawdown_flatten_halt_then_kept_until_a_risk_reset() -> None:
    log = Log(["risk.max_drawdown_action=flatten_halt", "risk.max_drawdown_pct=0.1",
               "risk.dd_cautious_pct=0.04", "risk.dd_defensive_pct=0.08"])
    log.nav(T0, 100_000.0)
    log.position(T0 + 1, "ETHUSDT", 2.0, 3_000.0)
    log.nav(T0 + DAY_NS, 95_000.0)
    decs = log.nav(T0 + 2 * DAY_NS, 89_000.0)  # 11% from the peak, a new day (no daily breach rule set)
    assert [(d.outcome, d.gate) for d in decs] == [("flatten", "drawdown_limit")]
    assert decs[0].thresholds == {"max_drawdown_pct": 0.1, "max_drawdown_action": "flatten_halt"}
    assert log.st.post_trade.halted(T0 + 5 * DAY_NS) == "drawdown_limit"
    log.put(RiskReset, T0 + 5 * DAY_NS, account="a", operator="op@h", reason="reviewed", to_state="cautious",
            source_seq=99)
    assert log.st.post_trade.halted(T0 + 5 * DAY_NS) is None


def test_block_is_the_default_then_a_breach_decides_nothing_after_the_trade() -> None:
    log = Log([])
    log.nav(T0, 100_000.0)
    log.position(T0 + 1, "BTCUSDT", 0.2, 60_000.0)
    assert log.nav(T0 + 2, 90_000.0) == []


def test_rules_v5_session_then_no_post_trade_decision() -> None:
    log = Log(["risk.cap_drift_tolerance_frac=0.0", "risk.daily_loss_action=flatten_halt"])
    log.st.rules_version = 5
    log.nav(T0, 100_000.0)
    log.position(T0 + 1, "SOLUSDT", 300.0, 140.0)
    assert log.nav(T0 + 2, 90_000.0) == []


def test_flatten_halt_then_resting_entry_orders_canceled_and_their_plans_ended() -> None:
    log = Log(["risk.daily_loss_action=flatten_halt"])
    log.nav(T0, 100_000.0)
    log.position(T0 + 1, "BTCUSDT", 0.2, 60_000.0)
    log.put(MarketTick, T0 + 1, symbol="ETHUSDT", bid=2_999.0, ask=3_001.0, mark=3_000.0)
    entry = log.put(IntentEmitted, T0 + 2, intent_id="x-I1-0", symbol="ETHUSDT", side="BUY", qty=1.0,
                    notional_usd=3_000.0, price=3_000.0, reason="entry")
    out: list[Event] = []
    log.record(entry, out)
    (resting,) = [e for e in out if isinstance(e, OrderSubmitted)]
    assert resting.time_in_force == "GTX" and log.st.syms["ETHUSDT"].open_plans
    decs = log.nav(T0 + 3, 96_000.0)
    assert {(d.symbol, d.outcome, d.approved_qty, d.side) for d in decs} == {
        ("BTCUSDT", "flatten", 0.2, "SELL"), ("ETHUSDT", "flatten", 0.0, None)}
    assert [(c.symbol, c.order_id) for c in log.cancels] == [("ETHUSDT", resting.order_id)]
    assert log.st.syms["ETHUSDT"].open_plans == []  # the entry's plan ended: it counts as exposure no more


@pytest.mark.parametrize(("key", "value", "says"), [
    ("daily_loss_action", "nuke", "Invalid enum value 'nuke'"),
    ("max_drawdown_action", "halt", "Invalid enum value 'halt'"),
    ("breach_reduce_frac", 0.0, "must be in (0, 1]"),
    ("cap_drift_tolerance_frac", -0.1, "must be in [0, 1]"),
])
def test_config_refuses_a_bad_post_trade_key_then_names_file_and_key(key: str, value: Any, says: str) -> None:
    raw = load_config().as_dict()
    raw["risk_limits"]["global"][key] = value
    with pytest.raises(ConfigError) as e:
        from_dict(raw, source="test")
    assert e.value.file == "risk_limits.json" and e.value.key == f"global.{key}" and says in str(e.value)


def test_a_halt_in_force_still_flattens_after_the_action_went_back_to_block() -> None:
    """The fast exit (nothing due, cap drift off: no book built) must not skip a halt in force."""
    log = Log(["risk.max_drawdown_action=flatten_halt", "risk.max_drawdown_pct=0.1",
               "risk.dd_cautious_pct=0.04", "risk.dd_defensive_pct=0.08"])
    log.nav(T0, 100_000.0)
    log.position(T0 + 1, "ETHUSDT", 2.0, 3_000.0)
    assert [d.outcome for d in log.nav(T0 + DAY_NS, 89_000.0)] == ["flatten"]
    cfg = from_dict(apply_overrides(config_to_dict(log.st.config), ["risk.max_drawdown_action=block"])[0]).config
    log.st.cfg = cfg  # as a ConfigChanged folds it
    log.position(T0 + DAY_NS + 2, "ETHUSDT", 0.0, 3_000.0)  # the flatten filled
    log.position(T0 + DAY_NS + 3, "SOLUSDT", 10.0, 140.0)  # a position appears while halted
    assert [(d.outcome, d.gate, d.symbol) for d in log.nav(T0 + DAY_NS + 4, 89_500.0)] == [
        ("flatten", "drawdown_limit", "SOLUSDT")]
