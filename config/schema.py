"""Config schemas: frozen msgspec Structs, unknown keys refused.

Percent-like fields (names ending in ``_pct`` or ``_frac``) are fractions
(0.05 = 5%). A value > 1 in a file is normalised once at load by
``normalize_percentage`` and the normalisation is reported.
"""

from __future__ import annotations

from typing import Literal

import msgspec

Tier = Literal["CORE", "SATELLITE", "TACTICAL", "ALT-EXT"]
TIERS: tuple[str, ...] = ("CORE", "SATELLITE", "TACTICAL", "ALT-EXT")


class Strict(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


# ------------------------------------------------------------------ risk_limits.json


class GlobalLimits(Strict, frozen=True, kw_only=True):
    max_trade_nav_pct: float = 0.06
    max_gross_nav_mult: float = 1.5  # gross notional / NAV (a multiple, not a percentage)
    max_open_positions: int = 6
    daily_loss_limit_pct: float = 0.03
    max_drawdown_pct: float = 0.15
    nav_freshness_seconds: float = 90.0
    nav_stale_after_seconds: float = 3600.0
    dd_cautious_pct: float = 0.05
    dd_defensive_pct: float = 0.10
    cautious_size_mult: float = 0.5
    high_vol_size_mult: float = 0.7
    min_clamp_ratio: float = 0.2
    # the drawdown policy (engine/rules/drawdown.py, docs/risk.md "Drawdown policy"); rules v3
    dd_cautious_exit_pct: float | None = None  # leave cautious below this (None: 0.75 x dd_cautious_pct)
    dd_defensive_exit_pct: float | None = None  # leave defensive below this (None: 0.75 x dd_defensive_pct)
    dd_auto_recover_days: float = 0.0  # after this many days defensive -> dd_auto_recover_to (0: off)
    dd_auto_recover_to: Literal["normal", "cautious"] = "cautious"

    # added for issue 14 (venue): keep new exposure away from liquidation (rules v5)
    max_margin_ratio: float = 0.5  # account maintenance margin / margin balance (1 = liquidation)
    min_liquidation_distance_frac: float = 0.05  # |price - liquidation price| / price of the symbol's position

    # issue 14 (risk after the trade, rules v6; engine/post_trade.py, docs/risk.md "Risk after the trade")
    cap_drift_tolerance_frac: float | None = None  # trim a position whose symbol/tier/portfolio gross drifted
    #   over its cap x (1 + this) back to the cap (None: no post-trade trim)
    daily_loss_action: Literal["block", "reduce", "flatten_halt"] = "block"  # on a daily_loss_limit_pct breach
    max_drawdown_action: Literal["block", "reduce", "flatten_halt"] = "block"  # on a max_drawdown_pct breach
    breach_reduce_frac: float = 0.5  # the fraction of every position a ``reduce`` action trims (once per breach)

    def dd_exits(self) -> tuple[float, float]:
        """(leave cautious below, leave defensive below): the exit thresholds, 0.75 x entry when unset."""
        c = self.dd_cautious_exit_pct if self.dd_cautious_exit_pct is not None else 0.75 * self.dd_cautious_pct
        d = self.dd_defensive_exit_pct if self.dd_defensive_exit_pct is not None else 0.75 * self.dd_defensive_pct
        return c, d


class TierLimits(Strict, frozen=True, kw_only=True):
    per_symbol_nav_pct: float
    tier_gross_nav_pct: float
    twap_allowed: bool = False  # the guide: TWAP for CORE only (risk_limits.json sets CORE true)
    size_down_high_vol: bool = False
    disable_on_stale_or_dd: bool = False


class RiskLimits(Strict, frozen=True, kw_only=True):
    global_: GlobalLimits = msgspec.field(default_factory=GlobalLimits, name="global")
    tiers: dict[str, TierLimits] = {}


# ------------------------------------------------------------------ universe


class SymbolSpec(Strict, frozen=True, kw_only=True):
    tier: Tier
    tick_size: float
    step_size: float
    min_qty: float
    min_notional: float = 5.0
    liquidity_bucket: str = "B"
    core: bool = False


class Universe(Strict, frozen=True, kw_only=True):
    interval: str = "5m"
    symbols: dict[str, SymbolSpec] = {}


class CorrelationGroup(Strict, frozen=True, kw_only=True):
    symbols: list[str]
    max_gross_nav_pct: float


class CorrelationGroups(Strict, frozen=True, kw_only=True):
    groups: dict[str, CorrelationGroup] = {}


class LiquidityBucket(Strict, frozen=True, kw_only=True):
    half_spread_bps: float
    impact_bps_per_10k_usd: float
    max_slippage_bps: float
    depth_usd: float


class LiquidityBuckets(Strict, frozen=True, kw_only=True):
    buckets: dict[str, LiquidityBucket] = {}


# ------------------------------------------------------------------ runtime.json


class TradingWindow(Strict, frozen=True, kw_only=True):
    enabled: bool = False
    start_utc: str = "00:00"
    end_utc: str = "23:59"


class Twap(Strict, frozen=True, kw_only=True):
    enabled: bool = True
    min_notional_usd: float = 25000.0
    slices: int = 4
    interval_s: float = 60.0


class RouterSymbolPolicy(Strict, frozen=True, kw_only=True):
    """One symbol's router policy over ``runtime.router`` (None = the global value); router autotune writes it."""

    maker_wait_s: float | None = None
    max_reprices: int | None = None
    twap_slices: int | None = None
    reprice_offset_ticks: int | None = None


class RouterCfg(Strict, frozen=True, kw_only=True):
    maker_first: bool = True
    max_reprices: int = 2
    maker_wait_s: float = 30.0
    reprice_offset_ticks: int = 1
    twap: Twap = msgspec.field(default_factory=Twap)
    symbols: dict[str, RouterSymbolPolicy] = {}  # issue 16: per-symbol policy (engine.rules.autotune.policy_of)
    # added for issue 14 (venue): TP/SL as reduce-only STOP_MARKET / TAKE_PROFIT_MARKET orders at the venue
    protective_orders: bool = False
    protective_working_type: Literal["MARK_PRICE", "CONTRACT_PRICE"] = "MARK_PRICE"


class Fees(Strict, frozen=True, kw_only=True):
    maker_frac: float = 0.0002
    taker_frac: float = 0.0005


class SignalGate(Strict, frozen=True, kw_only=True):
    # minimum rolling expectancy per round trip, as a fraction of the entry notional, net of
    # fees and funding (issue 16: a real gate in check_order; -1.0 = never binds)
    expectancy_min: float = -1.0
    min_atr_pct: float = 0.0
    expectancy_window: int = 50  # round trips per symbol the rolling expectancy covers
    expectancy_min_trades: int = 10  # the gate binds only once a symbol has this many


class V6Flags(Strict, frozen=True, kw_only=True):
    """The seeds' six V6 feature flags (env overrides: the upper-case name, e.g. INTEL_V6_ENABLED=1)."""

    intel_v6_enabled: bool = False
    risk_engine_v6_enabled: bool = False
    pipeline_v6_shadow_enabled: bool = False
    router_autotune_v6_enabled: bool = False
    feedback_allocator_v6_enabled: bool = False
    router_autotune_v6_apply_enabled: bool = False  # safe mode: suggestions are only proposed


class GroupCommit(Strict, frozen=True, kw_only=True):
    max_batch: int = 4096
    max_latency_ms: float = 5.0


class SimCfg(Strict, frozen=True, kw_only=True):
    seed: int = 7
    initial_balance_usd: float = 100000.0
    start_ms: int = 1751328000000  # 2025-07-01T00:00Z
    leverage: float = 3.0
    funding_interval_h: float = 8.0
    default_funding_rate: float = 0.0001
    nav_every_bars: int = 1
    # added for issue 3 (engine): share of a bar's volume one order may fill in the simulator
    max_participation_frac: float = 0.25
    # added for issue 3: PositionSnapshot cadence for open positions (fills and funding always snapshot)
    position_every_bars: int = 12
    # added for issue 14 (venue): Binance USD-M margin in the simulator
    margin_type: Literal["cross", "isolated"] = "cross"  # isolated: every symbol
    isolated_symbols: list[str] = []  # isolated even when margin_type is cross
    symbol_leverage: dict[str, float] = {}  # per-symbol leverage (default: leverage)
    liquidation_fee_frac: float = 0.0125  # liquidation clearance fee on the closed notional
    # added for issue 14 (latency): an order reaches the simulated book this long after it is sent
    latency_ms: float = 50.0


class Runtime(Strict, frozen=True, kw_only=True):
    account: str = "main"  # the fund account hedge run continues (--account / HEDGE_ACCOUNT override)
    dry_run: bool = True
    testnet: bool = False
    engine_version: str = "0.1.0"
    trading_window: TradingWindow = msgspec.field(default_factory=TradingWindow)
    router: RouterCfg = msgspec.field(default_factory=RouterCfg)
    fees: Fees = msgspec.field(default_factory=Fees)
    signal_gate: SignalGate = msgspec.field(default_factory=SignalGate)
    group_commit: GroupCommit = msgspec.field(default_factory=GroupCommit)
    sim: SimCfg = msgspec.field(default_factory=SimCfg)
    v6_flags: V6Flags = msgspec.field(default_factory=V6Flags)
    usd_zar_rate: float | None = None  # reporting only: NAV and AUM also in ZAR when set
    autotune_every_h: float = 24.0  # cadence of applied autotune / allocator suggestions


# ------------------------------------------------------------------ strategy_config.json


class AtrRegimeCfg(Strict, frozen=True, kw_only=True):
    period: int = 14
    baseline_bars: int = 288
    low_ratio: float = 0.75
    high_ratio: float = 1.5


class IntelCfg(Strict, frozen=True, kw_only=True):
    """Symbol score weights and the conviction range (``projections.intel``)."""

    w_expectancy: float = 0.35
    w_trend: float = 0.2
    w_volatility: float = 0.15
    w_router: float = 0.15
    w_liquidity: float = 0.15
    hybrid_signal_weight: float = 0.5  # hybrid = w * signal + (1 - w) * symbol score
    conviction_min: float = 0.5
    conviction_max: float = 1.5
    expectancy_scale_frac: float = 0.01  # expectancy per round trip that scores 1.0


class Strategy(Strict, frozen=True, kw_only=True):
    name: str = "trend_atr"
    fast_ema: int = 20
    slow_ema: int = 100
    breakout_bars: int = 48
    per_trade_nav_pct: float = 0.05
    vol_target_frac: float = 0.01
    tp_atr_mult: float = 4.0
    sl_atr_mult: float = 2.0
    min_bars: int = 120
    cooldown_bars: int = 12
    retry_after_veto_bars: int = 3  # added for issue 3: bars to wait after a vetoed entry
    atr_regime: AtrRegimeCfg = msgspec.field(default_factory=AtrRegimeCfg)
    intel: IntelCfg = msgspec.field(default_factory=lambda: IntelCfg())
    # issue 16: entry size multiplier per symbol (1.0 when absent); the feedback allocator writes it
    symbol_weights: dict[str, float] = {}


# ------------------------------------------------------------------ offexchange_holdings.json


class Holding(Strict, frozen=True, kw_only=True):
    qty: float
    cost_basis_usd: float
    price_symbol: str | None = None
    fixed_price_usd: float | None = None


class OffExchange(Strict, frozen=True, kw_only=True):
    holdings: dict[str, Holding] = {}


# ------------------------------------------------------------------ alerts.json


class Alerts(Strict, frozen=True, kw_only=True):
    summary_interval_h: float = 4.0
    nav_move_frac: float = 0.02
    router_health_floor: float = 0.5
    router_degradation_drop: float = 0.2
    daily_cap: int = 3
    min_gap_h: float = 12.0
    core_symbols: list[str] = []
    retry_attempts: int = 4
    retry_base_s: float = 1.0
    # added for issue 8 (alerts); all have defaults, so older logs still load
    retry_max_s: float = 60.0  # cap on one backoff wait (a 429 retry_after is honoured in full)
    request_timeout_s: float = 15.0  # one Bot API call
    atr_confirm_bars: int = 48  # a core symbol's ATR regime counts once held this many bars (4h of 5m)
    # a regime shift is material if it enters or leaves one of these
    atr_major_regimes: list[str] = msgspec.field(default_factory=lambda: ["high"])
    router_window_fills: int = 50  # no longer read: router health is the dashboard's score over its window
    router_min_fills: int = 20  # no router verdict before this many fills
    router_rearm_frac: float = 0.1  # the floor alert re-arms at floor + this
    # no entry allowed for this long: an urgent alert and risk_snapshot.json entry_drought (issue 13)
    entry_drought_hours: float = 72.0


# ------------------------------------------------------------------ the whole


class HedgeConfig(Strict, frozen=True, kw_only=True):
    risk_limits: RiskLimits
    universe: Universe
    correlation_groups: CorrelationGroups
    liquidity_buckets: LiquidityBuckets
    runtime: Runtime
    strategy: Strategy
    offexchange: OffExchange
    alerts: Alerts

    def tier_of(self, symbol: str) -> str:
        spec = self.universe.symbols.get(symbol)
        return spec.tier if spec else "ALT-EXT"


# file name -> (section attribute, struct)
FILES: dict[str, tuple[str, type[Strict]]] = {
    "risk_limits.json": ("risk_limits", RiskLimits),
    "pairs_universe.json": ("universe", Universe),
    "correlation_groups.json": ("correlation_groups", CorrelationGroups),
    "liquidity_buckets.json": ("liquidity_buckets", LiquidityBuckets),
    "runtime.json": ("runtime", Runtime),
    "strategy_config.json": ("strategy", Strategy),
    "offexchange_holdings.json": ("offexchange", OffExchange),
    "alerts.json": ("alerts", Alerts),
}
