"""Binance USD-M wire format: venue Structs and strict parsers at the edge.

Binance sends prices and quantities as strings and times in milliseconds. Each
payload is decoded into a frozen venue Struct here (strings -> floats with
``strict=False``, non-finite numbers refused); nothing outside ``engine/venues``
sees a raw payload. Every refusal is a ``WireError`` naming the field (a dotted
path such as ``o.L`` or ``[3][4]``; ``$`` is the payload itself), which the venue
records as a ``VenueError`` event before going on.

The Structs mirror the official examples in ``shared/binance/`` (``ws_*.json``,
``rest_*.json``); fields the engine does not use are ignored, so a new field on
Binance's side never breaks parsing.
"""

from __future__ import annotations

import math
import re
from typing import Any, TypeVar, Union

import msgspec

T = TypeVar("T")
_AT = re.compile(r" - at `\$(?P<path>[^`]*)`$")
MAX_MS = 9_000_000_000_000  # ms up to year 2255: ms * 1e6 still fits in int64
MAX_INT = 2**63 - 1
_MISSING = re.compile(r"missing required field `(?P<name>[^`]+)`")


class WireError(ValueError):
    """A payload that does not parse; ``field`` names where it broke."""

    def __init__(self, field: str, message: str):
        self.field = field or "$"
        self.message = message
        super().__init__(f"{self.field}: {message}")


class _Wire(msgspec.Struct, frozen=True, kw_only=True):
    """Base of every venue Struct (unknown keys ignored)."""


def _F(name: str) -> Any:
    return msgspec.field(name=name)


# --------------------------------------------------------------------------- websocket: market


class WsKlineBody(_Wire, frozen=True, kw_only=True):
    open_time_ms: int = _F("t")
    close_time_ms: int = _F("T")
    symbol: str = _F("s")
    interval: str = _F("i")
    open: float = _F("o")
    close: float = _F("c")
    high: float = _F("h")
    low: float = _F("l")
    volume: float = _F("v")
    closed: bool = _F("x")


class WsKline(_Wire, frozen=True, kw_only=True, tag_field="e", tag="kline"):
    event_ms: int = _F("E")
    symbol: str = _F("s")
    k: WsKlineBody


class WsMarkPrice(_Wire, frozen=True, kw_only=True, tag_field="e", tag="markPriceUpdate"):
    event_ms: int = _F("E")
    symbol: str = _F("s")
    mark: float = _F("p")
    funding_rate: float | None = _F("r")
    next_funding_ms: int = _F("T")


class WsBookTicker(_Wire, frozen=True, kw_only=True, tag_field="e", tag="bookTicker"):
    event_ms: int = _F("E")
    symbol: str = _F("s")
    bid: float = _F("b")
    bid_qty: float = _F("B")
    ask: float = _F("a")
    ask_qty: float = _F("A")


MarketFrame = Union[WsKline, WsMarkPrice, WsBookTicker]
_market_decoder = msgspec.json.Decoder(MarketFrame, strict=False)  # decode_market's fast path


# --------------------------------------------------------------------------- websocket: user data


class WsOrderBody(_Wire, frozen=True, kw_only=True):
    symbol: str = _F("s")
    client_order_id: str = _F("c")
    side: str = _F("S")
    order_type: str = _F("o")
    time_in_force: str = _F("f")
    qty: float = _F("q")
    price: float = _F("p")
    exec_type: str = _F("x")
    status: str = _F("X")
    order_id: int = _F("i")
    last_qty: float = _F("l")
    cum_qty: float = _F("z")
    last_price: float = _F("L")
    fee_asset: str = msgspec.field(name="N", default="")  # not pushed when no commission
    fee: float = msgspec.field(name="n", default=0.0)
    trade_time_ms: int = _F("T")
    trade_id: int = _F("t")
    is_maker: bool = _F("m")
    reduce_only: bool = msgspec.field(name="R", default=False)
    position_side: str = msgspec.field(name="ps", default="BOTH")
    realized_pnl: float = msgspec.field(name="rp", default=0.0)


