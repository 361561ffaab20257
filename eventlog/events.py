"""Event schemas: frozen, keyword-only msgspec Structs in one tagged union.

Every event carries the same header:

* ``seq`` - global sequence number, assigned by the store (0 before it is stored;
  it is not part of the encoded bytes, the reader fills it from the row id).
* ``session_id`` - the session that recorded it.
* ``session_seq`` - position inside the session (1, 2, ...). The engine knows it at
  append time, so decisions can cite the exact events they saw (``state_refs``).
* ``stream`` - logical stream (``session``, ``market.BTCUSDT``, ``risk``, ``orders``...).
* ``ts_event_ns`` - when it happened (venue time or the injected clock).
* ``ts_init_ns`` - when the engine recorded it (injected clock).
* ``v`` - schema version of this event type.

Names are past tense. Adding a field with a default is backwards compatible;
anything else needs a new version and a named upcaster in ``eventlog.upcast``.
"""

from __future__ import annotations

from typing import Any, Literal, Union

import msgspec

from eventlog.payloads import (
    ConfigChange,
    FilterCorrection,
    HoldingValued,
    OpenOrder,
    ReconciledPosition,
)

Scalar = Union[float, int, str, bool, None]
Outcome = Literal["allow", "clamp", "veto", "trim", "flatten"]  # trim / flatten: post-trade (rules v6)
Side = Literal["BUY", "SELL"]


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", omit_defaults=False):
    """Common header of every event."""

    seq: int = 0
    session_id: str
    session_seq: int
    stream: str
    ts_event_ns: int
    ts_init_ns: int
    v: int = 1


# --------------------------------------------------------------------------- session


class SessionStarted(Event, tag=True, frozen=True, kw_only=True):
    """A session began: the full normalised config and its hash are frozen here."""

    engine_version: str
    mode: str  # sim | binance-dry | testnet | live
    venue: str  # sim | binance
    symbols: list[str]
    config: dict[str, Any]
    config_hash: str
    normalisations: list[str] = []
    data_source: str = ""
    params: dict[str, Any] = {}
    resumed_from: str | None = None
    # decision rules in force (engine.rules.versions): absent in logs written before
    # version 2 existed, so they decode as 1 and replay under the rules they were written with
    rules_version: int = 1
    # the account (fund or backtest book) this session continues (docs/accounts.md); logs
    # written before accounts existed decode as "" and are read as the account "main"
    account: str = ""
    # where this session took over: the global seq and hash of the account's last event
    # folded at start (0 / "" for the account's first session)
    resumed_at_seq: int = 0
    resumed_at_hash: str = ""


class AccountOpened(Event, tag=True, frozen=True, kw_only=True):
    """The first session of an account opened it: the account's mode and venue are fixed for life."""

    account: str
    mode: str  # sim | paper (Binance dry run) | testnet | live
    venue: str  # sim | binance
    base_currency: str = "USDT"
    starting_capital_usd: float = 0.0  # sim and paper: the paper account's opening balance
    data_source: str = ""


class SessionEnded(Event, tag=True, frozen=True, kw_only=True):
    """A session ended (normally, by signal or by error) with its summary."""

    reason: str
    summary: dict[str, Any] = {}


class ConfigChanged(Event, tag=True, frozen=True, kw_only=True):
    """The running config changed; decisions after this use the new hash."""

    config: dict[str, Any]
    config_hash: str
    previous_hash: str
    changes: list[ConfigChange] = []
    source: str = "reload"  # reload (operator) | autotune | feedback_allocator


# --------------------------------------------------------------------------- market


class MarketTick(Event, tag=True, frozen=True, kw_only=True):
    """Top of book (and mark price when known) for one symbol."""

    symbol: str
    bid: float
    ask: float
    bid_qty: float = 0.0
    ask_qty: float = 0.0
    mark: float | None = None
    funding_rate: float | None = None


class KlineClosed(Event, tag=True, frozen=True, kw_only=True):
    """A closed candle of the configured interval.

    ``history``: a warm-up bar read from REST at start (not live): it updates
    indicators only; nothing is decided on it.
    """

    symbol: str
    interval: str
    open_time_ms: int
    close_time_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    history: bool = False


# --------------------------------------------------------------------------- account


