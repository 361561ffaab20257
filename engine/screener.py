"""Screener: closed klines in, intents out. A trend/breakout strategy; no risk math.

Triggered by every ``KlineClosed`` (after ``evolve`` folded it). Reads only the
engine state (indicators folded from klines, the last NAV for sizing, the
exchange-side position and its TP/SL levels) and ``config.strategy``.

* **Exit** first: an open position whose bar touched its stop (``sl``) or target
  (``tp``) gets a ``PositionClosed`` and a reduce-only intent for the whole
  position; a trend flip (fast EMA crossing the slow one against the position)
  gets a reduce-only intent too.
* **Entry / add**: a close beyond the Donchian channel of the previous
  ``breakout_bars`` bars, in the direction of the EMA trend, adds one unit.
  Unit size is unlevered and volatility-targeted:
  ``NAV * per_trade_nav_pct * clamp(vol_target_frac / daily_atr_frac, 0.25, 2)``
  where ``daily_atr_frac = ATR/close * sqrt(bars per day)``. TP/SL are
  ``close +- tp_atr_mult/sl_atr_mult * ATR``. After an intent the symbol waits
  ``cooldown_bars`` (``retry_after_veto_bars`` after a veto).
"""

from __future__ import annotations

import math
from typing import Any

from config.schema import HedgeConfig
from engine.drafts import Decisions, head
from engine.ids import intent_id
from eventlog.events import IntentEmitted, KlineClosed, PositionClosed, Scalar, Side

INTERVAL_MIN = {"1m": 1, "3m": 3, "5m": 5, "15m": 15, "30m": 30, "1h": 60, "2h": 120, "4h": 240}


def _intent(state: Any, ev: KlineClosed, k: int, side: Side, qty: float, price: float, *,
            reduce_only: bool, tp: float | None, sl: float | None, reason: str,
            signal: dict[str, Scalar]) -> IntentEmitted:
    return IntentEmitted(
        **head("strategy"), intent_id=intent_id(state.tag, ev.session_seq, k), symbol=ev.symbol, side=side,
        qty=qty, notional_usd=round(qty * price, 8), price=price, reduce_only=reduce_only,
        tp=tp, sl=sl, strategy=state.config.strategy.name, reason=reason,
        signal=signal, kline_ref=ev.session_seq,
    )


def _exit(state: Any, ev: KlineClosed) -> Decisions:
    s = state.sym(ev.symbol)
    q = s.pos_qty
    long = q > 0
    trig: str | None = None
    level = 0.0
    if s.sl is not None and ((long and ev.low <= s.sl) or (not long and ev.high >= s.sl)):
        trig, level = "sl", s.sl
    elif s.tp is not None and ((long and ev.high >= s.tp) or (not long and ev.low <= s.tp)):
        trig, level = "tp", s.tp
    flip = s.ema_fast is not None and s.ema_slow is not None and (
        (long and s.ema_fast < s.ema_slow) or (not long and s.ema_fast > s.ema_slow))
    if trig is None and not flip:
        return []
    out: Decisions = []
    if trig is not None:
        out.append(PositionClosed(**head("strategy"), symbol=ev.symbol, trigger=trig, level=level, price=ev.close))
    side: Side = "SELL" if long else "BUY"
    reason = f"exit_{trig}" if trig else "exit_trend_flip"
    out.append(_intent(state, ev, 0, side, abs(q), ev.close, reduce_only=True, tp=None, sl=None,
                       reason=reason, signal={"trigger": trig or "trend_flip", "level": level or None,
                                              "position_qty": q}))
    return out


def on_kline(state: Any, ev: KlineClosed) -> Decisions:
    """Screener decision for one closed kline: the decision events (drafts, ``engine.drafts``)."""
    cfg: HedgeConfig = state.config
    sc = cfg.strategy
    s = state.sym(ev.symbol)
    if ev.symbol not in cfg.universe.symbols:
        return []
    if s.pos_qty != 0.0 and not s.exit_pending:
        out = _exit(state, ev)
        if out:
            return out
    atr = s.atr.atr
    if s.bars < sc.min_bars or atr is None or ev.volume <= 0:
        return []
    if s.exit_pending or s.open_plans:
        return []
    if s.bars - s.last_entry_bar < sc.cooldown_bars and s.last_veto_bar < s.last_entry_bar:
        return []
    if s.bars - s.last_veto_bar < sc.retry_after_veto_bars:
        return []
    assert s.ema_fast is not None and s.ema_slow is not None
    c = ev.close
    up = s.ema_fast > s.ema_slow
    if (s.pos_qty > 0 and not up) or (s.pos_qty < 0 and up) or s.ema_fast == s.ema_slow:
        return []
    ch = s.channel()
    if ch is None:
        return []
    don_high, don_low = ch
    side: Side
    if up and c > don_high:
        side = "BUY"
    elif not up and c < don_low:
        side = "SELL"
    else:
        return []
    nav = state.nav_usd
    if nav is None or nav <= 0 or c <= 0:
        return []
    atr_frac = atr / c
    if atr_frac < cfg.runtime.signal_gate.min_atr_pct:
        return []
    bars_per_day = 1440 / INTERVAL_MIN.get(cfg.universe.interval, 5)
    daily = atr_frac * math.sqrt(bars_per_day)
    scale = min(2.0, max(0.25, sc.vol_target_frac / daily)) if daily > 0 else 1.0
    notional = nav * sc.per_trade_nav_pct * scale
    intel: dict[str, Any] = {}
    weight = cfg.strategy.symbol_weights.get(ev.symbol)
    if weight is not None:  # the feedback allocator's weight (engine.rules.autotune), before conviction
        intel["allocation_weight"] = weight
        notional *= weight
    if cfg.runtime.v6_flags.intel_v6_enabled:
        # conviction-weighted sizing: the same IntelBook fold as symbol_scores_v6.json / hybrid_scores.json
        edge = don_high if side == "BUY" else don_low
        intel = state.intel.entry_conviction(ev.symbol, c, edge, atr, cfg)
        intel["unscaled_notional_usd"] = round(notional, 8)
        notional *= float(intel["conviction"])
    qty = round(notional / c, 8)
    if qty <= 0:
        return []
    sgn = 1.0 if side == "BUY" else -1.0
    tp = round(c + sgn * sc.tp_atr_mult * atr, 8)
    sl = round(c - sgn * sc.sl_atr_mult * atr, 8)
    signal = {"ema_fast": round(s.ema_fast, 8), "ema_slow": round(s.ema_slow, 8),
              "donchian_high": don_high, "donchian_low": don_low, "atr": round(atr, 8),
              "daily_atr_frac": round(daily, 8), "vol_scale": round(scale, 6),
              "position_qty": s.pos_qty, **intel}
    reason = "breakout_long" if side == "BUY" else "breakout_short"
    if s.pos_qty != 0.0:
        reason = "add_long" if side == "BUY" else "add_short"
    return [_intent(state, ev, 0, side, qty, c, reduce_only=False, tp=tp, sl=sl, reason=reason, signal=signal)]
