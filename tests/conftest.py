"""Shared fixtures: a throwaway HEDGE_HOME, the real market data folder (skip when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# The throwaway PostgreSQL cluster fixtures (pg_server, pg_url) for every test.
pytest_plugins = ["tests.pgserver"]

REPO = Path(__file__).resolve().parents[1]
MARKET_DIR = Path(os.environ.get("HEDGE_MARKET_DIR", REPO.parent / "shared" / "market"))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty HEDGE_HOME for one test (env var set, store URL cleared)."""
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("HEDGE_HOME", str(h))
    monkeypatch.delenv("HEDGE_STORE_URL", raising=False)
    monkeypatch.delenv("HEDGE_CONFIG_DIR", raising=False)
    return h


@pytest.fixture(scope="session")
def market_dir() -> Path:
    """../shared/market with the real Binance 5m klines; skips the test when absent."""
    if not (MARKET_DIR / "BTCUSDT.csv").exists():
        pytest.skip(f"real market data not found at {MARKET_DIR}")
    return MARKET_DIR
