"""Issue 19's numbers, one test each, through the surfaces that showed them wrong.

Each test states what the old code gave; each fails on it (checked against the tree before
``engine/rules`` existed, 65a2c8e^, where the surface existed). Not here because tested
elsewhere: the NAV ``sources_ok`` rule (``tests/integration/test_engine_projection_agree.py``),
the alerts' router health = the dashboard's (``tests/unit/test_alert_policy.py``), the
alert regime text (``tests/unit/test_alert_text.py``), NAV freshness at the gate's limit
(``tests/unit/test_projection_fold.py::test_nav_goes_stale_after_the_gates_freshness_limit...``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from config.loader import ConfigError, apply_overrides, from_dict, load_config
from eventlog import events as E
from tests.unit.test_projection_fold import Synth, fold, synth_events
from tests.unit.test_risk_gates import _decide, _intent, _view

LOADED = load_config()


def _docs(events: list[E.Event]) -> dict[str, Any]:
    docs: dict[str, Any] = fold(events).documents()
    return docs


def _plan(s: Synth, n: int, sym: str, style: str, slices: list[tuple[bool, float]], side: str = "BUY",
          price: float | None = None) -> None:
    """A plan of ``len(slices)`` post-only slices; each (fell back to taker, qty)."""
    px = price or s.px[sym]
    pid = f"P{n}"
    s.emit(E.RoutePlanned, "orders", plan_id=pid, decision_id=f"D{n}", intent_id=f"I{n}", symbol=sym, side=side,
           qty=sum(q for _, q in slices), style=style, slices=len(slices), slice_qty=slices[0][1], decision_price=px)
    for i, (fell_back, qty) in enumerate(slices):
        oid = f"O{n}-{i}"
        s.emit(E.OrderSubmitted, "orders", order_id=oid, plan_id=pid, symbol=sym, side=side, order_type="LIMIT",
               time_in_force="GTX", qty=qty, price=px, decision_price=px, slice_index=i)
        maker = not fell_back
        if fell_back:
            s.emit(E.RouterFallback, "orders", plan_id=pid, order_id=oid, symbol=sym, reason="maker_timeout",
                   remaining_qty=qty, reprices=1, waited_ms=1000)
            oid += "t"
            s.emit(E.OrderSubmitted, "orders", order_id=oid, plan_id=pid, symbol=sym, side=side, order_type="MARKET",
                   time_in_force="IOC", qty=qty, price=None, decision_price=px, slice_index=i)
        q = s.qty.get(sym, 0.0) + (qty if side == "BUY" else -qty)
        s.qty[sym] = q
        s.emit(E.OrderFilled, "orders", order_id=oid, trade_id=f"T{n}-{i}", symbol=sym, side=side, qty=qty, price=px,
               is_maker=maker, fee_usd=0.0, realized_pnl=0.0, slippage_bps=0.0, decision_price=px,
               position_qty_after=q)


def test_fallback_ratio_counts_twap_slices() -> None:
    """One maker-first slice (no fallback) and a 4-slice TWAP with 3 fallbacks: 3/5.
    Old: only maker-first plans counted, 0/1 = 0.0 (91 of 97 real fallbacks invisible)."""
    s = Synth()
    s.session()
    _plan(s, 1, "BTCUSDT", "maker_first", [(False, 0.01)])
    _plan(s, 2, "BTCUSDT", "twap", [(True, 0.01), (True, 0.01), (False, 0.01), (True, 0.01)])
    router = _docs(s.events)["router_health.json"]
    assert router["fallback_ratio"] == pytest.approx(3 / 5)
    assert router["post_only_slices"] == 5


def test_maker_fill_rate_is_by_notional() -> None:
    """Two small maker fills, one large taker fill: by notional 2/12, by count 2/3.
    Old: by count only (0.818 shown where 0.534 by notional)."""
    s = Synth()
    s.session()
    _plan(s, 1, "BTCUSDT", "maker_first", [(False, 0.01)], price=100_000.0)
    _plan(s, 2, "BTCUSDT", "maker_first", [(False, 0.01)], price=100_000.0)
    _plan(s, 3, "BTCUSDT", "maker_first", [(True, 0.10)], price=100_000.0)
    router = _docs(s.events)["router_health.json"]
    assert router["maker_fill_rate"] == pytest.approx(2_000 / 12_000)
    assert router["maker_fill_rate_count"] == pytest.approx(2 / 3)


def test_health_score_slippage_allowance_is_over_the_symbols_that_traded() -> None:
    """Only BTCUSDT traded: the allowance is BTCUSDT's bucket's max_slippage_bps.
    Old: the mean over every configured symbol, traded or not."""
    cfg = LOADED.config
    buckets = cfg.liquidity_buckets.buckets
    allow = {sym: buckets[spec.liquidity_bucket].max_slippage_bps for sym, spec in cfg.universe.symbols.items()}
    s = Synth()
    s.session()
    _plan(s, 1, "BTCUSDT", "maker_first", [(False, 0.01)])
    router = _docs(s.events)["router_health.json"]
    assert len(set(allow.values())) > 1  # the mean over all would differ
    assert router["slip_allowance_bps"] == allow["BTCUSDT"]


def test_expectancy_is_per_round_trip_with_entry_fees_and_funding() -> None:
    """Open in two fills, close in two: one round trip, net of all four fees and the funding.
    Old: two "trades" (closing fills) each with its own realised PnL minus its exit fee."""
    trade = ("trade", "ETHUSDT")
    ops = [(*trade, "BUY", "allow", True, False, 0.0, 0.0, False), (*trade, "BUY", "allow", True, False, 0.0, 0.0, False),
           ("funding", "ETHUSDT", -2.0),
           (*trade, "SELL", "allow", False, False, 0.0, 30.0, False),
           (*trade, "SELL", "allow", False, False, 0.0, 10.0, False)]
    events = synth_events(ops)
    perf = _docs(events)["kpis_v7.json"]["performance"]
    fees = sum(f.fee_usd for f in events if isinstance(f, E.OrderFilled))
    assert perf["trades"] == 1
    assert perf["expectancy_usd"] == pytest.approx(40.0 - fees - 2.0)


def test_fee_pnl_ratio_on_a_loss_says_losing_not_a_benign_percentage() -> None:
    """Gross -20 with fees: no ratio, state ``losing``. Old: fees / abs(gross) (a benign "11.7%")."""
    events = synth_events([("trade", "BTCUSDT", "BUY", "allow", True, False, 0.0, 0.0, False),
                           ("trade", "BTCUSDT", "SELL", "allow", False, False, 0.0, -20.0, False)])
    risk = _docs(events)["kpis_v7.json"]["risk"]
    assert risk["gross_pnl_usd_window"] == -20.0 and risk["fees_usd_window"] > 0
    assert risk["fee_pnl_ratio"] is None and risk["fee_pnl_state"] == "losing"


def test_alt_ext_records_the_threshold_it_compared() -> None:
    """NAV 120 s old: ALT-EXT breaks ``nav_freshness_seconds`` (what it compares).
    Old: it recorded and named ``nav_stale_after_seconds`` (3600 s, not broken)."""
    d = _decide(LOADED, _intent("WIFUSDT", qty=1000), _view(LOADED, "WIFUSDT", nav_age_s=120.0))
    assert "nav_freshness_seconds" in d["breached"]
    assert "nav_stale_after_seconds" not in d["breached"]
    assert not any("nav_stale_after_seconds" in r for r in d["reasons"])


def test_cautious_cut_applies_where_it_binds() -> None:
    """Cautious, requested twice the per-trade cap: approved = cap x cautious_size_mult.
    Old: the x0.5 cut ran before the cap, so the cap bound and the cut changed nothing."""
    g = LOADED.config.risk_limits.global_
    cap_qty = g.max_trade_nav_pct * 100_000 / 60_000
    d = _decide(LOADED, _intent(qty=round(2 * cap_qty, 3)), _view(LOADED, dd_frac=0.05))
    assert d["outcome"] == "clamp" and d["gate"] == "max_trade_nav"  # the first clamp, then the cut
    assert "dd_cautious_pct" in d["breached"] and any(r.startswith("dd_state") for r in d["reasons"])
    assert d["approved_qty"] == pytest.approx(cap_qty * g.cautious_size_mult, abs=0.001)


def test_aum_buckets_come_from_the_holdings_config_and_an_unpriceable_asset_is_an_error() -> None:
    """ETH 10 (priced from ETHUSDT) and FDUSD 5,000 (fixed 1.0) get buckets; PEPE (no price in the log yet) is an error.
    Old: four hard-coded buckets; ETH and FDUSD vanished from AUM."""
    cfg = LOADED.as_dict()
    cfg["offexchange"]["holdings"] = {
        "ETH": {"qty": 10.0, "cost_basis_usd": 25_000.0, "price_symbol": "ETHUSDT"},
        "FDUSD": {"qty": 5_000.0, "cost_basis_usd": 5_000.0, "fixed_price_usd": 1.0},
        "PEPE": {"qty": 1e6, "cost_basis_usd": 10.0, "price_symbol": "SOLUSDT"},  # no SOL price yet
    }
    s = Synth()
    s.session()
    s.events[0] = __import__("msgspec").structs.replace(s.events[0], config=cfg,
                                                         config_hash=from_dict(cfg).config_hash)
    s.op(("nav", 0.0))
    s.op(("bar", "ETHUSDT", 0.0, 0.01))
    aum = _docs(s.events)["aum_v7.json"]
    eth = s.px["ETHUSDT"]
    assert aum["eth_spot_usd"]["value"] == pytest.approx(10 * eth)
    assert aum["fdusd_spot_usd"]["value"] == 5_000.0
    assert aum["pepe_spot_usd"]["value"] is None and aum["pepe_spot_usd"]["error"] == "unpriceable"
    assert aum["complete"] is False and any(e.startswith("PEPE:") for e in aum["errors"])
    assert aum["total"]["value"] == pytest.approx(100_000 + 10 * eth + 5_000)


def test_twap_is_for_core_only_by_default() -> None:
    """A tier that does not say ``twap_allowed`` is not TWAP'd (the guide: CORE).
    Old: ``twap_allowed`` defaulted to true, so SATELLITE symbols were TWAP'd."""
    tiers = load_config().config.risk_limits.tiers
    assert tiers["CORE"].twap_allowed is True
    assert [t for t, spec in tiers.items() if spec.twap_allowed] == ["CORE"]


