"""Hash chain: each stored row is ``prev_hash (32 bytes) || payload``.

The hash of a row is ``sha256(row)``, so row N+1 starts with the SHA-256 of row N's
prefix and bytes, in commit order. The first row starts with 32 zero bytes.
"""

from __future__ import annotations

from hashlib import sha256

GENESIS = bytes(32)
PREFIX = 32


def link(prev_hash: bytes, payload: bytes) -> bytes:
    """The stored bytes of a payload chained after ``prev_hash``."""
    return prev_hash + payload


def row_hash(state: bytes) -> bytes:
    return sha256(state).digest()


def split(state: bytes) -> tuple[bytes, bytes]:
    """(prev_hash, payload) of a stored row."""
    return state[:PREFIX], state[PREFIX:]


def chain_states(prev_hash: bytes, payloads: list[bytes]) -> tuple[list[bytes], bytes]:
    """Chain ``payloads`` after ``prev_hash``; returns the stored rows and the new head."""
    states = []
    h = prev_hash
    for p in payloads:
        s = h + p
        states.append(s)
        h = sha256(s).digest()
    return states, h
