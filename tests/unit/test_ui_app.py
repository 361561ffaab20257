"""ui.app: the page builds from state files, the donut has one slice per bucket, and the
page follows the files when they change — all without a server or a browser."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bokeh.document import Document

from tests.fakes import state_fixture
from ui import app, components


@pytest.fixture
def fixture_home(tmp_path: Path) -> Path:
    return state_fixture.write(tmp_path / "home")


def models_named(root, name: str) -> list:  # type: ignore[no-untyped-def]
    return [m for m in root.references() if getattr(m, "name", None) == name]


def test_page_model_has_donut_with_one_slice_per_bucket(fixture_home: Path) -> None:
    dash = app.Dashboard(fixture_home)
    root = dash.template().get_root(Document())
    assert root is not None
    donut_root = dash.donut.get_root(Document())
    (source,) = models_named(donut_root, components.DONUT_SOURCE)
    assert source.data["label"] == ["Futures NAV", "BTC", "XAUT", "USDC"]
    assert source.data["value_fmt"][1] == "$31,250.00" and source.data["pnl_fmt"][1] == "+$6,250.00"
    sweep = sum(e - s for s, e in zip(source.data["start"], source.data["end"], strict=True))
    assert sweep == pytest.approx(2 * 3.141592653589793)


def test_cards_and_tables_carry_the_state_values(fixture_home: Path) -> None:
    dash = app.Dashboard(fixture_home)
    assert 'data-kpi="nav"' in dash.overview_cards.object and "$10,482.37" in dash.overview_cards.object
    assert 'data-kpi="dd_state"' in dash.risk_cards.object
    assert [r["Symbol"] for r in dash.positions.rows] == ["BTCUSDT", "ETHUSDT"]
    assert 'data-table="positions"' in dash.positions.pane.object and "ETHUSDT" in dash.positions.pane.object
    # SOLUSDT never filled and holds nothing: folded under the tables, not a row of n/a
    assert [r["Symbol"] for r in dash.router.rows] == ["BTCUSDT", "ETHUSDT"]
    assert [r["Symbol"] for r in dash.symbols.rows] == ["BTCUSDT", "ETHUSDT"]
    assert '<td>SOLUSDT</td>' not in dash.symbols.pane.object
    assert "Not traded this session (1): SOLUSDT" in dash.symbols.pane.object
    assert dash.vetoes.rows[0]["Gate"] == "per-symbol limit" and "per-symbol limit" in dash.vetoes.pane.object
    assert dash.nav_chart in dash.chart_box.objects and dash.nav_chart.object is not None


def test_refresh_follows_file_changes_and_only_then(fixture_home: Path) -> None:
    dash = app.Dashboard(fixture_home)
    assert dash.refresh() is False
    path = fixture_home / "state" / "nav_state.json"
    nav = json.loads(path.read_text())
    nav["nav_usd"] = 12_345.67
    path.write_text(json.dumps(nav) + "\n\n")  # size changes too, whatever the mtime granularity
    assert dash.refresh() is True
    assert "$12,345.67" in dash.overview_cards.object


def test_charts_are_rebuilt_only_when_the_nav_history_changes(fixture_home: Path) -> None:
    dash = app.Dashboard(fixture_home)
    chart = dash.nav_chart.object
    nav_path = fixture_home / "state" / "nav_state.json"
    nav_path.write_text(nav_path.read_text() + "\n")
    assert dash.refresh() is True and dash.nav_chart.object is chart
    hist_path = fixture_home / "state" / "nav_history.json"
    hist = json.loads(hist_path.read_text())
    hist["recent"] = hist["recent"][:-1]
    hist_path.write_text(json.dumps(hist))
    assert dash.refresh() is True and dash.nav_chart.object is not chart


def test_empty_home_builds_a_page_of_na(tmp_path: Path) -> None:
    dash = app.Dashboard(tmp_path / "empty")
    dash.template()
    assert dash.guide.visible and "hedge run --bars 2000" in dash.guide.object and "HEDGE_HOME" in dash.guide.object
    assert not any(sec.visible for sec in dash.sections)  # guidance, not a page of n/a
    assert dash.donut_source.data["label"] == []
    assert dash.nav_chart not in dash.chart_box.objects and "No NAV history yet" in dash.chart_note.object
    assert dash.positions.rows == [] and "No open positions" in dash.positions.pane.object


def test_state_files_deleted_while_running_turn_into_na(fixture_home: Path) -> None:
    dash = app.Dashboard(fixture_home)
    for p in (fixture_home / "state").iterdir():
        p.unlink()
    assert dash.refresh() is True
    assert "$10,482.37" not in dash.overview_cards.object


def test_ui_never_imports_the_engine_log_or_projections() -> None:
    for path in Path(app.__file__).parent.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for banned in ("import engine", "from engine", "import eventlog", "from eventlog",
                       "import projections", "from projections", "import replay", "from replay"):
            assert banned not in text, f"{path.name} must read state files only ({banned})"


def test_no_entries_banner_says_why_and_only_when_there_is_a_drought(fixture_home: Path) -> None:
    dash = app.Dashboard(fixture_home)
    assert dash.drought.object == "" and not dash.drought.visible
    path = fixture_home / "state" / "risk_snapshot.json"
    risk = json.loads(path.read_text())
    risk["entry_drought"] = {"since_ts": 1763647800.0, "last_entry_ts": 1763640000.0, "hours": 123.0,
                             "threshold_hours": 72.0, "state": "defensive", "state_since_ts": 1763647800.0,
                             "entries_vetoed": 346, "vetoes_by_gate": {"dd_state": 346},
                             "reason": "defensive since 2025-11-20 14:10: 346 entries vetoed"}
    path.write_text(json.dumps(risk) + "\n\n")
    assert dash.refresh() is True
    assert dash.drought.visible and 'data-banner="entry_drought"' in dash.drought.object
    assert "No new positions for 5d 3h \u2014 defensive since 2025-11-20 14:10: 346 entries vetoed" in dash.drought.object


def _edit(home: Path, name: str, change: dict) -> None:  # type: ignore[type-arg]
    path = home / "state" / name
    doc = json.loads(path.read_text())
    doc.update(change)
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize(("mode", "word"), [("sim", "SIMULATED"), ("paper", "PAPER"), ("testnet", "TESTNET"),
                                            ("live", None), (None, None)])
def test_a_banner_says_the_account_is_not_live(fixture_home: Path, mode: str | None, word: str | None) -> None:
    if mode is not None:
        _edit(fixture_home, "nav_state.json", {"account_mode": mode})
    dash = app.Dashboard(fixture_home)
    if word is None:  # live, or a state written before account_mode existed: no banner
        assert not dash.banner.visible and dash.banner.object == ""
    else:
        assert dash.banner.visible and f"{word} account" in dash.banner.object


def _iso(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_session_markers_on_the_nav_chart_from_nav_history_sessions(fixture_home: Path) -> None:
    from ui import model, state

    hist = json.loads((fixture_home / "state" / "nav_history.json").read_text())
    pts = [p["ts"] for key in ("daily", "hourly", "recent") for p in hist.get(key, [])]
    mid = (min(pts) + max(pts)) / 2
    assert model.session_markers(state.load(fixture_home)) == []  # absent: no markers
    plain = app.Dashboard(fixture_home).nav_chart.object
    _edit(fixture_home, "nav_history.json", {"sessions": [
        {"session_id": "b" * 36, "started_ts": _iso(mid), "ended_ts": None, "end_reason": None},
        {"session_id": "a" * 36, "started_ts": min(pts), "ended_ts": mid, "end_reason": "bars"}]})
    marks = model.session_markers(state.load(fixture_home))
    assert [m["label"] for m in marks] == ["session aaaaaaaa", "session bbbbbbbb"]
    chart = app.Dashboard(fixture_home).nav_chart.object
    vlines = [e for e in chart.traverse(lambda x: x) if type(e).__name__ == "VLine"]
    assert len(vlines) == 2
    assert not [e for e in plain.traverse(lambda x: x) if type(e).__name__ == "VLine"]


def test_every_performance_kpi_states_its_window(fixture_home: Path) -> None:
    windows = {k: {"label": lab, "from_ts": 1.0, "to_ts": 2.0, "trades": 3, "win_rate": 2 / 3,
                   "expectancy_usd": 12.5, "expectancy_state": "positive", "fills": 6, "realized_pnl_usd": 50.0,
                   "fees_usd": 4.0, "funding_usd": -1.0, "fee_pnl_ratio": 0.08, "fee_pnl_state": "ok",
                   "return_frac": 0.021, "sharpe": 1.4, "sharpe_state": "strong"}
               for k, lab in (("inception", "since inception"), ("last_30d", "last 30 days"),
                              ("session", "this session"))}
    _edit(fixture_home, "kpis_v7.json", {"windows": windows})
    dash = app.Dashboard(fixture_home)
    perf = dash.performance_cards.object
    for title in ("Sharpe (last 30 days)", "Expectancy per round trip (since inception)",
                  "Win rate (since inception)", "Realized PnL (this session)"):
        assert title in perf, title
    assert "Fee / PnL (last 200 fills)" in dash.risk_cards.object
    assert "Router quality (last " in dash.risk_cards.object and " fills)" in dash.risk_cards.object
    assert "return since inception" in dash.overview_cards.object
    table = dash.windows.object
    for head in ("since inception", "last 30 days", "this session", "Expectancy per round trip", "+2.10%"):
        assert head in table, head


def test_a_state_without_windows_names_the_legacy_windows(fixture_home: Path) -> None:
    dash = app.Dashboard(fixture_home)
    perf = dash.performance_cards.object
    assert "Sharpe (last 720 hours)" in perf and "(last 100 round trips)" in perf and "(this session)" in perf
    assert not dash.windows.visible


def test_deferred_charts_are_drawn_by_load_charts(fixture_home: Path) -> None:
    """Served pages go out without the charts (the first render does not wait for hvplot);
    ``load_charts`` (Panel's onload) draws them."""
    dash = app.Dashboard(fixture_home, defer_charts=True)
    assert dash.nav_chart.object is None and dash.nav_chart not in dash.chart_box.objects
    assert "Drawing the NAV history" in dash.chart_note.object
    dash.load_charts()
    assert dash.nav_chart in dash.chart_box.objects and dash.nav_chart.object is not None
    assert dash.chart_note not in dash.chart_box.objects


def test_tables_are_plain_html_with_figures_right_aligned_and_text_escaped() -> None:
    rows = [{"Symbol": "BTCUSDT", "PnL": "+$1,234.50", "Note": "<b>wide</b>", "Ratio": "1.80x"},
            {"Symbol": "ETHUSDT", "PnL": "-$3.00", "Note": "-", "Ratio": "-"}]
    out = components.data_table_html("t", ["Symbol", "PnL", "Note", "Ratio"], rows)
    assert out.startswith('<table class="data" data-table="t">')
    assert '<th class="num">PnL</th>' in out and '<td class="num">-$3.00</td>' in out
    assert '<th class="num">Ratio</th>' in out  # "-" (no value) does not make a column text
    assert "<th>Symbol</th>" in out and "<td>BTCUSDT</td>" in out  # a word: left-aligned
    assert "&lt;b&gt;wide&lt;/b&gt;" in out and "<b>wide" not in out
    assert components.data_table_html("t", ["Symbol"], []) == ""
    scrolled = components.data_table_html("t", ["Symbol"], rows, scroll=True)
    assert scrolled.startswith('<div class="scroll"><table')


def test_the_shadow_section_is_hidden_without_a_shadow_run(fixture_home: Path) -> None:
    dash = app.Dashboard(fixture_home)
    dash.template()
    assert dash.shadow_section is not None and not dash.has_shadow  # the fixture has no shadow files
    assert not dash.shadow_section.visible and all(sec.visible for sec in dash.sections if sec is not dash.shadow_section)
