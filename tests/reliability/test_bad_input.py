"""Bad input: generated config files, CLI arguments and corrupt state files.

Every failure must be a clean error - exit code 2 (or 1 for a failed check), one
message, no traceback, never the CLI's last-resort "failed: <Exception>" - and
the event log must be byte-for-byte unaltered. The CLI runs in-process here
(``hedge.cli.main``) so Hypothesis can try many inputs; a few cases also run as
a real subprocess.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config.loader import REPO_CONFIG_DIR
from hedge.cli import main
from tests.reliability.harness import Site

_settings = settings(max_examples=40, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                       st.text(max_size=10))
_json = st.recursive(_json_leaf, lambda c: st.one_of(st.lists(c, max_size=3),
                                                     st.dictionaries(st.text(max_size=8), c, max_size=3)),
                     max_leaves=6)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with a real session and its projections, copied for each example."""
    home = tmp_path_factory.mktemp("bad-input") / "home"
    r = Site(home).hedge("run", "--speed", "max", "--bars", "150", "--quiet")
    assert r.returncode == 0, r.stderr
    return home


@contextlib.contextmanager
def scratch(template: Path) -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="hedge-bad-"))
    try:
        shutil.copytree(template, d / "home")
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def cli(argv: list[str], home: Path) -> tuple[int, str, str]:
    """Run ``hedge`` in-process with a clean environment; returns (code, stdout, stderr)."""
    saved = dict(os.environ)
    os.environ["HEDGE_HOME"] = str(home)
    for k in ("HEDGE_STORE_URL", "HEDGE_CONFIG_DIR", "HEDGE_DEBUG", "TELEGRAM_BOT_TOKEN"):
        os.environ.pop(k, None)
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse
                code = exc.code if isinstance(exc.code, int) else 2
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return code, out.getvalue(), err.getvalue()


def log_bytes(home: Path) -> bytes:
    p = home / "eventlog.sqlite"
    con = __import__("sqlite3").connect(p)
    try:
        return b"".join(bytes(r[0]) + str(r[1]).encode() for r in con.execute(
            "SELECT state, rowid FROM stored_events ORDER BY rowid"))
    finally:
        con.close()


def assert_clean(code: int, err: str, allowed: tuple[int, ...] = (0, 2)) -> None:
    assert code in allowed, err
    assert "Traceback" not in err and ": failed: " not in err, err
    if code == 2:
        assert err.strip(), "exit 2 without a message"


# --------------------------------------------------------------------------- config files


