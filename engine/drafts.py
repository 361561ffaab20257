"""Decisions are typed: a decision is its own event, as a draft the writer completes.

A decision function returns the decision events themselves (``IntentEmitted``,
``RiskDecided``, ``OrderSubmitted``...), built with ``head(stream)`` as their header:
no session, no position in it and no times yet. ``engine.core`` pairs each with the
trigger's time (``Emit``), the writer stamps the session header
(``LogWriter.emit_draft``), and replay compares a recorded decision with the
re-derived draft field by field (``engine.replay_core``).
"""

from __future__ import annotations

from typing import Any

from eventlog.events import Event

Decisions = list[Event]


def head(stream: str) -> dict[str, Any]:
    """The header of a draft decision on ``stream`` (the writer fills in the rest)."""
    return {"session_id": "", "session_seq": 0, "stream": stream, "ts_event_ns": 0, "ts_init_ns": 0}
