"""State-file I/O: canonical JSON, atomic writes, append-only JSONL with seq dedupe.

Everything a projection writes goes through here, so every file is written the
same way: temp file in the same directory, ``fsync``, ``rename`` (readers never
see half a file), JSON with sorted keys and non-finite floats turned into
``null`` (a rebuild gives the same bytes).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any


class StateFileError(ValueError):
    """A state or projection file that cannot be read (corrupt, truncated, wrong shape)."""


def clean(obj: Any) -> Any:
    """Recursively replace NaN/inf with None (JSON has no such numbers)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [clean(v) for v in obj]
    return obj


def dumps(obj: Any) -> bytes:
    """Canonical JSON bytes of a state document (sorted keys, indent 2, newline)."""
    return (json.dumps(clean(obj), sort_keys=True, indent=2, allow_nan=False, ensure_ascii=False) + "\n").encode()


def dumps_line(obj: Any) -> bytes:
    """One compact canonical JSON line (for JSONL)."""
    return (json.dumps(clean(obj), sort_keys=True, separators=(",", ":"), allow_nan=False, ensure_ascii=False) + "\n").encode()


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, *, sync_dir: bool = False) -> None:
    """Write ``data`` to ``path`` via a temp file, fsync and rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    if sync_dir:
        _fsync_dir(path.parent)


def write_json(path: Path, doc: dict[str, Any] | list[Any]) -> bool:
    """Atomically write a state document; skips the write when the bytes are unchanged."""
    data = dumps(doc)
    try:
        if path.read_bytes() == data:
            return False
    except OSError:
        pass
    atomic_write(path, data)
    return True


def read_json(path: Path) -> dict[str, Any]:
    """Read a state file; a clear error naming the file when it is not a JSON object."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise StateFileError(f"{path}: cannot read: {exc}") from None
    try:
        doc = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StateFileError(f"{path}: corrupt state file (not JSON: {exc})") from None
    if not isinstance(doc, dict):
        raise StateFileError(f"{path}: corrupt state file (expected a JSON object, got {type(doc).__name__})")
    return doc


class JsonlAppender:
    """Append-only JSONL keyed by a monotonically increasing ``seq`` field.

    On open it repairs a torn last line (a crash mid-append) and remembers the
    last ``seq`` present, so re-applying events after a crash never duplicates
    a line. Lines are never rewritten.
    """

    def __init__(self, path: Path):
        self.path = path
        self.last_seq = 0
        self.dirty = False
        self._scanned = False

    def _scan(self) -> None:
        self._scanned = True
        if not self.path.exists():
            return
        size = self.path.stat().st_size
        if size == 0:
            return
        with open(self.path, "rb+") as fh:
            # read the tail only: memory stays flat however long the file grows
            chunk = min(size, 1 << 20)
            fh.seek(size - chunk)
            tail = fh.read(chunk)
            if not tail.endswith(b"\n"):
                cut = tail.rfind(b"\n")
                keep = size - chunk + cut + 1 if cut >= 0 else 0
                fh.truncate(keep)
                tail = tail[: cut + 1] if cut >= 0 else b""
            lines = tail.splitlines()
            for line in reversed(lines):
                if not line.strip():
                    continue
                try:
                    self.last_seq = int(json.loads(line)["seq"])
                except (ValueError, KeyError, TypeError) as exc:
                    raise StateFileError(f"{self.path}: corrupt last line ({exc}); move the file away and run 'hedge rebuild'") from None
                break

    def stored_seq(self) -> int:
        """The last ``seq`` in the file (0 when empty or absent)."""
        if not self._scanned:
            self._scan()
        return self.last_seq

    def append(self, records: Iterable[dict[str, Any]]) -> int:
        """Append records whose ``seq`` is beyond the last one stored; returns lines written."""
        if not self._scanned:
            self._scan()
        out = bytearray()
        n = 0
        last = self.last_seq
        for rec in records:
            s = int(rec["seq"])
            if s <= last:
                continue
            out += dumps_line(rec)
            last = s
            n += 1
        if not n:
            return 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "ab") as fh:
            fh.write(out)
        self.last_seq = last
        self.dirty = True
        return n

    def sync(self) -> None:
        """fsync what was appended (the runner calls it before writing its checkpoint)."""
        if self.dirty and self.path.exists():
            fd = os.open(self.path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        self.dirty = False


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """All records of a JSONL file (for tests and small tools); names the bad line."""
    out = []
    with open(path, "rb") as fh:
        for i, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise StateFileError(f"{path}:{i}: corrupt line ({exc})") from None
    return out
