"""Deterministic ids derived from inputs (never random, never the wall clock).

Every id starts with the session tag (first 8 hex digits of the session id) and
names the ``session_seq`` of the event that caused it, so the same log always
yields the same ids and a resumed run (a new session) can never reuse an order
id. Order ids fit Binance's ``newClientOrderId`` rule (``[.A-Z:/a-z0-9_-]{1,36}``).
"""

from __future__ import annotations


def session_tag(session_id: str) -> str:
    return session_id.replace("-", "")[:8]


def intent_id(tag: str, kline_seq: int, k: int = 0) -> str:
    """Intent answering the KlineClosed at ``kline_seq`` (k-th intent of that bar)."""
    return f"{tag}-I{kline_seq}-{k}"


def decision_id(tag: str, intent_seq: int) -> str:
    """Risk decision answering the IntentEmitted at ``intent_seq``."""
    return f"{tag}-D{intent_seq}"


def plan_id(tag: str, decision_seq: int) -> str:
    """Route plan for the RiskDecided at ``decision_seq``."""
    return f"{tag}-P{decision_seq}"


def order_id(tag: str, trigger_seq: int, k: int = 0) -> str:
    """Child order sent because of the event at ``trigger_seq`` (k-th order it caused)."""
    return f"{tag}-O{trigger_seq}-{k}"


def risk_action_id(tag: str, trigger_seq: int, k: int = 0) -> str:
    """Post-trade risk decision (trim / flatten) taken at the NavSnapshot at ``trigger_seq`` (k-th of it)."""
    return f"{tag}-D{trigger_seq}-{k}"
