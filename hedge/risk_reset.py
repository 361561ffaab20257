"""Operator resets of the drawdown policy: record, find, and hand to the account's engine.

``hedge risk reset`` records a ``RiskReset`` in its own **operator session** (a fresh
session id, no ``SessionStarted`` - like the alerter's sessions), naming the account,
with what it saw of the account just before (``policy_of``: the drawdown policy folded
from the account's sessions' ``NavSnapshot`` / ``DdStateChanged`` / ``RiskReset``).

The account's engine picks it up between two venue polls (``ResetPickup``, called from
``hedge run``'s ``_between()``) and records a **copy** into its own session, with the
engine's exact figures before and the re-based reference; only the copy is folded
(``engine.state``, the projections and the alerts skip the operator's own record).
Why a copy rather than folding the operator's event where it lies: a session's log
stays self-contained and in the engine's order, so ``hedge replay --verify``,
``explain``, the projections and the alerts see the reset exactly where the engine
took it, never at a log position the running engine could not have seen. The copy
names the original (``source_seq``, ``source_session``); the state keeps the set of
applied ``source_seq`` so a reset is applied once.

A reset recorded while no engine of the account runs is applied by the next session
of the account, before its first venue poll: the pick-up of a resumed account looks
from the start of the account's previous session and skips what was applied.
"""

from __future__ import annotations

import getpass
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from config.loader import from_dict
from engine.rules.drawdown import DdParams, DrawdownBook, rebased_ref
from engine.rules.nav import counts
from eventlog.accounts import account_index
from eventlog.events import DdStateChanged, NavSnapshot, RiskReset, SessionStarted
from eventlog.store import EventStore
from eventlog.writer import LogWriter

POLICY_TYPES = ("SessionStarted", "NavSnapshot", "DdStateChanged", "RiskReset")


def operator_name() -> str:
    """``user@host`` of whoever runs the command."""
    try:
        user = getpass.getuser()
    except Exception:  # no login name (a container without passwd entry)
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return f"{user}@{socket.gethostname()}"


def resets_after(store: EventStore, account: str, after_seq: int) -> list[RiskReset]:
    """Operator ``RiskReset`` events for ``account`` with seq > ``after_seq`` (engine copies excluded)."""
    return [ev for ev in store.read(after_seq + 1, types=("RiskReset",))
            if isinstance(ev, RiskReset) and ev.account == account and ev.source_seq == 0]


def pickup_start(store: EventStore, sessions: list[str]) -> int:
    """Where a new session of an account looks for resets (``sessions``: the account's earlier ones).

    From the start of its previous session, so a reset recorded during or after it and
    never applied is applied now (``ResetPickup`` skips the applied ones); a new account
    looks only forward from the log's head.
    """
    if not sessions:
        return store.last_seq()
    for ev in store.read(session=sessions[-1], types=("SessionStarted",)):
        return max(0, ev.seq - 1)
    return store.last_seq()


@dataclass
class PolicySeen:
    """The account's drawdown policy as folded from the log (what a reset records as "before")."""

    session_id: str
    running: bool  # the account's last session has not ended
    state: str
    dd_frac: float | None
    ref_nav_usd: float | None
    nav_usd: float | None
    since_ns: int | None
    rules_version: int


def policy_of(store: EventStore, account: str) -> PolicySeen | None:
    """Fold the drawdown policy over the account's sessions (None when it has none)."""
    info = account_index(store).get(account)
    if info is None or not info.sessions:
        return None
    ids = set(info.session_ids)
    book = DrawdownBook()
    params: DdParams | None = None
    rules = 1
    for ev in store.read(info.sessions[0].first_seq, types=POLICY_TYPES):
        if ev.session_id not in ids:
            continue
        if isinstance(ev, SessionStarted):
            rules = ev.rules_version
            params = DdParams.of(from_dict(ev.config).config, rules)
        elif isinstance(ev, NavSnapshot) and counts(ev.nav_usd, ev.sources_ok):
            book.on_nav(ev.nav_usd)
        elif isinstance(ev, DdStateChanged):
            book.on_changed(ev.to_state, ev.ts_event_ns, ev.cause, ev.ref_nav_usd, ev.reason)
        elif isinstance(ev, RiskReset) and ev.source_seq and params is not None:
            book.on_reset(ev.to_state, ev.ts_event_ns, ev.ref_nav_usd, params, seq=ev.source_seq,
                          by=ev.operator, reason=ev.reason)
    last = info.sessions[-1]
    return PolicySeen(last.session_id, last.ended_ns is None, book.state, book.dd, book.ref, book.last,
                      book.since_ns, rules)


