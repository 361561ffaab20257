"""Object state as plain data: a fold's in-memory state to msgpack and back, executing nothing.

``to_data(obj, allow)`` walks an object graph and returns a tree of msgpack-native
values (None, bool, int, float, str, bytes and lists); ``from_data(tree, allow)``
rebuilds it. Containers are tagged lists (``["D", [[k, v], ...]]`` for a dict,
``["Q", maxlen, [...]]`` for a deque, ...). Instances are stored as
``["C", "module:Qualname", [[attr, value], ...]]`` and msgspec Structs as
``["M", "module:Qualname", [[field, value], ...]]``.

Why not pickle: loading a pickle runs whatever callable the file names. Here a
class is only looked up when its module is inside ``allow`` (module-name prefixes,
e.g. ``("projections.", "config.schema")``); an instance is created with
``object.__new__`` and its attributes are set directly (no ``__init__``,
``__setstate__`` or ``__reduce__``); a Struct is made by its own constructor from
data. Any other tag, class or type is refused with ``StateDataError``.

Encoding refuses what it cannot represent (functions, open files, ...), naming
the attribute path, so a fold that grows such a field fails its tests at once.
Sets are written sorted (by encoded bytes) so equal states give equal bytes.
"""

from __future__ import annotations

import importlib
import sys
from collections import OrderedDict, deque
from collections.abc import Sequence
from typing import Any

import msgspec

_INT64 = (-(2**63), 2**64 - 1)
_mp = msgspec.msgpack.Encoder()


class StateDataError(ValueError):
    """A value that cannot be written as data, or data that does not rebuild."""


def _allowed(module: str, allow: Sequence[str]) -> bool:
    return any(module == a.rstrip(".") or (a.endswith(".") and module.startswith(a)) for a in allow)


def _class(name: object, allow: Sequence[str]) -> type:
    if not isinstance(name, str) or ":" not in name:
        raise StateDataError(f"bad class name {name!r}")
    module, qual = name.split(":", 1)
    if not _allowed(module, allow):
        raise StateDataError(f"class {name} is not allowed here")
    mod = sys.modules.get(module) or importlib.import_module(module)
    obj: Any = mod
    for part in qual.split("."):
        if part.startswith("__"):
            raise StateDataError(f"bad class name {name!r}")
        obj = getattr(obj, part, None)
    if not isinstance(obj, type) or obj.__module__ != module:
        raise StateDataError(f"{name} is not a class of {module}")
    return obj


def _slots(cls: type) -> list[str]:
    out: list[str] = []
    for c in reversed(cls.__mro__):
        s = c.__dict__.get("__slots__", ())
        out.extend([s] if isinstance(s, str) else [x for x in s if x not in ("__dict__", "__weakref__")])
    return out


def to_data(obj: Any, allow: Sequence[str], path: str = "$") -> Any:
    """``obj`` as msgpack-native data (see the module docstring)."""
    if obj is None or isinstance(obj, bool | float | str | bytes):
        return obj
    if isinstance(obj, int):
        return obj if _INT64[0] <= obj <= _INT64[1] else ["I", str(obj)]
    t = type(obj)
    if t is list:
        return ["L", [to_data(v, allow, f"{path}[{i}]") for i, v in enumerate(obj)]]
    if t is tuple:
        return ["T", [to_data(v, allow, f"{path}[{i}]") for i, v in enumerate(obj)]]
    if t is dict or t is OrderedDict:
        items = [[to_data(k, allow, f"{path}.<key>"), to_data(v, allow, f"{path}.{k}")] for k, v in obj.items()]
        return ["D" if t is dict else "O", items]
    if t is deque:
        return ["Q", obj.maxlen, [to_data(v, allow, f"{path}[{i}]") for i, v in enumerate(obj)]]
    if t is set or t is frozenset:
        enc = [to_data(v, allow, f"{path}{{}}") for v in obj]
        enc.sort(key=_mp.encode)
        return ["S" if t is set else "F", enc]
    name = f"{t.__module__}:{t.__qualname__}"
    if not _allowed(t.__module__, allow):
        raise StateDataError(f"{path}: cannot store a {name} (not an allowed class)")
    if isinstance(obj, msgspec.Struct):
        return ["M", name, [[f, to_data(getattr(obj, f), allow, f"{path}.{f}")] for f in obj.__struct_fields__]]
    attrs: list[list[Any]] = []
    for k in _slots(t):
        if hasattr(obj, k):
            attrs.append([k, to_data(getattr(obj, k), allow, f"{path}.{k}")])
    d = getattr(obj, "__dict__", None)
    if d is not None:
        attrs.extend([k, to_data(v, allow, f"{path}.{k}")] for k, v in d.items())
    if callable(obj) and not attrs:
        raise StateDataError(f"{path}: cannot store a callable {name}")
    return ["C", name, attrs]


def from_data(data: Any, allow: Sequence[str]) -> Any:
    """Rebuild what ``to_data`` wrote; refuses anything else with ``StateDataError``."""
    if data is None or isinstance(data, bool | int | float | str | bytes):
        return data
    if not isinstance(data, list) or not data or not isinstance(data[0], str):
        raise StateDataError(f"unexpected value of type {type(data).__name__}")
    tag = data[0]
    try:
        if tag == "L":
            return [from_data(v, allow) for v in data[1]]
        if tag == "T":
            return tuple(from_data(v, allow) for v in data[1])
        if tag in ("D", "O"):
            pairs = [(from_data(k, allow), from_data(v, allow)) for k, v in data[1]]
            return dict(pairs) if tag == "D" else OrderedDict(pairs)
        if tag == "Q":
            maxlen = data[1]
            if maxlen is not None and (not isinstance(maxlen, int) or maxlen < 0):
                raise StateDataError(f"bad deque maxlen {maxlen!r}")
            return deque((from_data(v, allow) for v in data[2]), maxlen)
        if tag in ("S", "F"):
            items = [from_data(v, allow) for v in data[1]]
            return set(items) if tag == "S" else frozenset(items)
        if tag == "I":
            return int(data[1])
        if tag == "M":
            cls = _class(data[1], allow)
            if not issubclass(cls, msgspec.Struct):
                raise StateDataError(f"{data[1]} is not a Struct")
            return cls(**{str(k): from_data(v, allow) for k, v in data[2]})
        if tag == "C":
            cls = _class(data[1], allow)
            if issubclass(cls, msgspec.Struct | BaseException):
                raise StateDataError(f"{data[1]} cannot be rebuilt as a plain object")
            obj = object.__new__(cls)
            slots = set(_slots(cls))
            for k, v in data[2]:
                if not isinstance(k, str) or k.startswith("__"):
                    raise StateDataError(f"bad attribute name {k!r} for {data[1]}")
                val = from_data(v, allow)
                if k in slots:
                    object.__setattr__(obj, k, val)
                else:
                    obj.__dict__[k] = val
            return obj
    except StateDataError:
        raise
    except (TypeError, ValueError, IndexError, AttributeError, ImportError) as exc:
        raise StateDataError(f"malformed {tag!r} value ({type(exc).__name__}: {exc})") from None
    raise StateDataError(f"unknown tag {tag!r}")
