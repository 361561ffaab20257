"""Issue 17 item 7: a secret is removed in every form an upstream might echo it.

``eventlog.redact.Redactor`` is the one scrubber (the Binance adapter and ``hedge run``
use it). Hypothesis draws secrets and the texts around them; every variant the issue
names - any letter case, base64 (alone or inside a longer blob, any alignment),
URL-encoded, any piece of 8+ characters - must be gone, and text without a secret
must come back unchanged.
"""

from __future__ import annotations

import base64
import string
from urllib.parse import quote, quote_plus

from hypothesis import given, settings
from hypothesis import strategies as st

from config.settings import Settings
from eventlog.redact import MIN_PIECE, Redactor, upstream_error

ALNUM = string.ascii_letters + string.digits
secrets = st.text(ALNUM + "-_+/=:", min_size=16, max_size=80).filter(lambda s: s.strip() == s)
filler = st.text(string.printable, max_size=40)


def _forms(s: str) -> list[str]:
    out = [s, s.lower(), s.upper(), s.swapcase(), quote(s, safe=""), quote_plus(s),
           base64.b64encode(s.encode()).decode(), base64.urlsafe_b64encode(s.encode()).decode(),
           base64.b64encode(s.encode()).decode().rstrip("="), s[:MIN_PIECE], s[-MIN_PIECE:],
           s[3:3 + MIN_PIECE + 2]]
    return out


@settings(max_examples=150, deadline=None)
@given(secret=secrets, before=filler, after=filler, lead=st.binary(max_size=5), trail=st.binary(max_size=5))
def test_every_variant_of_a_secret_is_removed(secret: str, before: str, after: str, lead: bytes,
                                              trail: bytes) -> None:
    red = Redactor(secret)
    for form in _forms(secret):
        out = red(f"{before} {form} {after}")
        assert form not in out, (form, out)
    # embedded in a longer base64 blob at any alignment (e.g. "Basic " + b64("user:" + key))
    blob = base64.b64encode(lead + secret.encode() + trail).decode()
    out = red(f"auth {blob}")
    first = -(-8 * len(lead) // 6)  # the first base64 character made of the secret's bits only
    last = 8 * (len(lead) + len(secret.encode())) // 6  # one past the last such character
    own = blob[first:last]
    assert len(own) >= MIN_PIECE
    for i in range(len(own) - MIN_PIECE + 1):
        assert own[i:i + MIN_PIECE] not in out, (own, out)


@settings(max_examples=100, deadline=None)
@given(secret=secrets, text=st.text(ALNUM + " .,:", max_size=200))
def test_text_without_the_secret_is_unchanged(secret: str, text: str) -> None:
    low = text.lower()
    pieces = {v[i:i + MIN_PIECE].lower() for v in _forms(secret) for i in range(len(v) - MIN_PIECE + 1)}
    if any(p in low for p in pieces):
        return  # the text happens to contain a piece of the secret
    assert Redactor(secret)(text) == text


def test_a_binance_error_body_becomes_a_code_and_a_scrubbed_message() -> None:
    key = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
    red = Redactor(key)
    body = ('{"code":-2015,"msg":"Invalid API-key, IP, or permissions for action, request ip: 1.2.3.4, key '
            + key.lower()[:20] + '..."}')
    line = upstream_error(body, red, status=401)
    assert line.startswith("HTTP 401 code -2015: Invalid API-key")
    assert key.lower()[:20] not in line.lower() and key[:MIN_PIECE].lower() not in line.lower()
    # a non-JSON body keeps only its (scrubbed, cut) first line
    html = f"<html>{base64.b64encode(key.encode()).decode()}</html>\nsecond line " + key
    out = upstream_error(html, red, status=502)
    assert "second line" not in out and base64.b64encode(key.encode()).decode()[4:16] not in out


def test_secrets_from_env_includes_the_database_password() -> None:
    env = {"BINANCE_API_KEY": "k" * 20, "HEDGE_STORE_URL": "postgresql://u:p%40ss-w0rd-long@h/db"}
    assert set(Settings.from_env(env).secrets()) >= {"k" * 20, "p@ss-w0rd-long"}
