"""Event builders and Hypothesis strategies for store, codec and chain tests.

``events_strategy()`` draws any event type with field values generated from the
schema itself (``msgspec.inspect``), so a new event type or field is covered
without touching the tests. ``tick()``/``session_events()`` build small concrete
logs fast (the 1,000,000-event test uses them).
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from hypothesis import strategies as st

from eventlog.events import (
    EVENT_TYPES,
    HEADER_FIELDS,
    Event,
    MarketTick,
    SessionEnded,
    SessionStarted,
)

T0 = 1_700_000_000_000_000_000

_finite = st.floats(allow_nan=False, allow_infinity=False)
_text = st.text(max_size=12)
_scalar = st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53), _finite, _text)
_json = st.recursive(
    _scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_text, inner, max_size=3)),
    max_leaves=8,
)


def _for(t: msgspec.inspect.Type) -> st.SearchStrategy[Any]:
    """A strategy for one msgspec type description."""
    mi = msgspec.inspect
    if isinstance(t, mi.IntType):
        return st.integers(-(2**63), 2**63 - 1)
    if isinstance(t, mi.FloatType):
        return _finite
    if isinstance(t, mi.StrType):
        return st.text(max_size=20)
    if isinstance(t, mi.BoolType):
        return st.booleans()
    if isinstance(t, mi.NoneType):
        return st.none()
    if isinstance(t, mi.AnyType):
        return _json
    if isinstance(t, mi.LiteralType):
        return st.sampled_from(list(t.values))
    if isinstance(t, mi.UnionType):
        return st.one_of(*[_for(x) for x in t.types])
    if isinstance(t, mi.ListType):
        return st.lists(_for(t.item_type), max_size=4)
    if isinstance(t, mi.DictType):
        return st.dictionaries(_for(t.key_type), _for(t.value_type), max_size=4)
    if isinstance(t, mi.StructType):  # a nested payload row (eventlog.payloads)
        return st.fixed_dictionaries(
            {f.name: _for(f.type) for f in t.fields if f.required},
            optional={f.name: _for(f.type) for f in t.fields if not f.required},
        ).map(lambda kw: t.cls(**kw))
    raise NotImplementedError(f"no strategy for {t!r}")


@st.composite
def _event(draw: st.DrawFn, cls: type[Event], session_id: str | None, session_seq: int | None) -> Event:
    info = msgspec.inspect.type_info(cls)
    kw: dict[str, Any] = {}
    for f in info.fields:  # type: ignore[attr-defined]
        if f.name in ("seq", "v"):
            continue
        if f.name == "session_id":
            kw[f.name] = session_id or draw(st.uuids()).hex
        elif f.name == "session_seq":
            kw[f.name] = session_seq if session_seq is not None else draw(st.integers(1, 2**40))
        elif f.name in ("ts_event_ns", "ts_init_ns"):
            kw[f.name] = draw(st.integers(0, 2**63 - 1))
        elif f.required or draw(st.booleans()):
            kw[f.name] = draw(_for(f.type))
    return cls(**kw)


def event_strategy(session_id: str | None = None, session_seq: int | None = None) -> st.SearchStrategy[Event]:
    """Any event type, any field values the schema admits."""
    return st.sampled_from(sorted(EVENT_TYPES)).flatmap(
        lambda name: _event(EVENT_TYPES[name], session_id, session_seq)
    )


def event_of(cls: type[Event]) -> st.SearchStrategy[Event]:
    """Events of one type."""
    return _event(cls, None, None)


@st.composite
def session_logs(draw: st.DrawFn, max_events: int = 30) -> list[Event]:
    """A list of events with valid, unique (session_id, session_seq) keys (1..3 sessions)."""
    sids = [uuid.UUID(int=draw(st.integers(1, 2**128 - 1))).hex for _ in range(draw(st.integers(1, 3)))]
    sids = list(dict.fromkeys(sids))
    n = draw(st.integers(0, max_events))
    nxt = dict.fromkeys(sids, 1)
    out = []
    for _ in range(n):
        sid = draw(st.sampled_from(sids))
        out.append(draw(event_strategy(sid, nxt[sid])))
        nxt[sid] += 1
    return out


def new_session_id() -> str:
    return uuid.uuid4().hex


def started(sid: str, seq: int = 1, *, ts: int = T0, symbols: tuple[str, ...] = ("BTCUSDT",)) -> SessionStarted:
    return SessionStarted(
        session_id=sid, session_seq=seq, stream="session", ts_event_ns=ts, ts_init_ns=ts,
        engine_version="test", mode="sim", venue="sim", symbols=list(symbols), config={"k": 1},
        config_hash="c" * 64,
    )


def ended(sid: str, seq: int, *, ts: int = T0, reason: str = "normal") -> SessionEnded:
    return SessionEnded(session_id=sid, session_seq=seq, stream="session", ts_event_ns=ts, ts_init_ns=ts,
                        reason=reason)


def tick(sid: str, seq: int, *, symbol: str = "BTCUSDT", price: float = 100.0) -> MarketTick:
    ts = T0 + seq * 1_000_000
    return MarketTick(session_id=sid, session_seq=seq, stream=f"market.{symbol}", ts_event_ns=ts,
                      ts_init_ns=ts, symbol=symbol, bid=price, ask=price + 0.5)


def session_events(sid: str, n_ticks: int, *, end: bool = True, first_seq: int = 1) -> list[Event]:
    """SessionStarted, ``n_ticks`` MarketTicks, SessionEnded (when ``end``)."""
    evs: list[Event] = [started(sid, first_seq)]
    evs += [tick(sid, first_seq + i, price=100.0 + i) for i in range(1, n_ticks + 1)]
    if end:
        evs.append(ended(sid, first_seq + n_ticks + 1))
    return evs


def without_header(ev: Event, drop: tuple[str, ...] = ("seq",)) -> dict[str, Any]:
    """An event as a dict, minus the header fields named in ``drop``."""
    d = msgspec.to_builtins(ev)
    for k in drop:
        assert k in HEADER_FIELDS
        d.pop(k, None)
    return d
