"""Binance settings from the environment: endpoints, keys, mode; and the secret redactor.

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

from eventlog.redact import Redactor

__all__ = ["BinanceEnv", "BinanceEnvError", "Redactor", "Secrets", "load_env"]

MAINNET_REST = "https://fapi.binance.com"
MAINNET_STREAM = "wss://fstream.binance.com"
TESTNET_REST = "https://testnet.binancefuture.com"
TESTNET_STREAM = "wss://fstream.binancefuture.com"
ROUTES = ("public", "market", "private")
_TRUE = {"1", "true", "yes", "on"}


class BinanceEnvError(ValueError):
    """The environment asks for something impossible (e.g. live trading without keys)."""


def _flag(env: Mapping[str, str], name: str, default: bool = False) -> bool:
    v = env.get(name)
    return default if v is None or v == "" else v.strip().lower() in _TRUE


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


def load_env(env: Mapping[str, str], dry_run_default: bool = False,
             testnet_default: bool = False) -> BinanceEnv:
    """Read the ``BINANCE_*`` and ``DRY_RUN`` variables (``env`` is usually ``os.environ``).

    Unset variables fall back to the config (``runtime.dry_run``, ``runtime.testnet``);
    without keys the venue is always dry.
    """
    testnet = _flag(env, "BINANCE_TESTNET", testnet_default)
    rest = env.get("BINANCE_BASE_URL") or (TESTNET_REST if testnet else MAINNET_REST)
    stream = env.get("BINANCE_STREAM_URL") or (TESTNET_STREAM if testnet else MAINNET_STREAM)
    secrets = Secrets(env.get("BINANCE_API_KEY", "").strip(), env.get("BINANCE_API_SECRET", "").strip())
    dry = _flag(env, "DRY_RUN", dry_run_default or not secrets)
    if not dry and not secrets:
        raise BinanceEnvError("DRY_RUN=0 needs BINANCE_API_KEY and BINANCE_API_SECRET")
    return BinanceEnv(rest_url=rest.rstrip("/"), stream_url=stream.rstrip("/"), testnet=testnet,
                      dry_run=dry, routed=_flag(env, "BINANCE_WS_ROUTED", True), secrets=secrets)
