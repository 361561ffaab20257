"""Range checks for numeric command-line options (one place, the same words everywhere).

``float("nan")`` passes every ``x <= 0`` test, so each check is written as
"inside the range" and fails for NaN and infinities; integers are kept in the
range the log can store (64-bit) and the option's own sense.
"""

from __future__ import annotations

import math

from engine.rules.units import EPOCH_MS
from hedge.cli import UsageError


def seconds(name: str, value: float, *, most: float = 86_400.0) -> float:
    """A finite wait in seconds, ``0 < value <= most``."""
    if not (math.isfinite(value) and 0 < value <= most):
        raise UsageError(f"{name}: must be a number of seconds in (0, {most:g}], got {value!r}")
    return value


def int_in(name: str, value: int, lo: int, hi: int) -> int:
    """An integer option within ``[lo, hi]``."""
    if not lo <= value <= hi:
        raise UsageError(f"{name}: must be between {lo} and {hi}, got {value}")
    return value


def epoch_ms(name: str, value: int) -> int:
    """Epoch milliseconds within years 2000-2100 (a seconds value is refused, not guessed)."""
    if not EPOCH_MS[0] <= value <= EPOCH_MS[1]:
        raise UsageError(f"{name}: epoch milliseconds between {EPOCH_MS[0]} (2000) and {EPOCH_MS[1]} (2100) "
                         f"expected, got {value}")
    return value
