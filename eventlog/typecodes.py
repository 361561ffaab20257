"""The event type catalogue: one small, permanent integer per event type.

Compact payloads (``eventlog.compact``) and the compact SQLite layout's ``topic`` column
name an event's type by this code instead of its name. Codes are part of the stored
format: **never change or reuse one**; a new event type takes the next free number
(``tests/unit/test_compact_codec.py`` fails, naming the type, until it has one). A type
without a code is still stored, as a self-describing msgpack map.
"""

from __future__ import annotations

TYPE_CODES: dict[str, int] = {
    "SessionStarted": 1,
    "AccountOpened": 2,
    "SessionEnded": 3,
    "ConfigChanged": 4,
    "MarketTick": 5,
    "KlineClosed": 6,
    "NavSnapshot": 7,
    "PositionSnapshot": 8,
    "FundingApplied": 9,
    "OffExchangeValued": 10,
    "IntentEmitted": 11,
    "RiskDecided": 12,
    "RoutePlanned": 13,
    "OrderSubmitted": 14,
    "OrderAccepted": 15,
    "OrderRejected": 16,
    "OrderCanceled": 17,
    "OrderExpired": 18,
    "OrderFilled": 19,
    "RouterFallback": 20,
    "PositionClosed": 21,
    "AlertSent": 22,
    "AlertFailed": 23,
    "VenueError": 24,
    "VenueReconciled": 25,
    "VenueClockSynced": 26,
    "ExchangeFiltersLoaded": 27,
    "FundingDataGap": 28,
    "PositionLiquidated": 29,
    "DdStateChanged": 30,
    "RiskReset": 31,
    "ProtectiveOrdersSet": 32,
}

TYPE_NAMES: dict[int, str] = {c: n for n, c in TYPE_CODES.items()}
