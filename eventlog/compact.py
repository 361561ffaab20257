"""The compact payload (format 2): an event as positional msgpack, no field names.

A compact payload is ``0xC1 || session UUID (16 bytes) || msgpack array``, the array being

    [type code, session_seq, stream or nil, ts_event_ns, ts_init_ns - ts_event_ns, ±v,
     field 1, field 2, ...]

* the type is its permanent code (``eventlog.typecodes``); the fields follow the class's
  declaration order, trailing fields equal to their default are left out;
* ``stream`` is nil when it is ``market.<symbol>`` (ticks and klines: most of a log);
* a ``float`` field holding ``0.0`` is written as the integer 0 (1 byte instead of 9; an
  event has ~0.9 of them on average); msgspec reads it back as the same float;
* ``seq`` is never stored (the store assigns it), as before;
* the session id is kept exactly as it was spelled: the sign of the ``v`` slot says
  which spelling (+: ``str(UUID)``, 36 characters; -: ``UUID.hex``, 32). An event whose
  session id is spelled otherwise (or whose type has no code) is written as a format-1 map.

``0xC1`` is the one byte msgpack never uses, so a compact payload is told from the
self-describing msgpack map of format 1 by its first byte; both decode. The payload is
self-describing: the session id, the type and every header field are in it, so a
payload decodes alone and the hash chain (over the stored row, ``eventlog.chain``)
covers all of it. The compact SQLite layout keeps the 17-byte preamble out of the
stored row and puts it back on read (``eventlog.sqlite_backend``).

Positional fields mean **new fields go at the end of a class** (with a default); the
layout test (``tests/unit/test_compact_codec.py``) refuses a field inserted before an
existing one. An older ``v`` is upcast from a dict keyed by today's field names.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Union, get_args
from uuid import UUID

import msgspec

from eventlog.events import EVENT_TYPES, HEADER_FIELDS, Event
from eventlog.typecodes import TYPE_CODES
from eventlog.upcast import CURRENT_VERSIONS, upcast

MARK = 0xC1
PREAMBLE = 17  # MARK + 16 bytes of session UUID
_NH = len(HEADER_FIELDS)  # seq, session_id, session_seq, stream, ts_event_ns, ts_init_ns, v
_MIRROR_HEADER = [("session_seq", int), ("stream", Union[str, None]), ("ts_event_ns", int),
                  ("ts_init_ns", int), ("v", int)]


class _Layout:
    """How one event type is written and read back."""

    __slots__ = ("build", "cls", "code", "defaults", "float_slots", "market", "mirror", "name", "names",
                 "symbol_at", "tdefaults")

    def __init__(self, cls: type[Event], code: int):
        fields = [f for f in msgspec.structs.fields(cls) if f.name not in HEADER_FIELDS]
        self.cls = cls
        self.name = cls.__name__
        self.code = code
        self.names = tuple(f.name for f in fields)
        self.defaults = tuple(_default(f) for f in fields)
        # positions in the encoded array (6 header slots first) of the fields typed float
        self.float_slots = tuple(6 + i for i, f in enumerate(fields) if _is_float(f.type))
        self.market = "symbol" in self.names
        # the event tuple's index of ``symbol`` (0: none) and its defaults aligned with the tuple
        self.symbol_at = _NH + self.names.index("symbol") if self.market else 0
        self.tdefaults = (msgspec.NODEFAULT,) * _NH + self.defaults
        spec: list[Any] = list(_MIRROR_HEADER)
        for f, d in zip(fields, self.defaults, strict=True):
            spec.append((f.name, f.type) if d is msgspec.NODEFAULT else (f.name, f.type, d))
        self.mirror = msgspec.defstruct(f"{cls.__name__}Compact", spec, array_like=True, tag=code,
                                        frozen=True, kw_only=True, forbid_unknown_fields=True, gc=False)
        self.build = _builder(cls, self.names, self.market)


def _default(f: msgspec.structs.FieldInfo) -> Any:
    if f.default is not msgspec.NODEFAULT:
        return f.default
    if f.default_factory is not msgspec.NODEFAULT:
        return f.default_factory()
    return msgspec.NODEFAULT


def _is_float(t: Any) -> bool:
    return t is float or (float in get_args(t) and all(a in (float, type(None)) for a in get_args(t)))


def _builder(cls: type[Event], names: tuple[str, ...], market: bool) -> Any:
    """A function (mirror, session_id, seq, v) -> the event: keyword construction, no dicts."""
    stream = "m.stream if m.stream is not None else 'market.' + m.symbol" if market else "m.stream"
    args = "".join(f", {n}=m.{n}" for n in names)
    src = (f"def build(m, sid, seq, v):\n    return cls(seq=seq, session_id=sid, session_seq=m.session_seq, "
           f"stream={stream}, ts_event_ns=m.ts_event_ns, ts_init_ns=m.ts_event_ns + m.ts_init_ns, v=v{args})\n")
    scope: dict[str, Any] = {"cls": cls}
    exec(compile(src, f"<compact builder {cls.__name__}>", "exec"), scope)
    return scope["build"]


LAYOUTS: dict[type[Event], _Layout] = {
    cls: _Layout(cls, TYPE_CODES[name]) for name, cls in EVENT_TYPES.items()
    if name in TYPE_CODES and cls.__struct_fields__[:_NH] == HEADER_FIELDS
}
_BY_MIRROR = {lay.mirror: lay for lay in LAYOUTS.values()}
_BY_CODE = {lay.code: lay for lay in LAYOUTS.values()}
_raw_decoder = msgspec.msgpack.Decoder()
_decoder = msgspec.msgpack.Decoder(Union[tuple(_BY_MIRROR)])  # type: ignore[misc]
_encoder = msgspec.msgpack.Encoder()
_sids_str: dict[bytes, str] = {}  # session UUID bytes -> str(UUID)
_sids_hex: dict[bytes, str] = {}  # session UUID bytes -> UUID.hex
_uuid_bytes: dict[str, tuple[bytes, int, bytes]] = {}  # id -> (UUID bytes, sign, preamble)
_market: dict[str, str] = {}  # symbol -> "market.<symbol>"
_astuple = msgspec.structs.astuple


def encodable(event: Event) -> bool:
    return type(event) in LAYOUTS and _spelling(event.session_id) is not None


def _spelling(sid: str) -> tuple[bytes, int, bytes] | None:
    """(UUID bytes, +1 for str(UUID) / -1 for UUID.hex, the payload preamble) of a session id,
    None for any other spelling."""
    got = _uuid_bytes.get(sid)
    if got is None:
        try:
            u = UUID(sid)
        except (ValueError, TypeError, AttributeError):
            return None
        sign = 1 if sid == str(u) else -1 if sid == u.hex else 0
        if not sign:
            return None
        if len(_uuid_bytes) > 4096:
            _uuid_bytes.clear()
        got = _uuid_bytes[sid] = (u.bytes, sign, bytes((MARK,)) + u.bytes)
    return got


def encode_if(event: Event) -> bytes | None:
    """The compact payload of ``event``, or None when it cannot have one (``encodable``):
    the writer's one call per event, instead of a check and an encode."""
    got = _uuid_bytes.get(event.session_id)
    if type(event) not in LAYOUTS or (got is None and _spelling(event.session_id) is None):
        return None
    return encode(event)


