"""The projector fold: invariants, missing data, batch independence (Hypothesis).

``synth_events`` builds realistic synthetic sessions (klines, ticks, NAV, positions,
intents, decisions, maker-first orders with rejects/fallbacks/fills, funding,
off-exchange valuations, restarts) from a list of ops, so Hypothesis can explore
logs the engine would rarely produce. Other projection tests import it.
"""

from __future__ import annotations

import pickle
import uuid
from pathlib import Path
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config.loader import config_to_dict, load_config, normalize_percentage
from engine.rules.indicators import drawdown_frac
from eventlog import events as E
from eventlog.codec import decode
from eventlog.payloads import HoldingValued
from projections.contract import load_manifest, validate
from projections.fold import Projector

NS = 1_000_000_000
BAR_NS = 300 * NS
T0 = 1_751_328_000 * NS  # 2025-07-01
LOADED = load_config()
CONFIG = config_to_dict(LOADED.config)
SYMBOLS = sorted(LOADED.config.universe.symbols)
BASE = {"AVAXUSDT": 20.0, "BTCUSDT": 60000.0, "ETHUSDT": 3000.0, "SOLUSDT": 150.0, "WIFUSDT": 2.0}


class Synth:
    """Builds events with a consistent header; ``seq`` is assigned in order."""

    def __init__(self) -> None:
        self.events: list[E.Event] = []
        self.t = T0
        self.sid = ""
        self.sseq = 0
        self.n = 0
        self.nav = 100_000.0
        self.qty: dict[str, float] = {}
        self.px = dict(BASE)

    def emit(self, cls: type[E.Event], stream: str = "x", **fields: Any) -> None:
        self.sseq += 1
        ev = cls(session_id=self.sid, session_seq=self.sseq, stream=stream, ts_event_ns=self.t,
                 ts_init_ns=self.t, **fields)
        self.events.append(msgspec.structs.replace(ev, seq=len(self.events) + 1))

    def session(self, resumed: bool = False) -> None:
        prev = self.sid
        self.sid = str(uuid.UUID(int=len(self.events) + 1))
        self.sseq = 0
        self.emit(E.SessionStarted, "session", engine_version="t", mode="sim", venue="sim", symbols=SYMBOLS,
                  config=CONFIG, config_hash=LOADED.config_hash, resumed_from=prev if resumed and prev else None)

    def op(self, op: tuple[Any, ...]) -> None:
        kind = op[0]
        self.n += 1
        n = self.n
        if kind == "bar":
            _, sym, move, rng = op
            self.t += BAR_NS
            c = self.px[sym] * (1 + move)
            self.px[sym] = c
            self.emit(E.MarketTick, f"market.{sym}", symbol=sym, bid=c * 0.9999, ask=c * 1.0001)
            self.emit(E.KlineClosed, f"market.{sym}", symbol=sym, interval="5m", open_time_ms=(self.t - BAR_NS) // 10**6,
                      close_time_ms=self.t // 10**6 - 1, open=c / (1 + move), high=c * (1 + rng), low=c * (1 - rng),
                      close=c, volume=10.0)
        elif kind == "nav":
            self.nav *= 1 + op[1]
            self.emit(E.NavSnapshot, "account", nav_usd=self.nav, wallet_balance=self.nav, unrealized_pnl=0.0,
                      available_balance=self.nav, sources_ok=op[2] if len(op) > 2 else True)
        elif kind == "jump":
            self.t += op[1] * NS
        elif kind == "trade":
            _, sym, side, outcome, maker, fallback, slip, pnl, tp = op
            iid, did, pid, oid = f"I{n}", f"D{n}", f"P{n}", f"O{n}"
            px = self.px[sym]
            self.emit(E.IntentEmitted, "strategy", intent_id=iid, symbol=sym, side=side, qty=1.0, notional_usd=px,
                      price=px, tp=px * 1.05 if tp else None, sl=px * 0.95 if tp else None)
            gate = {"allow": "pass", "clamp": "symbol_cap", "veto": "max_open_positions"}[outcome]
            self.emit(E.RiskDecided, "risk", decision_id=did, intent_id=iid, symbol=sym, outcome=outcome, gate=gate,
                      reasons=[gate], thresholds={"cap": 0.1}, observations={"obs": float(n)},
                      config_hash=LOADED.config_hash, requested_qty=1.0,
                      approved_qty=0.0 if outcome == "veto" else 0.5, approved_notional_usd=px / 2,
                      breached=[] if outcome == "allow" else [gate])
            if outcome == "veto":
                return
            self.emit(E.RoutePlanned, "orders", plan_id=pid, decision_id=did, intent_id=iid, symbol=sym, side=side,
                      qty=0.5, style="maker_first", slices=1, slice_qty=0.5, decision_price=px)
            self.emit(E.OrderSubmitted, "orders", order_id=oid, plan_id=pid, symbol=sym, side=side, order_type="LIMIT",
                      time_in_force="GTX", qty=0.5, price=px, decision_price=px)
            if not maker:
                self.emit(E.OrderRejected, "orders", order_id=oid, symbol=sym, code=-5022, reason="would take")
                if fallback:
                    self.emit(E.RouterFallback, "orders", plan_id=pid, order_id=oid, symbol=sym, reason="maker_timeout",
                              remaining_qty=0.5, reprices=1, waited_ms=1000)
                oid = oid + "t"
                self.emit(E.OrderSubmitted, "orders", order_id=oid, plan_id=pid, symbol=sym, side=side,
                          order_type="MARKET", time_in_force="IOC", qty=0.5, price=None, decision_price=px)
            q = self.qty.get(sym, 0.0) + (0.5 if side == "BUY" else -0.5)
            self.qty[sym] = q
            self.emit(E.OrderFilled, "orders", order_id=oid, trade_id=f"T{n}", symbol=sym, side=side, qty=0.5, price=px,
                      is_maker=maker, fee_usd=px * 0.5 * (0.0002 if maker else 0.0005), realized_pnl=pnl,
                      slippage_bps=slip, decision_price=px, position_qty_after=q)
            self.emit(E.PositionSnapshot, "account", symbol=sym, qty=q, entry_price=px, mark_price=px,
                      unrealized_pnl=0.0)
        elif kind == "funding":
            self.emit(E.FundingApplied, "account", symbol=op[1], rate=0.0001, mark_price=self.px[op[1]],
                      position_qty=self.qty.get(op[1], 0.0), amount_usd=op[2])
        elif kind == "offex":
            self.emit(E.OffExchangeValued, "account", holdings=[
                HoldingValued(asset="BTC", qty=0.75, price_usd=self.px["BTCUSDT"], value_usd=0.75 * self.px["BTCUSDT"],
                              cost_basis_usd=52000.0, pnl_usd=0.75 * self.px["BTCUSDT"] - 52000.0)], total_usd=1.0)
        elif kind == "closed":
            self.emit(E.PositionClosed, "strategy", symbol=op[1], trigger=op[2], level=1.0, price=1.0)
        elif kind == "session":
            self.session(resumed=op[1])
        elif kind == "end":
            self.emit(E.SessionEnded, "session", reason="bars")


