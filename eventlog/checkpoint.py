"""Checkpoint files: a fold's state tied to the log position and row hash it reflects.

One format for every checkpoint (projections today; the engine's resume state can
use the same): a data-only msgpack envelope, never pickle, so a file someone else
could write can at worst be refused, never run code.

File layout: ``MAGIC`` + sha256(body) + body, where body is the msgpack of
``Envelope(kind, version, seq, head, state)``:

* ``kind`` names what it is (``"projections"``), checked on read;
* ``version`` is the writer's state layout version; a reader refuses another one
  (the caller then rebuilds from the log);
* ``seq`` / ``head`` are the log position and the hex row hash of that row, so a
  checkpoint can be checked against the log it claims to belong to;
* ``state`` is ``eventlog.objstate.to_data`` of the state object, rebuilt only
  from classes whose module is in the reader's ``allow`` list.

``write_checkpoint`` is atomic (tmp file, fsync, rename, fsync of the directory).
``read_checkpoint`` raises ``CheckpointError`` naming the file and the reason for
anything that is not a checkpoint of this kind and version (including the pickled
``HEDGE-PROJECTIONS/1`` files of older versions, which are never unpickled).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from eventlog.objstate import StateDataError, from_data, to_data

MAGIC = b"HEDGE-CHECKPOINT/2\n"
_DIGEST = 32


class CheckpointError(ValueError):
    """Not a usable checkpoint (``path: reason``); callers rebuild from the log."""


class Envelope(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    kind: str
    version: int
    seq: int
    head: str | None
    state: msgspec.Raw


class Checkpoint(msgspec.Struct, frozen=True, kw_only=True):
    kind: str
    version: int
    seq: int
    head: str | None
    state: Any


_enc = msgspec.msgpack.Encoder()
_dec = msgspec.msgpack.Decoder(Envelope)


def encode_checkpoint(kind: str, version: int, seq: int, head: str | None, state: Any,
                      allow: Sequence[str]) -> bytes:
    """The bytes of a checkpoint file (raises ``StateDataError`` for state it cannot hold)."""
    body = _enc.encode(Envelope(kind=kind, version=version, seq=seq, head=head,
                                state=msgspec.Raw(_enc.encode(to_data(state, allow)))))
    return MAGIC + hashlib.sha256(body).digest() + body


def decode_checkpoint(raw: bytes, kind: str, version: int, allow: Sequence[str],
                      where: str = "checkpoint") -> Checkpoint:
    """Parse and check one checkpoint file's bytes; ``CheckpointError`` on any problem."""
    if not raw.startswith(MAGIC):
        old = " (an older, pickled format: never loaded)" if raw.startswith(b"HEDGE-PROJECTIONS/1") else ""
        raise CheckpointError(f"{where}: not a checkpoint file{old}")
    digest, body = raw[len(MAGIC):len(MAGIC) + _DIGEST], raw[len(MAGIC) + _DIGEST:]
    if len(digest) != _DIGEST or hashlib.sha256(body).digest() != digest:
        raise CheckpointError(f"{where}: corrupt checkpoint (checksum mismatch)")
    try:
        env = _dec.decode(body)
    except msgspec.DecodeError as exc:
        raise CheckpointError(f"{where}: corrupt checkpoint ({exc})") from None
    if env.kind != kind:
        raise CheckpointError(f"{where}: a {env.kind!r} checkpoint, expected {kind!r}")
    if env.version != version:
        raise CheckpointError(f"{where}: checkpoint version {env.version}, this version reads {version}")
    if env.seq < 0 or (env.head is not None and len(env.head) != 64):
        raise CheckpointError(f"{where}: bad position (seq {env.seq}, head {env.head!r})")
    try:
        state = from_data(msgspec.msgpack.decode(env.state), allow)
    except (StateDataError, msgspec.DecodeError, RecursionError) as exc:
        raise CheckpointError(f"{where}: corrupt checkpoint state ({type(exc).__name__}: {exc})") from None
    return Checkpoint(kind=kind, version=env.version, seq=env.seq, head=env.head, state=state)


def write_checkpoint(path: Path, kind: str, version: int, seq: int, head: str | None, state: Any,
                     allow: Sequence[str]) -> None:
    """Write a checkpoint atomically (readers see the old or the new file, never a torn one)."""
    data = encode_checkpoint(kind, version, seq, head, state, allow)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def read_position(path: Path, kind: str) -> tuple[int, str | None] | None:
    """(seq, head) of a checkpoint without rebuilding its state; None when unusable."""
    try:
        raw = Path(path).read_bytes()
    except OSError:
        return None
    if not raw.startswith(MAGIC):
        return None
    body = raw[len(MAGIC) + _DIGEST:]
    if hashlib.sha256(body).digest() != raw[len(MAGIC):len(MAGIC) + _DIGEST]:
        return None
    try:
        env = _dec.decode(body)
    except msgspec.DecodeError:
        return None
    return (env.seq, env.head) if env.kind == kind else None


def read_checkpoint(path: Path, kind: str, version: int, allow: Sequence[str]) -> Checkpoint:
    """Read and check a checkpoint file (``CheckpointError`` when unusable)."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read ({exc.strerror})") from None
    return decode_checkpoint(raw, kind, version, allow, str(path))
