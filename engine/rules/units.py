"""Units and time constants, once. Timestamps are integer nanoseconds since the epoch (UTC)."""

from __future__ import annotations

NS = 1_000_000_000  # nanoseconds per second
MS_NS = 1_000_000  # nanoseconds per millisecond
MINUTE_NS = 60 * NS
HOUR_NS = 3_600 * NS
DAY_NS = 86_400 * NS
HOURS_PER_YEAR = 24 * 365
BPS = 10_000.0  # basis points per unit fraction
# Market times are UTC epoch milliseconds in 2000-01-01 .. 2100-01-01: a value in
# seconds, microseconds or below zero is refused, never guessed.
EPOCH_MS = (946_684_800_000, 4_102_444_800_000)


def utc_day(ts_ns: int) -> int:
    """The UTC day number of a timestamp (days since the epoch)."""
    return ts_ns // DAY_NS


def utc_hour(ts_ns: int) -> int:
    """The UTC hour number of a timestamp (hours since the epoch)."""
    return ts_ns // HOUR_NS
