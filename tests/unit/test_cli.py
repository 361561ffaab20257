"""The hedge CLI: help, global options before or after the verb, clean errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def _hedge(*args: str, env_home: Path | None = None) -> subprocess.CompletedProcess[str]:
    import os

    env = dict(os.environ)
    env.pop("HEDGE_HOME", None)
    if env_home:
        env["HEDGE_HOME"] = str(env_home)
    return subprocess.run([sys.executable, "-m", "hedge.cli", *args], capture_output=True, text=True,
                          timeout=120, env=env)


def test_help_lists_every_verb() -> None:
    from hedge.cli import VERBS

    r = _hedge("--help")
    assert r.returncode == 0
    for verb in VERBS:
        assert verb in r.stdout


def test_home_is_accepted_before_and_after_the_verb(tmp_path: Path) -> None:
    for args in (("--home", str(tmp_path), "sessions"), ("sessions", "--home", str(tmp_path))):
        r = _hedge(*args)
        assert r.returncode == 2 and f"no event log at {tmp_path}" in r.stderr, r.stderr


def test_missing_log_is_a_one_line_error_exit_2(tmp_path: Path) -> None:
    r = _hedge("verify", env_home=tmp_path / "nowhere")
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_corrupt_log_file_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "eventlog.sqlite").write_bytes(b"this is not a database" * 100)
    r = _hedge("verify", "--home", str(tmp_path))
    assert r.returncode == 2 and "not an SQLite event log" in r.stderr
    assert (tmp_path / "eventlog.sqlite").read_bytes().startswith(b"this is not")


def test_find_session_matches_full_dashed_ids_and_prefixes(home: Path) -> None:
    import uuid

    from eventlog.events import SessionStarted
    from eventlog.store import EventStore

    sid = str(uuid.UUID(int=0x1234))
    with EventStore.open(home) as store:
        store.append([SessionStarted(session_id=sid, session_seq=1, stream="session", ts_event_ns=1,
                                     ts_init_ns=1, engine_version="t", mode="sim", venue="sim",
                                     symbols=["BTCUSDT"], config={}, config_hash="h")])
        for q in (sid, sid.replace("-", ""), sid[:13], "last"):
            assert store.find_session(q).session_id == sid
        import pytest

        with pytest.raises(LookupError):
            store.find_session("ffff")