class NavSnapshot(Event, tag=True, frozen=True, kw_only=True):
    """Futures wallet NAV reading (NAV is the futures wallet, nothing else)."""

    nav_usd: float
    wallet_balance: float
    unrealized_pnl: float
    available_balance: float
    sources_ok: bool = True
    source: str = "venue"
    # added for issue 14 (venue): account margin (USD-M cross: maint margin / margin balance)
    maint_margin_usd: float = 0.0
    margin_ratio: float = 0.0


class PositionSnapshot(Event, tag=True, frozen=True, kw_only=True):
    """Exchange-side position for one symbol (qty signed: >0 long, <0 short, 0 flat)."""

    symbol: str
    qty: float
    entry_price: float
    mark_price: float
    unrealized_pnl: float
    leverage: float = 1.0
    notional: float = 0.0
    # added for issue 14 (venue): Binance's per-position margin readings (0 when unknown)
    liquidation_price: float = 0.0
    maint_margin_usd: float = 0.0
    margin_ratio: float = 0.0  # account maint margin / margin balance (cross) or the position's (isolated)
    margin_type: str = "cross"


class FundingApplied(Event, tag=True, frozen=True, kw_only=True):
    """Funding settlement on an open position (amount > 0 received)."""

    symbol: str
    rate: float
    mark_price: float
    position_qty: float
    amount_usd: float
    # added for issue 14 (venue): where the rate came from and when the next settlement is
    source: str = "default"  # data (market directory funding/) | generated | venue (Binance) | default (config rate)
    funding_time_ms: int = 0  # the settlement time (the data's, to the millisecond)
    next_funding_time_ms: int = 0  # the next settlement the venue knows of (0 = unknown)


class OffExchangeValued(Event, tag=True, frozen=True, kw_only=True):
    """Valuation of off-exchange holdings (BTC, XAUT, USDC) against cost basis."""

    holdings: list[HoldingValued]
    total_usd: float


# --------------------------------------------------------------------------- decisions


class IntentEmitted(Event, tag=True, frozen=True, kw_only=True):
    """The screener wants a position change (it never does risk math)."""

    intent_id: str
    symbol: str
    side: Side
    qty: float
    notional_usd: float
    price: float
    reduce_only: bool = False
    tp: float | None = None
    sl: float | None = None
    strategy: str = "trend_atr"
    reason: str = ""
    signal: dict[str, Scalar] = {}
    kline_ref: int = 0  # session_seq of the KlineClosed it answered


class RiskDecided(Event, tag=True, frozen=True, kw_only=True):
    """check_order's answer to an intent: allow, clamp or veto, and exactly why; or (rules v6)
    check_positions' trim / flatten of a position after the trade (no intent, ``side`` set)."""

    decision_id: str
    intent_id: str
    symbol: str
    outcome: Outcome
    gate: str
    reasons: list[str]
    thresholds: dict[str, Scalar]
    observations: dict[str, Scalar]
    config_hash: str
    requested_qty: float
    approved_qty: float
    approved_notional_usd: float
    source: str = "risk_limits"
    breached: list[str] = []  # threshold names that broke
    state_refs: dict[str, int] = {}  # what the decision saw: name -> session_seq
    side: Side | None = None  # post-trade decisions (trim / flatten, no intent): the reducing order's side


class RoutePlanned(Event, tag=True, frozen=True, kw_only=True):
    """The router's plan for an allowed order (maker-first, TWAP slices)."""

    plan_id: str
    decision_id: str
    intent_id: str
    symbol: str
    side: Side
    qty: float
    style: str  # maker_first | taker | twap
    slices: int
    slice_qty: float
    decision_price: float
    reduce_only: bool = False


class OrderSubmitted(Event, tag=True, frozen=True, kw_only=True):
    """An order was sent to the venue."""

    order_id: str  # client order id, derived from inputs
    plan_id: str
    symbol: str
    side: Side
    order_type: str  # LIMIT | MARKET
    time_in_force: str  # GTX | IOC | GTC
    qty: float
    price: float | None
    decision_price: float
    reduce_only: bool = False
    attempt: int = 0
    slice_index: int = 0
    # added for issue 14 (venue): protective orders (STOP_MARKET / TAKE_PROFIT_MARKET)
    stop_price: float | None = None
    close_position: bool = False
    working_type: str = "CONTRACT_PRICE"  # MARK_PRICE | CONTRACT_PRICE


class OrderAccepted(Event, tag=True, frozen=True, kw_only=True):
    """The venue acknowledged an order (it rests or is working)."""

    order_id: str
    symbol: str
    venue_order_id: str = ""


