"""Secrets never reach the log, state files, audit tables, alerts previews or any output.

Every secret the system knows of is set (Binance keys, Telegram bot token, the
PostgreSQL password in ``HEDGE_STORE_URL``, an investor password), a session is
run and every reading command is used; then every stored byte - log rows, every
file under the home (state, audit Parquet, checkpoints, htpasswd) - and every
line of output is searched for each secret and its obvious encodings.
"""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path
from urllib.parse import quote

from tests.pgserver import PG_PASSWORD
from tests.reliability.harness import REPO, SECRET_ENV, Site

INVESTOR_PASSWORD = "Investor-Passw0rd-Zq8Xk2"


def _needles() -> list[bytes]:
    out = []
    for s in [*SECRET_ENV.values(), PG_PASSWORD, INVESTOR_PASSWORD]:
        for form in (s, quote(s, safe=""), s[-14:], s.split(":", 1)[-1][-14:]):
            if len(form) >= 12:  # shorter fragments would match random bytes
                # a uniform fragment (14 zeros) also occurs in ordinary numbers: not a leak test
                assert len(set(form)) >= 6, f"fake secret fragment {form!r} is too uniform to search for"
                out.append(form.encode())
        out.append(base64.b64encode(s.encode()))
    return out


def _leaks(blob: bytes, where: str) -> list[str]:
    return [f"{where}: {n[:6].decode()}..." for n in _needles() if n in blob]


def test_no_secret_reaches_the_log_files_or_output(site: Site) -> None:
    outputs: list[str] = []

    def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(site.argv(*args), cwd=REPO, env=site.env(SECRET_ENV), capture_output=True,
                           text=True, input=stdin, timeout=600)
        outputs.append(f"$ hedge {' '.join(args)}\n{r.stdout}\n{r.stderr}")
        return r

    assert cli("run", "--speed", "max", "--bars", "400").returncode == 0
    assert cli("investors", "add", "alice", stdin=INVESTOR_PASSWORD + "\n").returncode == 0
    for args in (("verify",), ("sessions",), ("rebuild",), ("project",), ("replay", "last", "--verify"),
                 ("explain", "last"), ("audit", "select * from events limit 50"), ("alerts", "--preview"),
                 ("investors", "list"), ("config", "show"), ("migrate", "--to", "postgresql://u@127.0.0.1:1/x")):
        r = cli(*args)
        assert "Traceback" not in r.stderr, r.stderr
    # A wrong password in the URL: the error must not echo the URL's password either.
    bad = site.hedge("verify", env={"HEDGE_STORE_URL": f"postgresql://hedge:{quote(PG_PASSWORD + 'x')}"
                                                          f"@127.0.0.1:1/nodb"}, timeout=120)
    outputs.append(bad.stdout + bad.stderr)

    leaks: list[str] = []
    for text in outputs:
        leaks += _leaks(text.encode(), "output")
    for seq, oid, ver, topic, state in site.raw().rows():
        leaks += _leaks(repr((oid, ver, topic)).encode() + state, f"log seq {seq}")
    files = [f for f in Path(site.home).rglob("*") if f.is_file()]
    assert any(f.suffix == ".parquet" for f in files) and any(f.suffix == ".json" for f in files)
    for f in files:
        leaks += _leaks(f.read_bytes(), str(f.relative_to(site.home)))
    assert not leaks, "\n".join(sorted(set(leaks)))
