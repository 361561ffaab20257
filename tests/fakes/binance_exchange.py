"""The exchange behind the loopback fake Binance: market path, matching, account.

Pure state, no I/O: ``tests.fakes.binance_venue`` serves it over HTTP and websockets.
Payloads are built from Binance's official examples in ``shared/binance/`` (the
``ws_*.json`` / ``rest_*.json`` templates), with only the values changed, so the
adapter under test parses exactly the documented shapes.

The market is synthetic and deterministic: one candle per ``step``; time is the
candles' own time (``now_ms`` = open time of the forming candle).
"""

from __future__ import annotations

import copy
import json
import math
import random
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SHARED = Path(__file__).resolve().parents[3] / "shared" / "binance"
if not SHARED.exists():  # running from another checkout layout
    SHARED = Path("/work/shared/binance")

INTERVAL_MS = {"1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
               "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000, "1d": 86_400_000}
SPECS = {  # symbol -> (start price, tick size, step size, min qty, min notional)
    "BTCUSDT": (60000.0, 0.1, 0.001, 0.001, 100.0),
    "ETHUSDT": (3000.0, 0.01, 0.001, 0.001, 20.0),
    "SOLUSDT": (150.0, 0.01, 1.0, 1.0, 5.0),
}
POST_ONLY_MSG = "Due to the order could not be executed as maker, the Post Only order will be rejected."


def template(name: str) -> Any:
    return json.loads((SHARED / name).read_text())


def fmt(x: float) -> str:
    return f"{x:.8f}".rstrip("0").rstrip(".") or "0"


class ApiError(Exception):
    """A Binance error answer: HTTP status + ``{"code", "msg"}``."""

    def __init__(self, status: int, code: int, msg: str):
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


@dataclass
class Candle:
    open_time: int
    close_time: int
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass
class Order:
    order_id: int
    client_id: str
    symbol: str
    side: str
    type: str
    tif: str
    qty: float
    price: float
    reduce_only: bool
    status: str = "NEW"
    executed: float = 0.0
    avg: float = 0.0
    update_ms: int = 0


@dataclass
class Exchange:
    """Market, orders and one USDT-margined account in one-way mode."""

    symbols: list[str]
    interval: str = "1m"
    start_ms: int = 1751328000000
    history: int = 200
    seed: int = 7
    balance: float = 100_000.0
    maker_fee: float = 0.0002
    taker_fee: float = 0.0005
    drift: float = 0.0005  # per-candle log drift: a trend the strategy can follow
    candles: dict[str, list[Candle]] = field(default_factory=dict)
    orders: dict[str, Order] = field(default_factory=dict)
    positions: dict[str, list[float]] = field(default_factory=dict)  # symbol -> [qty, entry]
    trades: list[dict[str, Any]] = field(default_factory=list)
    income: list[dict[str, Any]] = field(default_factory=list)
    next_id: int = 1000
    force_post_only_rejects: int = 0  # refuse the next N post-only orders (-5022) as a fast market would
    last_tx: int = 0  # time of the last transaction (ms); each one strictly after the one before
    pos_update_ms: dict[str, int] = field(default_factory=dict)  # symbol -> last position change
    account_first: bool = True  # Binance pushes ACCOUNT_UPDATE before the ORDER_TRADE_UPDATE of a fill
    partial_fills: bool = False  # a resting order that trades through fills in two trades (half, then rest)
    specs: dict[str, tuple[float, float, float, float, float]] = field(default_factory=dict)  # filter overrides
    scripted: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # symbol -> next (close, volume)

    def spec(self, symbol: str) -> tuple[float, float, float, float, float]:
        """(start price, tick, step, min qty, min notional) - the exchange's filters."""
        return self.specs.get(symbol) or SPECS.get(symbol, (100.0, 0.01, 0.001, 0.001, 5.0))

    def set_filters(self, symbol: str, tick: float | None = None, step: float | None = None) -> None:
        """Change a symbol's tick/step (as Binance does now and then); orders off the new grid
        are refused -4014 (price) / -1111 (quantity)."""
        base, t, st, mq, mn = self.spec(symbol)
        self.specs[symbol] = (base, tick or t, step or st, max(mq, step or st), mn)

    def __post_init__(self) -> None:
        self.ms = INTERVAL_MS[self.interval]
        self.rng = {s: random.Random(self.seed * 1000 + zlib.crc32(s.encode())) for s in self.symbols}
        for s in self.symbols:
            self.candles[s] = []
            self.positions[s] = [0.0, 0.0]
        for _ in range(self.history):
            self.close_candles()

    # ------------------------------------------------------------------ market

    @property
    def now_ms(self) -> int:
        return self.start_ms + len(self.candles[self.symbols[0]]) * self.ms

    @property
    def clock_ms(self) -> int:
        """The exchange's clock: candle time, or later if transactions happened since."""
        return max(self.now_ms, self.last_tx)

    def tick(self) -> int:
        """The time of a new transaction: strictly after every earlier one (as Binance's
        millisecond clock moves between trades), so readings order against fills."""
        self.last_tx = max(self.now_ms, self.last_tx + 1)
        return self.last_tx

    def last(self, symbol: str) -> Candle:
        return self.candles[symbol][-1]

    def close_candles(self) -> list[Candle]:
        """Close the forming candle of every symbol (one step of synthetic time)."""
        out = []
        for s in self.symbols:
            base, tick = self.spec(s)[:2]
            cs = self.candles[s]
            o = cs[-1].close if cs else base
            r = self.rng[s]
            k = len(cs)
            ret = self.drift + 0.004 * math.sin(k / 9.0) * 0.3 + r.gauss(0, 0.002)
            c = round(round(o * math.exp(ret) / tick) * tick, 8)
            h = round(max(o, c) * (1 + abs(r.gauss(0, 0.001))), 8)
            lo = round(min(o, c) * (1 - abs(r.gauss(0, 0.001))), 8)
            vol = round(100 + r.random() * 50, 3)
            if self.scripted.get(s):  # a test's own move: straight from the open to this close
                c, vol = self.scripted[s].pop(0)
                h, lo = max(o, c), min(o, c)
            t0 = self.start_ms + k * self.ms
            candle = Candle(t0, t0 + self.ms - 1, o, h, lo, c, vol)
            cs.append(candle)
            out.append(candle)
        return out

    def book(self, symbol: str) -> tuple[float, float]:
        tick = self.spec(symbol)[1]
        c = self.last(symbol).close
        return round(c - tick, 8), round(c + tick, 8)

    def kline_rows(self, symbol: str, start: int | None, end: int | None, limit: int) -> list[list[Any]]:
        rows = [c for c in self.candles[symbol] if (start is None or c.open_time >= start)
                and (end is None or c.open_time <= end)]
        forming = Candle(self.now_ms, self.now_ms + self.ms - 1, self.last(symbol).close,
                         self.last(symbol).close, self.last(symbol).close, self.last(symbol).close, 0.0)
        if (start is None or forming.open_time >= start) and (end is None or forming.open_time <= end):
            rows.append(forming)  # Binance includes the candle still forming
        rows = rows[:limit] if start is not None else rows[-limit:]
        out = []
        for c in rows:
            row = copy.deepcopy(template("rest_klines.json")[0])
            row[0], row[6] = c.open_time, c.close_time
            row[1:6] = [fmt(c.open), fmt(c.high), fmt(c.low), fmt(c.close), fmt(c.volume)]
            out.append(row)
        return out

    # ------------------------------------------------------------------ frames

    def kline_frame(self, symbol: str, c: Candle, closed: bool) -> dict[str, Any]:
        f = template("ws_kline.json")
        f["E"], f["s"] = c.close_time + 1 if closed else c.open_time + self.ms // 2, symbol
        k = f["k"]
        k.update({"t": c.open_time, "T": c.close_time, "s": symbol, "i": self.interval, "o": fmt(c.open),
                  "c": fmt(c.close), "h": fmt(c.high), "l": fmt(c.low), "v": fmt(c.volume), "x": closed})
        return f

    def book_frame(self, symbol: str) -> dict[str, Any]:
        bid, ask = self.book(symbol)
        f = template("ws_bookTicker.json")
        f.update({"E": self.now_ms, "T": self.now_ms, "s": symbol, "b": fmt(bid), "B": "5", "a": fmt(ask), "A": "5"})
        return f

    def mark_frame(self, symbol: str) -> dict[str, Any]:
        f = template("ws_markPriceUpdate.json")
        c = self.last(symbol).close
        f.update({"E": self.now_ms, "s": symbol, "p": fmt(c), "i": fmt(c), "P": fmt(c), "r": "0.0001",
                  "T": self.now_ms + 8 * 3_600_000})
        return f

    # ------------------------------------------------------------------ orders

    def place(self, p: dict[str, str]) -> tuple[Order, list[dict[str, Any]]]:
        """POST /fapi/v1/order; returns the order and the user-stream events it causes."""
        sym, side, typ = p.get("symbol", ""), p.get("side", ""), p.get("type", "")
        if sym not in self.candles:
            raise ApiError(400, -1121, "Invalid symbol.")
        qty, price = float(p.get("quantity", "0")), float(p.get("price", "0") or 0)
        tif = p.get("timeInForce", "GTC" if typ == "LIMIT" else "")
        cid = p.get("newClientOrderId") or f"fake{self.next_id}"
        if qty <= 0:
            raise ApiError(400, -1102, "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed.")
        _, tick, step, _mq, _mn = self.spec(sym)
        if typ == "LIMIT" and abs(price / tick - round(price / tick)) > 1e-6:
            raise ApiError(400, -4014, "Price not increased by tick size.")
        if abs(qty / step - round(qty / step)) > 1e-6:
            raise ApiError(400, -1111, "Precision is over the maximum defined for this asset.")
        if cid in self.orders and self.orders[cid].status in ("NEW", "PARTIALLY_FILLED"):
            raise ApiError(400, -4116, "ClientOrderId is duplicated.")
        reduce = p.get("reduceOnly", "false").lower() == "true"
        pos = self.positions[sym][0]
        if reduce and (pos == 0 or (pos > 0) == (side == "BUY")):
            raise ApiError(400, -2022, "ReduceOnly Order is rejected.")
        bid, ask = self.book(sym)
        crosses = typ == "MARKET" or (price >= ask if side == "BUY" else price <= bid)
        if typ == "LIMIT" and tif == "GTX" and (crosses or self.force_post_only_rejects > 0):
            self.force_post_only_rejects = max(0, self.force_post_only_rejects - 1)
            raise ApiError(400, -5022, POST_ONLY_MSG)
        self.next_id += 1
        o = Order(self.next_id, cid, sym, side, typ, tif, qty, price, reduce, update_ms=self.tick())
        self.orders[cid] = o
        events = [self.order_event(o, "NEW")]
        if crosses:
            events += self.fill(o, ask if side == "BUY" else bid, maker=False)
        elif tif == "IOC":
            o.status = "EXPIRED"
            events.append(self.order_event(o, "EXPIRED"))
        return o, events

    def cancel(self, cid: str) -> tuple[Order, list[dict[str, Any]]]:
        o = self.orders.get(cid)
        if o is None or o.status not in ("NEW", "PARTIALLY_FILLED"):
            raise ApiError(400, -2011, "Unknown order sent.")
        o.status, o.update_ms = "CANCELED", self.tick()
        return o, [self.order_event(o, "CANCELED")]

    def sweep(self) -> list[dict[str, Any]]:
        """Fill resting orders the last candle traded through (as maker, at their price)."""
        events: list[dict[str, Any]] = []
        for cid in sorted(self.orders):
            o = self.orders[cid]
            if o.status not in ("NEW", "PARTIALLY_FILLED") or o.type != "LIMIT":
                continue
            c = self.last(o.symbol)
            if (o.side == "BUY" and c.low < o.price) or (o.side == "SELL" and c.high > o.price):
                step = self.spec(o.symbol)[2]
                half = math.floor((o.qty - o.executed) / 2 / step) * step
                part = round(half, 10) if self.partial_fills and o.status == "NEW" and half > 0 else None
                events += self.fill(o, o.price, maker=True, qty=part)
        return events

    def fill(self, o: Order, price: float, maker: bool, qty: float | None = None) -> list[dict[str, Any]]:
        """One trade of ``o`` (``qty``: part of it, else all that is left)."""
        pos = self.positions[o.symbol]
        sign = 1.0 if o.side == "BUY" else -1.0
        qty = round(o.qty - o.executed, 10) if qty is None else qty
        realized = 0.0
        new = pos[0] + sign * qty
        if pos[0] == 0 or (pos[0] > 0) == (sign > 0):
            pos[1] = (abs(pos[0]) * pos[1] + qty * price) / abs(new)
        else:
            realized = min(qty, abs(pos[0])) * (price - pos[1]) * (1.0 if pos[0] > 0 else -1.0)
            if abs(new) > 1e-12 and (new > 0) != (pos[0] > 0):
                pos[1] = price
        pos[0] = 0.0 if abs(new) < 1e-12 else round(new, 10)
        if pos[0] == 0:
            pos[1] = 0.0
        fee = qty * price * (self.maker_fee if maker else self.taker_fee)
        self.balance += realized - fee
        o.avg = (o.avg * o.executed + price * qty) / (o.executed + qty)
        o.executed = round(o.executed + qty, 10)
        o.status = "FILLED" if o.executed >= o.qty - 1e-12 else "PARTIALLY_FILLED"
        o.update_ms = self.tick()
        self.pos_update_ms[o.symbol] = o.update_ms
        self.next_id += 1
        trade = {"id": self.next_id, "orderId": o.order_id, "symbol": o.symbol, "side": o.side,
                 "price": price, "qty": qty, "realizedPnl": realized, "commission": fee,
                 "maker": maker, "time": o.update_ms, "posAfter": pos[0]}  # posAfter: for tests, not served
        self.trades.append(trade)
        ev = self.order_event(o, "TRADE", last_qty=qty, last_price=price, fee=fee, maker=maker,
                              realized=realized, trade_id=trade["id"])
        acct = self.account_event(o.symbol)
        return [acct, ev] if self.account_first else [ev, acct]

    def order_event(self, o: Order, x: str, *, last_qty: float = 0.0, last_price: float = 0.0,
                    fee: float = 0.0, maker: bool = False, realized: float = 0.0,
                    trade_id: int = 0) -> dict[str, Any]:
        f = template("ws_ORDER_TRADE_UPDATE.json")
        f["E"] = f["T"] = o.update_ms
        f["o"].update({
            "s": o.symbol, "c": o.client_id, "S": o.side, "o": o.type, "ot": o.type, "f": o.tif or "GTC",
            "q": fmt(o.qty), "p": fmt(o.price), "ap": fmt(o.avg), "sp": "0", "x": x, "X": o.status,
            "i": o.order_id, "l": fmt(last_qty), "z": fmt(o.executed), "L": fmt(last_price),
            "N": "USDT", "n": fmt(fee), "T": o.update_ms, "t": trade_id, "m": maker, "R": o.reduce_only,
            "ps": "BOTH", "rp": fmt(realized), "cp": False, "AP": "0", "cr": "0", "pm": "NONE", "V": "NONE"})
        return f

    def account_event(self, symbol: str) -> dict[str, Any]:
        f = template("ws_ACCOUNT_UPDATE.json")
        f["E"] = f["T"] = self.pos_update_ms.get(symbol, self.clock_ms)
        qty, entry = self.positions[symbol]
        up = qty * (self.last(symbol).close - entry) if qty else 0.0
        f["a"] = {"m": "ORDER",
                  "B": [{"a": "USDT", "wb": fmt(self.balance), "cw": fmt(self.balance), "bc": "0"}],
                  "P": [{"s": symbol, "pa": fmt(qty), "ep": fmt(entry), "bep": fmt(entry), "cr": "0",
                         "up": fmt(up), "mt": "cross", "iw": "0", "ps": "BOTH"}]}
        return f

    def settle_funding(self, rate: float) -> dict[str, Any]:
        """Funding on every open position (longs pay a positive rate); the ACCOUNT_UPDATE it pushes."""
        total = 0.0
        for s, (q, _e) in sorted(self.positions.items()):
            if not q:
                continue
            amount = round(-q * self.last(s).close * rate, 8)
            total += amount
            self.next_id += 1
            self.income.append({"symbol": s, "incomeType": "FUNDING_FEE", "income": fmt(amount), "asset": "USDT",
                                "info": "FUNDING_FEE", "time": self.now_ms, "tranId": self.next_id, "tradeId": ""})
        self.balance += total
        f = template("ws_ACCOUNT_UPDATE.json")
        f["E"] = f["T"] = self.tick()
        f["a"] = {"m": "FUNDING_FEE", "P": [],
                  "B": [{"a": "USDT", "wb": fmt(self.balance), "cw": fmt(self.balance), "bc": fmt(total)}]}
        return f

    # ------------------------------------------------------------------ account REST

    def order_json(self, o: Order) -> dict[str, Any]:
        r = template("rest_newOrder.json")
        r.update({"clientOrderId": o.client_id, "orderId": o.order_id, "symbol": o.symbol, "side": o.side,
                  "positionSide": "BOTH", "type": o.type, "origType": o.type, "timeInForce": o.tif or "GTC",
                  "price": fmt(o.price), "origQty": fmt(o.qty), "executedQty": fmt(o.executed),
                  "cumQty": fmt(o.executed), "cumQuote": fmt(o.executed * o.avg), "avgPrice": fmt(o.avg),
                  "status": o.status, "reduceOnly": o.reduce_only, "stopPrice": "0",
                  "updateTime": o.update_ms, "goodTillDate": 0})
        return r

    def upnl(self) -> float:
        return sum(q * (self.last(s).close - e) for s, (q, e) in sorted(self.positions.items()) if q)

    def account_json(self) -> dict[str, Any]:
        r = template("rest_account_v3.json")
        wb, up = self.balance, self.upnl()
        asset = dict(r["assets"][0])
        asset.update({"asset": "USDT", "walletBalance": fmt(wb), "unrealizedProfit": fmt(up),
                      "marginBalance": fmt(wb + up), "crossWalletBalance": fmt(wb),
                      "availableBalance": fmt(wb + up), "maxWithdrawAmount": fmt(wb)})
        r.update({"totalWalletBalance": fmt(wb), "totalUnrealizedProfit": fmt(up),
                  "totalMarginBalance": fmt(wb + up), "totalCrossWalletBalance": fmt(wb),
                  "availableBalance": fmt(wb + up), "maxWithdrawAmount": fmt(wb), "assets": [asset]})
        r["positions"] = []
        for s, (q, _e) in sorted(self.positions.items()):
            if q:
                p = dict(template("rest_account_v3.json")["positions"][0])
                p.update({"symbol": s, "positionAmt": fmt(q), "notional": fmt(q * self.last(s).close)})
                r["positions"].append(p)
        return r

    def position_risk_json(self) -> list[dict[str, Any]]:
        out = []
        for s, (q, e) in sorted(self.positions.items()):
            if not q:
                continue
            mark = self.last(s).close
            p = template("rest_positionRisk.json")[0]
            notional = q * mark
            p.update({"symbol": s, "positionAmt": fmt(q), "entryPrice": fmt(e), "breakEvenPrice": fmt(e),
                      "markPrice": fmt(mark), "unRealizedProfit": fmt(q * (mark - e)),
                      "notional": fmt(notional), "positionInitialMargin": fmt(abs(notional) / 5),
                      "initialMargin": fmt(abs(notional) / 5),
                      "updateTime": self.pos_update_ms.get(s, 0)})
            out.append(p)
        return out

    def trades_json(self, symbol: str, start: int, from_id: int = 0, limit: int = 500,
                    end: int | None = None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for t in self.trades:
            if t["symbol"] != symbol or t["time"] < start or t["id"] < from_id or (end is not None and t["time"] > end):
                continue
            if len(out) >= limit:
                break
            r = template("rest_userTrades.json")[0]
            r.update({"id": t["id"], "orderId": t["orderId"], "symbol": symbol, "side": t["side"],
                      "buyer": t["side"] == "BUY", "price": fmt(t["price"]), "qty": fmt(t["qty"]),
                      "quoteQty": fmt(t["price"] * t["qty"]), "realizedPnl": fmt(t["realizedPnl"]),
                      "commission": fmt(t["commission"]), "commissionAsset": "USDT", "maker": t["maker"],
                      "positionSide": "BOTH", "time": t["time"]})
            out.append(r)
        return out

    def exchange_info_json(self) -> dict[str, Any]:
        r = template("rest_exchangeInfo.json")
        base = r["symbols"][0]
        r["serverTime"] = self.now_ms
        r["symbols"] = []
        for s in self.symbols:
            _, tick, step, min_qty, notional = self.spec(s)
            sym = copy.deepcopy(base)
            sym.update({"symbol": s, "pair": s, "baseAsset": s.removesuffix("USDT"), "status": "TRADING"})
            for f in sym["filters"]:
                if f["filterType"] == "PRICE_FILTER":  # the example's bounds are an altcoin's (max 300)
                    f["tickSize"], f["minPrice"], f["maxPrice"] = fmt(tick), fmt(tick), "10000000"
                elif f["filterType"] in ("LOT_SIZE", "MARKET_LOT_SIZE"):
                    f["stepSize"], f["minQty"] = fmt(step), fmt(min_qty)
                elif f["filterType"] == "MIN_NOTIONAL":
                    f["notional"] = fmt(notional)
            r["symbols"].append(sym)
        return r
