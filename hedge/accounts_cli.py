"""Account selection shared by the verbs that show one account (dashboard, serve, demo)."""

from __future__ import annotations

from pathlib import Path

from config.settings import Settings
from hedge.cli import UsageError


def account_name(flag: str | None, default: str = "main", settings: Settings | None = None) -> str:
    """``--account``, else ``$HEDGE_ACCOUNT`` (``settings.account``), else ``default`` - checked."""
    from eventlog.accounts import check_name

    try:
        return check_name(flag or (settings.account if settings is not None else None) or default)
    except ValueError as exc:
        raise UsageError(f"--account: {exc}") from None


def account_state_home(home: Path, flag: str | None, settings: Settings | None = None) -> Path:
    """The directory whose ``state/`` holds the account's state files."""
    from eventlog.accounts import account_home

    return Path(account_home(home, account_name(flag, settings=settings)))
