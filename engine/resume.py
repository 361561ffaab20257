"""Continuity: a session starts from the fold of its account's whole log.

``fold_account(store, account)`` reads the log in order and folds every event of
the account's earlier sessions (and account-scoped operator events, such as a
risk reset naming the account) with the engine's own ``evolve``: high-water mark,
the UTC day's start, drawdown state, open positions with their TP/SL, working
orders and route plans, cooldowns, indicators, intel. ``sinks`` see the same
events (the simulated venue folds its paper account from them). Nothing is
decided while folding: history is never traded.

The fold starts from the engine checkpoint when one matches the log
(``engine.resume_checkpoint``), so a long account resumes from its tail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from engine.state import EngineState, evolve
from eventlog.accounts import AccountInfo
from eventlog.events import Event, SessionStarted


@dataclass
class AccountResume:
    account: str
    state: EngineState = field(default_factory=EngineState)
    events: int = 0
    last_seq: int = 0
    last_hash: str = ""
    sessions: list[str] = field(default_factory=list)
    checkpoint_seq: int = 0  # the resume checkpoint it started from (0: folded the whole account)

    @property
    def fresh(self) -> bool:
        return not self.sessions


def account_events(store: Any, info: AccountInfo, *, stop: int | None = None, start: int = 1) -> Iterable[Event]:
    """The account's events in log order: its sessions' events and operator events naming it."""
    ids = set(info.session_ids)
    name = info.name
    for ev in store.read(start, stop=stop):
        if ev.session_id in ids or (type(ev) is not SessionStarted and getattr(ev, "account", None) == name):
            yield ev


def fold_account(store: Any, info: AccountInfo | None, account: str, *,
                 sinks: Iterable[Callable[[Event], None]] = (), start_seq: int = 0,
                 state: EngineState | None = None, events: int = 0) -> AccountResume:
    """The engine state (and sinks) after every earlier event of ``account``.

    ``state``/``start_seq``/``events``: a checkpoint's state, the seq it reflects and
    the events it folded; only the account's events after ``start_seq`` are folded.
    """
    res = AccountResume(account=account, events=events, last_seq=start_seq,
                        checkpoint_seq=start_seq if state is not None else 0)
    if state is not None:
        res.state = state
    if info is None:
        return res
    sink_list = list(sinks)
    st = res.state
    for ev in account_events(store, info, start=start_seq + 1):
        evolve(st, ev)
        for s in sink_list:
            s(ev)
        res.events += 1
        res.last_seq = ev.seq
    res.sessions = list(info.session_ids)
    if res.last_seq:
        res.last_hash = store.link_before(res.last_seq + 1).hex()  # the hash of row last_seq
    return res