def encode(event: Event) -> bytes:
    """The compact payload of ``event`` (its type must have a code: ``encodable``).

    Runs once per event on the writer's thread: kept to one tuple, one list and one
    msgspec call (the zero check only touches the type's float fields)."""
    lay = LAYOUTS[type(event)]
    t = _astuple(event)
    sid = t[1]
    spelled = _uuid_bytes.get(sid) or _spelling(sid)
    if spelled is None:
        raise ValueError(f"session id {sid!r} is not spelled as str(UUID) or UUID.hex")
    ts, stream = t[4], t[3]
    if lay.symbol_at and stream == (_market.get(t[lay.symbol_at]) or _market_stream(t[lay.symbol_at])):
        stream = None
    k = len(t)
    tdef = lay.tdefaults
    while k > _NH and t[k - 1] == tdef[k - 1] and type(t[k - 1]) is type(tdef[k - 1]):
        k -= 1
    out = [lay.code, t[2], stream, ts, t[5] - ts, t[6] * spelled[1], *t[_NH:k]]
    n = len(out)
    for j in lay.float_slots:  # positions in ``out``
        if j < n and out[j] == 0.0 and type(out[j]) is float and math.copysign(1.0, out[j]) > 0:
            out[j] = 0
    return spelled[2] + _encoder.encode(out)


def _market_stream(symbol: Any) -> str | None:
    if not isinstance(symbol, str):
        return None
    if len(_market) > 4096:
        _market.clear()
    got = _market[symbol] = "market." + symbol
    return got


def session_id_of(raw16: bytes, sign: int) -> str:
    cache = _sids_str if sign > 0 else _sids_hex
    sid = cache.get(raw16)
    if sid is None:
        if len(cache) > 4096:
            cache.clear()
        u = UUID(bytes=raw16)
        sid = cache[raw16] = str(u) if sign > 0 else u.hex
    return sid


