"""Units and time constants, once. Timestamps are integer nanoseconds since the epoch (UTC)."""

from __future__ import annotations

NS = 1_000_000_000  # nanoseconds per second
MS_NS = 1_000_000  # nanoseconds per millisecond
MINUTE_NS = 60 * NS
HOUR_NS = 3_600 * NS
DAY_NS = 86_400 * NS
HOURS_PER_YEAR = 24 * 365
BPS = 10_000.0  # basis points per unit fraction


def utc_day(ts_ns: int) -> int:
    """The UTC day number of a timestamp (days since the epoch)."""
    return ts_ns // DAY_NS


def utc_hour(ts_ns: int) -> int:
    """The UTC hour number of a timestamp (hours since the epoch)."""
    return ts_ns // HOUR_NS
