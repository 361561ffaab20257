"""What-if: ``hedge replay SESSION --set key=value [--out DIR]`` on a real ``hedge run`` log.

With the recorded config the re-simulation reproduces the session event for event (ids
aside) and the same results; a looser cap shows fewer vetoes on its gate and moves trades
and NAV; bad keys and values are refused like config loading; the real log is never
written; ``--out`` keeps a scratch log that ``hedge audit`` can query.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from config.loader import ConfigError, apply_overrides, from_dict
from eventlog.store import EventStore
from replay.whatif import open_scratch
from tests.integration.test_replay_verify import hedge

SKIP = {"seq", "session_id", "ts_init_ns"}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    home = tmp_path_factory.mktemp("whatif") / "home"
    rc, out, err = hedge("run", "--home", str(home), "--bars", "2500", "--no-projections", "--quiet")
    assert rc == 0, err
    return home, out.split()[1]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def what_if(home: Path, sid: str, *args: str) -> dict[str, Any]:
    rc, out, err = hedge("replay", "--home", str(home), sid, *args, "--format", "json")
    assert rc == 0, err
    doc: dict[str, Any] = json.loads(out)
    return doc


def normalised(store: EventStore, sid: str) -> list[dict[str, Any]]:
    """The session's events without header stamps, ids re-tagged, start/end left out."""
    tag = sid.replace("-", "")[:8].encode()
    out = []
    for ev in store.read(session=sid):
        if type(ev).__name__ in ("SessionStarted", "SessionEnded"):
            continue
        d = {k: v for k, v in msgspec.to_builtins(ev).items() if k not in SKIP}
        out.append(msgspec.json.decode(msgspec.json.encode(d).replace(tag, b"TAG")))
    return out


def test_unchanged_config_reproduces_the_session_exactly(recorded: tuple[Path, str], tmp_path: Path) -> None:
    home, sid = recorded
    before = digest(home / "eventlog.sqlite")
    out_dir = tmp_path / "scratch"
    doc = what_if(home, sid, "--out", str(out_dir))
    assert doc["changes"] == [] and doc["what_if"] == doc["recorded"]
    assert doc["recorded"]["trades"] > 0 and doc["recorded"]["vetoes"] > 0 and doc["recorded"]["sharpe"] is not None
    with EventStore.open(home, create=False) as real, open_scratch(out_dir) as scratch:
        assert normalised(scratch, doc["what_if_session_id"]) == normalised(real, sid)
        started = next(scratch.read(types=("SessionStarted",)))
        assert started.params["what_if_of"] == sid and started.config == next(real.read(types=("SessionStarted",))).config
    assert digest(home / "eventlog.sqlite") == before  # the real log was only read
    # the scratch log was projected: hedge audit answers from it
    rc, out, err = hedge("audit", "--home", str(out_dir), "select count(*) as n from risk_decisions", "--format", "json")
    assert rc == 0, err
    assert json.loads(out)[0]["n"] == doc["what_if"]["allows"] + doc["what_if"]["clamps"] + doc["what_if"]["vetoes"]
    assert (out_dir / "state" / "kpis_v7.json").exists()


def test_a_looser_cap_shows_fewer_vetoes_on_its_gate_and_moves_trades_and_nav(recorded: tuple[Path, str]) -> None:
    home, sid = recorded
    base = what_if(home, sid, "--set", "risk.max_open_positions=3")  # the recorded value: a no-op set
    assert base["what_if"] == base["recorded"]
    rec = base["recorded"]
    assert rec["vetoes_by_gate"].get("max_open_positions", 0) > 0, "the fixture session needs vetoes on this gate"
    doc = what_if(home, sid, "--set", "risk.max_open_positions=5")
    wi = doc["what_if"]
    assert doc["changes"] == [{"key": "risk_limits.global.max_open_positions", "old": 3, "new": 5}]
    assert wi["vetoes_by_gate"].get("max_open_positions", 0) < rec["vetoes_by_gate"]["max_open_positions"]
    assert wi["trades"] != rec["trades"] and wi["final_nav_usd"] != rec["final_nav_usd"]
    rc, text, _ = hedge("replay", "--home", str(home), sid, "--set", "risk.max_open_positions=5")
    assert rc == 0
    row = next(ln for ln in text.splitlines() if ln.strip().startswith("max_open_positions "))
    cells = row.split()
    assert cells[1:3] == [f"{rec['vetoes_by_gate']['max_open_positions']:,}",
                          f"{wi['vetoes_by_gate'].get('max_open_positions', 0):,}"]
    assert cells[3].startswith("-")
    assert "final NAV USD" in text and "max drawdown" in text and "Sharpe" in text


