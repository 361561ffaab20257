"""msgspec codec for events: compact msgpack bytes, typed decoding, upcasting.

Two payload formats decode (``docs/storage.md``): format 1, a msgpack map with field
names (every log written before the compact format), and format 2, the compact
positional payload of ``eventlog.compact`` (first byte ``0xC1``), which ``encode``
writes. Encoded bytes never contain ``seq`` (the store assigns it); a new field with a
default keeps old payloads decodable.
"""

from __future__ import annotations

from typing import Any

import msgspec

from eventlog.compact import MARK as _COMPACT
from eventlog.compact import decode as _decode_compact
from eventlog.compact import encode_if as _encode_if
from eventlog.events import EVENT_TYPES, AnyEvent, Event
from eventlog.upcast import CURRENT_VERSIONS, upcast

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(AnyEvent)
_raw_decoder = msgspec.msgpack.Decoder()
_json_encoder = msgspec.json.Encoder()


class DecodeError(ValueError):
    """A stored payload that does not decode into a known event."""


def encode(event: Event) -> bytes:
    """Encode an event, compact (format 2) when its type has a code; its ``seq`` is never stored."""
    got = _encode_if(event)
    return got if got is not None else encode_map(event)


def encode_map(event: Event) -> bytes:
    """The self-describing msgpack map of format 1 (``seq`` dropped)."""
    if event.seq:
        event = msgspec.structs.replace(event, seq=0)
    return _encoder.encode(event)


def decode(payload: bytes | memoryview, seq: int = 0) -> Event:
    """Decode one stored payload (either format) into its event, upcasting old versions."""
    if len(payload) and payload[0] == _COMPACT:
        try:
            return _decode_compact(payload, seq)
        except DecodeError:
            raise
        except Exception as exc:  # msgspec errors, a bad UUID, a failing upcaster: all bad input
            raise DecodeError(f"compact payload: {type(exc).__name__}: {exc}") from exc
    try:
        event: Event = _decoder.decode(payload)
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError, TypeError) as exc:
        # ValueError covers UnicodeDecodeError: a corrupted str byte is bad input, too.
        old = _old_version(payload)
        if old is None:  # a current payload that does not decode: bad input
            raise DecodeError(f"{type(exc).__name__}: {exc}") from exc
        return _upcast(payload, *old, seq)
    name = type(event).__name__
    if event.v != CURRENT_VERSIONS.get(name, 1):
        return _upcast(payload, name, event.v, seq)
    if seq:
        event = msgspec.structs.replace(event, seq=seq)
    return event


def _old_version(payload: bytes | memoryview) -> tuple[str, int] | None:
    """(type, v) of a payload written before its type's current version (its old shape
    need not decode into the new schema), else None."""
    try:
        raw = _raw_decoder.decode(payload)
        name, version = raw["type"], int(raw.get("v", 1))
    except Exception:
        return None
    return (name, version) if version < CURRENT_VERSIONS.get(name, 1) else None


def _upcast(payload: bytes | memoryview, name: str, version: int, seq: int) -> Event:
    try:
        raw = _raw_decoder.decode(payload)
        event: Event = msgspec.convert(upcast(raw), AnyEvent)
    except Exception as exc:  # any failing upcaster is a decode error naming the type
        raise DecodeError(f"upcast of {name} v{version} failed: {exc}") from exc
    if seq:
        event = msgspec.structs.replace(event, seq=seq)
    return event


def type_name(event: Event) -> str:
    return type(event).__name__


def to_builtins(event: Event) -> dict[str, Any]:
    """Plain dict with a ``type`` key (for JSON output, audit tables, docs)."""
    out: dict[str, Any] = msgspec.to_builtins(event)
    return out


def to_json(event: Event) -> bytes:
    return _json_encoder.encode(event)


def event_class(name: str) -> type[Event]:
    try:
        return EVENT_TYPES[name]
    except KeyError:
        raise DecodeError(f"unknown event type {name!r}") from None