def synth_events(ops: list[tuple[Any, ...]]) -> list[E.Event]:
    s = Synth()
    s.session()
    for op in ops:
        s.op(op)
    return s.events


sym_st = st.sampled_from(SYMBOLS)
op_st = st.one_of(
    st.tuples(st.just("bar"), sym_st, st.floats(-0.03, 0.03), st.floats(0.0, 0.02)),
    st.tuples(st.just("nav"), st.floats(-0.04, 0.04), st.booleans()),
    st.tuples(st.just("jump"), st.sampled_from([60, 3599, 3601, 86400])),
    st.tuples(st.just("trade"), sym_st, st.sampled_from(["BUY", "SELL"]), st.sampled_from(["allow", "clamp", "veto"]),
              st.booleans(), st.booleans(), st.floats(-5, 50), st.sampled_from([0.0, 12.5, -7.25]), st.booleans()),
    st.tuples(st.just("funding"), sym_st, st.floats(-3, 3)),
    st.tuples(st.just("offex")),
    st.tuples(st.just("closed"), sym_st, st.sampled_from(["tp", "sl"])),
    st.tuples(st.just("session"), st.booleans()),
    st.tuples(st.just("end")),
)


def fold(events: list[E.Event]) -> Projector:
    p = Projector()
    p.apply_all(events)
    return p


# ----------------------------------------------------------------------------- tests


