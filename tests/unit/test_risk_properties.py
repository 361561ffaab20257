"""check_order invariants over random portfolios (Hypothesis).

Whatever the view: a veto approves nothing and explains itself; an approval never
exceeds the request, the per-trade cap or the room left under any cap it checked;
and an exit is never blocked by anything but the exchange lot size.
"""

from __future__ import annotations

from hypothesis import event, given, settings
from hypothesis import strategies as st

from config.loader import load_config
from engine.risk import RiskView, check_order
from engine.rules.indicators import atr_regime, dd_state
from eventlog.events import IntentEmitted

LOADED = load_config()
CFG = LOADED.config
PRICES = {"BTCUSDT": 60_000.0, "ETHUSDT": 3_000.0, "SOLUSDT": 150.0, "AVAXUSDT": 25.0, "WIFUSDT": 2.0}
NOW = 1_751_400_000 * 10**9

money = st.floats(min_value=0, max_value=60_000, allow_nan=False)


@st.composite
def cases(draw):  # type: ignore[no-untyped-def]
    sym = draw(st.sampled_from(sorted(PRICES)))
    spec = CFG.universe.symbols[sym]
    usd = draw(st.floats(min_value=10, max_value=20_000))
    qty = max(1, int(usd / PRICES[sym] / spec.step_size)) * spec.step_size
    side = draw(st.sampled_from(["BUY", "SELL"]))
    exposure = draw(st.integers(min_value=-2_000, max_value=2_000)) * spec.step_size
    reduce_only = draw(st.booleans()) and exposure != 0
    if reduce_only:
        side = "SELL" if exposure > 0 else "BUY"
        qty = min(qty, abs(exposure))
    g = CFG.risk_limits.global_
    dd = draw(st.floats(min_value=0, max_value=0.12))
    ratio = draw(st.one_of(st.none(), st.floats(min_value=0.1, max_value=4)))
    price = PRICES[sym]
    sym_gross = abs(exposure) * price
    groups = {n: sym_gross + draw(money) for n, grp in CFG.correlation_groups.groups.items() if sym in grp.symbols}
    tier_gross = sym_gross + draw(money)
    view = RiskView(
        symbol=sym, tier=CFG.tier_of(sym), price=price,
        nav_usd=draw(st.one_of(st.none(), st.floats(min_value=20_000, max_value=400_000))),
        nav_age_s=draw(st.floats(min_value=0, max_value=120)), nav_sources_ok=draw(st.sampled_from([True] * 9 + [False])),
        position_qty=exposure, exposure_qty=exposure, symbol_gross=sym_gross, tier_gross=tier_gross,
        portfolio_gross=tier_gross + draw(money), group_gross=groups,
        open_positions_count=draw(st.integers(min_value=0, max_value=6)), dd_frac=dd,
        daily_loss_frac=draw(st.floats(min_value=0, max_value=0.04)), atr_ratio=ratio,
        atr_regime=atr_regime(ratio, 0.75, 1.5), dd_state=dd_state(dd, g.dd_cautious_pct, g.dd_defensive_pct),
        minute_of_day=draw(st.integers(min_value=0, max_value=1439)), refs={"intent": 1},
    )
    intent = IntentEmitted(session_id="00000000-0000-0000-0000-000000000001", session_seq=1, stream="strategy",
                           ts_event_ns=NOW, ts_init_ns=NOW, intent_id="p", symbol=sym, side=side, qty=qty,
                           notional_usd=qty * price, price=price, reduce_only=reduce_only)
    return intent, view


@settings(max_examples=600, deadline=None)
@given(cases())
def test_check_order_invariants(case) -> None:  # type: ignore[no-untyped-def]
    intent, view = case
    d = check_order(intent, view, CFG, NOW, config_hash=LOADED.config_hash, decision_id="D")
    g = CFG.risk_limits.global_
    tier = CFG.risk_limits.tiers[view.tier]
    assert d["outcome"] in ("allow", "clamp", "veto")
    event(f"{d['outcome']} {'exit' if intent.reduce_only else 'entry'}")
    assert d["observations"] and d["thresholds"]
    if d["outcome"] == "veto":
        assert d["approved_qty"] == 0.0 and d["breached"] and d["reasons"]
        assert not intent.reduce_only or d["gate"] == "lot_size", "exits are only refused by the lot size"
        return
    assert 0 < d["approved_qty"] <= intent.qty + 1e-12
    if intent.reduce_only or not d["observations"]["risk_increasing"]:
        return
    nav = view.nav_usd
    assert nav is not None and view.nav_sources_ok and view.nav_age_s <= g.nav_freshness_seconds
    assert view.dd_frac < g.dd_defensive_pct and view.daily_loss_frac < g.daily_loss_limit_pct
    usd = d["approved_notional_usd"]
    assert usd <= g.max_trade_nav_pct * nav + 1e-6
    assert usd <= max(0.0, tier.per_symbol_nav_pct * nav - view.symbol_gross) + 1e-6
    assert usd <= max(0.0, tier.tier_gross_nav_pct * nav - view.tier_gross) + 1e-6
    assert usd <= max(0.0, g.max_gross_nav_mult * nav - view.portfolio_gross) + 1e-6
    for name, gross in view.group_gross.items():
        cap = CFG.correlation_groups.groups[name].max_gross_nav_pct * nav
        assert usd <= max(0.0, cap - gross) + 1e-6
    spec = CFG.universe.symbols[intent.symbol]
    assert d["approved_qty"] >= spec.min_qty and usd >= spec.min_notional - 1e-9
