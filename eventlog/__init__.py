"""Append-only, hash-chained event log (schemas, codec, store, writer, verify)."""

from eventlog.events import Event
from eventlog.store import EventStore

__all__ = ["Event", "EventStore"]
