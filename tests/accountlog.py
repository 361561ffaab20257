"""Compare two logs of one account decision by decision (resume-equivalence tests).

An account run as one session and the same account run as several sessions must
record the same market inputs, intents, risk decisions (with their observations),
orders, fills and account readings. What may differ is only what names a session:
session ids and ``session_seq`` (so the ids derived from them and ``state_refs``),
the session boundary events, and the filters each connect re-states.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec

from eventlog.events import Event
from eventlog.store import EventStore

BOUNDARY = {"SessionStarted", "SessionEnded", "AccountOpened", "ExchangeFiltersLoaded"}
# fields that cite a session_seq (they name a position in their own session)
_HEADER = {"seq", "session_id", "session_seq", "ts_init_ns", "state_refs", "kline_ref", "trigger_seq"}
_ID = re.compile(r"\b[0-9a-f]{8}-[IDPO]\d+(?:-\d+)?\b")


class _Ids:
    def __init__(self) -> None:
        self.names: dict[str, str] = {}

    def sub(self, text: str) -> str:
        def one(m: re.Match[str]) -> str:
            k = m.group(0)
            v = self.names.get(k)
            if v is None:
                v = self.names[k] = f"{k[9]}#{len(self.names)}"
            return v

        return _ID.sub(one, text)

    def walk(self, v: Any) -> Any:
        if isinstance(v, str):
            return self.sub(v)
        if isinstance(v, dict):
            return {k: self.walk(x) for k, x in v.items() if k != "state_refs"}
        if isinstance(v, list | tuple):
            return [self.walk(x) for x in v]
        return v


def account_events(home: Path, account: str = "main") -> list[Event]:
    from engine.resume import account_events as _events
    from eventlog.accounts import account_index

    with EventStore.open(home, create=False) as store:
        info = account_index(store)[account]
        return list(_events(store, info))


def normalised(events: list[Event]) -> list[dict[str, Any]]:
    ids = _Ids()
    out = []
    for ev in events:
        name = type(ev).__name__
        if name in BOUNDARY:
            continue
        d = msgspec.structs.asdict(ev)
        row = {k: ids.walk(v) for k, v in d.items() if k not in _HEADER and k != "state_refs"}
        row["type"] = name
        out.append(row)
    return out


def first_difference(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> str | None:
    """None when equal, else where and how the two streams first differ."""
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            keys = sorted(k for k in set(x) | set(y) if x.get(k) != y.get(k))
            return (f"event #{i} differs ({x.get('type')} vs {y.get('type')}): "
                    + "; ".join(f"{k}: {x.get(k)!r} != {y.get(k)!r}" for k in keys[:6]))
    if len(a) != len(b):
        longer = a if len(a) > len(b) else b
        return f"lengths differ: {len(a)} vs {len(b)} (first extra: {longer[min(len(a), len(b))]})"
    return None
