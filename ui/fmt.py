"""Formatting for the dashboard: every value becomes a short string, and anything
missing or malformed becomes ``"n/a"`` instead of an exception.

State files hold fractions (``0.05`` = 5 %, see docs/state_contract.md); these helpers
multiply by 100 where a percentage is printed, and nowhere else.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

NA = "n/a"


def num(value: Any) -> float | None:
    """``value`` as a finite float, or None (bools, strings, NaN and inf are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def usd(value: Any, decimals: int = 2, sign: bool = False) -> str:
    """``$12,345.67`` (``-$1.00`` for negatives, ``+$1.00`` with ``sign``)."""
    f = num(value)
    if f is None:
        return NA
    text = f"${abs(f):,.{decimals}f}"
    if f < 0 and round(abs(f), decimals) != 0:
        return "-" + text
    return ("+" + text) if sign else text


def signed(value: Any, decimals: int = 2) -> str:
    """``+1,234.50`` / ``-12.00``: a PnL figure without a currency sign."""
    f = num(value)
    return NA if f is None else f"{f:+,.{decimals}f}"


def plain(value: Any, decimals: int = 2) -> str:
    """``1,234.57``: a number with thousands separators."""
    f = num(value)
    return NA if f is None else f"{f:,.{decimals}f}"


def qty(value: Any) -> str:
    """A quantity with as many decimals as it needs (up to 6), no trailing zeros."""
    f = num(value)
    if f is None:
        return NA
    text = f"{f:,.6f}".rstrip("0").rstrip(".")
    return text or "0"


def price(value: Any) -> str:
    """A price: 2 decimals above 100, more below (altcoins trade at fractions of a dollar)."""
    f = num(value)
    if f is None:
        return NA
    decimals = 2 if abs(f) >= 100 else 4 if abs(f) >= 1 else 6
    return f"{f:,.{decimals}f}"


def sig(value: Any, digits: int = 4) -> str:
    """A measure such as ATR: ``digits`` significant digits, thousands separated."""
    f = num(value)
    if f is None:
        return NA
    if f == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(f))))
    return f"{f:,.{decimals}f}"


def pct(fraction: Any, decimals: int = 2, sign: bool = False) -> str:
    """A fraction printed as a percentage: ``0.0123`` -> ``1.23%``."""
    f = num(fraction)
    if f is None:
        return NA
    return f"{f * 100:+.{decimals}f}%" if sign else f"{f * 100:.{decimals}f}%"


def ratio(value: Any, decimals: int = 2) -> str:
    """A dimensionless ratio such as ATR / baseline: ``1.07``."""
    f = num(value)
    return NA if f is None else f"{f:.{decimals}f}"


def age(seconds: Any) -> str:
    """A duration for humans: ``42s``, ``3m 05s``, ``2h 14m``, ``3d 4h``."""
    f = num(seconds)
    if f is None or f < 0:
        return NA
    s = round(f)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {(s % 3600) // 60:02d}m"
    return f"{s // 86400}d {(s % 86400) // 3600}h"


def when(ts: Any) -> str:
    """Unix seconds as ``2024-03-01 14:05 UTC``."""
    f = num(ts)
    if f is None or f <= 0:
        return NA
    try:
        return datetime.fromtimestamp(f, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    except (OverflowError, OSError, ValueError):
        return NA


def label(value: Any, default: str = NA) -> str:
    """A state word (``normal``, ``degraded``...) or ``default`` when missing."""
    if isinstance(value, str) and value.strip():
        return value.strip()
    return default


def compact(value: Any) -> str:
    """A threshold or observation of any JSON type, short: numbers trimmed, lists joined."""
    if value is None:
        return NA
    if isinstance(value, bool):
        return "yes" if value else "no"
    f = num(value)
    if f is not None:
        if f == int(f) and abs(f) < 1e15:
            return f"{int(f):,}"
        return f"{f:,.6g}" if abs(f) >= 1 else f"{f:.4g}"
    if isinstance(value, list | tuple):
        return ", ".join(compact(v) for v in value) or NA
    if isinstance(value, dict):
        return ", ".join(f"{k}={compact(v)}" for k, v in sorted(value.items())) or NA
    return str(value)