class OrderRejected(Event, tag=True, frozen=True, kw_only=True):
    """The venue refused an order (e.g. -5022: post-only would take)."""

    order_id: str
    symbol: str
    code: int
    reason: str


class OrderCanceled(Event, tag=True, frozen=True, kw_only=True):
    """An order was canceled (by the router, e.g. maker wait over, or by the venue)."""

    order_id: str
    symbol: str
    reason: str
    filled_qty: float = 0.0


class OrderExpired(Event, tag=True, frozen=True, kw_only=True):
    """An order expired at the venue (IOC remainder, GTX that would cross...)."""

    order_id: str
    symbol: str
    reason: str
    filled_qty: float = 0.0


class OrderFilled(Event, tag=True, frozen=True, kw_only=True):
    """A (partial) fill, as the venue reported it."""

    order_id: str
    trade_id: str
    symbol: str
    side: Side
    qty: float
    price: float
    is_maker: bool
    fee_usd: float
    realized_pnl: float
    slippage_bps: float
    decision_price: float
    fee_asset: str = "USDT"
    position_qty_after: float = 0.0


class RouterFallback(Event, tag=True, frozen=True, kw_only=True):
    """A maker order gave up and the rest went as taker."""

    plan_id: str
    order_id: str
    symbol: str
    reason: str  # maker_timeout | reprice_limit
    remaining_qty: float
    reprices: int
    waited_ms: int


class PositionClosed(Event, tag=True, frozen=True, kw_only=True):
    """A TP or SL level was hit and an exit intent followed (ledger bookkeeping)."""

    symbol: str
    trigger: str  # tp | sl
    level: float
    price: float


# --------------------------------------------------------------------------- ops


class AlertSent(Event, tag=True, frozen=True, kw_only=True):
    """A Telegram alert was delivered; ``message_id`` is what Telegram returned."""

    alert_id: str
    kind: str
    text: str
    chat_id: str
    message_id: int
    attempts: int = 1
    trigger_seq: int = 0


class AlertFailed(Event, tag=True, frozen=True, kw_only=True):
    """An alert could not be delivered after its last retry."""

    alert_id: str
    kind: str
    error: str
    attempts: int
    trigger_seq: int = 0


class VenueError(Event, tag=True, frozen=True, kw_only=True):
    """A venue payload or call that could not be used; the loop went on."""

    source: str  # ws.market | ws.user | rest.<endpoint>
    kind: str  # parse | http | ws | rate_limit | reconnect
    field: str
    message: str
    raw: str = ""


class VenueClockSynced(Event, tag=True, frozen=True, kw_only=True):
    """The exchange's clock was read and signed requests now carry this offset.

    ``offset_ms`` = server time - local time (at the request's midpoint), ``rtt_ms`` the
    round trip; ``reason``: ``start`` (connect) or ``-1021`` (a request was refused as
    outside recvWindow, then retried once).
    """

    offset_ms: int
    rtt_ms: int
    reason: str


class VenueReconciled(Event, tag=True, frozen=True, kw_only=True):
    """On (re)start, exchange state was read and taken as authoritative.

    v2: typed rows (v1 rows were dicts: open orders with ``type``, positions possibly in
    Binance's camelCase with string numbers; ``eventlog.upcast`` rewrites them on read).
    """

    v: int = 2
    open_orders: list[OpenOrder]
    positions: list[ReconciledPosition]
    canceled_orders: list[str] = []


class ExchangeFiltersLoaded(Event, tag=True, frozen=True, kw_only=True):
    """The exchange filters orders are validated and rounded against (exchangeInfo shape).

    ``source``: ``exchangeInfo`` (Binance at connect), ``file:<path>`` (an exchangeInfo-shaped
    file) or ``config`` (the config's specs, corrected to mainnet tick/step: ``corrections``).
    ``filters``: symbol -> ``engine.exchange_filters.SymbolFilters`` fields.
    """

    source: str
    filters: dict[str, dict[str, float]]
    corrections: list[FilterCorrection] = []


class FundingDataGap(Event, tag=True, frozen=True, kw_only=True):
    """Said once per symbol: the market data has no funding for part of the run.

    ``kind``: ``no_file`` (no funding series: ``action`` = ``default_rate`` at the config's
    rate and interval) or ``hole`` (the series has no settlements from ``from_ms`` to
    ``to_ms``: ``action`` = ``none``, no rate is invented).
    """

    symbol: str
    kind: str
    action: str
    from_ms: int = 0
    to_ms: int = 0
    default_rate: float = 0.0
    detail: str = ""


