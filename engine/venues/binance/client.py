"""The only module that imports ``binance-futures-connector`` (4.2.0).

Moving to the successor SDK (``binance-sdk-derivatives-trading-usds-futures``) means
rewriting this file only. It offers:

* ``BinanceRest`` - the REST calls the venue uses, through ``UMFutures``, behind a
  rate-limit gate: a 429/418 blocks every call until ``Retry-After`` (or an
  exponential backoff) has passed; readers wait it out, order calls fail fast.
  Reads are retried on network errors and 5xx; order calls never are (the venue
  asks the exchange what became of the order instead). Errors become ``RestError``
  with secrets scrubbed.
* ``StreamConn`` - one websocket route through ``UMFuturesWebsocketClient``. The
  connector connects in its constructor, never reconnects and swallows callback
  exceptions, so our callbacks only enqueue raw text; parsing happens on the
  engine's thread. A closed or failed socket enqueues a ``CLOSED`` marker; the
  venue reconnects it with backoff.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import requests
from binance.error import ClientError, Error, ServerError
from binance.um_futures import UMFutures
from binance.websocket.um_futures.websocket_client import UMFuturesWebsocketClient

from engine.venues.binance.env import BinanceEnv, Redactor

CLOSED = object()  # queue marker: the socket of (route, generation) is gone


class _QuietClose(logging.Filter):
    """The connector warns on every close frame, ours included; closes we did not ask
    for are recorded as ``VenueError`` events anyway."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "CLOSE frame received" not in record.getMessage()


logging.getLogger("binance.websocket.websocket_client").addFilter(_QuietClose())
RATE_LIMIT_STATUS = (418, 429)
TIMESTAMP_REFUSED = -1021  # "Timestamp for this request is outside of the recvWindow"
MAX_TIME_RESYNCS = 1  # per call: resync the clock and retry this many times on -1021
READ_RETRIES = 3  # a read that met a network error or a 5xx is tried this many times


class RestError(Exception):
    """A REST call failed. ``status`` 0 = no HTTP answer (network); ``code`` = Binance error code."""

    def __init__(self, endpoint: str, status: int, code: int | None, message: str,
                 retry_after: float | None = None):
        self.endpoint, self.status, self.code, self.message = endpoint, status, code, message
        self.retry_after = retry_after
        super().__init__(f"{endpoint}: HTTP {status} code {code}: {message}")

    @property
    def rate_limited(self) -> bool:
        return self.status in RATE_LIMIT_STATUS


def _retry_after(headers: Any) -> float | None:
    try:
        v = headers.get("Retry-After") if headers is not None else None
        return max(0.0, float(v)) if v is not None else None
    except (TypeError, ValueError):
        return None


class _OffsetUMFutures(UMFutures):  # type: ignore[misc]
    """``UMFutures`` whose signed requests carry local time + the measured server offset."""

    offset_ms = 0

    def sign_request(self, http_method: str, url_path: str, payload: Any = None, special: bool = False) -> Any:
        payload = {} if payload is None else payload
        payload["timestamp"] = int(time.time() * 1000) + self.offset_ms
        query_string = self._prepare_params(payload, special)
        payload["signature"] = self._get_sign(query_string)
        return self.send_request(http_method, url_path, payload, special)