class WsOrderUpdate(_Wire, frozen=True, kw_only=True, tag_field="e", tag="ORDER_TRADE_UPDATE"):
    event_ms: int = _F("E")
    o: WsOrderBody


class WsBalance(_Wire, frozen=True, kw_only=True):
    asset: str = _F("a")
    wallet: float = _F("wb")
    cross_wallet: float = msgspec.field(name="cw", default=0.0)
    change: float = msgspec.field(name="bc", default=0.0)  # balance change except PnL and commission


class WsPosition(_Wire, frozen=True, kw_only=True):
    symbol: str = _F("s")
    amount: float = _F("pa")
    entry_price: float = _F("ep")
    unrealized_pnl: float = _F("up")
    position_side: str = msgspec.field(name="ps", default="BOTH")


class WsAccountBody(_Wire, frozen=True, kw_only=True):
    reason: str = msgspec.field(name="m", default="")
    balances: list[WsBalance] = msgspec.field(name="B", default_factory=list)
    positions: list[WsPosition] = msgspec.field(name="P", default_factory=list)


class WsAccountUpdate(_Wire, frozen=True, kw_only=True, tag_field="e", tag="ACCOUNT_UPDATE"):
    event_ms: int = _F("E")
    tx_ms: int = msgspec.field(name="T", default=0)  # transaction time: the reading's time
    a: WsAccountBody


class WsListenKeyExpired(_Wire, frozen=True, kw_only=True, tag_field="e", tag="listenKeyExpired"):
    event_ms: int = _F("E")


UserFrame = Union[WsOrderUpdate, WsAccountUpdate, WsListenKeyExpired]

# user-data events the engine has no use for: skipped without an error
IGNORED_USER_EVENTS = frozenset({
    "ACCOUNT_CONFIG_UPDATE", "TRADE_LITE", "MARGIN_CALL", "STRATEGY_UPDATE", "GRID_UPDATE",
    "CONDITIONAL_ORDER_TRIGGER_REJECT", "ALGO_UPDATE",
})


class SubscribeAck(_Wire, frozen=True, kw_only=True):
    """``{"result": null, "id": 1}``: answer to a SUBSCRIBE (or an error for it)."""

    id: int | str | None = None
    result: Any = None
    error: dict[str, Any] | None = None


# --------------------------------------------------------------------------- REST


class RestFilter(_Wire, frozen=True, kw_only=True):
    filter_type: str = _F("filterType")
    tick_size: float | None = msgspec.field(name="tickSize", default=None)
    step_size: float | None = msgspec.field(name="stepSize", default=None)
    min_qty: float | None = msgspec.field(name="minQty", default=None)
    notional: float | None = None


class RestSymbol(_Wire, frozen=True, kw_only=True):
    symbol: str
    status: str = "TRADING"
    filters: list[RestFilter] = []


class RestExchangeInfo(_Wire, frozen=True, kw_only=True):
    server_time_ms: int = msgspec.field(name="serverTime", default=0)
    symbols: list[RestSymbol] = []


class RestAsset(_Wire, frozen=True, kw_only=True):
    asset: str
    wallet: float = _F("walletBalance")
    unrealized_pnl: float = msgspec.field(name="unrealizedProfit", default=0.0)
    available: float = msgspec.field(name="availableBalance", default=0.0)


class RestAccount(_Wire, frozen=True, kw_only=True):
    total_wallet: float = _F("totalWalletBalance")
    total_unrealized: float = _F("totalUnrealizedProfit")
    available: float = _F("availableBalance")
    assets: list[RestAsset] = []


