"""Benchmark inputs, built once and cached outside the repo.

* ``session_home(scale)``: a home holding one real ``hedge run --speed max`` session
  over ``MARKET_DIR`` (all symbols; ``scale`` of its bar steps), or over the generated
  market when the real data is absent.
* ``big_log(scale)``: ``(small, big)`` homes whose logs hold that session replicated with
  fresh session ids - at scale 1 about 1 million and at least 5 million events. The
  payloads are the real session's bytes with the session id and the session tag of every
derived id replaced (same length), and
  go in through ``EventStore.append_encoded`` (hash chain, bulk insert), so the log is
  exactly what many real sessions would have written.

The cache lives in ``$HEDGE_BENCH_CACHE`` (default ``~/.cache/gpt-hedge-bench``). The
session is keyed by everything that decides what it logs (``eventlog/``, ``engine/``,
``config/``, the market files: replay must verify it with today's engine); the big logs
only by the stored format (schemas, codec, chain, backend), so a schema change never
reuses a stale log. Stale entries are removed after an hour unused (a 5M-event log is
about 2 GB).
"""

from __future__ import annotations

import fcntl
import hashlib
import math
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.common import MARKET_DIR, REPO

CACHE_ROOT = Path(os.environ.get("HEDGE_BENCH_CACHE", Path.home() / ".cache" / "gpt-hedge-bench"))
FULL_STEPS = 51_838  # bar steps of the real data (3 symbols -> 155,514 bars)
BIG_EVENTS = 5_000_000
SMALL_EVENTS = 1_000_000
_SESSION_SOURCES = ("eventlog", "engine", "config")
_FORMAT_SOURCES = ("bench/fixtures.py", "eventlog/events.py", "eventlog/codec.py", "eventlog/chain.py", "eventlog/upcast.py",
                   "eventlog/sqlite_backend.py", "eventlog/compact.py", "eventlog/typecodes.py", "eventlog/sqlite_keys.py")


