"""Named upcasters: old event versions are rewritten on read, never in the log.

Each upcaster takes the raw dict of version N and returns version N+1. Register it
in ``UPCASTERS`` under (type name, N) and bump ``CURRENT_VERSIONS``; the stored
bytes stay as they were (the log is append-only), decoding applies the chain.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Raw = dict[str, Any]

# Current schema version per event type (absent = 1).
CURRENT_VERSIONS: dict[str, int] = {}

UPCASTERS: dict[tuple[str, int], Callable[[Raw], Raw]] = {}


def upcast(raw: Raw) -> Raw:
    """Apply registered upcasters until the payload is at its current version."""
    name = raw["type"]
    version = int(raw.get("v", 1))
    target = CURRENT_VERSIONS.get(name, 1)
    while version < target:
        step = UPCASTERS[(name, version)]
        raw = step(dict(raw))
        version += 1
        raw["v"] = version
    return raw
