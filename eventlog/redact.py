"""The one secret scrubber: nothing that looks like a known secret reaches the log.

``Redactor(*secrets)`` removes every *variant* of each secret from a text:

* the secret in any letter case (``KEY``, ``key``, ``KeY``),
* its URL encoding (``quote``/``quote_plus``) and its base64 (standard and URL-safe,
  padded or not, and at every byte alignment, so a secret embedded in a longer
  base64 blob such as ``Authorization: Basic ...`` is caught too),
* any piece of 8 or more consecutive characters of any of those (a truncated echo,
  a prefix or a suffix: ``"invalid key abcd1234..."``).

It also blanks request signatures (``signature=<hex>``). Matching works on
8-character windows, so the cost is linear in the text length.

``upstream_error(body, redact)`` turns an upstream error body (Binance answers
``{"code": -2015, "msg": "..."}``) into a short ``code: message`` line that is safe
to record: the body is parsed, never stored verbatim, and the message is scrubbed.

Callers: the Binance adapter (``engine.venues``), ``hedge run`` (the reason in
``SessionEnded``), alerts. The process's secrets are listed once, by the CLI
(``config.settings.Settings.secrets()``).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MIN_PIECE = 8  # shortest run of a secret's characters that is removed on its own
MASK = "***"
MAX_MESSAGE = 300  # an upstream message is cut to this many characters
_SIGNATURE = re.compile(r"(signature=)[0-9a-fA-F]+")


def _b64_pieces(raw: bytes) -> Iterable[str]:
    """Base64 text that encodes ``raw`` wherever it sits in a longer byte string."""
    for lead in range(3):
        enc = base64.b64encode(b"\0" * lead + raw).decode("ascii").rstrip("=")
        # characters touched by the leading filler or by the unknown next byte are dropped
        skip = (lead * 8 + 5) // 6 if lead else 0
        end = len(enc) - (1 if (lead + len(raw)) % 3 else 0)
        core = enc[skip:end]
        if len(core) >= MIN_PIECE:
            yield core
            yield core.replace("+", "-").replace("/", "_")
    whole = base64.b64encode(raw).decode("ascii")
    yield whole
    yield base64.urlsafe_b64encode(raw).decode("ascii")


def variants(secret: str) -> set[str]:
    """Every form of ``secret`` that is removed (before the 8-character windowing)."""
    out: set[str] = set()
    for s in {secret, secret.lower(), secret.upper()}:
        out.update({s, quote(s, safe=""), quote_plus(s, safe="")})
        out.update(_b64_pieces(s.encode("utf-8")))
    return {v for v in out if v}


class Redactor:
    """Scrubs every variant of the registered secrets (see the module docstring)."""

    def __init__(self, *secrets: str):
        self._secrets: set[str] = set()
        self._windows: set[str] = set()
        self._short: set[str] = set()  # secrets shorter than MIN_PIECE: matched whole
        for s in secrets:
            self.add(s)

    def add(self, secret: str) -> None:
        """Register one more secret (e.g. a listen key learned at run time)."""
        secret = (secret or "").strip()
        if not secret or secret in self._secrets:
            return
        self._secrets.add(secret)
        for v in variants(secret):
            low = v.lower()
            if len(low) < MIN_PIECE:
                self._short.add(low)
                continue
            for i in range(len(low) - MIN_PIECE + 1):
                self._windows.add(low[i:i + MIN_PIECE])

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def __call__(self, text: object) -> str:
        out = str(text)
        if self._secrets:
            out = self._scrub(out)
        return _SIGNATURE.sub(r"\1" + MASK, out)

    def _scrub(self, text: str) -> str:
        low = text.lower()
        spans: list[tuple[int, int]] = []
        win = self._windows
        n = MIN_PIECE
        for i in range(len(low) - n + 1):
            if low[i:i + n] in win:
                if spans and spans[-1][1] >= i:
                    spans[-1] = (spans[-1][0], i + n)
                else:
                    spans.append((i, i + n))
        for s in self._short:
            # a short secret is matched only as a whole token, never inside a word
            for m in re.finditer(r"(?<![0-9a-z])" + re.escape(s) + r"(?![0-9a-z])", low):
                spans.append((m.start(), m.end()))
        if not spans:
            return text
        spans.sort()
        merged: list[tuple[int, int]] = []
        for a, b in spans:
            if merged and a <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
            else:
                merged.append((a, b))
        parts: list[str] = []
        last = 0
        for a, b in merged:
            parts.append(text[last:a])
            parts.append(MASK)
            last = b
        parts.append(text[last:])
        return "".join(parts)

    def __repr__(self) -> str:
        return f"Redactor({len(self._secrets)} secrets)"


def upstream_error(body: object, redact: Redactor, *, status: int | None = None) -> str:
    """A safe one-line summary of an upstream error body: ``[status] code: message``.

    JSON bodies with ``code``/``msg`` (Binance) or ``error_code``/``description``
    (Telegram) are parsed; anything else keeps only its first line. The message is
    scrubbed by ``redact`` and cut to ``MAX_MESSAGE`` characters; the body itself
    is never returned.
    """
    text = body.decode("utf-8", "replace") if isinstance(body, bytes | bytearray) else str(body)
    code: object = None
    msg = ""
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        doc = None
    if isinstance(doc, dict):
        code = doc.get("code", doc.get("error_code"))
        m = doc.get("msg", doc.get("message", doc.get("description", "")))
        msg = m if isinstance(m, str) else json.dumps(m)[:MAX_MESSAGE]
    else:
        msg = text.strip().splitlines()[0] if text.strip() else ""
    msg = " ".join(redact(msg).split())
    if len(msg) > MAX_MESSAGE:
        msg = msg[:MAX_MESSAGE] + "..."
    # the scrub runs again on the cut text: a cut must not leave a secret's tail behind
    msg = redact(msg)
    head = " ".join(x for x in (f"HTTP {status}" if status else "",
                                 f"code {code}" if isinstance(code, int | str) and not isinstance(code, bool)
                                 else "") if x)
    return f"{head}: {msg}" if head and msg else head or msg or "(empty error body)"