def test_empty_log_renders_every_file_with_nulls_and_valid_schema(tmp_path: Path) -> None:
    from projections.shadow import ShadowReader

    p = Projector()
    docs: dict[str, Any] = p.documents()
    docs.update(p.list_documents(docs))
    docs.update(ShadowReader(tmp_path).documents(p.decisions, p.cfg, p.session_id, p.header))
    manifest = load_manifest()["files"]
    assert set(docs) == {n for n, s in manifest.items() if s["format"] == "json"}
    for name, doc in docs.items():
        assert validate(doc, manifest[name]["fields"]) == [], name
    assert docs["nav_state.json"]["nav_usd"] is None
    assert docs["nav_state.json"]["freshness"] == "unknown"
    assert docs["kpis_v7.json"]["risk"]["dd_state"] == "normal"
    assert docs["kpis_v7.json"]["router"]["quality"] == "unknown"


def test_drawdown_and_daily_loss_fractions_follow_the_seed_invariants() -> None:
    events = synth_events([("nav", 0.10), ("nav", -0.02), ("nav", -0.03), ("bar", "BTCUSDT", 0.0, 0.01)])
    docs = fold(events).documents()
    risk = docs["risk_snapshot.json"]
    navs = [e.nav_usd for e in events if isinstance(e, E.NavSnapshot)]
    expected = drawdown_frac(navs[-1], max(navs))
    assert abs(risk["dd_frac"] - expected) < 1e-12 and expected > 0.04
    assert risk["dd_frac"] == normalize_percentage(risk["dd_pct"])
    assert risk["daily_loss_frac"] == normalize_percentage(risk["daily_loss_pct"])
    assert abs(risk["daily_loss_frac"] - (navs[0] - navs[-1]) / navs[0]) < 1e-12
    assert risk["dd_state"]["state"] == "cautious"  # repo config: cautious 0.04, defensive 0.08
    assert docs["kpis_v7.json"]["risk"]["drawdown_pct"] == risk["dd_frac"]


def test_nav_goes_stale_after_the_gates_freshness_limit_then_risk_mode_says_so() -> None:
    # one freshness rule (engine.rules.freshness): the gate's nav_freshness_seconds, not 3600 s
    stale_after = LOADED.config.risk_limits.global_.nav_freshness_seconds
    fresh = fold(synth_events([("nav", 0.0), ("jump", int(stale_after) - 1), ("end",)])).documents()
    assert fresh["nav_state.json"]["fresh"] is True
    assert fresh["nav_state.json"]["nav_age_s"] == stale_after - 1
    stale = fold(synth_events([("nav", 0.0), ("jump", int(stale_after) + 1), ("end",)])).documents()
    assert stale["nav_state.json"]["stale"] is True
    assert stale["nav_state.json"]["freshness"] == "stale"
    assert stale["risk_snapshot.json"]["risk_mode"] == "nav_stale"
    assert stale["kpis_v7.json"]["nav"]["age_s"] == stale_after + 1


def test_router_health_lists_every_configured_symbol_even_when_idle() -> None:
    events = synth_events([("trade", "BTCUSDT", "BUY", "allow", True, False, 1.0, 0.0, True)])
    rh = fold(events).documents()["router_health.json"]
    rows = {r["symbol"]: r for r in rh["symbols"]}
    assert sorted(rows) == SYMBOLS
    assert rows["BTCUSDT"]["maker_fill_rate"] == 1.0 and rows["BTCUSDT"]["fills"] == 1
    idle = rows["SOLUSDT"]
    assert idle["fills"] == 0 and idle["maker_fill_rate"] is None and idle["quality"] == "unknown"


def test_fallback_fill_counts_in_ratio_and_post_only_rejects() -> None:
    ops = [("trade", "ETHUSDT", "BUY", "allow", False, True, 30.0, 0.0, False),
           ("trade", "ETHUSDT", "SELL", "allow", True, False, -1.0, 10.0, False)]
    p = fold(synth_events(ops))
    rh = p.documents()["router_health.json"]
    assert rh["fallback_ratio"] == 0.5 and rh["maker_fill_rate"] == 0.5 and rh["post_only_rejects"] == 1
    assert p.router.fill_context("O1t", False) == ("P1", True)


def test_vetoes_and_clamps_become_lines_with_thresholds_and_observations() -> None:
    ops = [("trade", "SOLUSDT", "BUY", o, True, False, 0.0, 0.0, False) for o in ("veto", "clamp", "allow")]
    p = fold(synth_events(ops))
    lines = p.take_veto_lines()
    assert [ln["outcome"] for ln in lines] == ["veto", "clamp"]
    assert all(ln["thresholds"] and ln["observations"] and ln["config_hash"] == LOADED.config_hash for ln in lines)
    diag = p.documents()["diagnostics.json"]
    assert diag["veto_counters"]["by_gate"] == {"max_open_positions": 1}
    assert diag["veto_counters"]["by_gate_symbol"] == {"max_open_positions": {"SOLUSDT": 1}}