def record_reset(store: EventStore, *, account: str, reason: str, to_state: str, operator: str,
                 seen: PolicySeen | None, ts_ns: int) -> RiskReset:
    """Record the operator's ``RiskReset`` in a fresh operator session; returns it (with its seq)."""
    head = store.last_seq()
    writer = LogWriter(store, str(uuid.uuid4()), clock_ns=time.time_ns, background=False)
    try:
        writer.emit(RiskReset, stream="operator", ts_event_ns=ts_ns, account=account, operator=operator,
                    reason=reason, to_state=to_state,
                    before_state=seen.state if seen else None, before_dd_frac=seen.dd_frac if seen else None,
                    before_ref_nav_usd=seen.ref_nav_usd if seen else None,
                    before_nav_usd=seen.nav_usd if seen else None, before_since_ns=seen.since_ns if seen else None)
        writer.flush()
    finally:
        writer.close()
    return resets_after(store, account, head)[-1]


def copy_fields(state: Any, op: RiskReset) -> dict[str, Any]:
    """The engine's copy of an operator reset: its own figures before, the re-based reference."""
    book: DrawdownBook = state.dd_book
    p = DdParams.of(state.config, state.rules_version)
    ref = rebased_ref(book.last, op.to_state, p) if book.last is not None else None
    return {"account": op.account, "operator": op.operator, "reason": op.reason, "to_state": op.to_state,
            "before_state": book.state, "before_dd_frac": None if book.dd is None else round(book.dd, 8),
            "before_ref_nav_usd": book.ref, "before_nav_usd": book.last, "before_since_ns": book.since_ns,
            "ref_nav_usd": None if ref is None else round(ref, 8), "source_seq": op.seq,
            "source_session": op.session_id}


class ResetPickup:
    """Called from ``hedge run``'s ``_between()``: copies new operator resets into the session.

    Reads the store at most every ``every_s`` seconds (wall clock: when to look is not a
    decision), on its own connection, from the log position it last saw.
    """

    def __init__(self, open_store: Callable[[], EventStore], account: str, after_seq: int,
                 every_s: float = 1.0, clock: Callable[[], float] = time.monotonic,
                 on_error: Callable[[str], None] | None = None):
        self.open_store = open_store
        self.account = account
        self.cursor = after_seq
        self.every_s = every_s
        self.clock = clock
        self.next_at = 0.0
        self.store: EventStore | None = None
        self.applied: list[RiskReset] = []
        self.on_error = on_error

    def __call__(self, engine: Any) -> list[Any]:
        now = self.clock()
        if now < self.next_at:
            return []
        self.next_at = now + self.every_s
        try:  # a failed look never stops trading: it is said, and tried again later
            if self.store is None:
                self.store = self.open_store()
            head = self.store.last_seq()
            found = [ev for ev in resets_after(self.store, self.account, self.cursor)
                     if ev.seq <= head and ev.seq not in engine.state.resets_applied]
        except Exception as exc:
            if self.on_error is not None:
                self.on_error(f"risk reset pick-up failed: {type(exc).__name__}: {exc}")
            return []
        self.cursor = max([head, self.cursor] + [ev.seq for ev in found])
        out = []
        for op in found:
            ts = max(engine.state.now_ns, engine.venue.clock().now_ns())
            out.append(engine.record(RiskReset, "risk", ts, copy_fields(engine.state, op)))
            self.applied.append(op)
        return out

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None
