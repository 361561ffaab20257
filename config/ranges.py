"""Every number in the config is finite and inside its documented range.

``check_ranges(cfg)`` walks the whole ``HedgeConfig`` (every section, every dict
entry) and raises ``ConfigError(file, key, reason)`` for the first number that is
NaN, infinite, outside the 64-bit range, or outside its entry in ``RANGES``.
It runs inside ``config.loader.build``, the one function every path takes -
``hedge config check``, ``hedge run`` (start and SIGHUP reload), replay of a
recorded config - so they cannot disagree.

``RANGES`` is keyed by ``StructName.field`` (the schema class and the field), so
one entry covers every tier, symbol or bucket. A number without an entry must
still be finite and within +-1e15. ``markdown()`` renders the table that
``docs/config_ranges.md`` holds (a test keeps the two equal).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import msgspec

INT64 = (-(2**63), 2**63 - 1)
ANY_ABS = 1e15  # bound for numbers without an entry: beyond it nothing here makes sense


class Range(NamedTuple):
    lo: float
    hi: float
    lo_open: bool = False  # True: lo itself is not allowed
    hi_open: bool = False
    why: str = ""

    def text(self) -> str:
        return f"{'(' if self.lo_open else '['}{_num(self.lo)}, {_num(self.hi)}{')' if self.hi_open else ']'}"


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e16 else repr(v)


FRACTION = Range(0, 1, why="a fraction (0.05 = 5%)")
POS = Range(0, ANY_ABS, lo_open=True)
NONNEG = Range(0, ANY_ABS)
COUNT = Range(1, 1_000_000)
BPS = Range(0, 10_000, why="basis points")
SECONDS = Range(0, 30 * 86400, lo_open=True, why="seconds, up to 30 days")
HOURS = Range(0, 24 * 365, lo_open=True, why="hours, up to a year")
USD = Range(0, 1e13, why="US dollars")

RANGES: dict[str, Range] = {
    # risk_limits.json
    "GlobalLimits.max_trade_nav_pct": FRACTION,
    "GlobalLimits.max_gross_nav_mult": Range(0, 100, lo_open=True, why="gross notional / NAV"),
    "GlobalLimits.max_open_positions": Range(1, 10_000),
    "GlobalLimits.daily_loss_limit_pct": FRACTION,
    "GlobalLimits.max_drawdown_pct": FRACTION,
    "GlobalLimits.nav_freshness_seconds": SECONDS,
    "GlobalLimits.nav_stale_after_seconds": SECONDS,
    "GlobalLimits.dd_cautious_pct": FRACTION,
    "GlobalLimits.dd_defensive_pct": FRACTION,
    "GlobalLimits.cautious_size_mult": Range(0, 1, lo_open=True, why="size multiplier"),
    "GlobalLimits.high_vol_size_mult": Range(0, 1, lo_open=True, why="size multiplier"),
    "GlobalLimits.min_clamp_ratio": FRACTION,
    "GlobalLimits.dd_cautious_exit_pct": FRACTION,
    "GlobalLimits.dd_defensive_exit_pct": FRACTION,
    "GlobalLimits.dd_auto_recover_days": Range(0, 3650, why="days; 0 turns the automatic rule off"),
    "GlobalLimits.max_margin_ratio": Range(0, 1, lo_open=True, why="1 is liquidation"),
    "GlobalLimits.min_liquidation_distance_frac": FRACTION,
    "GlobalLimits.cap_drift_tolerance_frac": FRACTION,
    "GlobalLimits.breach_reduce_frac": Range(0, 1, lo_open=True, why="a fraction of every position"),
    "TierLimits.per_symbol_nav_pct": FRACTION,
    "TierLimits.tier_gross_nav_pct": Range(0, 100, why="may exceed 1 with leverage"),
    # pairs_universe.json
    "SymbolSpec.tick_size": Range(0, 1e9, lo_open=True),
    "SymbolSpec.step_size": Range(0, 1e9, lo_open=True),
    "SymbolSpec.min_qty": Range(0, 1e12, lo_open=True),
    "SymbolSpec.min_notional": USD,
    # correlation_groups.json, liquidity_buckets.json
    "CorrelationGroup.max_gross_nav_pct": Range(0, 100, why="may exceed 1 with leverage"),
    "LiquidityBucket.half_spread_bps": BPS,
    "LiquidityBucket.impact_bps_per_10k_usd": BPS,
    "LiquidityBucket.max_slippage_bps": BPS,
    "LiquidityBucket.depth_usd": Range(0, 1e13, lo_open=True, why="US dollars"),
    # runtime.json
    "Twap.min_notional_usd": USD,
    "Twap.slices": Range(1, 1000),
    "Twap.interval_s": SECONDS,
    "RouterCfg.max_reprices": Range(0, 1000),
    "RouterCfg.maker_wait_s": Range(0, 86400, why="seconds"),
    "RouterCfg.reprice_offset_ticks": Range(0, 10_000),
    "RouterSymbolPolicy.maker_wait_s": Range(0, 86400, why="seconds"),
    "RouterSymbolPolicy.max_reprices": Range(0, 1000),
    "RouterSymbolPolicy.twap_slices": Range(1, 1000),
    "RouterSymbolPolicy.reprice_offset_ticks": Range(0, 10_000),
    "Strategy.symbol_weights": Range(0, 10, why="an entry size multiplier per symbol"),
    "Fees.maker_frac": Range(-0.01, 0.01, why="a fee rate; negative is a rebate"),
    "Fees.taker_frac": Range(-0.01, 0.01, why="a fee rate; negative is a rebate"),
    "SignalGate.expectancy_min": Range(-1e6, 1e6),
    "SignalGate.min_atr_pct": FRACTION,
    "SignalGate.expectancy_window": Range(1, 1000, why="round trips (intel keeps at most 1000 per symbol)"),
    "SignalGate.expectancy_min_trades": Range(1, 1000, why="round trips"),
    "IntelCfg.w_expectancy": Range(0, 100, why="a score weight"),
    "IntelCfg.w_trend": Range(0, 100, why="a score weight"),
    "IntelCfg.w_volatility": Range(0, 100, why="a score weight"),
    "IntelCfg.w_router": Range(0, 100, why="a score weight"),
    "IntelCfg.w_liquidity": Range(0, 100, why="a score weight"),
    "IntelCfg.hybrid_signal_weight": Range(0, 1),
    "IntelCfg.conviction_min": Range(0, 10, lo_open=True, why="a size multiplier"),
    "IntelCfg.conviction_max": Range(0, 10, lo_open=True, why="a size multiplier"),
    "IntelCfg.expectancy_scale_frac": Range(0, 1, lo_open=True),
    "Runtime.usd_zar_rate": Range(0, 1e4, lo_open=True, why="ZAR per USD (reporting only)"),
    "Runtime.autotune_every_h": Range(0, 24 * 365, lo_open=True, why="hours"),
    "GroupCommit.max_batch": Range(1, 1_000_000),
    "GroupCommit.max_latency_ms": Range(0, 60_000, lo_open=True, why="milliseconds"),
    "SimCfg.seed": Range(0, 2**32 - 1, why="a 32-bit seed"),
    "SimCfg.initial_balance_usd": Range(0, 1e13, lo_open=True, why="US dollars"),
    "SimCfg.start_ms": Range(946_684_800_000, 4_102_444_800_000, why="epoch ms, years 2000-2100"),
    "SimCfg.leverage": Range(0, 125, lo_open=True, why="Binance's maximum is 125"),
    "SimCfg.funding_interval_h": Range(0, 24 * 7, lo_open=True, why="hours"),
    "SimCfg.default_funding_rate": Range(-0.05, 0.05, why="per funding interval"),
    "SimCfg.nav_every_bars": COUNT,
    "SimCfg.max_participation_frac": Range(0, 1, lo_open=True, why="a fraction of a bar's volume"),
    "SimCfg.position_every_bars": COUNT,
    "SimCfg.symbol_leverage": Range(0, 125, lo_open=True, why="Binance's maximum is 125"),
    "SimCfg.liquidation_fee_frac": Range(0, 0.1, why="a fraction of the closed notional"),
    "SimCfg.latency_ms": Range(0, 3_600_000, why="milliseconds from sending an order to the simulated book"),
    # strategy_config.json
    "AtrRegimeCfg.period": COUNT,
    "AtrRegimeCfg.baseline_bars": COUNT,
    "AtrRegimeCfg.low_ratio": Range(0, 1, lo_open=True, hi_open=True),
    "AtrRegimeCfg.high_ratio": Range(1, 1000, lo_open=True),
    "Strategy.fast_ema": COUNT,
    "Strategy.slow_ema": COUNT,
    "Strategy.breakout_bars": COUNT,
    "Strategy.per_trade_nav_pct": FRACTION,
    "Strategy.vol_target_frac": FRACTION,
    "Strategy.tp_atr_mult": Range(0, 1000, lo_open=True),
    "Strategy.sl_atr_mult": Range(0, 1000, lo_open=True),
    "Strategy.min_bars": Range(0, 1_000_000),
    "Strategy.cooldown_bars": Range(0, 1_000_000),
    "Strategy.retry_after_veto_bars": Range(0, 1_000_000),
    # offexchange_holdings.json
    "Holding.qty": Range(0, 1e12),
    "Holding.cost_basis_usd": USD,
    "Holding.fixed_price_usd": Range(0, 1e12, lo_open=True, why="US dollars"),
    # alerts.json
    "Alerts.summary_interval_h": HOURS,
    "Alerts.nav_move_frac": FRACTION,
    "Alerts.router_health_floor": FRACTION,
    "Alerts.router_degradation_drop": FRACTION,
    "Alerts.daily_cap": Range(0, 10_000),
    "Alerts.min_gap_h": Range(0, 24 * 365, why="hours"),
    "Alerts.retry_attempts": Range(0, 100),
    "Alerts.retry_base_s": Range(0, 3600, why="seconds"),
    "Alerts.retry_max_s": Range(0, 86400, why="seconds"),
    "Alerts.request_timeout_s": Range(0, 3600, lo_open=True, why="seconds"),
    "Alerts.atr_confirm_bars": COUNT,
    "Alerts.router_window_fills": COUNT,
    "Alerts.router_min_fills": Range(0, 1_000_000),
    "Alerts.router_rearm_frac": FRACTION,
    "Alerts.entry_drought_hours": HOURS,
}


def _file_of(section: str) -> str:
    from config.schema import FILES

    for fname, (sec, _) in FILES.items():
        if sec == section:
            return fname
    return section


def _check_number(v: int | float, rule: str, file: str, key: str) -> None:
    from config.errors import ConfigError

    if isinstance(v, float) and not math.isfinite(v):
        raise ConfigError(file, key, f"must be a finite number, got {v}")
    if isinstance(v, int) and not INT64[0] <= v <= INT64[1]:
        raise ConfigError(file, key, f"out of the 64-bit integer range, got {v}")
    r = RANGES.get(rule)
    if r is None:
        if abs(v) > ANY_ABS:
            raise ConfigError(file, key, f"must be within +-{ANY_ABS:g}, got {v}")
        return
    low_bad = v <= r.lo if r.lo_open else v < r.lo
    high_bad = v >= r.hi if r.hi_open else v > r.hi
    if low_bad or high_bad:
        why = f" ({r.why})" if r.why else ""
        raise ConfigError(file, key, f"must be in {r.text()}{why}, got {v}")


def _walk(node: Any, file: str, path: str, owner: str, field: str) -> None:
    if isinstance(node, bool) or node is None or isinstance(node, str):
        return
    if isinstance(node, int | float):
        _check_number(node, f"{owner}.{field}", file, path)
    elif isinstance(node, msgspec.Struct):
        cls = type(node).__name__
        for f in node.__struct_fields__:
            name = node.__struct_encode_fields__[node.__struct_fields__.index(f)]
            _walk(getattr(node, f), file, f"{path}.{name}" if path else name, cls, f)
    elif isinstance(node, dict):
        for k, v in node.items():
            _walk(v, file, f"{path}.{k}", owner, field)
    elif isinstance(node, list | tuple):
        for i, v in enumerate(node):
            _walk(v, file, f"{path}[{i}]", owner, field)


def check_ranges(cfg: Any) -> None:
    """Raise ``ConfigError`` for the first non-finite or out-of-range number in ``cfg``."""
    for section in cfg.__struct_fields__:
        _walk(getattr(cfg, section), _file_of(section), "", type(cfg).__name__, section)


def markdown() -> str:
    """The ranges table of ``docs/config_ranges.md``."""
    lines = [
        "# Config number ranges",
        "",
        "Generated from `config/ranges.py` (`RANGES`) by `config.ranges.markdown()`;",
        "`tests/reliability/test_config_numbers.py` keeps it current. Checked at load by",
        "`config.loader.build` for `hedge config check`, `hedge run` (and its SIGHUP reload) and",
        "replays alike. Every number must be finite (no `NaN`, `Infinity`); integers fit in 64 bits;",
        f"a number not listed here must lie within +-{ANY_ABS:g}. `[a, b]` includes both ends,",
        "`(a, b]` excludes `a`. Percent-like keys (`*_pct`, `*_frac`) are fractions after",
        "normalisation (5 -> 0.05).",
        "",
        "| schema field | range | note |",
        "|---|---|---|",
    ]
    for k, r in RANGES.items():
        lines.append(f"| `{k}` | {r.text()} | {r.why} |")
    return "\n".join(lines) + "\n"

