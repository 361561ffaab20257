"""Replay on real Binance 5m klines (``../shared/market``): a ``hedge run --data`` session
verifies, and re-simulating it with its own config reproduces it event for event.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eventlog.store import EventStore
from replay.whatif import open_scratch
from tests.integration.test_replay_verify import hedge
from tests.integration.test_whatif_cli import normalised

pytestmark = pytest.mark.market
BARS = 8000  # about 28 days of 5m steps over BTC, ETH and SOL


@pytest.fixture(scope="module")
def real_session(market_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    home = tmp_path_factory.mktemp("market") / "home"
    rc, out, err = hedge("run", "--home", str(home), "--data", str(market_dir), "--bars", str(BARS),
                         "--no-projections", "--quiet")
    assert rc == 0, err
    return home, out.split()[1]


def test_real_data_session_verifies(real_session: tuple[Path, str]) -> None:
    home, sid = real_session
    rc, out, _err = hedge("replay", "--home", str(home), "last", "--verify", "--format", "json")
    doc = json.loads(out)
    assert rc == 0, doc
    assert doc["session_id"] == sid and doc["bar_steps"] == BARS and doc["bars"] == 3 * BARS
    assert doc["checked_by_type"]["RiskDecided"] > 0 and doc["checked_by_type"]["OrderFilled"] > 0
    assert doc["different"] == 0 and doc["identical"] == doc["checked"]


def test_real_data_what_if_with_its_own_config_reproduces_it(real_session: tuple[Path, str], tmp_path: Path) -> None:
    home, sid = real_session
    rc, out, err = hedge("replay", "--home", str(home), sid, "--out", str(tmp_path / "w"), "--format", "json")
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["what_if"] == doc["recorded"] and doc["recorded"]["trades"] > 0
    with EventStore.open(home, create=False) as real, open_scratch(tmp_path / "w") as scratch:
        assert normalised(scratch, doc["what_if_session_id"]) == normalised(real, sid)


def test_what_if_keeps_the_exchange_filters_the_session_recorded(market_dir: Path, tmp_path: Path) -> None:
    """A session whose venue grid came from the data directory (an ``exchangeInfo.json`` that
    differs from the config) is re-simulated on that grid, not on the config's: the what-if
    has no data directory, only the log."""
    from dataclasses import replace

    from config.loader import load_config
    from engine.exchange_filters import from_config, to_exchange_info

    data = tmp_path / "market"
    data.mkdir()
    for entry in market_dir.iterdir():  # the real files, linked (nothing copied); exchange/ is ours
        if entry.name != "exchange":
            (data / entry.name).symlink_to(entry)
    specs = load_config().config.universe.symbols
    coarse = {s: replace(f, step_size=f.step_size * 10, min_qty=f.step_size * 10, min_notional=f.min_notional * 2)
              for s, f in from_config(specs, ["BTCUSDT", "ETHUSDT", "SOLUSDT"]).items()}
    (data / "exchange").mkdir()
    (data / "exchange" / "exchangeInfo.json").write_text(json.dumps(to_exchange_info(coarse)))
    home = tmp_path / "home"
    rc, out, err = hedge("run", "--home", str(home), "--data", str(data), "--bars", "1500", "--no-projections",
                         "--quiet")
    assert rc == 0, err
    sid = out.split()[1]
    rc, out, err = hedge("replay", "--home", str(home), sid, "--out", str(tmp_path / "w"), "--format", "json")
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["what_if"] == doc["recorded"] and doc["recorded"]["trades"] > 0
    with EventStore.open(home, create=False) as real, open_scratch(tmp_path / "w") as scratch:
        got = normalised(scratch, doc["what_if_session_id"])
        assert got == normalised(real, sid)
    loaded = next(e for e in got if e["type"] == "ExchangeFiltersLoaded")
    assert loaded["source"].startswith("file:") and loaded["filters"]["BTCUSDT"]["step_size"] == coarse["BTCUSDT"].step_size