class RestPositionRisk(_Wire, frozen=True, kw_only=True):
    symbol: str
    position_side: str = msgspec.field(name="positionSide", default="BOTH")
    amount: float = _F("positionAmt")
    entry_price: float = _F("entryPrice")
    mark_price: float = _F("markPrice")
    unrealized_pnl: float = _F("unRealizedProfit")
    notional: float = 0.0
    initial_margin: float = msgspec.field(name="positionInitialMargin", default=0.0)
    update_ms: int = msgspec.field(name="updateTime", default=0)


class RestOrder(_Wire, frozen=True, kw_only=True):
    """An order as POST/GET/DELETE /fapi/v1/order and /fapi/v1/openOrders return it."""

    symbol: str
    order_id: int = _F("orderId")
    client_order_id: str = _F("clientOrderId")
    status: str
    side: str = ""
    order_type: str = msgspec.field(name="type", default="")
    time_in_force: str = msgspec.field(name="timeInForce", default="")
    price: float = 0.0
    orig_qty: float = msgspec.field(name="origQty", default=0.0)
    executed_qty: float = msgspec.field(name="executedQty", default=0.0)
    avg_price: float = msgspec.field(name="avgPrice", default=0.0)
    reduce_only: bool = msgspec.field(name="reduceOnly", default=False)
    update_ms: int = msgspec.field(name="updateTime", default=0)


class RestTrade(_Wire, frozen=True, kw_only=True):
    """One row of GET /fapi/v1/userTrades."""

    id: int
    order_id: int = _F("orderId")
    symbol: str
    side: str
    price: float
    qty: float
    realized_pnl: float = _F("realizedPnl")
    commission: float
    commission_asset: str = _F("commissionAsset")
    maker: bool
    time_ms: int = _F("time")


class RestIncome(_Wire, frozen=True, kw_only=True):
    """One row of GET /fapi/v1/income (funding fees here)."""

    symbol: str
    income_type: str = _F("incomeType")
    income: float
    asset: str
    time_ms: int = _F("time")
    tran_id: int = _F("tranId")


class RestKline(_Wire, frozen=True, kw_only=True):
    """One row of GET /fapi/v1/klines (an array on the wire)."""

    open_time_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    close_time_ms: int


# --------------------------------------------------------------------------- decoding


def _field_of(exc: msgspec.ValidationError) -> str:
    text = str(exc)
    m = _AT.search(text)
    path = m.group("path").lstrip(".") if m else ""
    miss = _MISSING.search(text)
    if miss:
        path = f"{path}.{miss.group('name')}" if path else miss.group("name")
    return path or "$"


_PLANS: dict[type, tuple[tuple[str, str], ...]] = {}


def _check_struct(obj: msgspec.Struct, path: str) -> None:
    """``_check_finite`` of a Struct: the common values (finite floats, strings, None, ints
    within every limit) are passed inline; anything else goes through ``_check_finite``,
    which names the field. A tick frame is checked in ~1 µs instead of ~5."""
    t = type(obj)
    plan = _PLANS.get(t)
    if plan is None:
        plan = _PLANS[t] = tuple(zip(t.__struct_fields__, t.__struct_encode_fields__, strict=True))
    for attr, wire in plan:
        v = getattr(obj, attr)
        tv = type(v)
        if tv is float:
            if v - v == 0.0:  # finite (inf - inf and nan - nan are nan)
                continue
        elif tv is str or v is None or (tv is int and -MAX_MS <= v <= MAX_MS):
            continue
        _check_finite(v, f"{path}.{wire}" if path else wire, attr)


def _check_finite(obj: Any, path: str = "", name: str = "") -> None:
    """Refuse NaN/inf anywhere in a decoded Struct (``strict=False`` lets "nan" through),
    and times that cannot become nanosecond timestamps (ms * 1e6 must fit in int64)."""
    if isinstance(obj, msgspec.Struct):
        _check_struct(obj, path)
    elif isinstance(obj, float):
        if not math.isfinite(obj):
            raise WireError(path or "$", f"not a finite number: {obj}")
    elif isinstance(obj, int) and not isinstance(obj, bool):
        limit = MAX_MS if name.endswith("_ms") else MAX_INT
        if not -limit <= obj <= limit:
            raise WireError(path or "$", f"integer out of range: {obj}")
    elif isinstance(obj, list):
        for i, item in enumerate(obj):
            _check_finite(item, f"{path}[{i}]")


