"""One way to turn a failed exchange call into a ``VenueError`` update.

Every REST read or parse the adapter does goes through ``Faults.attempt``: it returns
``(value, [])`` on success, ``(None, [VenueError])`` when the call raised a
``RestError`` (HTTP / network / rate limit) or a ``WireError`` (a payload that does not
parse). Messages are redacted before they are recorded; the raw upstream body is never
stored verbatim (only the parsed Binance code and the redacted message).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from engine.ports import VenueUpdate
from engine.venues.binance.client import BinanceRest, RestError
from engine.venues.binance.convert import STREAM_VENUE, venue_error
from engine.venues.binance.env import Redactor
from engine.venues.binance.wire import WireError
from eventlog.events import VenueClockSynced

T = TypeVar("T")


class VenueStartError(ConnectionError):
    """The venue cannot start safely (no exchange filters, account unreadable).
    ``transient``: every failure was one worth trying again (network, 5xx, rate limit)."""

    def __init__(self, message: str, transient: bool = False):
        super().__init__(message)
        self.transient = transient


def transient(updates: list[VenueUpdate]) -> bool:
    """Every VenueError here is a network error, a 5xx or a rate limit (not a refusal)."""
    return bool(updates) and all(u.fields["kind"] == "rate_limit" or u.fields["field"] == "HTTP 0"
                                 or str(u.fields["field"]).startswith("HTTP 5") for u in updates)


def describe(updates: list[VenueUpdate]) -> str:
    """``source field: message; ...`` of VenueError updates (for a start failure)."""
    return "; ".join(f"{u.fields['source']} {u.fields['field']}: {u.fields['message']}" for u in updates)


class Faults:
    """Builds redacted ``VenueError`` updates stamped with the venue's clock."""

    def __init__(self, redact: Redactor, now_ns: Callable[[], int]):
        self.redact = redact
        self.now_ns = now_ns

    def err(self, source: str, kind: str, field_: str, message: str, raw: Any = "") -> VenueUpdate:
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        return venue_error(source, kind, field_, self.redact(message), self.now_ns(), self.redact(text))

    def rest(self, exc: RestError, field: str = "") -> VenueUpdate:
        kind = "rate_limit" if exc.rate_limited else "http"
        where = field or ("Retry-After" if exc.rate_limited else f"HTTP {exc.status}")
        return self.err(f"rest.{exc.endpoint}", kind, where, str(exc))

    def attempt(self, source: str, fn: Callable[[], T], field: str = "") -> tuple[T | None, list[VenueUpdate]]:
        """Run one exchange call (and its parsing); failures become one VenueError."""
        try:
            return fn(), []
        except RestError as exc:
            return None, [self.rest(exc, field)]
        except WireError as exc:
            return None, [self.err(source, "parse", exc.field, exc.message)]

    def notices(self, rest: BinanceRest) -> list[VenueUpdate]:
        """What the REST client noticed since the last call: clock syncs (``VenueClockSynced``)
        and rate-limit answers (429/418, as VenueErrors)."""
        out: list[VenueUpdate] = []
        while rest.clock_syncs:
            offset, rtt, reason = rest.clock_syncs.popleft()
            out.append(VenueUpdate(VenueClockSynced, STREAM_VENUE, self.now_ns(),
                                   {"offset_ms": offset, "rtt_ms": rtt, "reason": reason}))
        while rest.notices:
            endpoint, status, code, message, pause = rest.notices.popleft()
            out.append(self.err(f"rest.{endpoint}", "rate_limit", "Retry-After",
                                f"HTTP {status} code {code}: {message}; backing off {pause:g}s"))
        return out