def have_market() -> bool:
    return all((MARKET_DIR / f"{s}.csv").exists() for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT"))


def steps_for(scale: float) -> int:
    return max(60, int(FULL_STEPS * scale))


def cache_key(sources: tuple[str, ...]) -> str:
    """Hash of the given repo paths (files or packages) and of the market files."""
    h = hashlib.sha256()
    for src in sources:
        root = REPO / src
        files = [root] if root.is_file() else sorted(root.rglob("*"))
        for p in files:
            if p.suffix in (".py", ".json") and "__pycache__" not in p.parts:
                h.update(str(p.relative_to(REPO)).encode())
                h.update(p.read_bytes())
    if have_market():
        for f in sorted(MARKET_DIR.glob("*.csv")):
            st = f.stat()
            h.update(f"{f.name}:{st.st_size}:{int(st.st_mtime)}".encode())
    return h.hexdigest()[:16]


def cache_dir(kind: str) -> Path:
    """This key's cache dir for ``kind`` (``session``: keyed by everything that decides what
    a session logs; ``log``: keyed by the stored format only, so engine edits do not force
    a new 5M-event log). Stale dirs of the same kind, unused for an hour, are removed."""
    key = cache_key(_SESSION_SOURCES if kind == "session" else _FORMAT_SOURCES)
    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    d = CACHE_ROOT / f"{kind}-{key}"
    for old in CACHE_ROOT.glob(f"{kind}-*"):
        if old.is_dir() and old != d and time.time() - old.stat().st_mtime > 3600:
            shutil.rmtree(old, ignore_errors=True)
    d.mkdir(exist_ok=True)
    os.utime(d)
    return d


@contextmanager
def _locked(d: Path, name: str) -> Iterator[None]:
    """One builder per cache entry (other entries stay usable meanwhile)."""
    with open(d / f".{name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def hedge_argv() -> list[str]:
    return [sys.executable, "-m", "hedge.cli"]


def run_session_argv(home: Path, scale: float, *, projections: bool) -> list[str]:
    """``hedge run --speed max`` over the real data (or the generated market)."""
    argv = [*hedge_argv(), "run", "--home", str(home), "--speed", "max"]
    if have_market():
        argv += ["--data", str(MARKET_DIR)]
    if scale < 1.0 or not have_market():
        argv += ["--bars", str(steps_for(scale))]
    if not projections:
        argv.append("--no-projections")
    return argv


def session_home(scale: float) -> Path:
    """A cached home with one real session (no projections run; the log only)."""
    d = cache_dir("session")
    home = d / f"session-{scale:g}"
    with _locked(d, home.name):
        if not (home / ".done").exists():
            shutil.rmtree(home, ignore_errors=True)
            out = subprocess.run(run_session_argv(home, scale, projections=False), cwd=REPO,
                                 capture_output=True, text=True, check=False)
            if out.returncode != 0:
                raise RuntimeError(f"hedge run failed: {out.stderr[-2000:]}")
            (home / ".done").write_text(out.stdout)
    return home


def session_id(home: Path) -> str:
    """The (first) session id recorded in ``home``'s log."""
    from eventlog.store import EventStore

    with EventStore.open(home, create=False, readonly=True) as store:
        (row,) = store.recorder.select_rows(1, 1)
    return str(uuid.UUID(row[1]))


def log_rows(home: Path, batch: int = 20_000) -> Iterator[list[tuple[int, str, int, str, bytes]]]:
    """Every row of ``home``'s log as the chain covers it (seq, session hex, session_seq, type,
    link + payload), in batches: the same for both SQLite layouts (``eventlog.sqlite_keys``)."""
    from eventlog.store import EventStore

    with EventStore.open(home, create=False, readonly=True) as store:
        yield from store.rows(batch=batch, check=False)


def _session_rows(home: Path) -> tuple[str, list[tuple[int, str, bytes]]]:
    sid = session_id(home)
    rows = [(r[2], r[3], bytes(r[4][32:])) for b in log_rows(home) for r in b]
    return sid, rows


def _append_copies(home: Path, sid: str, rows: list[tuple[int, str, bytes]], copies: int) -> None:
    """Append ``copies`` replicas of a session, each under a fresh session id."""
    from eventlog.store import EventStore

    old, old_tag, old_raw = sid.encode(), sid.encode()[:8], uuid.UUID(sid).bytes
    store = EventStore.open(home)
    try:
        for _ in range(copies):
            new_sid = str(uuid.uuid4())
            new, new_tag, new_raw = new_sid.encode(), new_sid.encode()[:8], uuid.UUID(new_sid).bytes
            batch: list[tuple[str, int, str, bytes]] = []
            for v, t, p in rows:
                # the session id (spelled out in a format-1 map, 16 bytes in a compact payload's
                # preamble), then the session tag that starts every derived id (engine/ids.py):
                # each copy has its own intent/order/plan ids
                p = p.replace(old, new).replace(old_tag, new_tag)
                if p[:1] == b"\xc1" and p[1:17] == old_raw:
                    p = p[:1] + new_raw + p[17:]
                batch.append((new_sid, v, t, p))
                if len(batch) == 5000:
                    store.append_encoded(batch)
                    batch = []
            if batch:
                store.append_encoded(batch)
    finally:
        store.close()


def _checkpoint(home: Path) -> None:
    """Move the WAL into the main file so the file alone is the whole log."""
    con = sqlite3.connect(home / "eventlog.sqlite")
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()


def big_log(scale: float) -> tuple[Path, Path]:
    """(small, big) cached homes: ~``SMALL_EVENTS`` and >= ``BIG_EVENTS`` events (x scale)."""
    src = session_home(min(scale, 1.0))
    d = cache_dir("log")
    small, big = d / f"log-small-{scale:g}", d / f"log-big-{scale:g}"
    with _locked(d, big.name):
        if not (big / ".done").exists():
            sid, rows = _session_rows(src)
            per = len(rows)
            n_small = max(1, math.ceil(SMALL_EVENTS * scale / per))
            n_big = max(n_small + 1, math.ceil(BIG_EVENTS * scale / per))
            for h in (small, big):
                shutil.rmtree(h, ignore_errors=True)
                h.mkdir(parents=True)
            _append_copies(small, sid, rows, n_small)
            _checkpoint(small)
            shutil.copyfile(small / "eventlog.sqlite", big / "eventlog.sqlite")
            _append_copies(big, sid, rows, n_big - n_small)
            (small / ".done").write_text(str(n_small * per))
            (big / ".done").write_text(str(n_big * per))
    return small, big


def log_events(home: Path) -> int:
    con = sqlite3.connect(f"file:{home / 'eventlog.sqlite'}?mode=ro", uri=True)
    try:
        return int(con.execute("SELECT max(rowid) FROM stored_events").fetchone()[0] or 0)
    finally:
        con.close()
