"""Synthetic trading sessions for the alert tests: real event types, made-up trading.

``SessionBuilder`` stamps headers like the engine's writer does (session_seq 1, 2...),
so the events can be appended to a real store or folded directly. ``market_session``
turns the real 5m klines of ``../shared/market`` into ``KlineClosed`` events plus a
``NavSnapshot`` per bar of a simple fund (a fixed gross exposure to the symbols'
average return), which is enough market and NAV realism to measure the alert rate
before (or besides) a full ``hedge run`` session.
"""

from __future__ import annotations

import csv
import uuid
from pathlib import Path
from typing import Any

from config.loader import apply_overrides, from_dict, load_config
from eventlog.events import Event, KlineClosed, NavSnapshot, OrderFilled, SessionStarted

BAR_MS = 300_000
MS = 1_000_000


def session_config(**alerts: Any) -> dict[str, Any]:
    """The repo's default config as the log records it, with ``alerts`` overrides."""
    base = load_config().as_dict()
    out, _ = apply_overrides(base, [f"alerts.{k}={_lit(v)}" for k, v in alerts.items()])
    from_dict(out)  # validate
    return out


def _lit(v: Any) -> str:
    import json

    return json.dumps(v)


class SessionBuilder:
    """Builds one session's events with engine-like headers."""

    def __init__(self, session_id: str | None = None, config: dict[str, Any] | None = None,
                 start_ms: int = 1751629200000, symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT", "SOLUSDT")):
        self.session_id = session_id or uuid.uuid4().hex
        self.config = config if config is not None else session_config()
        self.seq = 0
        self.symbols = symbols
        self.start_ms = start_ms

    def make(self, cls: type[Event], ts_ms: int, stream: str, **fields: Any) -> Event:
        self.seq += 1
        return cls(session_id=self.session_id, session_seq=self.seq, stream=stream,
                   ts_event_ns=ts_ms * MS, ts_init_ns=ts_ms * MS, **fields)

    def started(self) -> Event:
        loaded = from_dict(self.config)
        return self.make(SessionStarted, self.start_ms, "session", engine_version="test", mode="sim",
                         venue="sim", symbols=list(self.symbols), config=self.config,
                         config_hash=loaded.config_hash)

    def kline(self, symbol: str, open_ms: int, o: float, h: float, lo: float, c: float, vol: float = 1.0) -> Event:
        close_ms = open_ms + BAR_MS - 1
        return self.make(KlineClosed, close_ms, f"market.{symbol}", symbol=symbol, interval="5m",
                         open_time_ms=open_ms, close_time_ms=close_ms, open=o, high=h, low=lo, close=c,
                         volume=vol)

    def nav(self, ts_ms: int, nav: float) -> Event:
        return self.make(NavSnapshot, ts_ms, "account", nav_usd=nav, wallet_balance=nav,
                         unrealized_pnl=0.0, available_balance=nav)

    def fill(self, ts_ms: int, symbol: str, is_maker: bool, slippage_bps: float = 0.5) -> Event:
        n = self.seq + 1
        return self.make(OrderFilled, ts_ms, "orders", order_id=f"o{n}", trade_id=f"t{n}", symbol=symbol,
                         side="BUY", qty=0.01, price=100.0, is_maker=is_maker, fee_usd=0.01,
                         realized_pnl=0.0, slippage_bps=slippage_bps, decision_price=100.0)

    def bars(self, n: int, *, nav_path: list[float] | None = None, vol_path: list[float] | None = None,
             start_index: int = 0) -> list[Event]:
        """``n`` 5m bars of every symbol (a calm random-free zigzag) plus a NAV each bar."""
        out: list[Event] = []
        for i in range(start_index, start_index + n):
            open_ms = self.start_ms + i * BAR_MS
            width = (vol_path[i] if vol_path else 1.0) * 0.002
            for s in self.symbols:
                px = 100.0 * (1 + 0.001 * ((i % 7) - 3))
                out.append(self.kline(s, open_ms, px, px * (1 + width / 2), px * (1 - width / 2), px))
            nav = nav_path[i] if nav_path else 100_000.0
            out.append(self.nav(open_ms + BAR_MS - 1, nav))
        return out


def read_klines(market_dir: Path, symbol: str) -> list[tuple[int, float, float, float, float, float]]:
    with open(market_dir / f"{symbol}.csv", newline="") as f:
        r = csv.reader(f)
        next(r)
        return [(int(t), float(o), float(h), float(lo), float(c), float(v)) for t, o, h, lo, c, v in r]


def market_session(market_dir: Path, *, gross: float = 0.5, config: dict[str, Any] | None = None,
                   initial_nav: float = 100_000.0) -> tuple[SessionBuilder, list[Event]]:
    """Every 5m bar of the real data as events, and a fund NAV with ``gross`` exposure.

    The NAV compounds ``gross`` times the equal-weight average bar return of the
    symbols, so drawdowns and NAV moves follow the real market at a realistic scale.
    """
    symbols = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
    data = {s: read_klines(market_dir, s) for s in symbols}
    n = min(len(v) for v in data.values())
    b = SessionBuilder(config=config, start_ms=data["BTCUSDT"][0][0], symbols=symbols)
    events: list[Event] = [b.started()]
    nav = initial_nav
    for i in range(n):
        rets = []
        for s in symbols:
            t, o, h, lo, c, v = data[s][i]
            events.append(b.kline(s, t, o, h, lo, c, v))
            prev = data[s][i - 1][4] if i else o
            rets.append(c / prev - 1.0)
        nav *= 1.0 + gross * sum(rets) / len(rets)
        events.append(b.nav(data["BTCUSDT"][i][0] + BAR_MS - 1, nav))
    return b, events
