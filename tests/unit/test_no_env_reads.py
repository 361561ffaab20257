"""Settings are read from the environment once, in the CLI (``hedge.settings.read``).

Library code (``config``, ``eventlog``, ``engine``, ``projections``, ``replay``, ``ui``)
never reads or writes the process environment: no ``os.environ``, ``os.getenv``,
``os.putenv``/``unsetenv``, ``os.environb`` or ``from os import environ``. It takes a
``config.settings.Settings`` (or the part it needs) from its caller. The source of every
module is read, as ``tests/unit/test_import_rules.py`` reads the imports.
"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

from config.settings import BinanceSettings, Secret, Settings, TelegramSettings

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ("config", "eventlog", "engine", "projections", "replay", "ui")
ENV_NAMES = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}


def env_reads(source: str) -> list[tuple[int, str]]:
    """(line, what) for every use of the process environment in ``source``."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in ENV_NAMES:
            found.append((node.lineno, f".{node.attr}"))
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            found.extend((node.lineno, f"from os import {a.name}") for a in node.names if a.name in ENV_NAMES)
    return found


def test_library_code_never_reads_the_environment() -> None:
    bad = [f"{f.relative_to(ROOT)}:{line}: {what}" for pkg in LIBRARY for f in sorted((ROOT / pkg).rglob("*.py"))
           for line, what in env_reads(f.read_text())]
    assert not bad, "library code reading the environment (take it from config.settings.Settings):\n" + "\n".join(bad)


def test_the_checker_sees_every_way_of_reading_it() -> None:
    src = ("import os\nfrom os import getenv\nimport os as o\n"
           "a = os.environ.get('X')\nb = os.getenv('Y')\nc = o.environ['Z']\nos.putenv('W', '1')\n")
    assert sorted(line for line, _ in env_reads(src)) == [2, 4, 5, 6, 7]
    assert env_reads("import os\np = os.path.join('a', 'b')\n") == []


def test_the_cli_is_the_one_place_that_reads_it() -> None:
    reads = {str(f.relative_to(ROOT)) for f in (ROOT / "hedge").rglob("*.py") if env_reads(f.read_text())}
    assert reads == {"hedge/cli.py"}, reads


def test_settings_are_frozen_and_parsed_once() -> None:
    env = {"HEDGE_HOME": "/data/h", "HEDGE_STORE_URL": "postgresql://u:pw-secret-1234@db/x", "HEDGE_ACCOUNT": "fund",
           "HEDGE_SQLITE_SYNC": "FULL", "EXECUTOR_ONCE": "1", "DRY_RUN": "0", "BINANCE_TESTNET": "yes",
           "BINANCE_TICK_INTERVAL_MS": "all", "BINANCE_WARMUP_BARS": "x", "INTEL_V6_ENABLED": "1",
           "TELEGRAM_CHAT_ID": " 42 "}
    s = Settings.from_env(env)
    assert s.home == Path("/data/h") and s.account == "fund" and s.sqlite_sync == "FULL" and s.executor_once
    assert s.binance.dry_run is False and s.binance.testnet is True
    assert s.binance.tick_interval_ms == 0 and s.binance.warmup_bars is None  # a bad number: the default
    assert s.v6_overrides() == {"intel_v6_enabled": True} and s.telegram.chat_id == "42"
    assert s.secrets() == ["pw-secret-1234"]
    try:
        s.home = Path("/elsewhere")  # type: ignore[misc]
    except dataclasses.FrozenInstanceError:
        pass
    else:
        raise AssertionError("Settings is not frozen")
    assert Settings.from_env({}) == Settings() and Settings().home_dir == Path("logs")


def test_secrets_never_appear_when_settings_are_printed() -> None:
    key, secret, token, pw, db = ("AKEY-9f8e7d6c5b4a", "SSECRET-0a1b2c3d4e", "12345:tok-abcdefghijklmnop",
                                  "pg-pass-778899", "db-pass-665544")
    s = Settings.from_env({"BINANCE_API_KEY": key, "BINANCE_API_SECRET": secret, "TELEGRAM_BOT_TOKEN": token,
                           "PGPASSWORD": pw, "HEDGE_STORE_URL": f"postgresql://u:{db}@h:5432/x"})
    assert s.binance.api_key.reveal() == key and s.telegram.token.reveal() == token
    shown = " ".join([repr(s), str(s), repr(s.binance), str(s.telegram), f"{s}", repr(dataclasses.asdict(s))])
    for value in (key, secret, token, pw, db, "tok-abcdefghijklmnop"):
        assert value not in shown, value
    assert "Secret(set)" in shown and repr(Secret()) == "Secret(unset)"
    assert repr(BinanceSettings()).count("Secret(unset)") == 2 and "token=Secret(unset)" in repr(TelegramSettings())
