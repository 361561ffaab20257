"""Generate ``docs/events.md`` from the event schemas (a test keeps the file in sync).

Run ``python -m eventlog.catalogue > docs/events.md`` after changing ``events.py``.
"""

from __future__ import annotations

import inspect
import sys
from typing import Any

import msgspec

from eventlog.events import EVENT_TYPES, HEADER_FIELDS, Event
from eventlog.payloads import PAYLOAD_TYPES
from eventlog.upcast import CURRENT_VERSIONS, UPCASTERS

_NODEFAULT = msgspec.NODEFAULT


def _type_name(t: Any) -> str:
    s = str(t).replace("typing.", "").replace("eventlog.events.", "").replace("eventlog.payloads.", "")
    s = s.replace("<class '", "").replace("'>", "")
    return s.replace("NoneType", "None")


def _fields(cls: type[msgspec.Struct]) -> list[tuple[str, str, str]]:
    info = msgspec.inspect.type_info(cls)
    assert isinstance(info, msgspec.inspect.StructType)
    hints = inspect.get_annotations(cls, eval_str=True)
    for base in cls.__mro__[1:]:
        if base is not object:
            for k, v in inspect.get_annotations(base, eval_str=True).items():
                hints.setdefault(k, v)
    rows = []
    for f in info.fields:
        if f.name in HEADER_FIELDS:
            continue
        if f.default is not _NODEFAULT:
            default = repr(f.default)
        elif f.default_factory is not _NODEFAULT:
            default = repr(f.default_factory())
        else:
            default = "required"
        rows.append((f.name, _type_name(hints.get(f.name, f.type)), default))
    return rows


def render() -> str:
    out = [
        "# Event catalogue",
        "",
        "Generated from `eventlog/events.py` by `python -m eventlog.catalogue` — do not edit by hand;",
        "`tests/unit/test_event_catalogue.py` fails when this file and the schemas disagree.",
        "",
        "Every event is a frozen, keyword-only msgspec Struct in one tagged union (tag field `type`,",
        "the class name). Stored bytes are msgpack - the compact positional payload, fields in the",
        "order below, each type by its permanent code in `eventlog/typecodes.py` (new fields go at",
        "the end) - and each stored row is prefixed with the SHA-256 of its predecessor row (see",
        "`docs/storage.md`).",
        "",
        "## Header (every event)",
        "",
        "| field | meaning |",
        "|---|---|",
        "| `seq` | global sequence number, assigned by the store (the recorder's notification id; not part of the stored bytes) |",
        "| `session_id` | the session that recorded it (UUID hex); the store's originator id |",
        "| `session_seq` | position inside the session (1, 2, ...); the store's originator version |",
        "| `stream` | logical stream: `session`, `market.<SYMBOL>`, `account`, `risk`, `orders`, `alerts`, `venue` ... |",
        "| `ts_event_ns` | when it happened (venue time or the injected clock), ns since the epoch |",
        "| `ts_init_ns` | when the engine recorded it (injected clock), ns since the epoch |",
        "| `v` | schema version of this event type |",
        "",
        "## Events",
        "",
    ]
    for name in sorted(EVENT_TYPES):
        cls = EVENT_TYPES[name]
        doc = inspect.getdoc(cls) or ""
        if doc == inspect.getdoc(Event):
            doc = ""
        out.append(f"### `{name}` (v{CURRENT_VERSIONS.get(name, 1)})")
        out.append("")
        if doc:
            out.append(doc)
            out.append("")
        out.extend(_table(cls))
        steps = sorted(v for (n, v) in UPCASTERS if n == name)
        if steps:
            out.append("Upcasters (`eventlog.upcast`): " + ", ".join(
                f"v{v} -> v{v + 1} `{UPCASTERS[(name, v)].__name__}`" for v in steps))
            out.append("")
    out += [
        "## Payload rows",
        "",
        "Typed rows inside events' list fields (`eventlog/payloads.py`): msgpack maps of their fields.",
        "",
    ]
    for p in sorted(PAYLOAD_TYPES, key=lambda c: c.__name__):
        out.append(f"### `{p.__name__}`")
        out.append("")
        out.append(inspect.getdoc(p) or "")
        out.append("")
        out.extend(_table(p))
    return "\n".join(out)


def _table(cls: type[msgspec.Struct]) -> list[str]:
    rows = ["| field | type | default |", "|---|---|---|"]
    for fname, ftype, default in _fields(cls):
        rows.append(f"| `{fname}` | `{ftype}` | {'required' if default == 'required' else f'`{default}`'} |")
    return [*rows, ""]


if __name__ == "__main__":
    sys.stdout.write(render())