def convert(obj: Any, type_: type[T], prefix: str = "") -> T:
    """Python object -> venue Struct; ``WireError`` naming the field on any problem."""
    try:
        out = msgspec.convert(obj, type_, strict=False)
    except msgspec.ValidationError as exc:
        field = _field_of(exc)
        if prefix:
            field = prefix.rstrip(".") if field == "$" else prefix + field
        raise WireError(field, str(exc)) from None
    _check_finite(out, prefix.rstrip("."))
    return out  # type: ignore[no-any-return]


def loads(raw: str | bytes) -> Any:
    """JSON text -> Python object; malformed JSON is a ``WireError`` on ``$``."""
    try:
        return msgspec.json.decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise WireError("$", f"malformed JSON: {exc}") from None


def _unwrap(obj: Any) -> Any:
    """Combined-stream frames are ``{"stream": ..., "data": {...}}``."""
    if isinstance(obj, dict) and "data" in obj and "stream" in obj and "e" not in obj:
        return obj["data"]
    return obj


def _event_frame(raw: str | bytes) -> dict[str, Any] | SubscribeAck:
    """A stream frame's event object (``e`` present), or the subscription answer."""
    obj = _unwrap(loads(raw))
    if isinstance(obj, dict) and "e" not in obj and ("result" in obj or "error" in obj):
        return convert(obj, SubscribeAck)
    if not isinstance(obj, dict):
        raise WireError("$", f"expected an object, got {type(obj).__name__}")
    if "e" not in obj:
        raise WireError("e", "missing event type")
    return obj


def decode_market(raw: str | bytes) -> MarketFrame | SubscribeAck:
    """A frame from the ``/market`` or ``/public`` stream.

    Fast path: the JSON straight into its Struct (one C call, no dict); anything it does
    not take (a combined-stream wrapper, a subscription answer, a bad payload) goes the
    general way, which names the field."""
    try:
        frame = _market_decoder.decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError):
        pass
    else:
        _check_finite(frame)
        return frame  # type: ignore[no-any-return]
    obj = _event_frame(raw)
    if isinstance(obj, SubscribeAck):
        return obj
    return convert(obj, MarketFrame)  # type: ignore[arg-type]


def decode_user(raw: str | bytes) -> UserFrame | SubscribeAck | None:
    """A frame from the ``/private`` user-data stream (``None``: known, not used)."""
    obj = _event_frame(raw)
    if isinstance(obj, SubscribeAck):
        return obj
    if isinstance(obj["e"], str) and obj["e"] in IGNORED_USER_EVENTS:
        return None
    return convert(obj, UserFrame)  # type: ignore[arg-type]


def decode_list(obj: Any, item: type[T], name: str) -> list[T]:
    """A REST array of objects; each item is checked, errors name ``name[i].field``."""
    if not isinstance(obj, list):
        raise WireError(name, f"expected an array, got {type(obj).__name__}")
    return [convert(x, item, f"{name}[{i}].") for i, x in enumerate(obj)]


def decode_klines(obj: Any) -> list[RestKline]:
    """GET /fapi/v1/klines rows ``[openTime, o, h, l, c, v, closeTime, ...]``."""
    if not isinstance(obj, list):
        raise WireError("klines", f"expected an array, got {type(obj).__name__}")
    out: list[RestKline] = []
    names = ("open_time_ms", "open", "high", "low", "close", "volume", "close_time_ms")
    for i, row in enumerate(obj):
        if not isinstance(row, list) or len(row) < 7:
            raise WireError(f"klines[{i}]", "expected an array of at least 7 values")
        out.append(convert(dict(zip(names, row[:7], strict=True)), RestKline, f"klines[{i}]."))
    return out