def test_a_percentage_of_exactly_one_is_an_error_asking_for_the_fraction(tmp_path: Path) -> None:
    """``max_trade_nav_pct: 1`` in a file or a ``--set``: refused (1% or 100%?); ``1.0`` is the
    fraction 100%. Old: silently 100%."""
    from config.loader import REPO_CONFIG_DIR

    for f in REPO_CONFIG_DIR.glob("*.json"):
        (tmp_path / f.name).write_text(f.read_text())
    risk = json.loads((tmp_path / "risk_limits.json").read_text())
    risk["global"]["max_trade_nav_pct"] = 1
    (tmp_path / "risk_limits.json").write_text(json.dumps(risk))
    with pytest.raises(ConfigError, match=r"ambiguous.*0\.01 for 1%"):
        load_config(tmp_path)
    with pytest.raises(ConfigError, match=r"ambiguous.*0\.01 for 1%"):
        apply_overrides(LOADED.as_dict(), ["risk.max_trade_nav_pct=1"])
    # written as a fraction, 1.0 is 100% (a full bar's volume is a legitimate participation)
    d, _ = apply_overrides(LOADED.as_dict(), ["runtime.sim.max_participation_frac=1.0"])
    assert d["runtime"]["sim"]["max_participation_frac"] == 1.0