def _mutate(draw: Any, cfg: Path) -> str:
    files = sorted(p.name for p in cfg.glob("*.json"))
    name = draw(st.sampled_from(files))
    p = cfg / name
    kind = draw(st.sampled_from(["value", "garbage", "truncate", "drop", "extra"]))
    if kind == "garbage":
        p.write_bytes(draw(st.binary(max_size=64)))
        return f"{name}: garbage"
    if kind == "truncate":
        b = p.read_bytes()
        p.write_bytes(b[: draw(st.integers(0, max(0, len(b) - 1)))])
        return f"{name}: truncated"
    data = json.loads(p.read_text())

    def paths(d: Any, pre: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        out = [pre] if pre else []
        if isinstance(d, dict):
            for k, v in d.items():
                out += paths(v, (*pre, k))
        elif isinstance(d, list):
            for i, v in enumerate(d):
                out += paths(v, (*pre, i))
        return out

    keys = paths(data)
    if not keys:
        return f"{name}: empty"
    path = draw(st.sampled_from(keys))
    parent = data
    for k in path[:-1]:
        parent = parent[k]
    if kind == "value":
        parent[path[-1]] = draw(_json)
    elif kind == "drop":
        del parent[path[-1]]
    elif isinstance(parent, dict):
        parent[draw(st.text(min_size=1, max_size=8))] = draw(_json)
    p.write_text(json.dumps(data, allow_nan=True))
    return f"{name}: {kind} at {path}"


@_settings
@given(st.data())
def test_generated_config_files_give_a_clean_error_and_leave_the_log_alone(template: Path, data: st.DataObject) -> None:
    with scratch(template) as d:
        home, cfg = d / "home", d / "cfg"
        shutil.copytree(REPO_CONFIG_DIR, cfg, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
        what = _mutate(data.draw, cfg)
        before = log_bytes(home)
        code, _, err = cli(["config", "check", str(cfg)], home)
        assert_clean(code, err)
        code2, _, err2 = cli(["run", "--config", str(cfg), "--bars", "3", "--no-projections", "--quiet"], home)
        assert_clean(code2, err2)
        assert (code == 0) == (code2 == 0), f"{what}: config check said {code}, run said {code2}: {err2}"
        if code2 == 2:
            assert log_bytes(home) == before, what
            assert "config" in err2.lower() or "json" in err2.lower(), err2


# --------------------------------------------------------------------------- CLI arguments

_VERBS = ["verify", "sessions", "config", "replay", "explain", "audit", "rebuild", "project", "alerts",
          "migrate", "investors"]
_WORDS = ["--head", "--format", "json", "text", "table", "csv", "--verify", "--set", "--max-diffs", "--batch",
          "--session", "--preview", "last", "last-veto", "check", "show", "list", "--to", "--from", "-1", "0",
          "x=y", "risk.max_open_positions=abc", "select", "select * from nope", "--no-progress", "--quiet",
          "postgresql://u:p@127.0.0.1:1/db", "mysql://x", "--home", "--config", "/nonexistent", "", "--",
          "--interval", "1e999", "nan", "ab" * 40, "\x00", "é"]


@_settings
@given(st.sampled_from(_VERBS), st.lists(st.one_of(st.sampled_from(_WORDS), st.text(max_size=12)), max_size=5))
def test_generated_cli_arguments_give_a_clean_error_and_leave_the_log_alone(
    template: Path, verb: str, rest: list[str]
) -> None:
    if verb == "investors" and rest[:1] == ["add"]:
        rest = rest[1:]  # 'add' reads a password from stdin
    if verb == "alerts" and "--preview" not in rest:
        rest = [*rest, "--preview"]  # never send or follow
    with scratch(template) as d:
        home = d / "home"
        before = log_bytes(home)
        code, _, err = cli([verb, *rest], home)
        assert_clean(code, err, (0, 1, 2))
        if code == 1:
            assert verb in ("verify", "replay"), err  # 1 only means "the check found a difference"
        assert log_bytes(home) == before


@pytest.mark.parametrize("argv", [
    ["run", "--speed", "-3"], ["run", "--bars", "0"], ["run", "--until", "yesterday"],
    ["run", "--session-id", "not-a-uuid"], ["run", "--data", "/nonexistent"], ["run", "--symbols", "NOPEUSDT"],
    ["verify", "--head", "zz"], ["replay", "no-such-session"], ["explain", "no-such-decision"],
    ["audit", "select * from no_such_table"], ["migrate", "--to", "postgresql://u:p@h/"],
])
def test_bad_arguments_as_a_real_subprocess(template: Path, tmp_path: Path, argv: list[str]) -> None:
    home = tmp_path / "home"
    shutil.copytree(template, home)
    before = log_bytes(home)
    r = Site(home).hedge(*argv, timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and r.stderr.startswith("hedge"), r.stderr
    if argv[0] != "audit":  # DuckDB's SQL errors point at the column on extra lines: useful
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert log_bytes(home) == before


# --------------------------------------------------------------------------- corrupt state files


def _projection_files(home: Path) -> list[str]:
    return sorted(str(p.relative_to(home)) for sub in ("state", "projections", "execution", "audit")
                  for p in (home / sub).rglob("*") if p.is_file() and p.name != "lock")


@_settings
@given(st.data())
def test_corrupt_state_files_never_crash_and_a_rebuild_restores_them(template: Path, data: st.DataObject) -> None:
    with scratch(template) as d:
        home = d / "home"
        clean = {f: (home / f).read_bytes() for f in _projection_files(home) if f.startswith("state/")}
        victim = home / data.draw(st.sampled_from(_projection_files(home)))
        how = data.draw(st.sampled_from(["garbage", "truncate", "empty", "flip"]))
        b = victim.read_bytes()
        if how == "garbage":
            b = data.draw(st.binary(min_size=1, max_size=200))
        elif how == "truncate":
            b = b[: data.draw(st.integers(0, max(0, len(b) - 1)))]
        elif how == "empty":
            b = b""
        elif b:
            i = data.draw(st.integers(0, len(b) - 1))
            b = b[:i] + bytes([b[i] ^ 0xFF]) + b[i + 1:]
        victim.write_bytes(b)
        before = log_bytes(home)
        for argv in (["project"], ["sessions"], ["verify"], ["alerts", "--preview"]):
            code, _, err = cli(argv, home)
            assert_clean(code, err)
        code, _, err = cli(["rebuild", "--quiet"], home)
        assert_clean(code, err, (0,))
        assert {f: (home / f).read_bytes() for f in clean} == clean
        assert log_bytes(home) == before
