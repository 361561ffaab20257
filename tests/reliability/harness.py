"""Harness for the reliability suite: run ``hedge`` as a subprocess on either backend.

A ``Site`` is one place a log lives: a ``HEDGE_HOME`` directory, plus a fresh
PostgreSQL database when the backend is PostgreSQL (then ``HEDGE_STORE_URL`` is
set and the home holds only projections and state files). Tests talk to it the
way an operator does - through the CLI - and look underneath with ``RawLog``.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec

from eventlog.chain import split
from eventlog.codec import decode
from eventlog.store import EventStore
from tests.rawlog import RawLog

REPO = Path(__file__).resolve().parents[2]
SECRET_ENV = {
    # Fake secrets with no long run of one character: a tail such as 14 zeros also
    # occurs in float output (0.30000000000000004) and would be a false leak.
    "BINANCE_API_KEY": "AKIAFAKEBINANCEKEY7Qm2Xv9LpR4tW8nZ3bK6yH1cD5fJ0gS2aE7uV4iO9xN3wM",
    "BINANCE_API_SECRET": "SECRETFAKEBINANCESECRETXYZ0123456789abcdefghijklmnopqrstuvwxyz00",
    "TELEGRAM_BOT_TOKEN": "123456789:AAFakeTelegramBotTokenQ7wE3rT9yU2iO5p",
}


class Site:
    """A log location (SQLite home, or home + PostgreSQL URL) and the CLI pointed at it."""

    def __init__(self, home: Path, url: str | None = None):
        self.home = home
        self.url = url
        home.mkdir(parents=True, exist_ok=True)

    @property
    def backend(self) -> str:
        return "postgres" if self.url else "sqlite"

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        e = {k: v for k, v in os.environ.items() if k not in ("HEDGE_STORE_URL", "HEDGE_DEBUG")}
        e.update({"HEDGE_HOME": str(self.home), "PYTHONUNBUFFERED": "1"})
        e.pop("HEDGE_CONFIG_DIR", None)
        if self.url:
            e["HEDGE_STORE_URL"] = self.url
        e.update(extra or {})
        return e

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "hedge.cli", *args]

    def hedge(self, *args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(*args), cwd=REPO, env=self.env(env), capture_output=True, text=True,
                              timeout=timeout)

    def popen(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(self.argv(*args), cwd=REPO, env=self.env(env), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def raw(self) -> RawLog:
        if self.url:
            return RawLog(url=self.url)
        return RawLog(sqlite_path=self.home / "eventlog.sqlite")

    def store(self) -> EventStore:
        return EventStore.open(self.home, self.url, create=False)

    def verify(self, *extra: str) -> dict[str, Any]:
        r = self.hedge("verify", "--format", "json", *extra)
        assert r.returncode in (0, 1), r.stderr
        out: dict[str, Any] = json.loads(r.stdout)
        return out

    def log_digest(self) -> str:
        """SHA-256 over every stored row (seq, key, topic, bytes): any change shows."""
        h = hashlib.sha256()
        raw = self.raw()
        if not raw.exists():
            return "no-log"
        for row in raw.rows():
            h.update(repr(row[:4]).encode())
            h.update(row[4])
        return h.hexdigest()

    def state_files(self) -> dict[str, bytes]:
        """Every projection output (state files, veto JSONL) by relative path."""
        out: dict[str, bytes] = {}
        for sub in ("state", "execution"):
            d = self.home / sub
            if d.exists():
                for f in sorted(d.rglob("*")):
                    if f.is_file() and not f.name.endswith(".tmp"):
                        out[str(f.relative_to(self.home))] = f.read_bytes()
        return out


def payloads(site: Site, drop: tuple[str, ...] = ("session_id", "ts_init_ns", "seq")) -> list[dict[str, Any]]:
    """Every stored event as a dict without the fields that legitimately differ between runs."""
    out = []
    for seq, _oid, _v, _topic, state in site.raw().rows():
        d = msgspec.to_builtins(decode(split(state)[1], seq))
        for k in drop:
            d.pop(k, None)
        out.append(_strip_session(d))
    return out


def _strip_session(d: Any) -> Any:
    """Ids embed the session tag (first 8 hex of the session id): blank it out."""
    if isinstance(d, dict):
        return {k: _strip_session(v) for k, v in d.items()}
    if isinstance(d, list):
        return [_strip_session(v) for v in d]
    if isinstance(d, str) and len(d) > 9 and d[8] == "-" and all(c in "0123456789abcdef" for c in d[:8]):
        return "<tag>" + d[8:]
    return d


def events_of(site: Site, type_name: str) -> list[Any]:
    with site.store() as s:
        return list(s.read(types=(type_name,)))
