"""Python values -> Arrow arrays for the audit tables, without ``pa.array``.

``pa.array`` (and ``pa.scalar``) asks pyarrow's pandas shim whether its argument is
"array-like", which imports pandas on the first call: +47 MB of RSS and 0.4-1 s of
CPU in a process that never uses it (the projection follower). These builders go
through numpy and ``pa.Array.from_buffers`` instead, which never consult the shim.
They give arrays equal to ``pa.array(values, type)`` for the types the audit schemas
use (``tests/unit/test_audit_arrow.py`` proves it, and that the Parquet bytes agree):
int64, float64, bool, string, timestamp (from int nanoseconds / milliseconds),
list<string>; ``None`` is null everywhere, NaN stays NaN.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

_NUMERIC = {pa.int64(): np.int64, pa.float64(): np.float64}


def _validity(values: Sequence[Any]) -> tuple[pa.Buffer | None, int, np.ndarray | None]:
    """(bitmap, null count, mask of valid slots) - no bitmap when nothing is null."""
    if None not in values:  # C-level scan; the common case
        return None, 0, None
    valid = np.fromiter((v is not None for v in values), np.bool_, len(values))
    nulls = len(values) - int(valid.sum())
    return pa.py_buffer(np.packbits(valid, bitorder="little")), nulls, valid


def bools_mask(mask: np.ndarray) -> pa.Array:
    """A numpy bool array as an Arrow boolean array (no nulls)."""
    n = len(mask)
    return pa.Array.from_buffers(pa.bool_(), n, [None, pa.py_buffer(np.packbits(mask, bitorder="little"))])


def strings(values: Sequence[Any]) -> pa.Array:
    """str | None values -> an Arrow ``string`` array."""
    bitmap, nulls, _ = _validity(values)
    n = len(values)
    if not nulls:
        joined = "".join(values)
        if joined.isascii():  # ids, types, streams, symbols: a byte per character, two C calls
            offsets = np.zeros(n + 1, np.int32)
            np.cumsum(np.fromiter(map(len, values), np.int32, n), out=offsets[1:])
            return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets),
                                                          pa.py_buffer(joined.encode("ascii"))])
    enc = [b"" if v is None else v.encode() for v in values]
    offsets = np.zeros(n + 1, np.int32)
    np.cumsum(np.fromiter(map(len, enc), np.int32, n), out=offsets[1:])
    return pa.Array.from_buffers(pa.string(), n, [bitmap, pa.py_buffer(offsets), pa.py_buffer(b"".join(enc))],
                                 null_count=nulls)


def lines(blob: bytes) -> pa.Array:
    """Newline-terminated JSON lines (``Encoder.encode_lines``) -> one ``string`` per line.

    JSON never holds a raw newline, so every ``\\n`` ends a line: the offsets come from
    their positions and the data is the blob without them - no bytes object per line.
    """
    ends = np.flatnonzero(np.frombuffer(blob, np.uint8) == 10)
    n = len(ends)
    offsets = np.zeros(n + 1, np.int32)
    offsets[1:] = ends - np.arange(n)  # each earlier newline shifts the data left by one
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets),
                                                  pa.py_buffer(blob.replace(b"\n", b""))])


def string_lists(values: Sequence[Sequence[str]]) -> pa.Array:
    """Lists of str (no null lists) -> an Arrow ``list<string>`` array."""
    n = len(values)
    offsets = np.zeros(n + 1, np.int32)
    np.cumsum(np.fromiter(map(len, values), np.int32, n), out=offsets[1:])
    flat = strings([s for v in values for s in v])
    off = pa.Array.from_buffers(pa.int32(), n + 1, [None, pa.py_buffer(offsets)])
    return pa.ListArray.from_arrays(off, flat)


def column(values: Sequence[Any], typ: pa.DataType) -> pa.Array:
    """One column of an audit table: ``values`` as an Arrow array of ``typ``."""
    if typ == pa.string():
        return strings(values)
    if pa.types.is_list(typ):
        return string_lists(values)
    bitmap, nulls, valid = _validity(values)
    n = len(values)
    if pa.types.is_boolean(typ):
        vals = np.fromiter((bool(v) for v in values), np.bool_, n) if nulls else np.array(values, np.bool_)
        data = pa.py_buffer(np.packbits(vals, bitorder="little"))
        return pa.Array.from_buffers(typ, n, [bitmap, data], null_count=nulls)
    dtype = np.int64 if pa.types.is_timestamp(typ) else _NUMERIC.get(typ)
    if dtype is None:
        raise TypeError(f"audit column type {typ} has no builder")
    if nulls:
        assert valid is not None
        arr = np.zeros(n, dtype)
        arr[valid] = [v for v in values if v is not None]
    else:
        arr = np.array(values, dtype)
    return pa.Array.from_buffers(typ, n, [bitmap, pa.py_buffer(arr)], null_count=nulls)


def dense(values: Iterable[Any], n: int, typ: pa.DataType) -> pa.Array:
    """``n`` numbers that are never None (ids, times, prices of a typed event) straight into
    an int64 / float64 / timestamp array: no list, no validity bitmap."""
    dtype = np.int64 if pa.types.is_timestamp(typ) else _NUMERIC[typ]
    return pa.Array.from_buffers(typ, n, [None, pa.py_buffer(np.fromiter(values, dtype, n))])
