"""Resume equivalence with the venue state of issue 14: liquidations, protective orders,
isolated margin, generated funding and marks survive a stop and resume.

20x isolated margin and protective orders on the generated market (its crash liquidates,
its stops trigger): one run of 3,000 bar steps and the same account run as four sessions
decide alike, event for event (``tests/accountlog.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hedge.cli import main
from tests.accountlog import account_events, first_difference, normalised
from tests.configdir import copy_config, edit_json

pytestmark = [pytest.mark.slow]


def test_liquidations_and_stops_resume_as_one_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = copy_config(tmp_path)

    def isolated_with_stops(rt: dict[str, Any]) -> None:
        rt["sim"].update(margin_type="isolated", leverage=20)
        rt.setdefault("router", {})["protective_orders"] = True

    edit_json(cfg / "runtime.json", isolated_with_stops)

    # the config through the environment, restored after the test (``--config`` sets it for the process)
    monkeypatch.setenv("HEDGE_CONFIG_DIR", str(cfg))

    def run(home: Path, bars: int) -> None:
        assert main(["run", "--home", str(home), "--quiet", "--no-projections", "--bars", str(bars)]) == 0

    run(tmp_path / "one", 3000)
    for n in (700, 170, 930, 1200):  # splits around the first cycle's crash and halt
        run(tmp_path / "many", n)
    a = normalised(account_events(tmp_path / "one"))
    kinds = {type(e).__name__ for e in account_events(tmp_path / "one")}
    assert {"PositionLiquidated", "ProtectiveOrdersSet", "FundingApplied"} <= kinds
    b = normalised(account_events(tmp_path / "many"))
    diff = first_difference(a, b)
    assert diff is None, diff
