"""``hedge audit`` on a real simulated session: cookbook queries, formats, shell, the done-when check.

Every ```sql block of docs/audit.md is extracted and executed here, so the cookbook
cannot rot.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from eventlog.store import EventStore
from hedge.cli import main
from projections.audit_sql import connect, query, shell
from projections.files import read_jsonl
from projections.runner import rebuild
from tests.unit.test_projection_fold import synth_events

REPO = Path(__file__).resolve().parents[2]
COOKBOOK = REPO / "docs" / "audit.md"


def cookbook() -> list[tuple[str, str]]:
    """(title, sql) of every SQL block in docs/audit.md."""
    text = COOKBOOK.read_text()
    out = []
    for m in re.finditer(r"^### (.+?)\n(?:(?!^### ).)*?```sql\n(.*?)```", text, re.S | re.M):
        out.append((m[1].strip(), m[2]))
    return out


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    h = tmp_path_factory.mktemp("audit") / "home"
    assert main(["run", "--home", str(h), "--bars", "2000", "--quiet"]) == 0
    return h


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = main(args)
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_cookbook_has_the_questions_the_issue_asks_for() -> None:
    titles = [t.lower() for t, _ in cookbook()]
    assert len(titles) >= 8
    assert any("vetoes by gate per day" in t for t in titles)
    assert any("fell back to taker" in t for t in titles)
    assert any("drawdown-state change" in t for t in titles)


@pytest.mark.parametrize("title,sql", cookbook(), ids=[t for t, _ in cookbook()])
def test_cookbook_query_runs_on_a_real_session(home: Path, title: str, sql: str) -> None:
    con = connect(home)
    cols, rows = query(con, sql)
    assert cols
    if any(k in title.lower() for k in ("vetoes by gate", "fell back", "drawdown-state", "events per type")):
        assert rows, f"{title}: no rows on a session that has them"


def test_veto_counts_by_gate_equal_the_jsonl_lines(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run_cli(["audit", "--home", str(home), "--format", "json",
                          "select gate, count(*) from risk_decisions where outcome='veto' group by 1"], capsys)
    assert rc == 0
    got = {r["gate"]: r["count_star()"] for r in json.loads(out)}
    lines = read_jsonl(home / "execution" / "risk_vetoes.jsonl")
    assert got == dict(Counter(ln["gate"] for ln in lines if ln["outcome"] == "veto"))
    assert len(got) >= 2


def test_audit_tables_hold_every_event_of_the_log(home: Path) -> None:
    con = connect(home)
    with EventStore.open(home, create=False) as store:
        by_type = Counter(type(e).__name__ for e in store.read())
        n = store.count()
    assert query(con, "select count(*), count(distinct seq) from events")[1] == [(n, n)]
    assert dict(query(con, "select type, count(*) from events group by 1")[1]) == dict(by_type)
    assert query(con, "select count(*) from fills")[1][0][0] == by_type["OrderFilled"]
    assert query(con, "select count(*) from bars")[1][0][0] == by_type["KlineClosed"]
    # a fallback fill is a taker fill of a plan that had a RouterFallback
    bad = query(con, "select count(*) from fills f where f.fallback and (f.is_maker or f.plan_id not in "
                     "(select plan_id from fallbacks))")[1][0][0]
    assert bad == 0 and query(con, "select count(*) from fills where fallback")[1][0][0] > 0
    assert query(con, "select observations->>'nav_age_s' is not null from vetoes limit 1")[1] == [(True,)]


def test_listing_formats_and_errors(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run_cli(["audit", "--home", str(home)], capsys)
    assert rc == 0
    for view in ("events", "bars", "intents", "risk_decisions", "orders", "fills", "nav", "vetoes", "dd_changes"):
        assert re.search(rf"^{view} \(\d+ rows\)$", out, re.M), view
    assert "    decision_id  VARCHAR" in out and "    payload  JSON" in out
    rc, out, _ = run_cli(["audit", "--home", str(home), "--format", "csv",
                          "select symbol, is_maker, slippage_bps from fills order by seq limit 3"], capsys)
    rows = list(csv.reader(io.StringIO(out)))
    assert rc == 0 and rows[0] == ["symbol", "is_maker", "slippage_bps"] and len(rows) == 4
    rc, out, _ = run_cli(["audit", "--home", str(home), "select 1 as one"], capsys)
    assert rc == 0 and out.splitlines()[0].strip() == "one" and "(1 row)" in out
    rc, _, err = run_cli(["audit", "--home", str(home), "select nope from fills"], capsys)
    assert rc == 2 and "nope" in err
    rc, _, err = run_cli(["audit", "--home", str(home.parent / "missing")], capsys)
    assert rc == 2 and "hedge rebuild" in err


def test_shell_runs_statements_and_dot_commands(home: Path) -> None:
    stdin = io.StringIO("select count(*) as n\n  from vetoes;\n.tables\n.format csv\nselect 2 as two;\n"
                        "select 3 as three; select 4 as four;\nselect oops;\n.quit\nselect 5;\n")
    out = io.StringIO()
    rc = shell(connect(home), stdin=stdin, stdout=out)
    text = out.getvalue()
    assert "risk_decisions" in text and "two\n2\n" in text and "error:" in text
    assert "three\n3\nfour\n4\n" in text and "5" not in text.split("oops")[-1]  # nothing after .quit
    assert re.search(r"^n\s*\n-+\n\d+", text, re.M)
    assert rc == 1  # a failed statement in a piped script is an error exit


def test_views_exist_with_columns_when_a_table_has_no_rows(tmp_path: Path) -> None:
    home = tmp_path / "h"
    with EventStore.open(home) as store:
        store.append(synth_events([("nav", 0.01), ("bar", "BTCUSDT", 0.0, 0.01)]))
    rebuild(home)
    con = connect(home)
    assert query(con, "select count(*) from fills")[1] == [(0,)]
    cols, _ = query(con, "select * from risk_decisions")
    assert cols[:4] == ["seq", "decision_id", "session_id", "ts"]
    assert query(con, "select count(*) from nav")[1] == [(1,)]
