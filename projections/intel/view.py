"""Intel state files: ``expectancy_v6.json``, ``symbol_scores_v6.json``, ``hybrid_scores.json``.

The projector folds an ``IntelBook`` from the same events as the engine (klines,
fills, funding) and renders it here. Windows (documented in the file): ``all``
= every round trip of the session, ``rolling`` = the last
``runtime.signal_gate.expectancy_window`` round trips (what the
``expectancy_min`` gate and the symbol score read).
"""

from __future__ import annotations

from typing import Any

from config.schema import HedgeConfig
from engine.rules.indicators import atr_regime
from engine.rules.intel.book import IntelBook, SymbolIntel
from engine.rules.intel.scores import conviction, hybrid_score, signal_strength
from engine.rules.units import NS
from eventlog.events import IntentEmitted


class IntelView:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.book = IntelBook()
        self.last_entry: dict[str, IntentEmitted] = {}

    def on_intent(self, ev: IntentEmitted) -> None:
        if not ev.reduce_only:
            self.last_entry[ev.symbol] = ev

    def _symbols(self, symbols: list[str]) -> list[str]:
        return sorted(set(symbols) | set(self.book.syms))

    def render_expectancy(self, cfg: HedgeConfig, symbols: list[str]) -> dict[str, Any]:
        w = cfg.runtime.signal_gate.expectancy_window
        syms = {}
        for sym in self._symbols(symbols):
            s = self.book.syms.get(sym)
            o = s.open if s is not None else None
            syms[sym] = {
                "all": (s.totals.stats() if s else self.book.rolling(sym, 0)).as_dict(),
                "rolling": self.book.rolling(sym, w).as_dict(),
                "open_trip": None if o is None or o.qty == 0.0 else {
                    "qty": o.qty, "opened_ts": o.opened_ns / NS, "entry_notional_usd": round(o.entry_notional, 8),
                    "fees_usd": round(o.fees, 8), "funding_usd": round(o.funding, 8),
                    "realized_pnl_usd": round(o.realized, 8)},
            }
        return {
            "symbols": syms,
            "overall": {"all": self.book.totals.stats().as_dict(), "rolling": self.book.rolling(None, w).as_dict()},
            "windows": {"all": "every round trip of the session",
                        "rolling": f"the last {w} round trips (runtime.signal_gate.expectancy_window)"},
            "rolling_window_trips": w,
            "definition": "round trip = flat -> position -> flat; net = realized PnL - fees + funding; "
                          "expectancy_usd = mean net; expectancy_frac = mean net / entry notional",
        }

    def render_scores(self, cfg: HedgeConfig, symbols: list[str]) -> dict[str, Any]:
        ar = cfg.strategy.atr_regime
        rows: list[dict[str, Any]] = []
        for sym in self._symbols(symbols):
            sc = self.book.score(sym, cfg)
            s = self.book.syms.get(sym) or SymbolIntel(sym, cfg)
            maker, slip, nfills = self.book.router_quality(sym)
            roll = self.book.rolling(sym, cfg.runtime.signal_gate.expectancy_window)
            spec = cfg.universe.symbols.get(sym)
            rows.append({
                "symbol": sym, "score": sc.score, "components": sc.components,
                "expectancy_frac": roll.expectancy_frac, "round_trips": roll.round_trips,
                "trend_strength_atr": (abs(s.ema_fast - s.ema_slow) / s.atr.atr)
                if s.ema_fast is not None and s.ema_slow is not None and s.atr.atr else None,
                "atr_regime": atr_regime(s.atr.ratio, ar.low_ratio, ar.high_ratio),
                "maker_fill_rate": maker, "mean_slippage_bps": slip, "router_fills": nfills,
                "liquidity_bucket": spec.liquidity_bucket if spec else None,
            })
        ranked = sorted(rows, key=lambda r: (-r["score"], r["symbol"]))
        for i, r in enumerate(ranked, 1):
            r["rank"] = i
        i_cfg = cfg.strategy.intel
        return {"symbols": rows, "weights": {
            "expectancy": i_cfg.w_expectancy, "trend": i_cfg.w_trend, "volatility": i_cfg.w_volatility,
            "router": i_cfg.w_router, "liquidity": i_cfg.w_liquidity}}

    def render_hybrid(self, cfg: HedgeConfig, symbols: list[str]) -> dict[str, Any]:
        ic = cfg.strategy.intel
        rows = []
        for sym in self._symbols(symbols):
            score = self.book.score(sym, cfg).score
            last = self.last_entry.get(sym)
            sig: float | None = None
            recorded: Any = None
            if last is not None:
                g = last.signal
                recorded = g.get("conviction")
                edge = g.get("donchian_high") if last.side == "BUY" else g.get("donchian_low")
                atr = g.get("atr")
                if isinstance(edge, int | float) and isinstance(atr, int | float):
                    sig = signal_strength(last.price, float(edge), float(atr))
            hyb = hybrid_score(ic, sig, score)
            rows.append({
                "symbol": sym, "signal_strength": sig, "symbol_score": score, "hybrid_score": hyb,
                "conviction": conviction(ic, hyb), "last_entry_intent_id": last.intent_id if last else None,
                "last_entry_ts": last.ts_event_ns / NS if last else None,
                "last_entry_conviction": recorded,
            })
        return {"symbols": rows, "signal_weight": ic.hybrid_signal_weight,
                "conviction_range": [ic.conviction_min, ic.conviction_max],
                "intel_v6_enabled": cfg.runtime.v6_flags.intel_v6_enabled}