class BinanceRest:
    """REST through ``UMFutures`` with a shared 429/418 gate; notices collect rate-limit events."""

    def __init__(self, env: BinanceEnv, redact: Redactor, *, timeout_s: float = 10.0,
                 max_wait_s: float = 120.0, backoff_base_s: float = 1.0, backoff_max_s: float = 60.0,
                 monotonic: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        key = env.secrets.key or None
        secret = env.secrets.secret or None
        self._client_args: dict[str, Any] = {"key": key, "secret": secret, "base_url": env.rest_url,
                                             "timeout": timeout_s}
        self._local = threading.local()  # one HTTP session per thread: a slow call on one never holds another
        self._clients: list[_OffsetUMFutures] = []
        self._offset_ms = 0
        self.patient = True  # reads wait out a 429/418 and retry 5xx; False once the loop runs (fail fast)
        self._redact = redact
        self._lock = threading.Lock()  # guards the client list only
        self._blocked_until = 0.0
        self._strikes = 0
        self.max_wait_s = max_wait_s
        self.backoff_base_s, self.backoff_max_s = backoff_base_s, backoff_max_s
        self._monotonic, self._sleep = monotonic, sleep
        # (endpoint, status, code, message, retry_after) of every rate-limit answer, for the log
        self.notices: deque[tuple[str, int, int | None, str, float]] = deque()
        self.apply_offset = True  # False against a venue on its own (accelerated) clock
        # (offset_ms, rtt_ms, reason) of every clock sync, for the log
        self.clock_syncs: deque[tuple[int, int, str]] = deque()

    def __repr__(self) -> str:
        return "BinanceRest(<keys hidden>)"

    # ---- the gate

    def blocked_for(self) -> float:
        return max(0.0, self._blocked_until - self._monotonic())

    @property
    def offset_ms(self) -> int:
        return self._offset_ms

    @property
    def _client(self) -> _OffsetUMFutures:
        """This thread's connector client (signing with the current clock offset)."""
        client: _OffsetUMFutures | None = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = _OffsetUMFutures(**self._client_args)
            with self._lock:
                self._clients.append(client)
        client.offset_ms = self._offset_ms
        return client

    def sync_time(self, reason: str) -> int:
        """Measure server time - local time (midpoint of the round trip) and sign with it."""
        t0 = time.time()
        server = self.server_time_ms()
        t1 = time.time()
        offset = int(server - (t0 + t1) * 500)
        if self.apply_offset:
            self._offset_ms = offset
        self.clock_syncs.append((offset, int((t1 - t0) * 1000), reason))
        return offset

    def wait_on_this_thread(self, max_wait_s: float) -> None:
        """Calls made on the calling thread (a worker off the loop) wait out a rate limit up
        to ``max_wait_s`` and retry a 5xx read, even once the loop runs (``patient`` False)."""
        self._local.max_wait_s = max_wait_s

    def _call(self, endpoint: str, method: str, *args: Any, wait: bool = True, **kw: Any) -> Any:
        worker_wait: float | None = getattr(self._local, "max_wait_s", None)
        max_wait = self.max_wait_s if self.patient or worker_wait is None else worker_wait
        wait = wait and (self.patient or worker_wait is not None)
        attempts = 0
        resyncs = 0
        while True:
            left = self.blocked_for()
            if left > 0:
                if not wait or left > max_wait:
                    raise RestError(endpoint, 429, -1003, f"rate limited: no request for {left:.1f}s more", left)
                self._sleep(left)
            attempts += 1
            try:
                out = getattr(self._client, method)(*args, **kw)
                self._strikes = 0
                return out
            except ClientError as exc:
                err = RestError(endpoint, int(exc.status_code), exc.error_code,
                                self._redact(exc.error_message), _retry_after(exc.header))
            except ServerError as exc:
                err = RestError(endpoint, int(exc.status_code), None, self._redact(exc.message)[:500])
            except requests.RequestException as exc:
                err = RestError(endpoint, 0, None, self._redact(f"{type(exc).__name__}: {exc}")[:500])
            except (Error, ValueError, TypeError) as exc:  # connector parameter checks
                err = RestError(endpoint, 0, None, self._redact(f"{type(exc).__name__}: {exc}"))
            if err.code == TIMESTAMP_REFUSED and resyncs < MAX_TIME_RESYNCS and endpoint != "time":
                resyncs += 1
                try:
                    self.sync_time(str(TIMESTAMP_REFUSED))
                except RestError:
                    raise err from None
                continue  # the same request again, signed with the new offset
            if not err.rate_limited:
                if wait and (err.status == 0 or err.status >= 500) and attempts < READ_RETRIES:
                    self._sleep(self.backoff_base_s * 2 ** (attempts - 1) / 2)  # reads are safe to repeat
                    continue
                raise err
            self._strikes += 1
            pause = err.retry_after if err.retry_after is not None else min(
                self.backoff_max_s, self.backoff_base_s * 2 ** (self._strikes - 1))
            err.retry_after = pause
            self._blocked_until = max(self._blocked_until, self._monotonic() + pause)
            self.notices.append((endpoint, err.status, err.code, err.message, pause))
            if not wait or attempts >= 5:
                raise err

    # ---- public market data

    def server_time_ms(self) -> int:
        return int(self._call("time", "time")["serverTime"])

    def exchange_info(self) -> Any:
        return self._call("exchangeInfo", "exchange_info")

    def klines(self, symbol: str, interval: str, start_ms: int | None = None,
               end_ms: int | None = None, limit: int = 1500) -> Any:
        kw: dict[str, Any] = {"limit": limit}
        if start_ms is not None:
            kw["startTime"] = start_ms
        if end_ms is not None:
            kw["endTime"] = end_ms
        return self._call("klines", "klines", symbol, interval, **kw)

    # ---- account (signed)

    def account(self) -> Any:
        return self._call("account", "account")

    def position_risk(self) -> Any:
        return self._call("positionRisk", "get_position_risk")

    def open_orders(self) -> Any:
        return self._call("openOrders", "get_orders")

    def user_trades(self, symbol: str, start_ms: int, from_id: int | None = None,
                    end_ms: int | None = None) -> Any:
        """Binance: ``fromId`` pages by trade id and takes no time; a ``startTime`` (to
        ``endTime``, else the 7 days after it) window spans at most 7 days."""
        if from_id is not None:
            return self._call("userTrades", "get_account_trades", symbol, fromId=from_id, limit=1000)
        if end_ms is not None:
            return self._call("userTrades", "get_account_trades", symbol, startTime=start_ms, endTime=end_ms,
                              limit=1000)
        return self._call("userTrades", "get_account_trades", symbol, startTime=start_ms, limit=1000)

    def funding_income(self, start_ms: int) -> Any:
        return self._call("income", "get_income_history", incomeType="FUNDING_FEE",
                          startTime=start_ms, limit=1000)

    # ---- orders (signed; fail fast while rate limited)

    def new_order(self, **params: Any) -> Any:
        params = dict(params)
        symbol, side, type_ = params.pop("symbol"), params.pop("side"), params.pop("type")
        return self._call("order", "new_order", symbol, side, type_, wait=False, **params)

    def cancel_order(self, symbol: str, client_order_id: str) -> Any:
        return self._call("cancelOrder", "cancel_order", symbol,
                          origClientOrderId=client_order_id, wait=False)

    def query_order(self, symbol: str, client_order_id: str) -> Any:
        return self._call("queryOrder", "query_order", symbol, origClientOrderId=client_order_id)

    def query_order_by_id(self, symbol: str, order_id: int) -> Any:
        return self._call("queryOrder", "query_order", symbol, orderId=order_id)

    # ---- user-data stream key

    def new_listen_key(self) -> str:
        key = str(self._call("listenKey", "new_listen_key")["listenKey"])
        self._redact.add(key)
        return key

    def renew_listen_key(self, listen_key: str) -> None:
        self._call("listenKey", "renew_listen_key", listen_key)

    def close_listen_key(self, listen_key: str) -> None:
        self._call("listenKey", "close_listen_key", listen_key, wait=False)

    def close(self) -> None:
        with self._lock:
            for client in self._clients:
                client.session.close()


class StreamConn:
    """One websocket route; frames go to ``sink`` as ``(route, generation, raw | CLOSED, info)``."""

    def __init__(self, route: str, url: str, sink: queue.Queue[tuple[str, int, Any, str]],
                 streams: Callable[[], list[str]], redact: Redactor):
        self.route, self.url, self._sink, self._streams, self._redact = route, url, sink, streams, redact
        self.generation = 0
        self._client: UMFuturesWebsocketClient | None = None
        self.alive = False
        self.last_frame = time.monotonic()

    def __repr__(self) -> str:
        return f"StreamConn({self.route}, gen={self.generation}, alive={self.alive})"

    def connect(self) -> None:
        """Open a new socket (closing any old one) and subscribe; raises on failure."""
        self.stop()
        self.generation += 1
        gen = self.generation

        def on_message(_sm: Any, raw: Any) -> None:
            self.last_frame = time.monotonic()
            self._sink.put((self.route, gen, raw, ""))

        def on_gone(_sm: Any, err: Any = None) -> None:
            if gen == self.generation:
                self.alive = False
            self._sink.put((self.route, gen, CLOSED, self._redact(err) if err is not None else "closed by server"))

        def on_ping(_sm: Any, *_a: Any) -> None:
            self.last_frame = time.monotonic()

        try:
            self._client = UMFuturesWebsocketClient(
                stream_url=self.url, on_message=on_message, on_close=on_gone, on_error=on_gone,
                on_ping=on_ping, on_pong=on_ping)
        except Exception as exc:
            raise ConnectionError(self._redact(f"{type(exc).__name__}: {exc}")) from None
        self.alive = True
        self.last_frame = time.monotonic()
        streams = self._streams()
        if streams:
            try:
                self._client.subscribe(streams, id=gen)
            except Exception as exc:
                self.alive = False
                raise ConnectionError(self._redact(f"subscribe failed: {type(exc).__name__}: {exc}")) from None

    def stop(self) -> None:
        """Close the current socket without waiting on a dead peer."""
        client, self._client = self._client, None
        self.alive = False
        if client is None:
            return
        sm = client.socket_manager
        try:
            if sm.ws.connected:
                sm.ws.send_close()
        except Exception:
            pass
        sm.join(timeout=2.0)
        if sm.is_alive():
            try:
                sm.ws.abort()
                sm.ws.shutdown()
            except Exception:
                pass
            sm.join(timeout=2.0)
