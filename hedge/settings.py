"""The CLI's one read of the environment, and the helpers every verb uses with it.

``hedge.cli.main`` calls ``read(os.environ, home=..., config=...)`` once per command and
puts the frozen ``config.settings.Settings`` on ``args.settings``; the verbs pass it
down (the store URL, the SQLite sync mode, the Binance and Telegram settings, the V6
flag overrides). Library packages never read the environment
(``tests/unit/test_no_env_reads.py``).
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from config.settings import Settings


def read(env: Mapping[str, str], *, home: str | None = None, config: str | None = None) -> Settings:
    """The environment's settings with ``--home`` / ``--config`` in place of theirs."""
    s = Settings.from_env(env)
    if home:
        s = dataclasses.replace(s, home=Path(home))
    if config:
        s = dataclasses.replace(s, config_dir=Path(config))
    return s


def of(args: argparse.Namespace) -> Settings:
    """The command's settings (defaults when a verb is called without ``hedge.cli.main``)."""
    s = getattr(args, "settings", None)
    return s if isinstance(s, Settings) else Settings()


def home(args: argparse.Namespace) -> Path:
    """The data directory: ``--home``, else ``HEDGE_HOME``, else ``./logs``."""
    explicit = getattr(args, "home", None)
    return Path(explicit) if explicit else of(args).home_dir


def open_store(args: argparse.Namespace, home_dir: Path | None = None, **kw: Any) -> Any:
    """The event log of this command: ``HEDGE_STORE_URL``, else ``<home>/eventlog.sqlite``."""
    from eventlog.store import EventStore

    s = of(args)
    return EventStore.open(home_dir if home_dir is not None else home(args), s.store_url, sync=s.sqlite_sync,
                           layout=s.log_layout, **kw)
