"""``DRY_RUN=1`` with the Binance venue: real market data, simulated fills, nothing sent.

``SimDry`` drives the simulator's own matching (``engine.venues.sim_matching.SimMatching``)
with the closed klines Binance streams, so a dry run fills exactly the way the
simulated venue does on the same bars: orders reach the book at the next bar's
open, post-only GTX that would cross is refused with -5022, resting limits fill as
maker when a bar trades through them, MARKET/IOC take at the touch plus impact.
Funding is settled at each funding-interval boundary with the latest rate Binance
published on the mark-price stream. The wallet starts at
``runtime.sim.initial_balance_usd``; a later session of the same paper account
continues it (``resume``): wallet, positions and working orders are folded from the
account's log (``engine.venues.sim_resume.SimResume``, the simulator's own fold), and
bars up to the last one the account saw are not matched again - the bars of the
downtime are, as an exchange goes on matching while the engine is down.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from config.schema import HedgeConfig
from engine.ports import OrderRequest, VenueUpdate
from engine.venues.binance.convert import MS
from engine.venues.sim_matching import SimMatching
from eventlog.events import KlineClosed, MarketTick

if TYPE_CHECKING:
    from engine.venues.sim_resume import SimResume


class SimDry:
    """The dry-run matcher of the Binance venue (a thin driver of ``SimMatching``)."""

    def __init__(self, cfg: HedgeConfig, symbols: list[str]):
        sim = cfg.runtime.sim
        self.symbols = sorted(symbols)
        self.m = SimMatching(cfg, self.symbols, initial_balance=sim.initial_balance_usd, leverage=sim.leverage)
        self.funding_ns = int(sim.funding_interval_h * 3600 * 1e9)
        self.default_rate = sim.default_funding_rate
        self.rates: dict[str, float] = {}
        self._bucket: int | None = None
        self.seen_open_ms: int | None = None  # a resumed account: bars up to this one were matched already

    def resume(self, books: SimResume) -> None:
        """Continue the paper account an earlier session left (before ``connect``)."""
        books.restore_matching(self.m)
        self.seen_open_ms = books.last_open_ms
        if self.funding_ns and books.last_close_ns:
            self._bucket = books.last_close_ns // self.funding_ns

    def on_market(self, u: VenueUpdate) -> list[VenueUpdate]:
        """Feed one market update; returns fills, position readings and funding it causes."""
        f = u.fields
        if u.cls is MarketTick:
            if f.get("funding_rate") is not None:
                self.rates[f["symbol"]] = f["funding_rate"]
            return []
        if u.cls is not KlineClosed or f["symbol"] not in self.m.pos:
            return []
        sym = f["symbol"]
        if self.seen_open_ms is not None and f["open_time_ms"] <= self.seen_open_ms:
            return []  # matched by the session that saw it (a warm-up bar after a restart)
        open_ns, close_ns = f["open_time_ms"] * MS, (f["close_time_ms"] + 1) * MS
        out = self.m.on_bar(sym, open_ns, close_ns, f["open"], f["high"], f["low"], f["close"], f["volume"])
        if any(x.cls.__name__ == "OrderFilled" for x in out):
            out.append(self.m.position_update(sym, close_ns))
        if self.funding_ns:
            bucket = close_ns // self.funding_ns
            if self._bucket is not None and bucket != self._bucket:
                out += self.m.apply_funding(close_ns, {s: self.rates.get(s, self.default_rate)
                                                       for s in self.symbols})
            self._bucket = bucket
        return out

    def submit(self, req: OrderRequest, ts_ns: int) -> list[VenueUpdate]:
        return self.m.submit(req, ts_ns)

    def cancel(self, symbol: str, order_id: str, ts_ns: int) -> list[VenueUpdate]:
        return self.m.cancel(symbol, order_id, ts_ns)

    def snapshot(self, ts_ns: int) -> list[VenueUpdate]:
        """NAV and every configured symbol's position."""
        return [self.m.nav_update(ts_ns), *(self.m.position_update(s, ts_ns) for s in self.symbols)]

    def bar_account(self, ts_ns: int) -> list[VenueUpdate]:
        """NAV and open positions at a bar close."""
        return [self.m.nav_update(ts_ns), *(self.m.position_update(s, ts_ns) for s in self.symbols
                                            if self.m.pos[s][0] != 0.0)]


def make_dry_matcher(loaded_cfg: Any, symbols: list[str]) -> SimDry:
    """The dry-run matcher from the config (sim balance, leverage, fees, liquidity buckets)."""
    return SimDry(loaded_cfg.config, symbols)
