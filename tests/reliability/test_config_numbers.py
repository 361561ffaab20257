"""Issue 17 items 1 and 8: no NaN, infinity or out-of-range number gets into a config.

One corpus of bad numbers (the issue's NaN/Infinity cases, 64-bit overflow, values in
the wrong unit, zeros where a count is divided by) and of values on the edge of
their range is fed to both ``hedge config check`` and ``hedge run``: they must give
the same answer, refusals must name the file and the key, and a refused run leaves
the log untouched. Run in-process (``hedge.cli.main``) to stay fast.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from config.loader import REPO_CONFIG_DIR
from config.ranges import markdown
from tests.reliability.harness import REPO, Site
from tests.reliability.test_bad_input import cli, log_bytes

NAN, INF = float("nan"), float("inf")

# (file, key path, value): each must be refused by both commands
BAD: list[tuple[str, tuple[Any, ...], Any]] = [
    ("risk_limits.json", ("tiers", "CORE", "per_symbol_nav_pct"), NAN),
    ("risk_limits.json", ("global", "nav_freshness_seconds"), NAN),
    ("risk_limits.json", ("global", "max_trade_nav_pct"), NAN),
    ("risk_limits.json", ("global", "max_gross_nav_mult"), INF),
    ("risk_limits.json", ("global", "max_open_positions"), 2**70),
    ("runtime.json", ("signal_gate", "expectancy_min"), INF),
    ("runtime.json", ("signal_gate", "expectancy_min"), -INF),
    ("runtime.json", ("signal_gate", "expectancy_min"), NAN),
    ("runtime.json", ("sim", "seed"), 2**64),
    ("runtime.json", ("sim", "seed"), -1),
    ("runtime.json", ("sim", "start_ms"), 1751328000),  # seconds, not ms
    ("runtime.json", ("sim", "start_ms"), -5),
    ("runtime.json", ("sim", "start_ms"), 2**62),
    ("runtime.json", ("sim", "leverage"), 0),
    ("runtime.json", ("sim", "nav_every_bars"), 0),
    ("runtime.json", ("sim", "position_every_bars"), 0),
    ("runtime.json", ("sim", "initial_balance_usd"), 1e300),
    ("runtime.json", ("router", "twap", "interval_s"), 0),
    ("runtime.json", ("group_commit", "max_latency_ms"), NAN),
    ("runtime.json", ("fees", "taker_frac"), -0.5),
    ("strategy_config.json", ("tp_atr_mult",), 0),
    ("strategy_config.json", ("atr_regime", "high_ratio"), INF),
    ("liquidity_buckets.json", ("buckets", "A", "depth_usd"), 0),
    ("alerts.json", ("request_timeout_s",), NAN),
]
# values on the edge of their range: accepted by both
GOOD: list[tuple[str, tuple[Any, ...], Any]] = [
    ("runtime.json", ("signal_gate", "expectancy_min"), -1e6),
    ("runtime.json", ("sim", "seed"), 2**32 - 1),
    ("runtime.json", ("sim", "leverage"), 125),
    ("risk_limits.json", ("global", "min_clamp_ratio"), 0),
]


def _config(tmp: Path, file: str, path: tuple[Any, ...], value: Any) -> Path:
    cfg = tmp / "cfg"
    shutil.rmtree(cfg, ignore_errors=True)
    shutil.copytree(REPO_CONFIG_DIR, cfg, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    data = json.loads((cfg / file).read_text())
    node = data
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    (cfg / file).write_text(json.dumps(data, allow_nan=True))  # NaN/Infinity as Python's json writes them
    return cfg


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    h = tmp_path_factory.mktemp("cfgnum") / "home"
    assert Site(h).hedge("run", "--bars", "20", "--quiet", "--no-projections").returncode == 0
    return h


@pytest.mark.parametrize(("file", "path", "value"), BAD, ids=[f"{f}:{'.'.join(map(str, p))}={v}" for f, p, v in BAD])
def test_config_check_and_run_refuse_the_same_bad_number(home: Path, tmp_path: Path, file: str,
                                                         path: tuple[Any, ...], value: Any) -> None:
    cfg = _config(tmp_path, file, path, value)
    before = log_bytes(home)
    code, _, err = cli(["config", "check", str(cfg)], home)
    code2, _, err2 = cli(["run", "--config", str(cfg), "--bars", "20", "--no-projections", "--quiet"], home)
    assert code == code2 == 2, (err, err2)
    key = ".".join(str(p) for p in path)
    assert f"{file}: {key}:" in err, err
    assert err.strip().splitlines()[-1] == err2.strip().splitlines()[-1]  # the very same message
    assert "Traceback" not in err + err2
    assert log_bytes(home) == before


@pytest.mark.parametrize(("file", "path", "value"), GOOD, ids=[f"{f}:{'.'.join(map(str, p))}={v}" for f, p, v in GOOD])
def test_config_check_and_run_accept_the_edges_of_a_range(home: Path, tmp_path: Path, file: str,
                                                          path: tuple[Any, ...], value: Any) -> None:
    cfg = _config(tmp_path, file, path, value)
    code, _, err = cli(["config", "check", str(cfg)], home)
    code2, _, err2 = cli(["run", "--config", str(cfg), "--bars", "20", "--no-projections", "--quiet"], home)
    assert code == code2 == 0, (err, err2)


def test_the_ranges_document_is_current() -> None:
    assert (REPO / "docs" / "config_ranges.md").read_text() == markdown()


@pytest.mark.parametrize("argv", [
    ["project", "--follow", "--interval", "nan"],
    ["project", "--follow", "--interval", "inf"],
    ["project", "--interval", "-1"],
    ["alerts", "--follow", "--poll", "nan"],
    ["run", "--bars", "5", "--seed", str(2**64)],
    ["run", "--bars", "5", "--until", "9" * 30],
    ["run", "--bars", "5", "--until", "1751328000"],  # seconds, not milliseconds
])
def test_non_finite_or_overflowing_options_are_refused_up_front(home: Path, argv: list[str]) -> None:
    before = log_bytes(home)
    code, _, err = cli(argv, home)
    assert code == 2, err
    assert argv[-2] in err and "Traceback" not in err, err
    assert log_bytes(home) == before


@pytest.mark.parametrize("kind", ["fifo", "directory", "deep-json", "deep-json-in-string", "huge"])
def test_a_config_file_that_is_not_plain_json_gives_a_clear_error(home: Path, tmp_path: Path, kind: str) -> None:
    cfg = _config(tmp_path, "alerts.json", ("daily_cap",), 3)
    target = cfg / "risk_limits.json"
    target.unlink()
    if kind == "fifo":
        os.mkfifo(target)  # nobody writes: reading it would block forever
    elif kind == "directory":
        target.mkdir()
    elif kind == "deep-json":
        target.write_text("[" * 100_000 + "]" * 100_000)
    elif kind == "deep-json-in-string":  # brackets inside a string are not nesting: a plain schema error
        target.write_text(json.dumps({"global": "[" * 1000}))
    else:
        target.write_bytes(b" " * (5 * 1024 * 1024) + b"{}")
    for argv in (["config", "check", str(cfg)], ["run", "--config", str(cfg), "--bars", "5", "--quiet"]):
        code, _, err = cli(argv, home)
        assert code == 2, err
        assert "risk_limits.json" in err and ": failed:" not in err and "Traceback" not in err, err