def decode(payload: bytes | memoryview, seq: int = 0) -> Event:
    """The event of a compact payload (msgspec errors propagate; ``codec.decode`` wraps them)."""
    if len(payload) <= PREAMBLE:
        raise ValueError("compact payload shorter than its session id")
    mv = memoryview(payload)
    try:
        m = _decoder.decode(mv[PREAMBLE:])
    except msgspec.ValidationError:
        old = _old_shape(mv, seq)  # an older version whose shape no longer fits today's class
        if old is None:
            raise
        return old
    v = m.v
    if v > 0:
        ev: Event = _BY_MIRROR[type(m)].build(m, session_id_of(bytes(mv[1:PREAMBLE]), 1), seq, v)
    elif v < 0:
        ev = _BY_MIRROR[type(m)].build(m, session_id_of(bytes(mv[1:PREAMBLE]), -1), seq, -v)
    else:
        raise ValueError("compact payload: version slot is 0")
    if ev.v != (CURRENT_VERSIONS.get(type(ev).__name__, 1) if CURRENT_VERSIONS else 1):
        name = type(ev).__name__
        raw = msgspec.structs.asdict(ev)
        raw.pop("seq")
        raw["type"] = name
        try:
            ev = msgspec.convert(upcast(raw), EVENT_TYPES[name])
        except Exception as exc:
            raise ValueError(f"upcast of {name} v{ev.v} failed: {exc}") from exc
        if seq:
            ev = msgspec.structs.replace(ev, seq=seq)
    return ev


def decode_stored(rows: list[Any], sids: dict[int, tuple[str, str]], slow: Callable[[Any], Event]) -> list[Event]:
    """The events of a page of rows of the compact SQLite layout *as stored*: (seq, session
    number, version, type code, link + payload without its 17-byte preamble).

    ``sids`` gives a session number's two spellings (``str(UUID)``, ``UUID.hex``: the sign
    of the ``v`` slot picks one, as in ``decode``). The common row - a known session, a
    compact payload at its type's current version - is decoded here, straight from the
    stored bytes and without putting the preamble back; ``slow(row)`` decodes any other
    row (an older version to upcast, a map payload, damage: it raises what ``codec.decode``
    raises). Each event equals what ``decode`` gives for the row's full payload
    (``tests/unit/test_read_path.py``)."""
    out: list[Event] = []
    append = out.append
    dec = _decoder.decode
    by_mirror = _BY_MIRROR
    current = CURRENT_VERSIONS.get
    for r in rows:
        st = r[4]
        s = sids.get(r[1])
        if s is not None and type(st) is bytes and len(st) > 32 and st[32] in ARRAY_START:
            try:
                m = dec(memoryview(st)[32:])
            except Exception:
                append(slow(r))
                continue
            lay = by_mirror[type(m)]
            v = m.v
            want = current(lay.name, 1)
            if v == want:
                append(lay.build(m, s[0], r[0], v))
            elif v == -want:
                append(lay.build(m, s[1], r[0], want))
            else:
                append(slow(r))
        else:
            append(slow(r))
    return out


def _old_shape(mv: memoryview, seq: int) -> Event | None:
    """An old version's payload as a dict keyed by today's field names, upcast; None when the
    payload is not an older version (then its validation error stands)."""
    vals = _raw_decoder.decode(mv[PREAMBLE:])
    if not isinstance(vals, list) or len(vals) < 6 or not isinstance(vals[5], int) or not vals[5]:
        return None
    lay = _BY_CODE.get(vals[0])
    v = abs(vals[5])
    if lay is None or v >= CURRENT_VERSIONS.get(lay.cls.__name__, 1):
        return None
    sid = session_id_of(bytes(mv[1:PREAMBLE]), vals[5])
    raw: dict[str, Any] = dict(zip(lay.names, vals[6:], strict=False))
    raw.update(type=lay.cls.__name__, session_id=sid, session_seq=vals[1], ts_event_ns=vals[3],
               ts_init_ns=vals[3] + vals[4], v=v,
               stream=vals[2] if vals[2] is not None else "market." + str(raw.get("symbol")))
    try:
        ev: Event = msgspec.convert(upcast(raw), EVENT_TYPES[lay.cls.__name__])
    except Exception as exc:
        raise ValueError(f"upcast of {lay.cls.__name__} v{v} failed: {exc}") from exc
    return msgspec.structs.replace(ev, seq=seq) if seq else ev


# -- the compact SQLite layout: the preamble lives in the row key, not in the row ---------------

ARRAY_START = frozenset([*range(0x90, 0xA0), 0xDC, 0xDD])  # first bytes of a msgpack array


def split_preamble(payload: bytes) -> tuple[bytes | None, bytes]:
    """(session UUID bytes, rest) of a compact payload; (None, payload) for any other payload."""
    if len(payload) > PREAMBLE and payload[0] == MARK:
        return payload[1:PREAMBLE], payload[PREAMBLE:]
    return None, payload


def stored_without_preamble(body: bytes) -> bool:
    """Whether stored bytes are a compact payload whose preamble was left out (a msgpack array)."""
    return len(body) > 0 and body[0] in ARRAY_START
