"""The NautilusTrader side of the peer benchmark: a standalone script run by
``bench/peers.py`` inside its own virtualenv (NautilusTrader is never a dependency of the
product, and nothing in the product imports this file).

Usage: ``<nautilus-venv>/bin/python bench/peer_nautilus.py MARKET_DIR [--bars N]
[--no-orders] [--persist DIR]``. Prints one JSON line: wall seconds, bars, orders, fills,
peak RSS.

The strategy has the shape of hedge's default screener so the two do comparable work:
per symbol EMA(60)/EMA(300) trend with ATR(14) volatility-targeted size; entries are
post-only limits one tick inside the close; an entry still open one bar later is cancelled
and replaced by a market order; a trend flip closes the position at market.
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import sys
import time
from decimal import Decimal
from pathlib import Path

import pandas as pd
from nautilus_trader.backtest.config import BacktestEngineConfig
from nautilus_trader.backtest.engine import BacktestEngine
from nautilus_trader.config import LoggingConfig, StrategyConfig
from nautilus_trader.indicators import AverageTrueRange, ExponentialMovingAverage
from nautilus_trader.model.currencies import USDT
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.enums import AccountType, OmsType, OrderSide, TimeInForce
from nautilus_trader.model.identifiers import InstrumentId, Symbol, TraderId, Venue
from nautilus_trader.model.instruments import CryptoPerpetual
from nautilus_trader.model.objects import Currency, Money, Price, Quantity
from nautilus_trader.trading.strategy import Strategy

BINANCE = Venue("BINANCE")
START_USD = 100_000.0


def _decimals(step: str) -> int:
    s = step.rstrip("0")
    return len(s.split(".")[1]) if "." in s else 0


def load_meta(market: Path) -> dict[str, tuple[str, str]]:
    """symbol -> (tick, step) from exchange/universe_meta.csv (mainnet values)."""
    out: dict[str, tuple[str, str]] = {}
    meta = market / "exchange" / "universe_meta.csv"
    if meta.exists():
        with meta.open() as fh:
            for row in csv.DictReader(fh):
                tick = row.get("tick_size") or row.get("tick") or ""
                step = row.get("step_size") or row.get("step") or ""
                if tick and step:
                    out[row["symbol"]] = (tick, step)
    return out


def instrument(symbol: str, tick: str, step: str) -> CryptoPerpetual:
    base = symbol.removesuffix("USDT")
    cur = Currency.from_str(base) if base in ("BTC", "ETH", "SOL") else Currency(
        base, 8, 0, base, USDT.currency_type)
    pp, sp = _decimals(tick), _decimals(step)
    return CryptoPerpetual(
        instrument_id=InstrumentId(Symbol(f"{symbol}-PERP"), BINANCE),
        raw_symbol=Symbol(symbol), base_currency=cur, quote_currency=USDT,
        settlement_currency=USDT, is_inverse=False,
        price_precision=pp, price_increment=Price.from_str(tick),
        size_precision=sp, size_increment=Quantity.from_str(step),
        max_quantity=None, min_quantity=Quantity.from_str(step), max_notional=None,
        min_notional=Money(5.0, USDT), max_price=None, min_price=None,
        margin_init=Decimal("0.10"), margin_maint=Decimal("0.02"),
        maker_fee=Decimal("0.0002"), taker_fee=Decimal("0.0004"), ts_event=0, ts_init=0)


class TrendConfig(StrategyConfig, frozen=True):
    bar_types: tuple[str, ...]
    trade: bool = True


class Trend(Strategy):
    """EMA 60/300 + ATR(14), post-only entries replaced by market after one bar."""

    def __init__(self, config: TrendConfig) -> None:
        super().__init__(config)
        self.ind: dict[str, tuple[ExponentialMovingAverage, ExponentialMovingAverage,
                                  AverageTrueRange]] = {}
        self.pending: dict[str, object] = {}
        self.orders = 0

    def on_start(self) -> None:
        for bt_str in self.config.bar_types:
            bt = BarType.from_str(bt_str)
            fast, slow, atr = ExponentialMovingAverage(60), ExponentialMovingAverage(300), \
                AverageTrueRange(14)
            for i in (fast, slow, atr):
                self.register_indicator_for_bars(bt, i)
            self.ind[str(bt.instrument_id)] = (fast, slow, atr)
            self.subscribe_bars(bt)

    def on_bar(self, bar: Bar) -> None:
        if not self.config.trade:
            return
        iid = bar.bar_type.instrument_id
        key = str(iid)
        fast, slow, atr = self.ind[key]
        if not slow.initialized or not atr.initialized or atr.value <= 0:
            return
        inst = self.cache.instrument(iid)
        order = self.pending.pop(key, None)
        if order is not None and order.is_open:
            self.cancel_order(order)
            self._submit_market(inst, order.side, order.quantity)
        want = OrderSide.BUY if fast.value > slow.value else OrderSide.SELL
        net = self.portfolio.net_position(iid)
        if (net > 0 and want == OrderSide.BUY) or (net < 0 and want == OrderSide.SELL):
            return
        if net != 0:
            self.close_all_positions(iid)
        close = float(bar.close)
        qty_f = min(0.01 * START_USD / (2.0 * atr.value), 0.06 * START_USD / close)
        qty = inst.make_qty(qty_f)
        if qty <= 0:
            return
        tick = float(inst.price_increment)
        px = close - tick if want == OrderSide.BUY else close + tick
        limit = self.order_factory.limit(iid, want, qty, inst.make_price(px),
                                         time_in_force=TimeInForce.GTC, post_only=True)
        self.submit_order(limit)
        self.orders += 1
        self.pending[key] = limit

    def _submit_market(self, inst: CryptoPerpetual, side: OrderSide, qty: Quantity) -> None:
        self.submit_order(self.order_factory.market(inst.id, side, qty))
        self.orders += 1


def to_bars(bt: BarType, inst: CryptoPerpetual, df: pd.DataFrame) -> list[Bar]:
    """Bars stamped at their close (open + 5 min), as Nautilus expects."""
    pp, sp = inst.price_precision, inst.size_precision
    out = []
    for t, o, h, lo, c, v in zip(df["open_time_ms"].tolist(), df["open"].tolist(),
                                 df["high"].tolist(), df["low"].tolist(),
                                 df["close"].tolist(), df["volume"].tolist(), strict=True):
        ts = (int(t) + 300_000) * 1_000_000
        out.append(Bar(bt, Price(o, pp), Price(h, pp), Price(lo, pp), Price(c, pp),
                       Quantity(v, sp), ts, ts))
    return out


def _own_peak_rss_mb() -> float:
    """VmHWM: this process's own peak (``ru_maxrss`` would carry the bench's across exec;
    this script runs in Nautilus's venv, so it cannot import ``eventlog.peak_rss``)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("market")
    p.add_argument("--bars", type=int, default=0, help="bars per symbol (0 = all)")
    p.add_argument("--no-orders", action="store_true")
    p.add_argument("--persist", default="", help="stream every event to a catalog here")
    p.add_argument("--symbols", default="BTCUSDT,ETHUSDT,SOLUSDT")
    a = p.parse_args(argv)
    market = Path(a.market)
    meta = load_meta(market)
    t0 = time.perf_counter()
    streaming = None
    if a.persist:
        from nautilus_trader.persistence.config import StreamingConfig
        streaming = StreamingConfig(catalog_path=a.persist, replace_existing=True)
    engine = BacktestEngine(config=BacktestEngineConfig(
        trader_id=TraderId("PEER-001"), logging=LoggingConfig(log_level="ERROR"),
        streaming=streaming))
    engine.add_venue(venue=BINANCE, oms_type=OmsType.NETTING, account_type=AccountType.MARGIN,
                     base_currency=USDT, starting_balances=[Money(START_USD, USDT)],
                     default_leverage=Decimal(3))
    bar_types: list[str] = []
    n_bars = 0
    for sym in a.symbols.split(","):
        tick, step = meta.get(sym, ("0.01", "0.001"))
        inst = instrument(sym, tick, step)
        engine.add_instrument(inst)
        df = pd.read_csv(market / f"{sym}.csv")
        if a.bars:
            df = df.head(a.bars)
        bt = BarType.from_str(f"{inst.id}-5-MINUTE-LAST-EXTERNAL")
        bars = to_bars(bt, inst, df)
        engine.add_data(bars)
        n_bars += len(bars)
        bar_types.append(str(bt))
    strat = Trend(TrendConfig(bar_types=tuple(bar_types), trade=not a.no_orders))
    engine.add_strategy(strat)
    engine.run()
    wall = time.perf_counter() - t0
    fills = len(engine.trader.generate_fills_report())
    engine.dispose()
    rss_mb = _own_peak_rss_mb()
    print(json.dumps({"wall_s": wall, "bars": n_bars, "orders": strat.orders, "fills": fills,
                      "rss_mb": rss_mb}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
