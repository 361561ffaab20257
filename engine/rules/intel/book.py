"""``IntelBook``: the fold behind intel scores, used by the engine and the projections alike.

Folded from ``KlineClosed`` (EMAs with the strategy's periods, Wilder ATR with
the ATR-regime period/baseline), ``OrderFilled`` (round trips, the symbol's last
fills for router quality) and ``FundingApplied`` (funding of the open trip).
Callers pass plain values, so the engine and the projector feed it the same
numbers from the same events.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from engine.rules.indicators import WilderAtr, atr_regime, ema_step
from engine.rules.intel.roundtrips import OpenTrip, RoundTrip, TripStats, trip_stats
from engine.rules.intel.scores import Score, conviction, hybrid_score, signal_strength, symbol_score

if TYPE_CHECKING:  # type only: engine.rules imports no project module at run time
    from config.schema import HedgeConfig

KEEP_TRIPS = 1000  # round trips kept per symbol (and overall) for rolling windows
ROUTER_FILLS = 100  # a symbol's last fills that router quality covers


class Totals:
    """All-time trip statistics, accumulated (memory stays flat)."""

    __slots__ = ("fees", "frac", "funding", "n", "net", "sum_loss", "sum_win", "wins")

    def __init__(self) -> None:
        self.n = self.wins = 0
        self.sum_win = self.sum_loss = self.net = self.frac = self.fees = self.funding = 0.0

    def add(self, t: RoundTrip) -> None:
        x = t.net_usd
        self.n += 1
        if x > 0:
            self.wins += 1
            self.sum_win += x
        else:
            self.sum_loss += x
        self.net += x
        self.frac += t.return_frac
        self.fees += t.fees_usd
        self.funding += t.funding_usd

    def stats(self) -> TripStats:
        n, w = self.n, self.wins
        lo = n - w
        return TripStats(round_trips=n, wins=w, losses=lo, win_rate=w / n if n else None,
                         avg_win_usd=self.sum_win / w if w else None, avg_loss_usd=self.sum_loss / lo if lo else None,
                         expectancy_usd=self.net / n if n else None, expectancy_frac=self.frac / n if n else None,
                         net_pnl_usd=self.net, fees_usd=self.fees, funding_usd=self.funding)


class SymbolIntel:
    __slots__ = ("atr", "bars", "ema_fast", "ema_slow", "fast_n", "fills", "last_close", "open", "slow_n",
                 "totals", "trips")

    def __init__(self, symbol: str, cfg: HedgeConfig) -> None:
        s = cfg.strategy
        self.fast_n, self.slow_n = s.fast_ema, s.slow_ema
        self.ema_fast: float | None = None
        self.ema_slow: float | None = None
        self.atr = WilderAtr(s.atr_regime.period, s.atr_regime.baseline_bars)
        self.bars = 0
        self.last_close: float | None = None
        self.open = OpenTrip(symbol)
        self.trips: deque[RoundTrip] = deque(maxlen=KEEP_TRIPS)
        self.totals = Totals()
        self.fills: deque[tuple[bool, float]] = deque(maxlen=ROUTER_FILLS)  # (is_maker, slippage_bps)


class IntelBook:
    def __init__(self) -> None:
        self.syms: dict[str, SymbolIntel] = {}
        self.recent: deque[RoundTrip] = deque(maxlen=KEEP_TRIPS)
        self.totals = Totals()

    def sym(self, symbol: str, cfg: HedgeConfig) -> SymbolIntel:
        s = self.syms.get(symbol)
        if s is None:
            s = self.syms[symbol] = SymbolIntel(symbol, cfg)
        return s

    # -- fold ------------------------------------------------------------------------

    def on_kline(self, symbol: str, high: float, low: float, close: float, cfg: HedgeConfig) -> None:
        s = self.sym(symbol, cfg)
        if s.ema_fast is None or s.ema_slow is None:
            s.ema_fast = s.ema_slow = close
        else:
            s.ema_fast = ema_step(s.ema_fast, close, s.fast_n)
            s.ema_slow = ema_step(s.ema_slow, close, s.slow_n)
        s.atr.update(high, low, close)
        s.bars += 1
        s.last_close = close

    def on_fill(self, symbol: str, side: str, qty: float, price: float, fee: float, realized: float,
                is_maker: bool, slippage_bps: float, ts_ns: int, cfg: HedgeConfig) -> RoundTrip | None:
        s = self.sym(symbol, cfg)
        s.fills.append((is_maker, slippage_bps))
        trip = s.open.on_fill(side, qty, price, fee, realized, ts_ns)
        if trip is not None:
            s.trips.append(trip)
            s.totals.add(trip)
            self.recent.append(trip)
            self.totals.add(trip)
        return trip

    def on_funding(self, symbol: str, amount_usd: float, cfg: HedgeConfig) -> None:
        self.sym(symbol, cfg).open.on_funding(amount_usd)

    # -- derived ---------------------------------------------------------------------

    def rolling(self, symbol: str | None, window: int) -> TripStats:
        """Stats of the last ``window`` round trips of a symbol (None: of every symbol)."""
        src: Any = self.recent if symbol is None else (self.syms[symbol].trips if symbol in self.syms else ())
        trips = list(src)[-window:] if window > 0 else []
        return trip_stats(trips)

    def router_quality(self, symbol: str) -> tuple[float | None, float | None, int]:
        s = self.syms.get(symbol)
        if s is None or not s.fills:
            return None, None, 0
        n = len(s.fills)
        return (sum(1 for m, _ in s.fills if m) / n, sum(x for _, x in s.fills) / n, n)

    def score(self, symbol: str, cfg: HedgeConfig) -> Score:
        s = self.syms.get(symbol) or SymbolIntel(symbol, cfg)  # reading never changes the fold
        ar = cfg.strategy.atr_regime
        maker, slip, _ = self.router_quality(symbol)
        depth = None
        spec = cfg.universe.symbols.get(symbol)
        buckets = cfg.liquidity_buckets.buckets
        if spec is not None and spec.liquidity_bucket in buckets:
            deepest = max(b.depth_usd for b in buckets.values())
            depth = buckets[spec.liquidity_bucket].depth_usd / deepest if deepest > 0 else None
        exp = self.rolling(symbol, cfg.runtime.signal_gate.expectancy_window).expectancy_frac
        return symbol_score(cfg.strategy.intel, expectancy_frac=exp, ema_fast=s.ema_fast, ema_slow=s.ema_slow,
                            atr=s.atr.atr, atr_regime=atr_regime(s.atr.ratio, ar.low_ratio, ar.high_ratio),
                            maker_fill_rate=maker, mean_slippage_bps=slip, depth_frac=depth)

    def entry_conviction(self, symbol: str, close: float, edge: float | None, atr: float | None,
                         cfg: HedgeConfig) -> dict[str, float | None]:
        """What an entry's size is scaled by: signal strength, symbol score, hybrid, conviction."""
        sc = self.score(symbol, cfg)
        sig = signal_strength(close, edge, atr)
        hyb = hybrid_score(cfg.strategy.intel, sig, sc.score)
        return {"signal_strength": sig, "symbol_score": sc.score, "hybrid_score": hyb,
                "conviction": conviction(cfg.strategy.intel, hyb)}
