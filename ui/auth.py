"""Investor login check behind nginx's ``auth_request``: the same work for every name.

nginx's own ``auth_basic`` answers an unknown user at once and a known one after a
bcrypt (0.4 ms vs 236 ms: names could be enumerated), and runs bcrypt inside its event
loop (a storm of bad logins stalls every page). Here nginx asks the dashboard process
instead (``GET /_auth`` with the request's ``Authorization`` header):

* an unknown name is verified against a dummy hash of the file's highest cost, so it
  costs what a known name with a wrong password costs;
* bcrypt runs on a small thread pool, off the server's event loop;
* credentials that verified are remembered (by a keyed digest, never the password) for
  a few minutes, so the page's many requests do not each pay a bcrypt; the memory is
  dropped when the htpasswd file changes (a removed investor is out at once).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import bcrypt

from ui import htpasswd

REMEMBER_S = 300.0
REALM = 'Basic realm="gpt-hedge investors"'
_COST = re.compile(r"^\$2[abxy]?\$(\d\d)\$")


class LoginCheck:
    """``check(authorization_header) -> name | None`` against an htpasswd file."""

    def __init__(self, path: Path, *, remember_s: float = REMEMBER_S, threads: int | None = None):
        self.path = path
        self.remember_s = remember_s
        self.pool = ThreadPoolExecutor(max_workers=threads or max(1, (os.cpu_count() or 2) - 1),
                                       thread_name_prefix="hedge-login")
        self._key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._sig: tuple[int, int, int] | None = None
        self._users: dict[str, str] = {}
        self._dummy = ""
        self._good: dict[bytes, tuple[str, float]] = {}
        self._busy: set[str] = set()  # clients with a bcrypt running (one at a time each)

    def _load(self) -> tuple[dict[str, str], str]:
        try:
            st = self.path.stat()
            sig = (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError:
            sig = (0, 0, 0)
        with self._lock:
            if sig != self._sig:
                try:
                    users = htpasswd.read(self.path) if sig[1] else {}
                except (OSError, ValueError):
                    users = {}
                costs = [int(m.group(1)) for h in users.values() if (m := _COST.match(h))]
                cost = max(costs, default=htpasswd.ROUNDS)
                dummy = bcrypt.hashpw(secrets.token_bytes(16).hex().encode(), bcrypt.gensalt(rounds=cost))
                self._users, self._dummy, self._sig = users, dummy.decode("ascii"), sig
                self._good.clear()
            return self._users, self._dummy

    def remembered(self, authorization: str | None) -> str | None:
        """The name for credentials that verified in the last few minutes (no bcrypt)."""
        if not authorization:
            return None
        self._load()
        key = self._digest(authorization)
        with self._lock:
            hit = self._good.get(key)
            if hit is not None and hit[1] > time.monotonic() and hit[0] in self._users:
                return hit[0]
        return None

    def begin(self, client: str) -> bool:
        """Claim ``client``'s one bcrypt slot (nginx's ``X-Real-IP``); False when it holds it.

        A client looping bad logins so holds one pool thread, not all of them; its extra
        concurrent attempts are refused without a bcrypt - a 401 like any other, so
        nothing about names leaks. ``end(client)`` releases the slot.
        """
        with self._lock:
            if client in self._busy:
                return False
            self._busy.add(client)
            return True

    def end(self, client: str) -> None:
        with self._lock:
            self._busy.discard(client)

    def check(self, authorization: str | None) -> str | None:
        """The investor's name when the Basic credentials verify, else None."""
        if not authorization:
            return None  # no credentials: nothing to compare, nothing a name could reveal
        hit = self.remembered(authorization)
        if hit is not None:
            return hit
        name, password = _parse(authorization)
        users, dummy = self._load()
        hashed = users.get(name or "")
        ok = htpasswd.verify(password or "", hashed or dummy)  # unknown name: same work, always False
        if not (ok and hashed and name):
            return None
        with self._lock:
            if len(self._good) > 1000:
                self._good.clear()
            self._good[self._digest(authorization)] = (name, time.monotonic() + self.remember_s)
        return name

    def _digest(self, authorization: str) -> bytes:
        return hmac.new(self._key, authorization.encode("utf-8", "surrogateescape"), hashlib.sha256).digest()

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def _parse(header: str | None) -> tuple[str | None, str | None]:
    if not header or header[:6].lower() != "basic ":
        return None, None
    try:
        raw = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None, None
    name, sep, password = raw.partition(":")
    return (name, password) if sep else (None, None)
