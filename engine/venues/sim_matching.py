"""Paper matching engine and account books for USD-M perpetuals (deterministic).

Reusable on its own: the simulated venue drives it with generated or CSV bars,
and a Binance DRY_RUN venue can drive it with real market data. It takes bars
and order requests and returns ``VenueUpdate`` items (the contents of the
domain events Binance would send: acks, rejects, cancels, fills, position and
NAV readings, funding).

Model (bar resolution):

* **Book**: best bid/ask = price -/+ the symbol's liquidity-bucket half spread,
  on the tick grid.
* **Latency**: the simulated venue (``sim_intrabar``) brings an order to the book
  ``runtime.sim.latency_ms`` after it was sent, at that moment's price on the bar's path
  (``arrive``, ``fill_resting``); ``on_bar``, the bar-resolution driver the Binance dry
  run uses, brings an order submitted during bar *k* to the book at the open of bar *k+1*.
* **Post-only (GTX)**: rejected (-5022) if it would cross the book at arrival,
  otherwise it rests; a resting limit fills (maker) at its price when the bar
  trades *through* it (low < buy price, high > sell price), at most
  ``max_participation_frac`` of the bar's volume per bar (partial fills).
* **MARKET/IOC**: fills at arrival at the far touch plus impact
  ``min(max_slippage_bps, impact_bps_per_10k_usd * notional / 10k)``, capped
  by the same participation; the remainder expires. Halted (zero-volume) bars
  fill nothing.
* **Protective orders** (``sim_stops``): STOP_MARKET / TAKE_PROFIT_MARKET wait at the
  venue and trigger on the bar's documented path; they fill at the stop (at the open on
  a gap) plus spread and impact.
* **Fees** maker/taker from ``runtime.fees``; realised PnL on reducing fills
  (``engine.accounting.apply_fill``); funding ``-qty * mark * rate`` per settlement
  (``settle_funding``: the data's rate and mark, see ``funding_data``).
* **Margin** (``sim_margin``): Binance USD-M cross/isolated margin at the mark with the
  leverage brackets; an order whose initial margin exceeds the available balance is
  rejected (-2019); positions below maintenance margin are liquidated
  (``PositionLiquidated``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from config.schema import HedgeConfig
from engine.accounting import apply_fill, round_price, round_step_down
from engine.exchange_filters import SymbolFilters, from_config, validate_order
from engine.ports import OrderRequest, VenueUpdate
from engine.venues.funding_data import Settlement
from engine.venues.sim_margin import SimMargin
from engine.venues.sim_stops import STOP_TYPES, check_submit, trigger
from eventlog.events import (
    FundingApplied,
    NavSnapshot,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    PositionSnapshot,
)

ORDERS = "orders"
ACCOUNT = "account"


@dataclass(slots=True)
class _Working:
    req: OrderRequest
    filled: float = 0.0
    sent_ns: int = 0  # when the engine sent it (it reaches the book runtime.sim.latency_ms later)

    @property
    def remaining(self) -> float:
        return round(self.req.qty - self.filled, 10)


class SimMatching:
    """Books and matching for a set of symbols (one-way positions, cross margin)."""

    def __init__(self, cfg: HedgeConfig, symbols: list[str], *, initial_balance: float,
                 leverage: float = 3.0, participation: float = 0.25):
        self.cfg = cfg
        self.symbols = list(symbols)
        self.leverage = leverage
        self.participation = participation
        self.maker_fee = cfg.runtime.fees.maker_frac
        self.taker_fee = cfg.runtime.fees.taker_frac
        self.wallet = float(initial_balance)
        self.pos: dict[str, list[float]] = {s: [0.0, 0.0] for s in symbols}  # qty, entry
        self.mark: dict[str, float] = {}
        self.book: dict[str, tuple[float, float]] = {}
        self.arriving: dict[str, list[_Working]] = {s: [] for s in symbols}
        self.resting: dict[str, dict[str, _Working]] = {s: {} for s in symbols}
        self.stops: dict[str, dict[str, _Working]] = {s: {} for s in symbols}  # accepted STOP/TP orders
        self.last: dict[str, float] = {}  # last price (the book's centre)
        self.trade_seq = 0
        self.fees_paid = 0.0
        self.realized = 0.0
        self.funding = 0.0
        self._spec = {s: cfg.universe.symbols[s] for s in symbols}
        # the filters orders are validated against (the venue sets the exchange's; config until then)
        self.filters: dict[str, SymbolFilters] = from_config(cfg.universe.symbols, symbols)
        buckets = cfg.liquidity_buckets.buckets
        self._liq = {s: buckets[self._spec[s].liquidity_bucket] for s in symbols}
        self.margin = SimMargin(self)  # Binance USD-M margin, brackets and liquidation

    # -- book ----------------------------------------------------------------------

    def quote(self, symbol: str, price: float) -> tuple[float, float]:
        """Best bid/ask around ``price`` from the spread model, on the tick grid."""
        tick = self.filters[symbol].tick_size
        hs = self._liq[symbol].half_spread_bps / 10_000.0
        bid = round_price(price * (1 - hs), tick, "BUY")
        ask = round_price(price * (1 + hs), tick, "SELL")
        if ask <= bid:
            ask = round_price(bid + tick, tick, "SELL")
        return bid, ask

    def set_mark(self, symbol: str, price: float) -> tuple[float, float]:
        self.mark[symbol] = price
        self.last[symbol] = price
        q = self.book[symbol] = self.quote(symbol, price)
        return q

    # -- orders --------------------------------------------------------------------

    def _reject(self, req: OrderRequest, ts: int, code: int, reason: str) -> list[VenueUpdate]:
        return [VenueUpdate(OrderRejected, ORDERS, ts, {"order_id": req.order_id, "symbol": req.symbol,
                                                        "code": code, "reason": reason})]

    def nav(self) -> tuple[float, float]:
        """(nav, unrealised pnl) at the current marks."""
        upnl = 0.0
        for s, (q, e) in self.pos.items():
            if q:
                upnl += q * (self.mark.get(s, e) - e)
        return self.wallet + upnl, upnl

    def submit(self, req: OrderRequest, ts: int) -> list[VenueUpdate]:
        """Validate and queue an order; it reaches the book at the next bar."""
        f = self.filters.get(req.symbol)
        if f is None:
            return self._reject(req, ts, -1121, "Invalid symbol.")
        if req.order_type == "LIMIT" and not (req.price and req.price > 0):
            return self._reject(req, ts, -1102, "Mandatory parameter 'price' was not sent or was empty.")
        if req.order_type in STOP_TYPES:
            bad = check_submit(self, req)
            if bad is None and not req.close_position:
                bad = validate_order(f, side=req.side, order_type="MARKET", qty=req.qty, price=None,
                                     mark=self.mark.get(req.symbol), reduce_only=True)
            if bad is not None:
                return self._reject(req, ts, bad[0], bad[1])
            self.arriving[req.symbol].append(_Working(req, sent_ns=ts))
            return []
        if req.order_type not in ("LIMIT", "MARKET"):
            return self._reject(req, ts, -1116, f"Invalid orderType {req.order_type}.")
        book = self.book.get(req.symbol)
        best = (book[1] if req.side == "BUY" else book[0]) if book else None
        bad = validate_order(f, side=req.side, order_type=req.order_type, qty=req.qty,
                             price=req.price if req.order_type == "LIMIT" else None,
                             mark=self.mark.get(req.symbol), reduce_only=req.reduce_only, best=best)
        if bad is not None:
            return self._reject(req, ts, bad[0], bad[1])
        q = self.pos[req.symbol][0]
        sign = 1.0 if req.side == "BUY" else -1.0
        if req.reduce_only and (q == 0 or (q > 0) == (sign > 0)):
            return self._reject(req, ts, -2022, "ReduceOnly Order is rejected.")
        if not req.reduce_only and abs(q + sign * req.qty) > abs(q):
            grow = req.qty if (q == 0 or (q > 0) == (sign > 0)) else abs(q + sign * req.qty)
            need = self.margin.initial_margin(req.symbol, grow, req.price or self.mark.get(req.symbol, 0.0))
            if need > self.margin.available() + 1e-9:
                return self._reject(req, ts, -2019, "Margin is insufficient.")
        self.arriving[req.symbol].append(_Working(req, sent_ns=ts))
        return []

    def cancel(self, symbol: str, order_id: str, ts: int) -> list[VenueUpdate]:
        """Cancel a queued or resting order; unknown ids get -2011 like Binance."""
        for i, w in enumerate(self.arriving.get(symbol, [])):
            if w.req.order_id == order_id:
                del self.arriving[symbol][i]
                return [VenueUpdate(OrderCanceled, ORDERS, ts, {"order_id": order_id, "symbol": symbol,
                                                                "reason": "canceled", "filled_qty": w.filled})]
        w2 = self.resting.get(symbol, {}).pop(order_id, None) or self.stops.get(symbol, {}).pop(order_id, None)
        if w2 is not None:
            return [VenueUpdate(OrderCanceled, ORDERS, ts, {"order_id": order_id, "symbol": symbol,
                                                            "reason": "canceled", "filled_qty": w2.filled})]
        return [VenueUpdate(OrderRejected, ORDERS, ts, {"order_id": order_id, "symbol": symbol,
                                                        "code": -2011, "reason": "Unknown order sent."})]

    def _fill(self, w: _Working, qty: float, price: float, maker: bool, ts: int) -> list[VenueUpdate]:
        req = w.req
        p = self.pos[req.symbol]
        sign = 1 if req.side == "BUY" else -1
        if req.reduce_only:
            if p[0] == 0 or (p[0] > 0) == (sign > 0):
                return []
            qty = min(qty, abs(p[0]))
        if qty <= 0:
            return []
        before = p[0]
        p[0], p[1], realized = apply_fill(p[0], p[1], sign, qty, price)
        if p[0] == 0 or (p[0] > 0) != (before > 0):
            self.margin.iso_funding[req.symbol] = 0.0  # a new position starts a new isolated wallet
        fee = qty * price * (self.maker_fee if maker else self.taker_fee)
        self.wallet += realized - fee
        self.fees_paid += fee
        self.realized += realized
        w.filled = round(w.filled + qty, 10)
        self.trade_seq += 1
        return [VenueUpdate(OrderFilled, ORDERS, ts, {
            "order_id": req.order_id, "trade_id": f"T{self.trade_seq}", "symbol": req.symbol,
            "side": req.side, "qty": qty, "price": price, "is_maker": maker, "fee_usd": fee,
            "realized_pnl": realized, "slippage_bps": 0.0, "decision_price": 0.0,
            "position_qty_after": p[0],
        })]

    def _fill_qty(self, w: _Working, budget: float, px: float) -> float:
        """How much of ``w`` fills against ``budget`` (the participation cap) at ``px``.

        On the lot grid; a partial fill and the remainder it leaves are each at least the
        symbol's min notional (reduce-only orders are exempt, as on Binance), else the bar
        fills nothing of it.
        """
        rem = w.remaining
        if budget >= rem - 1e-12:
            return rem
        f = self.filters[w.req.symbol]
        step = f.lot(w.req.order_type)[0]
        q = round_step_down(budget, step)
        if w.req.reduce_only or not f.min_notional:
            return q
        mn = f.min_notional
        if (rem - q) * px < mn:
            q = round_step_down(rem - mn / px, step)
        return q if q > 0 and q * px >= mn else 0.0

    def _taker_price(self, symbol: str, side: str, notional: float, bid: float, ask: float) -> float:
        liq = self._liq[symbol]
        impact = min(liq.max_slippage_bps, liq.impact_bps_per_10k_usd * notional / 10_000.0) / 10_000.0
        tick = self.filters[symbol].tick_size
        if side == "BUY":
            return round_price(ask * (1 + impact), tick, "SELL")
        return round_price(bid * (1 - impact), tick, "BUY")

    def arrive(self, w: _Working, ts: int, bid: float, ask: float, ref: float, budget: float,
               halted: bool) -> tuple[list[VenueUpdate], float]:
        """One order reaching the book at ``ts``, whose touch is (``bid``, ``ask``) around the
        price ``ref``: accepted, rejected -5022, filled as taker, or left resting (``resting``)
        or waiting for its trigger (``stops``). Returns the updates and the budget left."""
        out: list[VenueUpdate] = []
        req = w.req
        symbol = req.symbol
        oid = req.order_id
        if req.order_type in STOP_TYPES:  # waits for its trigger (sim_stops)
            out.append(VenueUpdate(OrderAccepted, ORDERS, ts, {"order_id": oid, "symbol": symbol,
                                                               "venue_order_id": oid}))
            self.stops[symbol][oid] = w
            return out, budget
        if req.order_type == "MARKET":
            out.append(VenueUpdate(OrderAccepted, ORDERS, ts, {"order_id": oid, "symbol": symbol,
                                                               "venue_order_id": oid}))
            px = self._taker_price(symbol, req.side, min(w.remaining, budget) * ref, bid, ask)
            qty = self._fill_qty(w, budget, px)
            if qty > 0:
                got = self._fill(w, qty, px, False, ts)
                out.extend(got)
                if got:
                    budget -= got[0].fields["qty"]
            if w.remaining > 1e-12:
                out.append(VenueUpdate(OrderExpired, ORDERS, ts, {
                    "order_id": oid, "symbol": symbol, "filled_qty": w.filled,
                    "reason": "halted: no liquidity" if halted else "IOC remainder"}))
            return out, budget
        px = req.price or 0.0
        crosses = px >= ask if req.side == "BUY" else px <= bid
        if crosses and req.time_in_force == "GTX":
            out.append(VenueUpdate(OrderRejected, ORDERS, ts, {
                "order_id": oid, "symbol": symbol, "code": -5022,
                "reason": "Due to the order could not be executed as maker, the Post Only order will be rejected."}))
            return out, budget
        out.append(VenueUpdate(OrderAccepted, ORDERS, ts, {"order_id": oid, "symbol": symbol,
                                                           "venue_order_id": oid}))
        if crosses:  # plain GTC limit that crosses: takes at the touch
            touch = ask if req.side == "BUY" else bid
            qty = self._fill_qty(w, budget, touch)
            got = self._fill(w, qty, touch, False, ts)
            out.extend(got)
            if got:
                budget -= got[0].fields["qty"]
        if w.remaining > 1e-12:
            self.resting[symbol][oid] = w
        return out, budget

    def fill_resting(self, w: _Working, budget: float, ts: int) -> tuple[list[VenueUpdate], float, bool]:
        """A resting limit the market trades through at ``ts``: fills as maker at its price, at
        most ``budget``. Returns the updates, the budget left and whether the order is done
        (the caller removes it from ``resting``); a reduce-only order with nothing left to
        reduce expires."""
        if budget <= 0:
            return [], budget, False
        px = w.req.price or 0.0
        qty = self._fill_qty(w, budget, px)
        if qty <= 0:
            return [], budget, False
        got = self._fill(w, qty, px, True, ts)
        if got:
            budget -= got[0].fields["qty"]
        if w.remaining > 1e-12 and got:
            return got, budget, False
        if not got:
            return [VenueUpdate(OrderExpired, ORDERS, ts, {
                "order_id": w.req.order_id, "symbol": w.req.symbol, "filled_qty": w.filled,
                "reason": "reduce_only: position already closed"})], budget, True
        return got, budget, True

    def on_bar(self, symbol: str, open_ns: int, close_ns: int, o: float, h: float, lo: float,
               c: float, v: float, *, mark: float | None = None,
               mark_of: Callable[[float], float] | None = None) -> list[VenueUpdate]:
        """One bar of one symbol: arrivals at the open, trade-through fills, book and mark at close.

        ``mark``: the mark price at the close (default the close, i.e. the last price);
        ``mark_of``: last price -> mark inside this bar (for MARK_PRICE stops; default identity).
        """
        out: list[VenueUpdate] = []
        arriving = self.arriving[symbol]
        budget = v * self.participation
        halted = v <= 0
        if arriving:
            bid, ask = self.quote(symbol, o)
            self.arriving[symbol] = []
            for w in arriving:
                got, budget = self.arrive(w, open_ns, bid, ask, o, budget, halted)
                out.extend(got)
        resting = self.resting[symbol]
        if resting and not halted:
            done = []
            for oid, w in resting.items():
                px = w.req.price or 0.0
                through = lo < px if w.req.side == "BUY" else h > px
                if not through or budget <= 0:
                    continue
                got, budget, finished = self.fill_resting(w, budget, close_ns - 1)
                out.extend(got)
                if finished:
                    done.append(oid)
            for oid in done:
                del resting[oid]
        if self.stops[symbol] and not halted:
            out.extend(trigger(self, symbol, open_ns, close_ns, (o, h, lo, c), mark_of or (lambda x: x)))
        self.set_mark(symbol, c)
        if mark is not None:
            self.mark[symbol] = mark
        return out

    # -- account readings ------------------------------------------------------------

    def position_update(self, symbol: str, ts: int) -> VenueUpdate:
        q, e = self.pos[symbol]
        m = self.mark.get(symbol, e)
        return VenueUpdate(PositionSnapshot, ACCOUNT, ts, {
            "symbol": symbol, "qty": q, "entry_price": e, "mark_price": m,
            "unrealized_pnl": q * (m - e), "notional": q * m, **self.margin.position_fields(symbol)})

    def nav_update(self, ts: int, sources_ok: bool = True) -> VenueUpdate:
        nav, upnl = self.nav()
        mm, ratio = self.margin.account_ratio()
        return VenueUpdate(NavSnapshot, ACCOUNT, ts, {
            "nav_usd": nav, "wallet_balance": self.wallet, "unrealized_pnl": upnl,
            "available_balance": self.margin.available(), "sources_ok": sources_ok, "source": "sim",
            "maint_margin_usd": mm, "margin_ratio": ratio})

    def apply_funding(self, ts: int, rates: dict[str, float]) -> list[VenueUpdate]:
        """Settle funding on every open position at ``rates`` (the config's default where missing)."""
        default = self.cfg.runtime.sim.default_funding_rate
        return self.settle_funding(ts, [Settlement(s, ts // 1_000_000, rates.get(s, default), None, "default")
                                        for s in self.symbols])

    def settle_funding(self, ts: int, due: list[Settlement]) -> list[VenueUpdate]:
        """Settle each due settlement on its symbol's open position: ``-qty * mark * rate``.

        The mark is the settlement's own (the data's row) where it has one, else the venue's.
        Longs pay when the rate is positive.
        """
        out = []
        for st in due:
            s = st.symbol
            q = self.pos[s][0]
            if not q:
                continue
            m = st.mark if st.mark is not None else self.mark.get(s, self.pos[s][1])
            amount = -q * m * st.rate
            self.wallet += amount
            self.funding += amount
            if s in self.margin.isolated:
                self.margin.iso_funding[s] += amount
            out.append(VenueUpdate(FundingApplied, ACCOUNT, ts, {
                "symbol": s, "rate": st.rate, "mark_price": m, "position_qty": q, "amount_usd": amount,
                "source": st.source, "funding_time_ms": st.time_ms}))
        return out