def test_a_tighter_trade_cap_clamps_more(recorded: tuple[Path, str]) -> None:
    home, sid = recorded
    doc = what_if(home, sid, "--set", "risk.max_trade_nav_pct=0.01")
    assert doc["what_if"]["clamps"] > doc["recorded"]["clamps"]
    assert doc["what_if"]["traded_notional_usd"] < doc["recorded"]["traded_notional_usd"]


@pytest.mark.parametrize("assignment", ["risk.no_such_key=1", "risk_limits.tiers.NOPE.per_symbol_nav_pct=0.1",
                                        "risk.max_open_positions=\"three\"", "risk.max_open_positions"])
def test_bad_keys_and_values_are_refused_like_config_loading(recorded: tuple[Path, str], assignment: str) -> None:
    home, sid = recorded
    with EventStore.open(home, create=False) as store:
        cfg = next(store.read(types=("SessionStarted",))).config
    with pytest.raises(ConfigError) as want:
        from_dict(apply_overrides(cfg, [assignment])[0])
    rc, out, err = hedge("replay", "--home", str(home), sid, "--set", assignment)
    assert rc == 2 and out == ""
    assert err.strip() == f"hedge: config error: {want.value}"


def test_out_dir_holding_another_log_is_refused(recorded: tuple[Path, str], tmp_path: Path) -> None:
    home, sid = recorded
    rc, _, err = hedge("run", "--home", str(tmp_path / "other"), "--bars", "5", "--no-projections", "--quiet")
    assert rc == 0
    before = digest(tmp_path / "other" / "eventlog.sqlite")
    rc, _, err = hedge("replay", "--home", str(home), sid, "--set", "risk.max_open_positions=5",
                       "--out", str(tmp_path / "other"))
    assert rc == 2 and "not a what-if" in err
    rc, _, err = hedge("replay", "--home", str(home), sid, "--out", str(home))
    assert rc == 2 and "is the log being replayed" in err
    assert digest(tmp_path / "other" / "eventlog.sqlite") == before


def test_scratch_store_never_follows_the_store_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEDGE_STORE_URL", "postgresql://nobody@127.0.0.1:1/none")
    with open_scratch(tmp_path / "s") as store:
        assert store.location == str(tmp_path / "s" / "eventlog.sqlite") and store.count() == 0


def test_sweep_gives_one_column_per_value(recorded: tuple[Path, str]) -> None:
    home, sid = recorded
    doc = what_if(home, sid, "--sweep", "risk.max_open_positions=3,100")
    assert doc["key"] == "risk_limits.global.max_open_positions" and [c["value"] for c in doc["columns"]] == ["3", "100"]
    same, loose = (c["metrics"] for c in doc["columns"])
    assert same == doc["recorded"]  # the recorded value reproduces the session
    assert loose["vetoes_by_gate"].get("max_open_positions", 0) == 0 < doc["recorded"]["vetoes_by_gate"]["max_open_positions"]
    rc, text, _ = hedge("replay", "--home", str(home), sid, "--sweep", "risk.max_open_positions=3,100", "--no-progress")
    assert rc == 0 and "max_open_positions=100" in text.splitlines()[2]
    for bad, why in ((["--sweep", "risk.nope=1,2"], "unknown key"), (["--sweep", "risk.max_open_positions="], "expected"),
                     (["--sweep", "risk.max_open_positions=1,x"], "Expected `int`"),
                     (["--sweep", "risk.max_open_positions=1", "--out", str(home.parent / "o")], "--sweep")):
        rc, out, err = hedge("replay", "--home", str(home), sid, *bad)
        assert rc == 2 and out == "" and why in err, (bad, err)
