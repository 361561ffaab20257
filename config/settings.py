"""Process settings: every environment variable the project reads, read once.

The CLI (``hedge.cli.main``, the composition root) reads the process environment once
(``hedge.settings.read``, which calls ``Settings.from_env``) and passes the frozen result down; no library package reads the environment
(``tests/unit/test_no_env_reads.py``). ``--home`` / ``--config`` replace the
environment's values in the CLI (``dataclasses.replace``).

Secrets (API keys, the bot token, database passwords) are ``Secret`` values: their
``repr`` and ``str`` say only whether they are set (the store URL too: it may carry a
password), so printing a ``Settings`` - or ``dataclasses.asdict`` of it - never prints a secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from config.flags import FLAG_ENV, env_overrides

_TRUE = {"1", "true", "yes", "on"}

# Variables whose values are secrets (``eventlog.redact`` scrubs them from what we record).
SECRET_ENV = ("BINANCE_API_KEY", "BINANCE_API_SECRET", "TELEGRAM_BOT_TOKEN", "PGPASSWORD",
              "HEDGE_INVESTOR_PASSWORD")
URL_ENV = ("HEDGE_STORE_URL", "DATABASE_URL")


class Secret:
    """A string that is never printed: ``repr``/``str`` say ``set`` or ``unset``."""

    __slots__ = ("_value",)

    def __init__(self, value: str = "") -> None:
        self._value = value

    def reveal(self) -> str:
        """The value itself (for the one place that sends it: a signer, a client)."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return f"Secret({'set' if self._value else 'unset'})"

    __str__ = __repr__


def flag(env: Mapping[str, str], name: str) -> bool | None:
    """True/False for 1/0-like values of ``env[name]``, None when unset or empty."""
    v = env.get(name)
    if v is None or v == "":
        return None
    return v.strip().lower() in _TRUE


def _int(env: Mapping[str, str], name: str) -> int | None:
    v = (env.get(name) or "").strip()
    try:
        return int(v) if v else None
    except ValueError:
        return None  # the adapter's default, as before


@dataclass(frozen=True)
class BinanceSettings:
    """``BINANCE_*`` and ``DRY_RUN`` (docs/binance.md); None = the config's value / the default."""

    api_key: Secret = field(default_factory=Secret)
    api_secret: Secret = field(default_factory=Secret)
    testnet: bool | None = None  # BINANCE_TESTNET
    dry_run: bool | None = None  # DRY_RUN
    base_url: str = ""  # BINANCE_BASE_URL
    stream_url: str = ""  # BINANCE_STREAM_URL
    ws_routed: bool = True  # BINANCE_WS_ROUTED
    venue_clock: bool = False  # BINANCE_CLOCK=venue
    tick_interval_ms: int | None = None  # BINANCE_TICK_INTERVAL_MS (all -> 0)
    warmup_bars: int | None = None  # BINANCE_WARMUP_BARS
    stall_bound_ms: int | None = None  # BINANCE_STALL_BOUND_MS

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> BinanceSettings:
        tick = (env.get("BINANCE_TICK_INTERVAL_MS") or "").strip().lower()
        routed = flag(env, "BINANCE_WS_ROUTED")
        return cls(api_key=Secret((env.get("BINANCE_API_KEY") or "").strip()),
                   api_secret=Secret((env.get("BINANCE_API_SECRET") or "").strip()),
                   testnet=flag(env, "BINANCE_TESTNET"), dry_run=flag(env, "DRY_RUN"),
                   base_url=env.get("BINANCE_BASE_URL") or "", stream_url=env.get("BINANCE_STREAM_URL") or "",
                   ws_routed=True if routed is None else routed,
                   venue_clock=(env.get("BINANCE_CLOCK") or "").lower() == "venue",
                   tick_interval_ms=0 if tick == "all" else _int(env, "BINANCE_TICK_INTERVAL_MS"),
                   warmup_bars=_int(env, "BINANCE_WARMUP_BARS"),
                   stall_bound_ms=_int(env, "BINANCE_STALL_BOUND_MS"))