def test_ledger_takes_tp_sl_of_the_allowed_intent_and_drops_closed_positions() -> None:
    p = fold(synth_events([("trade", "BTCUSDT", "BUY", "allow", True, False, 0.0, 0.0, True)]))
    entry = p.documents()["positions_ledger.json"]["entries"]["BTCUSDT:LONG"]
    assert entry["tp_sl"]["tp"] is not None and entry["tp_sl"]["sl"] < entry["tp_sl"]["tp"]
    p2 = fold(synth_events([("trade", "BTCUSDT", "BUY", "allow", True, False, 0.0, 0.0, True),
                            ("trade", "BTCUSDT", "SELL", "allow", True, False, 0.0, 5.0, False)]))
    assert p2.documents()["positions_ledger.json"]["entries"] == {}


def test_new_session_resets_the_account_view_but_resumed_session_continues() -> None:
    ops = [("nav", 0.05), ("trade", "BTCUSDT", "BUY", "allow", True, False, 0.0, 0.0, False)]
    fresh = fold(synth_events([*ops, ("session", False)])).documents()
    assert fresh["nav_state.json"]["nav_usd"] is None and fresh["positions_state.json"]["count"] == 0
    resumed = fold(synth_events([*ops, ("session", True)])).documents()
    assert resumed["nav_state.json"]["nav_usd"] is not None and resumed["positions_state.json"]["count"] == 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(op_st, max_size=60), cuts=st.lists(st.integers(0, 400), max_size=6))
def test_fold_in_random_batches_with_checkpoints_equals_one_pass(ops: list[Any], cuts: list[int]) -> None:
    events = synth_events(ops)
    one = fold(events)
    expected, expected_lines = one.documents(), one.take_veto_lines()
    p = Projector()
    lines: list[dict[str, Any]] = []
    prev = 0
    for c in [*sorted(set(cuts)), len(events)]:
        c = min(c, len(events))
        p.apply_all(events[prev:c])
        prev = max(prev, c)
        p.documents()  # rendering must not change the fold
        lines += p.take_veto_lines()
        p = pickle.loads(pickle.dumps(p))  # a checkpoint round trip
    assert p.documents() == expected
    assert lines == expected_lines
    manifest = load_manifest()["files"]
    for name, doc in expected.items():
        assert validate(doc, manifest[name]["fields"]) == [], (name, validate(doc, manifest[name]["fields"])[:3])
    risk = expected["risk_snapshot.json"]
    if risk["dd_frac"] is not None:
        assert risk["dd_frac"] == normalize_percentage(risk["dd_pct"])
        assert risk["daily_loss_frac"] == normalize_percentage(risk["daily_loss_pct"])


def test_venue_reconciliation_is_authoritative_for_positions() -> None:
    s = Synth()
    s.session()
    s.op(("trade", "BTCUSDT", "BUY", "allow", True, False, 0.0, 0.0, False))
    # a v1 row in Binance's own names (strings for numbers) and a junk row: the upcaster
    # (eventlog.upcast) turns it into the typed row the fold reads
    s.sseq += 1
    v1 = msgspec.msgpack.encode({
        "type": "VenueReconciled", "session_id": s.sid, "session_seq": s.sseq, "stream": "account",
        "ts_event_ns": s.t, "ts_init_ns": s.t, "v": 1, "open_orders": [], "canceled_orders": [], "positions": [
            {"symbol": "ETHUSDT", "positionAmt": "-0.2", "entryPrice": "3000", "markPrice": "2990"}, "junk"]})
    s.events.append(decode(v1, len(s.events) + 1))
    pos = fold(s.events).documents()["positions_state.json"]["positions"]
    assert [(x["symbol"], x["qty"], x["side"], x["entry_price"]) for x in pos] == [("ETHUSDT", -0.2, "SHORT", 3000.0)]


def test_unreadable_recorded_config_falls_back_to_defaults_and_says_so() -> None:
    s = Synth()
    s.session()
    s.events[0] = msgspec.structs.replace(s.events[0], config={"risk_limits": {"global": {"bogus": 1}}})
    s.op(("nav", 0.0))
    docs = fold(s.events).documents()
    assert "bogus" in (docs["diagnostics.json"]["config_error"] or "")
    assert docs["nav_state.json"]["nav_stale_after_s"] == 90.0  # the default nav_freshness_seconds
    assert fold(synth_events([])).documents()["diagnostics.json"]["config_error"] is None
