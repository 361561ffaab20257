"""Risk after the trade survives a resume: an account run as several sessions decides as one run.

The post-trade state (breaches already acted on, the halt in force) is folded from the
recorded decisions, so a session resumed mid-run takes exactly the trims and flattens of
one uninterrupted run (``tests/accountlog.py`` says what may differ: session ids and
boundaries). The generated market with a zero drift tolerance and a tiny daily-loss limit
gives both kinds of decision in a few hundred bars.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from eventlog.events import RiskDecided
from eventlog.store import EventStore
from hedge.cli import main
from tests.accountlog import account_events, first_difference, normalised
from tests.configdir import copy_config, edit_json


def _post_trade(doc: dict[str, Any]) -> None:
    g = doc["global"]
    g["cap_drift_tolerance_frac"] = 0.0
    g["daily_loss_action"] = "flatten_halt"
    g["daily_loss_limit_pct"] = 0.004


def _run(home: Path, *args: str) -> None:
    assert main(["run", "--home", str(home), "--quiet", "--no-projections", *args]) == 0


def test_trims_and_flattens_of_a_resumed_account_match_one_run(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = copy_config(tmp_path)
    edit_json(cfg / "risk_limits.json", _post_trade)
    monkeypatch.setenv("HEDGE_CONFIG_DIR", str(cfg))
    _run(tmp_path / "one", "--bars", "1200")
    for n in (300, 430, 470):  # boundaries just after a flatten (bars 277 and 723): the halt spans them
        _run(tmp_path / "many", "--bars", str(n))
    with EventStore.open(tmp_path / "one") as store:
        kinds = {(e.outcome, e.gate) for e in store.read(types=("RiskDecided",))
                 if isinstance(e, RiskDecided) and e.outcome in ("trim", "flatten")}
    assert ("trim", "cap_drift") in kinds and ("flatten", "daily_loss_limit") in kinds
    a = normalised(account_events(tmp_path / "one"))
    b = normalised(account_events(tmp_path / "many"))
    diff = first_difference(a, b)
    assert diff is None, diff
