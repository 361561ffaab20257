"""A block of consecutive events packed into one PostgreSQL row (the compact PostgreSQL layout).

PostgreSQL spends ~30 bytes of tuple header, line pointer and alignment per row and ~20 per
index entry, so the compact layout (``eventlog.pg_compact``) stores a commit batch as one row
of ``event_blocks``: this module packs the events' stored rows - each still the 32-byte chain
link followed by its payload - into one msgpack array of columns and unpacks it again, byte
for byte. Pure functions, no database.

``body = [seq steps, sessions, first version, version steps, type codes, links, payloads]``

* seq steps: ``None`` when the seqs are ``first_seq, first_seq + 1, ...`` (every block a
  writer makes), else the n - 1 differences (a copied log whose seqs have gaps);
* sessions: the events' session numbers (``log_sessions``), one int when all are the same;
* first version, version steps: ``session_seq`` of the first event, then ``None`` when each
  next one is one more, else the n - 1 differences (sessions interleaved in one batch);
* type codes: ``eventlog.typecodes`` (a type without a code keeps its name);
* links: the n 32-byte chain links, concatenated (hashes do not compress: kept apart from the
  payloads so that PostgreSQL's compression of the row sees the payloads together);
* payloads: each event's payload, without its 17-byte preamble (``0xC1`` + session UUID)
  when that names the event's session - exactly the bytes the compact SQLite layout keeps.

Unpacking gives the format-1 row shape ``(seq, session hex, session_seq, type name, state)``
with the preamble put back, so the chain is the SHA-256 of the same self-describing bytes
as on SQLite, and a row copied between the backends keeps its hash.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import msgspec

from eventlog.compact import ARRAY_START, MARK, split_preamble, stored_without_preamble
from eventlog.typecodes import TYPE_CODES, TYPE_NAMES

Row = tuple[int, str, int, str, bytes]
MAX_EVENTS = 2048  # events per block (a bigger commit batch becomes several blocks)

_enc = msgspec.msgpack.Encoder()
_dec = msgspec.msgpack.Decoder()


class BadBlock(ValueError):
    """A stored block that does not unpack (names the block's first seq and what is wrong)."""


def _steps(values: Sequence[int]) -> list[int] | None:
    """The n - 1 differences of ``values``, or None when each is one more than the last."""
    out = [b - a for a, b in itertools.pairwise(values)]
    return None if all(d == 1 for d in out) else out


def _walk(first: int, steps: list[int] | None, n: int) -> list[int]:
    if steps is None:
        return list(range(first, first + n))
    out = [first]
    for d in steps:
        first += d
        out.append(first)
    return out


def pack(seqs: Sequence[int], numbers: Sequence[int], versions: Sequence[int], topics: Sequence[str],
         states: Sequence[bytes], hexes: Sequence[str]) -> bytes:
    """The body of one block: events ``seqs`` (increasing) with their chained ``states``.

    ``numbers`` are the events' session numbers, ``hexes`` their session ids (32 hex chars):
    a compact payload must carry its own row's session (else ``ValueError``, as the SQLite
    layout refuses it); its preamble is left out.
    """
    links = bytearray()
    payloads: list[bytes] = []
    for st, hexid in zip(states, hexes, strict=True):
        st = bytes(st)
        if len(st) < 32:
            raise ValueError("a stored row is shorter than its 32-byte chain link")
        links += st[:32]
        raw, rest = split_preamble(st[32:])
        if raw is not None:
            if raw.hex() != hexid:
                raise ValueError(f"payload of session {raw.hex()} stored under session {hexid}")
            payloads.append(rest)
        elif stored_without_preamble(st[32:]):
            raise ValueError("a bare msgpack array is not an event payload")
        else:
            payloads.append(st[32:])
    same = all(n == numbers[0] for n in numbers)
    return _enc.encode([
        _steps(seqs), numbers[0] if same else list(numbers), versions[0], _steps(versions),
        [TYPE_CODES.get(t, t) for t in topics], bytes(links), payloads,
    ])


def unpack(first_seq: int, body: bytes, sessions: dict[int, tuple[str, bytes]]) -> list[Row]:
    """The rows of a block (``sessions``: number -> (hex, 16 UUID bytes)), preambles put back."""
    try:
        seq_steps, numbers, v0, v_steps, codes, links, payloads = _dec.decode(body)
        n = len(payloads)
        seqs = _walk(first_seq, seq_steps, n)
        versions = _walk(v0, v_steps, n)
        nums = [numbers] * n if isinstance(numbers, int) else numbers
        if not (len(seqs) == len(versions) == len(nums) == len(codes) == n and len(links) == 32 * n):
            raise ValueError("its columns have different lengths")
    except (msgspec.DecodeError, ValueError, TypeError) as exc:
        raise BadBlock(f"event block at seq {first_seq} does not unpack: {exc}") from None
    names = TYPE_NAMES
    out: list[Row] = []
    append = out.append
    for i in range(n):
        key = sessions.get(nums[i])
        if key is None:
            raise BadBlock(f"event block at seq {first_seq}: seq {seqs[i]} names session number "
                           f"{nums[i]}, which log_sessions does not know")
        p = payloads[i]
        state = links[32 * i: 32 * i + 32] + (bytes((MARK,)) + key[1] + p if p and p[0] in ARRAY_START else p)
        code = codes[i]
        append((seqs[i], key[0], versions[i], names.get(code, str(code)) if type(code) is int else code, state))
    return out


def split_batches(n: int, size: int = MAX_EVENTS) -> list[tuple[int, int]]:
    """(start, stop) index ranges cutting ``n`` events into blocks of at most ``size``."""
    return [(i, min(n, i + size)) for i in range(0, n, size)]


def body_columns(body: bytes) -> list[Any]:
    """The raw columns of a block body (for tests and the raw-log tools)."""
    got: list[Any] = _dec.decode(body)
    return got
