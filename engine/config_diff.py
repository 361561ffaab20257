"""The difference between two config dicts, leaf by leaf (``ConfigChanged.changes``)."""

from __future__ import annotations

from typing import Any

from eventlog.payloads import ConfigChange


def diff_config(old: Any, new: Any, path: str = "") -> list[ConfigChange]:
    """Every leaf that differs between two config dicts (dotted key, old, new), in key order."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[ConfigChange] = []
        for k in sorted(set(old) | set(new)):
            out.extend(diff_config(old.get(k), new.get(k), f"{path}.{k}" if path else str(k)))
        return out
    return [] if old == new else [ConfigChange(key=path, old=old, new=new)]
