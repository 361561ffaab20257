"""SQLite and PostgreSQL are interchangeable: same input -> byte-identical outputs.

One session of ``hedge run`` with the same input on each backend; every state
file and veto line must be byte-identical, the stored payloads equal (the seq
numbers and hash chain too), and every command gives the same answer through
``HEDGE_STORE_URL``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.pgserver import PgServer
from tests.reliability.harness import Site, events_of

pytestmark = pytest.mark.postgres
SID = "1de0717a-0000-4000-8000-00000000beef"
BARS = "800"  # long enough for alerts (a drawdown escalation, a router floor, the summary)


@pytest.fixture(scope="module")
def pair(pg_server: PgServer, tmp_path_factory: pytest.TempPathFactory) -> tuple[Site, Site]:
    base = tmp_path_factory.mktemp("identity")
    lite = Site(base / "sqlite")
    pg = Site(base / "postgres", pg_server.create_database("ident"))
    for site in (lite, pg):
        r = site.hedge("run", "--speed", "max", "--bars", BARS, "--session-id", SID, "--quiet")
        assert r.returncode == 0, r.stderr
    return lite, pg


def _norm(text: str) -> str:
    """Drop what legitimately differs: the store location and wall-clock rates."""
    text = re.sub(r"\[[^\]]*(eventlog\.sqlite|postgresql://)[^\]]*\]", "[store]", text)
    text = re.sub(r"-> \S+", "-> store", text)
    return re.sub(r"[\d,.]+ (s|bars/s|events/s)\b", "<t>", text)


def test_the_same_session_gives_byte_identical_state_files(pair: tuple[Site, Site]) -> None:
    lite, pg = pair
    a, b = lite.state_files(), pg.state_files()
    assert a and set(a) == set(b)
    assert [k for k in a if a[k] != b[k]] == []


def test_the_same_session_stores_the_same_rows_and_chain(pair: tuple[Site, Site]) -> None:
    lite, pg = pair
    assert lite.raw().rows() == pg.raw().rows()
    va, vb = lite.verify(), pg.verify()
    assert va["ok"] and vb["ok"] and va["head_hash"] == vb["head_hash"]


def test_rebuild_gives_the_same_files_on_both(pair: tuple[Site, Site]) -> None:
    lite, pg = pair
    for site in pair:
        assert site.hedge("rebuild", "--quiet").returncode == 0
    assert lite.state_files() == pg.state_files()


@pytest.mark.parametrize("argv", [
    ("sessions",),
    ("sessions", "--format", "json"),
    ("replay", "last", "--verify", "--no-progress"),
    ("explain", "last"),
    ("explain", "last-veto", "--format", "json"),
    ("audit", "select count(*) as n, sum(qty) as q from fills"),
    ("audit", "select * from risk_decisions order by seq limit 5", "--format", "json"),
    ("alerts", "--preview"),
    ("project",),
])
def test_every_command_answers_the_same_on_postgresql(pair: tuple[Site, Site], argv: tuple[str, ...]) -> None:
    lite, pg = pair
    ra, rb = lite.hedge(*argv), pg.hedge(*argv)
    assert ra.returncode == 0, ra.stderr
    assert (rb.returncode, _norm(rb.stdout)) == (ra.returncode, _norm(ra.stdout)), rb.stderr


def test_postgresql_commands_write_no_log_file_in_the_home(pair: tuple[Site, Site]) -> None:
    _, pg = pair
    assert not (Path(pg.home) / "eventlog.sqlite").exists()


def test_replay_what_if_runs_on_postgresql(pair: tuple[Site, Site], tmp_path: Path) -> None:
    lite, pg = pair
    out = []
    for site, name in ((lite, "a"), (pg, "b")):
        r = site.hedge("replay", "last", "--set", "risk.max_open_positions=2", "--format", "json",
                       "--no-progress", "--out", str(tmp_path / name))
        assert r.returncode in (0, 1), r.stderr
        out.append(json.loads(r.stdout))
    for o in out:
        for k in ("out", "out_dir", "elapsed_s", "bars_per_s", "events_per_s"):
            o.pop(k, None)
    assert _norm(json.dumps(out[0], sort_keys=True)) == _norm(json.dumps(out[1], sort_keys=True))


def test_alerts_send_and_record_the_same_on_both_backends(pair: tuple[Site, Site]) -> None:
    """Last in this module: it appends AlertSent events to both logs."""
    from tests.fakes.telegram_api import FakeTelegramApi

    token = "123456:identity-test-token"
    texts, sent = [], []
    for site in pair:
        with FakeTelegramApi(token=token) as api:
            env = {"TELEGRAM_BOT_TOKEN": token, "TELEGRAM_CHAT_ID": "42", "TELEGRAM_API_BASE": api.base}
            r = site.hedge("alerts", "--once", env=env)
            assert r.returncode == 0, r.stderr
            texts.append(api.texts())
        sent.append([(e.alert_id, e.kind, e.text, e.chat_id) for e in events_of(site, "AlertSent")])
        assert site.verify()["ok"]
    assert texts[0], "the session raised no alert to send: lengthen BARS"
    assert texts[0] == texts[1] and len(texts[0]) == len(sent[0])
    assert sent[0] == sent[1]  # the alerts' own session id and wall-clock times differ, nothing else
