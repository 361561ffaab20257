"""Accounts: which sessions continue which fund (or backtest book), read from the log.

A *session* is one process run of the engine; an *account* is what sessions
continue. Every ``SessionStarted`` names its account (logs written before accounts
existed name none and belong to ``main``); the first session of an account records
``AccountOpened`` with the account's mode and venue, fixed for life. This module
only reads: ``account_index(store)`` folds those events into ``AccountInfo`` per
account, ``check_session(...)`` refuses a session whose mode or venue differs
from its account's (docs/accounts.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from eventlog.events import AccountOpened, Event, SessionEnded, SessionStarted

DEFAULT_ACCOUNT = "main"
MODES = ("sim", "paper", "testnet", "live")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,39}$")
# what the venues call their modes -> the account's mode
_VENUE_MODES = {"sim": "sim", "binance-dry": "paper", "paper": "paper", "testnet": "testnet", "live": "live"}


class AccountMismatch(ValueError):
    """A session would land in an account of another mode or venue."""


def check_name(name: str) -> str:
    """The account name, or ValueError saying what a valid one looks like."""
    if not _NAME.match(name):
        raise ValueError(f"account name {name!r}: use 1-40 lower-case letters, digits, '.', '_' or '-' "
                         "(starting with a letter or digit)")
    return name


def account_home(home: Any, account: str) -> Any:
    """Where an account's projections live: the home itself for ``main`` (the fund's
    outputs keep their paths), ``<home>/accounts/<name>/`` for every other account."""
    from pathlib import Path

    home = Path(home)
    return home if account == DEFAULT_ACCOUNT else home / "accounts" / check_name(account)


def account_mode(venue_mode: str) -> str:
    """The account mode (sim, paper, testnet, live) for a venue's own mode name."""
    try:
        return _VENUE_MODES[venue_mode]
    except KeyError:
        raise ValueError(f"unknown venue mode {venue_mode!r}") from None


def account_of(ev: SessionStarted) -> str:
    return ev.account or DEFAULT_ACCOUNT


@dataclass
class SessionRef:
    session_id: str
    first_seq: int
    started_ns: int
    mode: str
    ended_ns: int | None = None
    end_reason: str | None = None


@dataclass
class AccountInfo:
    name: str
    mode: str
    venue: str
    base_currency: str = "USDT"
    starting_capital_usd: float = 0.0
    opened_seq: int = 0
    opened_ns: int = 0
    sessions: list[SessionRef] = field(default_factory=list)

    @property
    def session_ids(self) -> list[str]:
        return [s.session_id for s in self.sessions]

    def as_dict(self) -> dict[str, Any]:
        return {"account": self.name, "mode": self.mode, "venue": self.venue,
                "base_currency": self.base_currency, "starting_capital_usd": self.starting_capital_usd,
                "sessions": len(self.sessions)}


ACCOUNT_EVENT_TYPES = ("SessionStarted", "AccountOpened", "SessionEnded")


def fold_accounts(events: Iterable[Event]) -> dict[str, AccountInfo]:
    """Accounts from their ``SessionStarted`` / ``AccountOpened`` / ``SessionEnded`` events."""
    out: dict[str, AccountInfo] = {}
    by_session: dict[str, SessionRef] = {}
    for ev in events:
        if type(ev) is SessionStarted:
            name = account_of(ev)
            acct = out.get(name)
            if acct is None:  # a legacy session (no AccountOpened): the account is what it ran as
                acct = out[name] = AccountInfo(name=name, mode=account_mode_or_raw(ev.mode), venue=ev.venue,
                                               opened_seq=ev.seq, opened_ns=ev.ts_event_ns)
            ref = SessionRef(ev.session_id, ev.seq, ev.ts_event_ns, ev.mode)
            acct.sessions.append(ref)
            by_session[ev.session_id] = ref
        elif type(ev) is AccountOpened:
            acct = out.get(ev.account)
            if acct is None:
                acct = out[ev.account] = AccountInfo(name=ev.account, mode=ev.mode, venue=ev.venue)
            acct.mode, acct.venue = ev.mode, ev.venue
            acct.base_currency = ev.base_currency
            acct.starting_capital_usd = ev.starting_capital_usd
            acct.opened_seq, acct.opened_ns = ev.seq, ev.ts_event_ns
        elif type(ev) is SessionEnded:
            r = by_session.get(ev.session_id)
            if r is not None:
                r.ended_ns, r.end_reason = ev.ts_event_ns, ev.reason
    return out


def account_mode_or_raw(mode: str) -> str:
    try:
        return account_mode(mode)
    except ValueError:
        return mode


def account_index(store: Any) -> dict[str, AccountInfo]:
    """Every account in the log (reads only the three session/account event types)."""
    return fold_accounts(store.read(types=ACCOUNT_EVENT_TYPES))


def check_session(accounts: dict[str, AccountInfo], name: str, mode: str, venue: str) -> AccountInfo | None:
    """The account a session of ``mode``/``venue`` may continue (None: a new account).

    Raises ``AccountMismatch`` naming the account, both modes and the way out.
    """
    acct = accounts.get(name)
    if acct is None:
        return None
    if acct.mode != mode or acct.venue != venue:
        others = sorted(a.name for a in accounts.values() if a.mode == mode and a.venue == venue)
        hint = f" (existing {mode} accounts: {', '.join(others)})" if others else ""
        raise AccountMismatch(
            f"account {name!r} is a {acct.mode} account on {acct.venue}; this session is {mode} on {venue}. "
            f"A {mode} session can never write into it: pick another account with --account NAME "
            f"(or HEDGE_ACCOUNT){hint}")
    return acct