@dataclass(frozen=True)
class TelegramSettings:
    """``TELEGRAM_BOT_TOKEN``, ``TELEGRAM_CHAT_ID``, ``TELEGRAM_API_BASE`` (docs/alerts.md)."""

    token: Secret = field(default_factory=Secret)
    chat_id: str = ""
    api_base: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TelegramSettings:
        return cls(token=Secret((env.get("TELEGRAM_BOT_TOKEN") or "").strip()),
                   chat_id=(env.get("TELEGRAM_CHAT_ID") or "").strip(),
                   api_base=(env.get("TELEGRAM_API_BASE") or "").strip())


@dataclass(frozen=True)
class Settings:
    """Everything the process takes from its environment (read once, by the CLI)."""

    home: Path | None = None  # HEDGE_HOME (--home)
    config_dir: Path | None = None  # HEDGE_CONFIG_DIR (--config)
    store: Secret = field(default_factory=Secret)  # HEDGE_STORE_URL: a PostgreSQL log (may carry a password)
    account: str | None = None  # HEDGE_ACCOUNT
    sqlite_sync: str | None = None  # HEDGE_SQLITE_SYNC
    log_layout: str | None = None  # HEDGE_LOG_LAYOUT: compact (default) | v1, for a new SQLite or PostgreSQL log
    debug: bool = False  # HEDGE_DEBUG=1: tracebacks instead of one-line errors
    executor_once: bool | None = None  # EXECUTOR_ONCE (as --once)
    v6_flag_env: Mapping[str, str] = field(default_factory=dict)  # INTEL_V6_ENABLED=1 ... as set (config.flags)
    binance: BinanceSettings = field(default_factory=BinanceSettings)
    telegram: TelegramSettings = field(default_factory=TelegramSettings)
    migrate_to: str | None = None  # HEDGE_MIGRATE_TO (hedge migrate --to)
    pg_password: Secret = field(default_factory=Secret)  # PGPASSWORD
    secret_values: tuple[Secret, ...] = ()  # every secret set (SECRET_ENV, URL passwords): for the redactor

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Parse ``env``, a mapping given to it (only the CLI gives it the process environment)."""
        secrets = [env[k] for k in SECRET_ENV if env.get(k)]
        for k in URL_ENV:
            url = env.get(k)
            if url:
                try:
                    pw = urlsplit(url).password
                except ValueError:
                    pw = None
                if pw:
                    secrets.extend(dict.fromkeys((pw, unquote(pw))))
        home, cfg = env.get("HEDGE_HOME"), env.get("HEDGE_CONFIG_DIR")
        return cls(home=Path(home) if home else None, config_dir=Path(cfg) if cfg else None,
                   store=Secret(env.get("HEDGE_STORE_URL") or ""), account=env.get("HEDGE_ACCOUNT") or None,
                   sqlite_sync=env.get("HEDGE_SQLITE_SYNC") or None,
                   log_layout=env.get("HEDGE_LOG_LAYOUT") or None, debug=env.get("HEDGE_DEBUG") == "1",
                   executor_once=flag(env, "EXECUTOR_ONCE"),
                   v6_flag_env={v: env[v] for v in FLAG_ENV.values() if v in env},
                   binance=BinanceSettings.from_env(env), telegram=TelegramSettings.from_env(env),
                   migrate_to=env.get("HEDGE_MIGRATE_TO") or None, pg_password=Secret(env.get("PGPASSWORD") or ""),
                   secret_values=tuple(Secret(s) for s in secrets))

    def v6_overrides(self) -> dict[str, bool]:
        """The V6 flags the environment sets (a value that is not a boolean: ``ConfigError``)."""
        return env_overrides(self.v6_flag_env)

    @property
    def store_url(self) -> str | None:
        """``HEDGE_STORE_URL`` (None: the SQLite file in the home); never print it."""
        return self.store.reveal() or None

    @property
    def home_dir(self) -> Path:
        """The data directory: ``--home``, else ``HEDGE_HOME``, else ``./logs``."""
        return self.home if self.home is not None else Path("logs")

    def secrets(self) -> list[str]:
        """The secret values (for ``eventlog.redact.Redactor``; never print them)."""
        return [s.reveal() for s in self.secret_values]
