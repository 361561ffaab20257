"""``hedge report`` and the audit views under it (trades, vetoes, clamps, funding) on a real session."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from eventlog.store import EventStore
from hedge.cli import main
from projections.audit_sql import connect, query
from projections.report import build


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, dict]:
    home = tmp_path_factory.mktemp("report") / "home"
    assert main(["run", "--home", str(home), "--bars", "2000", "--quiet"]) == 0
    with EventStore.open(home, create=False) as store:
        s = store.sessions()[-1]
        ended = list(store.read(types=("SessionEnded",)))[-1]
    return home, s.session_id, dict(ended.summary)  # type: ignore[attr-defined]


def one(home: Path, sql: str) -> object:
    return query(connect(home), sql)[1][0][0]


def test_trades_reconcile_with_fills_and_funding(session: tuple[Path, str, dict]) -> None:
    home, _, summary = session
    con = connect(home)
    gross, fees, funding, n = query(con, "select sum(gross_pnl), sum(fees_usd), sum(funding_usd), count(*) "
                                         "from trades")[1][0]
    assert n > 5
    assert gross == pytest.approx(one(home, "select sum(realized_pnl) from fills"), abs=1e-6)
    assert gross == pytest.approx(summary["realized_pnl_usd"], abs=1e-4)
    assert fees == pytest.approx(one(home, "select sum(fee_usd) from fills"), abs=1e-6)
    # funding paid while no trip of this session was open (none here) would be missing from the trips
    assert funding == pytest.approx(summary["funding_usd"], abs=1e-4)
    assert one(home, "select count(*) from trades where abs(net_pnl - (gross_pnl - fees_usd + funding_usd)) > 1e-9") == 0
    # a closed trip ends flat, after it started; an open one has no exit
    assert one(home, "select count(*) from trades where status = 'closed' and (exit_ts < entry_ts or holding_s < 0)") == 0
    assert one(home, "select count(*) from trades where status = 'open' and exit_seq is not null") == 0
    # fills per symbol are all inside trips (a generated session starts flat)
    assert one(home, "select sum(fills) from trades") >= one(home, "select count(*) from fills")


def test_vetoes_view_holds_vetoes_and_clamps_their_own(session: tuple[Path, str, dict]) -> None:
    home, _, summary = session
    assert one(home, "select count(*) from vetoes") == summary["vetoes"]
    assert one(home, "select count(*) from clamps") == summary["clamps"]
    assert one(home, "select count(*) from vetoes where outcome <> 'veto'") == 0


def test_fallback_cookbook_query_has_one_row_per_fallback_fill(session: tuple[Path, str, dict]) -> None:
    from tests.integration.test_audit_cookbook import cookbook

    home, _, _ = session
    sql = next(s for t, s in cookbook() if "fell back to taker" in t)
    _, rows = query(connect(home), sql)
    assert len(rows) == one(home, "select count(*) from fills where fallback") > 0


def test_audit_json_nests_objects(session: tuple[Path, str, dict], capsys: pytest.CaptureFixture[str]) -> None:
    home, _, _ = session
    assert main(["audit", "--home", str(home), "--format", "json",
                 "select thresholds, observations, breached from vetoes limit 2"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert isinstance(rows[0]["thresholds"], dict) and isinstance(rows[0]["observations"], dict)
    assert isinstance(rows[0]["breached"], list)


def test_report_figures_follow_their_definitions(session: tuple[Path, str, dict]) -> None:
    home, sid, summary = session
    rep = build(home, sid)
    con = connect(home)
    nets = [r[0] for r in query(con, "select net_pnl from trades where status = 'closed'")[1]]
    t = rep["trades"]
    assert t["round_trips"] == len(nets) and t["round_trips"] + t["open"] == one(home, "select count(*) from trades")
    wins, losses = [x for x in nets if x > 0], [x for x in nets if x < 0]
    assert t["win_rate"] == pytest.approx(len(wins) / len(nets))
    assert t["profit_factor"] == pytest.approx(sum(wins) / -sum(losses), abs=1e-6)
    assert t["expectancy_usd"] == pytest.approx(sum(nets) / len(nets), abs=1e-6)
    assert rep["nav"]["end_usd"] == pytest.approx(summary["final_nav_usd"], abs=1e-4)
    assert rep["nav"]["return_frac"] == pytest.approx(summary["final_nav_usd"] / rep["nav"]["start_usd"] - 1, abs=1e-8)
    assert rep["risk"]["max_dd_frac"] == pytest.approx(summary["max_dd_frac"], abs=1e-6)
    assert rep["costs"]["fees_usd"] == pytest.approx(summary["fees_usd"], abs=1e-4)
    assert rep["vetoes"]["total"] == summary["vetoes"] and rep["vetoes"]["by_gate"] == summary["vetoes_by_gate"]
    assert 0.0 < rep["exposure"]["time_frac"] <= 1.0
    assert rep["risk"]["sharpe"] is not None and rep["risk"]["sortino"] is not None
    assert rep["nav"]["cagr"] is None and rep["risk"]["calmar"] is None  # under 30 days
    assert sum(m["round_trips"] for m in rep["months"]) == t["round_trips"]
    assert sum(s["fills"] for s in rep["symbols"]) == rep["costs"]["fills"]
    # a window: fewer days, figures recomputed inside it
    part = build(home, sid, start=None, end=__import__("datetime").datetime(2025, 7, 3))
    assert part["window"]["days"] < rep["window"]["days"]
    assert part["costs"]["fills"] < rep["costs"]["fills"]


def test_report_cli_text_json_and_errors(session: tuple[Path, str, dict], capsys: pytest.CaptureFixture[str]) -> None:
    home, sid, _ = session
    assert main(["report", "--home", str(home), "--full"]) == 0
    out = capsys.readouterr().out
    for label in ("return", "Sharpe", "Sortino", "Calmar", "max drawdown", "round trips", "win rate",
                  "profit factor", "expectancy", "exposure", "fees", "funding", "vetoes", "per symbol",
                  "per month", "log head"):
        assert label in out, label
    assert main(["report", "--home", str(home), sid[:8], "--format", "json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert isinstance(rep["vetoes"]["by_gate"], dict) and isinstance(rep["symbols"], list)
    assert rep["log_head"].split(":")[0].isdigit()
    assert main(["report", "--home", str(home), "--from", "yesterday"]) == 2
    assert "ISO 8601" in capsys.readouterr().err
    assert main(["report", "--home", str(home), "nosuchsession"]) == 2


def test_run_ends_with_the_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--home", str(tmp_path / "h"), "--bars", "400"]) == 0
    out = capsys.readouterr().out
    tail = out[out.index("report  session"):]
    assert "round trips" in tail and "Sharpe" in tail and "hedge report --full" in tail


def test_sessions_show_mode_data_and_the_reports_figures(session: tuple[Path, str, dict],
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    home, sid, summary = session
    rep = build(home, sid)
    assert main(["sessions", "--home", str(home), "--format", "json"]) == 0
    row = next(r for r in json.loads(capsys.readouterr().out) if r["session_id"] == sid)
    assert (row["mode"], row["venue"], row["data_source"]) == ("sim", "sim", rep["session"]["data_source"])
    assert row["data_source"].startswith("generated:")
    assert row["bars"] == summary["bars"] and row["fills"] == summary["fills"] and row["end"] == "bars"
    assert row["return_frac"] == rep["nav"]["return_frac"] and row["max_dd_frac"] == rep["risk"]["max_dd_frac"]
    assert row["pnl_usd"] == pytest.approx(rep["nav"]["end_usd"] - rep["nav"]["start_usd"], abs=1e-5)
    assert main(["sessions", "--home", str(home)]) == 0
    header, line = capsys.readouterr().out.splitlines()[:2]
    for col in ("mode", "venue", "data", "bars", "fills", "PnL USD", "return", "max DD", "end"):
        assert col in header
    assert line.startswith(sid[:8]) and "generated:seed=" in line and f"{rep['nav']['return_frac'] * 100:+.2f}%" in line


def test_sessions_fall_back_to_the_summaries_when_an_audit_table_is_damaged(
        session: tuple[Path, str, dict], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home, sid, summary = session
    copy = tmp_path / "home"
    shutil.copytree(home, copy)
    next(iter(sorted((copy / "audit" / "bars").glob("*.parquet")))).write_bytes(b"\x00")
    assert main(["sessions", "--home", str(copy), "--format", "json"]) == 0
    out, err = capsys.readouterr()
    row = next(r for r in json.loads(out) if r["session_id"] == sid)
    assert row["bars"] == summary["bars"] and row["fills"] == summary["fills"] and row["pnl_usd"] is None
    assert "audit tables cannot be read" in err and "too small to be a Parquet file" in err and "hedge rebuild" in err


def test_a_long_end_reason_is_cut_to_its_kind() -> None:
    from hedge.cmd_sessions import short_reason

    long = "error: VenueUnavailable: " + "x" * 300
    assert short_reason(long) == "error…" and short_reason(None) == "open" and short_reason("bars") == "bars"


def test_funding_table_says_where_each_rate_came_from(session: tuple[Path, str, dict]) -> None:
    home, _, _ = session
    con = connect(home)
    rows = query(con, "select source, count(*), count(distinct funding_rate), min(funding_time_ms) "
                      "from funding group by source")[1]
    assert len(rows) == 1 and rows[0][0] == "generated" and rows[0][1] > 0
    assert rows[0][1] == 1 or rows[0][2] > 1  # a generated series, not one constant
    assert rows[0][3] % (8 * 3_600_000) == 0
    assert one(home, "select count(*) from funding where abs(amount_usd + position_qty * mark_price * rate) > 1e-9") == 0