class ProtectiveOrdersSet(Event, tag=True, frozen=True, kw_only=True):
    """The engine's protective orders for a position after a fill (``engine/protective.py``).

    ``place``: ids of the STOP_MARKET / TAKE_PROFIT_MARKET orders submitted next (each an
    ``OrderSubmitted`` of plan ``protect``); ``cancel``: ids of the ones they replace (or of
    all, when the position is flat). ``sl``/``tp``: the stops the position now has.
    """

    symbol: str
    position_qty: float
    sl: float | None = None
    tp: float | None = None
    place: list[str] = []
    cancel: list[str] = []
    fill_order_id: str = ""


class PositionLiquidated(Event, tag=True, frozen=True, kw_only=True):
    """The venue force-closed a position: margin balance fell below maintenance margin.

    Closed at the bankruptcy price (the price where the position's margin is gone), with
    the liquidation clearance fee on the notional; ``loss_usd`` is the realised loss
    including the fee.
    """

    symbol: str
    side: Side  # the closing side
    qty: float  # closed quantity (> 0)
    entry_price: float
    mark_price: float  # the mark that breached
    liquidation_price: float
    bankruptcy_price: float
    fill_price: float
    fee_usd: float
    realized_pnl: float
    maint_margin_usd: float
    margin_balance_usd: float
    margin_type: str = "cross"
    bracket: int = 0
    mmr: float = 0.0
    trade_id: str = ""


class DdStateChanged(Event, tag=True, frozen=True, kw_only=True):
    """The drawdown policy changed ``dd_state`` (rules v3, ``engine.rules.drawdown``): a decision.

    ``cause``: ``threshold`` (an entry or exit threshold crossed, hysteresis) or
    ``auto_rule`` (``dd_auto_recover_days`` in defensive: the reference is re-based to
    ``ref_nav_usd``). Thresholds and observations are recorded like a gate's.
    """

    from_state: str
    to_state: str
    cause: str
    reason: str
    ref_nav_usd: float | None = None  # the drawdown reference after the change
    thresholds: dict[str, Scalar] = {}
    observations: dict[str, Scalar] = {}
    config_hash: str = ""


class RiskReset(Event, tag=True, frozen=True, kw_only=True):
    """An operator reset of the drawdown policy (``hedge risk reset``).

    Recorded first in an operator session (no ``SessionStarted``, like the alerter's),
    then copied by the running engine of ``account`` into its own session
    (``source_seq`` = the operator event's seq), where the fold applies it: ``dd_state``
    becomes ``to_state`` and the drawdown reference is re-based (``ref_nav_usd``).
    ``before_*`` are the state and figures the recorder saw just before.
    """

    account: str
    operator: str  # user@host
    reason: str
    to_state: str
    before_state: str | None = None
    before_dd_frac: float | None = None  # the policy's drawdown (from its reference)
    before_ref_nav_usd: float | None = None
    before_nav_usd: float | None = None
    before_since_ns: int | None = None
    ref_nav_usd: float | None = None  # the reference after the reset (engine copy)
    source_seq: int = 0  # engine copy: seq of the operator's RiskReset
    source_session: str = ""


AnyEvent = Union[
    SessionStarted,
    AccountOpened,
    SessionEnded,
    ConfigChanged,
    MarketTick,
    KlineClosed,
    NavSnapshot,
    PositionSnapshot,
    FundingApplied,
    OffExchangeValued,
    IntentEmitted,
    RiskDecided,
    RoutePlanned,
    OrderSubmitted,
    OrderAccepted,
    OrderRejected,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    RouterFallback,
    PositionClosed,
    AlertSent,
    AlertFailed,
    VenueError,
    VenueReconciled,
    VenueClockSynced,
    ExchangeFiltersLoaded,
    FundingDataGap,
    PositionLiquidated,
    DdStateChanged,
    RiskReset,
    ProtectiveOrdersSet,
]

EVENT_TYPES: dict[str, type[Event]] = {
    cls.__name__: cls for cls in AnyEvent.__args__  # type: ignore[attr-defined]
}

HEADER_FIELDS = ("seq", "session_id", "session_seq", "stream", "ts_event_ns", "ts_init_ns", "v")
