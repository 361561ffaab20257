"""A loopback fake of Binance USD-M futures (REST + websockets) for the real connector.

``FakeBinance(...).start()`` serves, on 127.0.0.1 in its own thread and event loop:

* REST ``/fapi/...`` - time, exchangeInfo, klines, premiumIndex, v3 account/balance/
  positionRisk, openOrders, order (POST/GET/DELETE), userTrades, listenKey. Signed
  calls are checked like Binance does (``X-MBX-APIKEY`` + HMAC-SHA256 ``signature``).
* websockets ``/market/ws``, ``/public/ws``, ``/private/ws`` (and the unrouted ``/ws``)
  answering ``SUBSCRIBE`` and pushing klines and mark prices (``/market``), book
  tickers (``/public``) and user data for a subscribed listen key (``/private``).

Use ``fake.rest_url`` as ``BINANCE_BASE_URL`` and ``fake.stream_url`` as
``BINANCE_STREAM_URL``. The market moves one candle per ``step()`` (or on its own with
``autorun(seconds)``). Faults to script: ``inject(route, text)`` (a raw frame),
``drop(route)`` (server closes the sockets), ``refuse(route)`` (new sockets refused),
``rate_limit(n, status, retry_after)`` (the next n REST calls answered 429/418),
``fail(n, status, after=...)`` (5xx, optionally after the work was done).
Every REST request is logged in ``fake.requests`` with its arrival time.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets as _secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.binance_exchange import ApiError, Exchange

ROUTES = ("market", "public", "private", "")
WEEK_MS = 7 * 86_400_000
TIME_FAULT = web.RequestKey("time_fault", bool)  # this request is refused -1021
SIGNED = {"/fapi/v3/account", "/fapi/v3/balance", "/fapi/v3/positionRisk", "/fapi/v1/openOrders",
          "/fapi/v1/order", "/fapi/v1/userTrades", "/fapi/v1/income"}


@dataclass
class Req:
    at: float  # time.monotonic() on arrival
    method: str
    path: str
    query: str
    status: int = 200


class FakeBinance:
    """Binance USD-M on loopback; the exchange state is ``fake.ex`` (see ``binance_exchange``)."""

    def __init__(self, symbols: list[str] | None = None, *, interval: str = "1m", history: int = 200,
                 api_key: str = "fake-api-key-0123456789", api_secret: str = "fake-api-secret-9876543210",
                 **exchange_kw: Any):
        self.ex = Exchange(list(symbols or ["BTCUSDT", "ETHUSDT"]), interval=interval, history=history,
                           **exchange_kw)
        self.api_key, self.api_secret = api_key, api_secret
        self.requests: list[Req] = []
        self.listen_keys: list[str] = []
        self.sockets: dict[str, list[tuple[web.WebSocketResponse, set[str]]]] = {r: [] for r in ROUTES}
        self.connections: dict[str, int] = {r: 0 for r in ROUTES}
        self.subscriptions: list[tuple[str, list[str]]] = []
        self._refused: set[str] = set()
        self._limits: list[tuple[int, float, str]] = []  # (status, retry_after, path prefix) for the next calls
        self._faults: list[tuple[int, bool, str]] = []  # (status, after the work?, path prefix)
        self._time_faults = 0  # next N signed requests refused -1021 (timestamp outside recvWindow)
        self.order_delay_s = 0.0  # a slow order endpoint: POST/DELETE /fapi/v1/order answer this late
        # A careless upstream: error messages echo the caller's API key as given here
        # (a function of the received key, e.g. lowercased, base64, URL-encoded, cut).
        self.echo_key: Any = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="fake-binance")
        self._runner: web.AppRunner | None = None
        self._auto: threading.Thread | None = None
        self._auto_stop = threading.Event()
        self.port = 0

    # ------------------------------------------------------------------ lifecycle

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def stream_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """The environment that points the adapter here."""
        return {"BINANCE_BASE_URL": self.rest_url, "BINANCE_STREAM_URL": self.stream_url,
                "BINANCE_API_KEY": self.api_key, "BINANCE_API_SECRET": self.api_secret, "DRY_RUN": "0"}

    def start(self) -> FakeBinance:
        self._thread.start()
        self._call(self._start())
        return self

    def stop(self) -> None:
        self._auto_stop.set()
        if self._auto is not None:
            self._auto.join(timeout=10)
        if self._runner is not None:
            self._call(self._close_all())
            self._call(self._runner.cleanup())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def __enter__(self) -> FakeBinance:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, coro: Any, timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/fapi/{tail:.*}", self._rest)
        for route in ROUTES:
            app.router.add_get(f"/{route}/ws" if route else "/ws", self._ws_handler(route))
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    # ------------------------------------------------------------------ scripting (test thread)

    def step(self, n: int = 1, silent: bool = False) -> None:
        """Close ``n`` candles per symbol, pushing the frames Binance would push
        (``silent``: push nothing, as if the frames were lost on a live socket)."""
        for _ in range(n):
            if silent:
                self.run(lambda ex: ex.close_candles())
            else:
                self._call(self._step())

    def autorun(self, every_s: float) -> None:
        """Step on a background thread until ``stop()``."""
        def run() -> None:
            while not self._auto_stop.wait(every_s):
                self.step()
        self._auto = threading.Thread(target=run, daemon=True, name="fake-binance-auto")
        self._auto.start()

    def inject(self, route: str, text: str) -> None:
        """Send a raw text frame to every socket of ``route``."""
        self._call(self._send_raw(route, text))

    def drop(self, route: str) -> None:
        """The server closes every socket of ``route``."""
        self._call(self._close_route(route))

    def refuse(self, route: str, on: bool = True) -> None:
        """Refuse (HTTP 503) new websocket connections on ``route`` while ``on``."""
        (self._refused.add if on else self._refused.discard)(route)

    def rate_limit(self, n: int = 1, status: int = 429, retry_after: float = 1.0, *, path: str = "/fapi") -> None:
        """Answer the next ``n`` REST requests (under ``path``) with ``status`` and ``Retry-After``."""
        self._limits.extend([(status, retry_after, path)] * n)

    def settle_funding(self, rate: float = 0.0001) -> None:
        """A funding settlement: wallet changes, the user stream hears ACCOUNT_UPDATE FUNDING_FEE."""
        async def go() -> None:
            await self._push_user(self.ex.settle_funding(rate))
        self._call(go())

    def fail(self, n: int = 1, status: int = 503, *, after: bool = False, path: str = "/fapi") -> None:
        """Answer the next ``n`` requests under ``path`` with ``status``; ``after``: do the
        work first (an order is placed) and lose the answer."""
        self._faults.extend([(status, after, path)] * n)

    def time_faults(self, n: int = 1) -> None:
        """Refuse the next ``n`` signed requests with -1021, as Binance does when the
        request's timestamp is outside recvWindow of its clock."""
        self._time_faults += n

    def connected(self, route: str) -> int:
        return len(self.sockets[route])

    def run(self, fn: Any) -> Any:
        """Run ``fn(exchange)`` on the server thread (to change state safely)."""
        async def go() -> Any:
            return fn(self.ex)
        return self._call(go())

    # ------------------------------------------------------------------ server side

    async def _step(self) -> None:
        ex = self.ex
        forming = {s: ex.kline_frame(s, ex.last(s), closed=False) for s in ex.symbols}
        for s in ex.symbols:
            await self._push("market", f"{s.lower()}@kline_{ex.interval}", forming[s])
        closed = ex.close_candles()
        for s, c in zip(ex.symbols, closed, strict=True):  # the book has moved when the candle closes
            await self._push("public", f"{s.lower()}@bookTicker", ex.book_frame(s))
            await self._push("market", f"{s.lower()}@markPrice@1s", ex.mark_frame(s))
            await self._push("market", f"{s.lower()}@kline_{ex.interval}", ex.kline_frame(s, c, closed=True))
        for event in ex.sweep():
            await self._push_user(event)

    async def _push(self, route: str, stream: str, payload: dict[str, Any]) -> None:
        text = json.dumps(payload)
        for routes in (route, ""):
            for ws, subs in list(self.sockets[routes]):
                if stream in subs and not ws.closed:
                    await ws.send_str(text)

    async def _push_user(self, payload: dict[str, Any]) -> None:
        text = json.dumps(payload)
        live = self.listen_keys[-1:] if self.listen_keys else []
        for ws, subs in list(self.sockets["private"]):
            if subs & set(live) and not ws.closed:
                await ws.send_str(text)

    async def _send_raw(self, route: str, text: str) -> None:
        for ws, _subs in list(self.sockets[route]):
            if not ws.closed:
                await ws.send_str(text)

    async def _close_route(self, route: str) -> None:
        for ws, _subs in list(self.sockets[route]):
            await ws.close(code=1001, message=b"going away")

    async def _close_all(self) -> None:
        for route in ROUTES:
            await self._close_route(route)

    def _ws_handler(self, route: str) -> Any:
        async def handler(request: web.Request) -> web.StreamResponse:
            if route in self._refused:
                return web.Response(status=503, text="refused by test")
            ws = web.WebSocketResponse(heartbeat=None)
            await ws.prepare(request)
            subs: set[str] = set()
            entry = (ws, subs)
            self.sockets[route].append(entry)
            self.connections[route] += 1
            try:
                async for msg in ws:
                    if msg.type != WSMsgType.TEXT:
                        continue
                    try:
                        req = json.loads(msg.data)
                        params = list(req.get("params") or [])
                    except (ValueError, AttributeError):
                        await ws.send_str(json.dumps({"error": {"code": 2, "msg": "Invalid request"}, "id": None}))
                        continue
                    if req.get("method") == "SUBSCRIBE":
                        subs.update(params)
                        self.subscriptions.append((route, params))
                    await ws.send_str(json.dumps({"result": None, "id": req.get("id")}))
            finally:
                self.sockets[route].remove(entry)
            return ws
        return handler

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        rec = Req(time.monotonic(), request.method, request.path, request.query_string)
        self.requests.append(rec)
        if self._limits and request.path.startswith(self._limits[0][2]):
            status, retry, _ = self._limits.pop(0)
            rec.status = status
            msg = ("Too many requests; current limit of IP(127.0.0.1) is 2400 requests per minute."
                   if status == 429 else "Way too many requests; IP(127.0.0.1) banned until 4102444800000.")
            return web.json_response({"code": -1003, "msg": msg}, status=status,
                                     headers={"Retry-After": f"{retry:g}"})
        fault = self._faults.pop(0) if self._faults and request.path.startswith(self._faults[0][2]) else None
        if self._time_faults > 0 and request.path in SIGNED and (fault is None or fault[1]):
            self._time_faults -= 1  # taken on arrival: a request answered late (slow endpoint) is not the next one
            request[TIME_FAULT] = True
        if fault is not None and not fault[1]:
            rec.status = fault[0]
            echo = "" if self.echo_key is None else " " + self.echo_key(request.headers.get("X-MBX-APIKEY", ""))
            return web.Response(status=fault[0], text="Service Unavailable" + echo)
        if self.order_delay_s and request.path == "/fapi/v1/order" and request.method in ("POST", "DELETE"):
            await asyncio.sleep(self.order_delay_s)
        try:
            body = self._answer(request)
        except ApiError as err:
            rec.status = err.status
            msg = err.msg if self.echo_key is None else f"{err.msg} {self.echo_key(request.headers.get('X-MBX-APIKEY', ''))}"
            return web.json_response({"code": err.code, "msg": msg}, status=err.status)
        if fault is not None:  # done, but the answer is lost
            rec.status = fault[0]
            return web.Response(status=fault[0], text="Service Unavailable")
        return web.json_response(body)

    def _check_auth(self, request: web.Request, signed: bool) -> dict[str, str]:
        if request.headers.get("X-MBX-APIKEY") != self.api_key:
            raise ApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")
        q = request.query_string
        params = {k: v for k, v in request.query.items()}
        if signed:
            payload, sep, sig = q.rpartition("&signature=")
            good = hmac.new(self.api_secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
            if not sep or not hmac.compare_digest(sig, good):
                raise ApiError(400, -1022, "Signature for this request is not valid.")
            params.pop("signature", None)
            if request.get(TIME_FAULT):
                raise ApiError(400, -1021, "Timestamp for this request is outside of the recvWindow.")
        return params

    def _answer(self, request: web.Request) -> Any:
        ex, path, m = self.ex, request.path, request.method
        q = {k: v for k, v in request.query.items()}
        if path == "/fapi/v1/time":
            return {"serverTime": ex.clock_ms}
        if path == "/fapi/v1/exchangeInfo":
            return ex.exchange_info_json()
        if path == "/fapi/v1/klines":
            if q.get("symbol") not in ex.candles:
                raise ApiError(400, -1121, "Invalid symbol.")
            start, end = q.get("startTime"), q.get("endTime")
            return ex.kline_rows(q["symbol"], int(start) if start else None, int(end) if end else None,
                                 int(q.get("limit", "500")))
        if path == "/fapi/v1/listenKey":
            self._check_auth(request, signed=False)
            if m == "POST":
                self.listen_keys.append(_secrets.token_hex(16))
                return {"listenKey": self.listen_keys[-1]}
            if q.get("listenKey") not in self.listen_keys:
                raise ApiError(400, -1125, "This listenKey does not exist.")
            return {}
        if path not in SIGNED:
            raise ApiError(404, -1000, f"fake Binance does not serve {m} {path}")
        p = self._check_auth(request, signed=True)
        if path == "/fapi/v3/account":
            return ex.account_json()
        if path == "/fapi/v3/balance":
            return [ex.account_json()["assets"][0] | {"asset": "USDT", "balance": f"{ex.balance}"}]
        if path == "/fapi/v3/positionRisk":
            return ex.position_risk_json()
        if path == "/fapi/v1/openOrders":
            return [ex.order_json(o) for o in ex.orders.values() if o.status in ("NEW", "PARTIALLY_FILLED")]
        if path == "/fapi/v1/income":
            start = int(p.get("startTime", "0"))
            return [r for r in ex.income if r["time"] >= start
                    and p.get("incomeType", r["incomeType"]) == r["incomeType"]]
        if path == "/fapi/v1/userTrades":
            return self._user_trades(p)
        if m == "POST":
            order, events = ex.place(p)
        elif m == "DELETE":
            order, events = ex.cancel(p.get("origClientOrderId", ""))
        else:
            found = ex.orders.get(p.get("origClientOrderId", "")) or next(
                (o for o in ex.orders.values() if str(o.order_id) == p.get("orderId")), None)
            if found is None:
                raise ApiError(400, -2013, "Order does not exist.")
            return ex.order_json(found)
        # the user stream hears about it after this answer is built, in order
        asyncio.get_running_loop().create_task(self._push_users(events))
        return ex.order_json(order)

    def _user_trades(self, p: dict[str, str]) -> list[dict[str, Any]]:
        """As Binance: ``fromId`` takes no time; a window spans at most 7 days (a ``startTime``
        alone means the 7 days after it, none: the last 7 days); at most 1000 rows (500 unless asked)."""
        start, end, from_id = p.get("startTime"), p.get("endTime"), p.get("fromId")
        if from_id is not None and (start is not None or end is not None):
            raise ApiError(400, -1128, "Combination of optional parameters invalid.")
        limit = min(int(p.get("limit", "500")), 1000)
        if from_id is not None:
            return self.ex.trades_json(p.get("symbol", ""), 0, int(from_id), limit)
        if start is not None and end is not None and int(end) - int(start) > WEEK_MS:
            raise ApiError(400, -1127, "More than 7 days between startTime and endTime.")
        lo = int(start) if start is not None else (int(end) - WEEK_MS if end is not None
                                                   else self.ex.clock_ms - WEEK_MS)
        hi = int(end) if end is not None else lo + WEEK_MS
        return self.ex.trades_json(p.get("symbol", ""), lo, 0, limit, end=hi)

    async def _push_users(self, events: list[dict[str, Any]]) -> None:
        for e in events:
            await self._push_user(e)


def main() -> None:
    """``python -m tests.fakes.binance_venue``: serve a fake Binance until Ctrl-C (manual runs)."""
    import argparse

    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument("--symbols", default="BTCUSDT,ETHUSDT")
    p.add_argument("--interval", default="5m")
    p.add_argument("--history", type=int, default=300)
    p.add_argument("--every", type=float, default=0.2, help="seconds per candle (default 0.2)")
    a = p.parse_args()
    fake = FakeBinance(a.symbols.split(","), interval=a.interval, history=a.history).start()
    fake.autorun(a.every)
    for k, v in {**fake.env(), "BINANCE_CLOCK": "venue", "BINANCE_TICK_INTERVAL_MS": "0"}.items():
        print(f"export {k}={v}")
    print("# serving; Ctrl-C to stop", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
