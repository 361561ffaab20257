"""Symbol score, signal strength, hybrid score and conviction: pure functions.

Symbol score (0..1) = weighted mean of five components, each 0..1 (weights in
``strategy.intel``; a component with no data is 0.5, neutral):

* expectancy: ``0.5 + expectancy_frac / (2 * expectancy_scale_frac)``, clamped
  (rolling window of round trips; an expectancy of +scale scores 1, -scale 0);
* trend: ``|ema_fast - ema_slow| / (3 * ATR)``, clamped (trend strength in ATRs);
* volatility regime: normal 1.0, low 0.6, high 0.3 (ATR vs its baseline);
* router: maker fill rate x ``(1 - clamp(mean slippage bps / 20))`` over the
  symbol's last fills;
* liquidity: the bucket's ``depth_usd`` over the deepest bucket's.

Signal strength (0..1) of an entry: breakout distance beyond the Donchian edge in
ATRs, ``clamp(|close - edge| / ATR)``. Hybrid = ``w * signal + (1 - w) * score``
(``hybrid_signal_weight``). Conviction = ``conviction_min + (conviction_max -
conviction_min) * hybrid``: the factor the screener scales an entry by when
``intel_v6_enabled`` is on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # type only
    from config.schema import IntelCfg

VOL_SCORE = {"normal": 1.0, "low": 0.6, "high": 0.3}
SLIPPAGE_SCALE_BPS = 20.0
TREND_SCALE_ATR = 3.0
NEUTRAL = 0.5


def clamp01(x: float) -> float:
    return 0.0 if x < 0 else 1.0 if x > 1 else x


@dataclass(frozen=True, slots=True)
class Score:
    score: float
    components: dict[str, float]


def symbol_score(cfg: IntelCfg, *, expectancy_frac: float | None, ema_fast: float | None,
                 ema_slow: float | None, atr: float | None, atr_regime: str, maker_fill_rate: float | None,
                 mean_slippage_bps: float | None, depth_frac: float | None) -> Score:
    """The documented per-symbol score (see the module docstring)."""
    e = NEUTRAL if expectancy_frac is None else clamp01(0.5 + expectancy_frac / (2 * cfg.expectancy_scale_frac))
    t = NEUTRAL
    if ema_fast is not None and ema_slow is not None and atr:
        t = clamp01(abs(ema_fast - ema_slow) / (TREND_SCALE_ATR * atr))
    v = VOL_SCORE.get(atr_regime, NEUTRAL)
    r = NEUTRAL
    if maker_fill_rate is not None:
        r = maker_fill_rate * (1.0 - clamp01((mean_slippage_bps or 0.0) / SLIPPAGE_SCALE_BPS))
    liq = NEUTRAL if depth_frac is None else clamp01(depth_frac)
    comps = {"expectancy": e, "trend": t, "volatility": v, "router": r, "liquidity": liq}
    w = {"expectancy": cfg.w_expectancy, "trend": cfg.w_trend, "volatility": cfg.w_volatility,
         "router": cfg.w_router, "liquidity": cfg.w_liquidity}
    total = sum(w.values())
    score = sum(comps[k] * w[k] for k in comps) / total
    return Score(round(score, 8), {k: round(v, 8) for k, v in comps.items()})


def signal_strength(close: float, edge: float | None, atr: float | None) -> float | None:
    """Breakout distance beyond the channel edge in ATRs, clamped to 0..1."""
    if edge is None or not atr:
        return None
    return round(clamp01(abs(close - edge) / atr), 8)


def hybrid_score(cfg: IntelCfg, signal: float | None, score: float) -> float:
    s = NEUTRAL if signal is None else signal
    return round(cfg.hybrid_signal_weight * s + (1.0 - cfg.hybrid_signal_weight) * score, 8)


def conviction(cfg: IntelCfg, hybrid: float) -> float:
    return round(cfg.conviction_min + (cfg.conviction_max - cfg.conviction_min) * clamp01(hybrid), 8)
