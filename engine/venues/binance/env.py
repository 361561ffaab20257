"""Binance settings: endpoints, keys, mode; and the secret redactor.

The CLI reads the variables once (``config.settings.BinanceSettings``); ``from_settings``
turns them into the venue's ``BinanceEnv`` (``load_env`` parses a mapping given to it, for
tests). Nothing here reads the process environment.

* ``BINANCE_API_KEY`` / ``BINANCE_API_SECRET`` - keys (needed unless ``DRY_RUN=1``).
* ``BINANCE_TESTNET=1`` - testnet endpoints.
* ``BINANCE_BASE_URL`` / ``BINANCE_STREAM_URL`` - override both (self-hosted gateway, tests).
* ``BINANCE_WS_ROUTED=0`` - use the stream base as is for every stream, instead of the
  ``/public`` (book ticker), ``/market`` (klines, mark price) and ``/private`` (user
  data) routes Binance introduced in 2026.
* ``DRY_RUN=1`` - real market data, orders filled by the simulated matching, never sent.

Secrets never leave this process through us: ``Secrets.__repr__`` hides them and
``Redactor`` (``eventlog.redact``: any case, base64, URL-encoded, 8+ character pieces)
scrubs them (and listen keys, signatures) from every message we record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from config.settings import BinanceSettings
from eventlog.redact import Redactor

__all__ = ["BinanceEnv", "BinanceEnvError", "Redactor", "Secrets", "from_settings", "load_env"]

MAINNET_REST = "https://fapi.binance.com"
MAINNET_STREAM = "wss://fstream.binance.com"
TESTNET_REST = "https://testnet.binancefuture.com"
TESTNET_STREAM = "wss://fstream.binancefuture.com"
ROUTES = ("public", "market", "private")


class BinanceEnvError(ValueError):
    """The environment asks for something impossible (e.g. live trading without keys)."""


class Secrets:
    """API key and secret; never printed."""

    __slots__ = ("key", "secret")

    def __init__(self, key: str, secret: str):
        self.key = key
        self.secret = secret

    def __bool__(self) -> bool:
        return bool(self.key and self.secret)

    def __repr__(self) -> str:
        return f"Secrets(key={'set' if self.key else 'unset'}, secret={'set' if self.secret else 'unset'})"

    __str__ = __repr__


@dataclass(frozen=True)
class BinanceEnv:
    """Where and how to talk to Binance (no secrets in ``repr``)."""

    rest_url: str
    stream_url: str
    testnet: bool
    dry_run: bool
    routed: bool = True
    secrets: Secrets = field(default_factory=lambda: Secrets("", ""), repr=False, compare=False)

    @property
    def mode(self) -> str:
        if self.dry_run:
            return "binance-dry"
        return "testnet" if self.testnet else "live"

    def route_url(self, route: str) -> str:
        """Stream base for one route; the connector appends ``/ws`` itself."""
        if route not in ROUTES:
            raise ValueError(f"unknown stream route {route!r} (one of {', '.join(ROUTES)})")
        base = self.stream_url.rstrip("/")
        return f"{base}/{route}" if self.routed else base


def from_settings(s: BinanceSettings, dry_run_default: bool = False,
                  testnet_default: bool = False) -> BinanceEnv:
    """The venue's endpoints, mode and keys from the ``BINANCE_*`` and ``DRY_RUN`` settings.

    Unset variables fall back to the config (``runtime.dry_run``, ``runtime.testnet``);
    without keys the venue is always dry.
    """
    testnet = testnet_default if s.testnet is None else s.testnet
    rest = s.base_url or (TESTNET_REST if testnet else MAINNET_REST)
    stream = s.stream_url or (TESTNET_STREAM if testnet else MAINNET_STREAM)
    secrets = Secrets(s.api_key.reveal(), s.api_secret.reveal())
    dry = (dry_run_default or not secrets) if s.dry_run is None else s.dry_run
    if not dry and not secrets:
        raise BinanceEnvError("DRY_RUN=0 needs BINANCE_API_KEY and BINANCE_API_SECRET")
    return BinanceEnv(rest_url=rest.rstrip("/"), stream_url=stream.rstrip("/"), testnet=testnet,
                      dry_run=dry, routed=s.ws_routed, secrets=secrets)


def load_env(env: Mapping[str, str], dry_run_default: bool = False,
             testnet_default: bool = False) -> BinanceEnv:
    """``from_settings`` over the ``BINANCE_*`` / ``DRY_RUN`` entries of a mapping given to it."""
    return from_settings(BinanceSettings.from_env(env), dry_run_default, testnet_default)
