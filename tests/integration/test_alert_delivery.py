"""Delivery with real parts: the real aiogram client against a loopback fake Bot API."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from eventlog.events import AlertFailed, AlertSent
from eventlog.store import EventStore
from projections.alerts.delivery import DeliveryFatal, TelegramSender, TelegramTarget
from projections.alerts.follower import AlertFollower, AlertRunner
from projections.alerts.policy import POLICY_TYPES, Alert, alerts_for
from tests.fakes.alert_sessions import SessionBuilder, session_config
from tests.fakes.telegram_api import Delay, FakeTelegramApi, RetryAfter, Status

TOKEN = "987654321:AAH-secret_Token_value_for_tests_0123"
CHAT = "-1001234567890"
REPO = Path(__file__).resolve().parents[2]
HEDGE = [str(Path(sys.executable).parent / "hedge")]  # the console script, as a user runs it


def chatty_session(home: Path, days: int = 1, **alerts: object) -> tuple[SessionBuilder, list[Alert]]:
    """A session whose NAV swings 2% every 4h: one summary per 4h close (6 a day)."""
    cfg = dict(nav_move_frac=0.01, min_gap_h=0, daily_cap=6, retry_base_s=0.05, retry_max_s=0.2,
               request_timeout_s=1.0)
    cfg.update(alerts)
    b = SessionBuilder(config=session_config(**cfg))
    path = [100_000.0 * (1.02 if (i // 48) % 2 else 1.0) for i in range(days * 288)]
    events = [b.started(), *b.bars(len(path), nav_path=path)]
    with EventStore.open(home) as store:
        store.append(events)
        stored = list(store.read(types=POLICY_TYPES, session=b.session_id))
    return b, alerts_for(stored)


def run_once(home: Path, api: FakeTelegramApi, token: str = TOKEN) -> AlertRunner:
    with EventStore.open(home) as store:
        runner = AlertRunner(store, TelegramSender(TelegramTarget(token, CHAT, api.base)), log=lambda _: None)
        asyncio.run(runner.run(follow=False))
    return runner


def records(home: Path) -> list[AlertSent | AlertFailed]:
    with EventStore.open(home) as store:
        return list(store.read(types=("AlertSent", "AlertFailed")))  # type: ignore[arg-type]


def test_messages_arrive_with_the_chat_id_and_text_and_each_is_recorded_once(home: Path) -> None:
    _, expected = chatty_session(home)
    assert len(expected) >= 4
    with FakeTelegramApi(token=TOKEN) as api:
        run_once(home, api)
        assert [d.text for d in api.delivered] == [a.text for a in expected]
        assert {d.chat_id for d in api.delivered} == {CHAT}
        recs = records(home)
        assert [r.alert_id for r in recs] == [a.alert_id for a in expected]
        assert [r.message_id for r in recs if isinstance(r, AlertSent)] == [d.message_id for d in api.delivered]
        assert all(r.stream == "alerts" and r.chat_id == CHAT for r in recs if isinstance(r, AlertSent))
        # a second run finds everything done: nothing re-sent, nothing recorded
        again = run_once(home, api)
        assert again.stats.sent == 0 and again.stats.already_done == len(expected)
        assert len(api.delivered) == len(expected) == len(records(home))


def test_a_500_is_retried_with_backoff(home: Path) -> None:
    _, expected = chatty_session(home)
    with FakeTelegramApi(token=TOKEN) as api:
        api.script(Status(500), Status(502, "Bad Gateway"))
        run_once(home, api)
        assert api.texts() == [a.text for a in expected]
        first = records(home)[0]
        assert isinstance(first, AlertSent) and first.attempts == 3
        assert [r.answered for r in api.requests[:3]] == ["500", "502", "200"]


def test_a_timeout_is_retried_and_delivers_once(home: Path) -> None:
    _, expected = chatty_session(home, request_timeout_s=1.0)
    with FakeTelegramApi(token=TOKEN) as api:
        api.script(Delay(6.0))  # far beyond the 1 s request timeout
        run_once(home, api)
        # the retry went out while the first request was still hanging; wait for the fake to notice
        deadline = time.monotonic() + 30
        while api.requests[0].answered == "" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert api.requests[0].answered == "client gone"
        assert api.texts() == [a.text for a in expected]
        first = records(home)[0]
        assert isinstance(first, AlertSent) and first.attempts == 2


def test_a_429_retry_after_is_honoured(home: Path) -> None:
    _, expected = chatty_session(home, retry_base_s=0.01)
    with FakeTelegramApi(token=TOKEN) as api:
        api.script(RetryAfter(2))
        run_once(home, api)
        assert api.texts() == [a.text for a in expected]
        # lower bound only: the retry did not come before Telegram's retry_after
        assert api.requests[1].at - api.requests[0].at >= 2.0
        first = records(home)[0]
        assert isinstance(first, AlertSent) and first.attempts == 2


def test_failure_after_the_last_try_is_recorded_and_never_resent(home: Path) -> None:
    _, expected = chatty_session(home, retry_attempts=2)
    with FakeTelegramApi(token=TOKEN) as api:
        api.script(Status(500), Status(500))
        run_once(home, api)
        recs = records(home)
        assert isinstance(recs[0], AlertFailed) and recs[0].attempts == 2 and "500" not in TOKEN
        assert "TelegramServerError" in recs[0].error
        assert api.texts() == [a.text for a in expected[1:]]
        run_once(home, api)
        assert len(api.delivered) == len(expected) - 1 and len(records(home)) == len(expected)


def test_a_refused_token_stops_the_sender_without_recording_failures(home: Path) -> None:
    chatty_session(home)
    wrong = "111111:WrongTokenWrongTokenWrongToken12345"
    with FakeTelegramApi(token=TOKEN) as api, pytest.raises(DeliveryFatal) as err:
        run_once(home, api, token=wrong)
    assert wrong not in str(err.value)
    assert records(home) == []


def _env(home: Path, api: FakeTelegramApi | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELEGRAM_")}
    env.update(HEDGE_HOME=str(home), PYTHONPATH=str(REPO))
    env.pop("HEDGE_STORE_URL", None)
    if api is not None:
        env.update(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_CHAT_ID=CHAT, TELEGRAM_API_BASE=api.base)
    env.update(extra)
    return env


def _all_bytes(home: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file())


def test_the_token_never_appears_in_output_events_or_errors(home: Path) -> None:
    chatty_session(home, retry_attempts=2)
    with FakeTelegramApi(token=TOKEN) as api:
        api.script(*[Status(500)] * 4, Delay(5))  # two failed alerts, then a timeout
        r = subprocess.run([*HEDGE, "alerts", "--once"], env=_env(home, api), cwd=REPO,
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        assert "FAILED" in r.stderr and "sent" in r.stderr
        other = home.parent / "other"
        chatty_session(other)
        bad = subprocess.run([*HEDGE, "alerts", "--once"], cwd=REPO, capture_output=True, text=True,
                             timeout=300, env=_env(other, api, TELEGRAM_BOT_TOKEN="222222:" + "x" * 35))
        assert bad.returncode == 2 and "refused the bot token" in bad.stderr
    out = r.stdout + r.stderr + bad.stdout + bad.stderr
    secret = TOKEN.split(":", 1)[1]
    assert secret not in out and "x" * 35 not in out
    assert secret.encode() not in _all_bytes(home) + _all_bytes(other)
    assert sum(isinstance(x, AlertFailed) for x in records(home)) == 2


def test_sending_without_token_or_chat_exits_2(home: Path) -> None:
    chatty_session(home)
    r = subprocess.run([*HEDGE, "alerts", "--once"], env=_env(home), cwd=REPO, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and "TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID not set" in r.stderr


def test_preview_prints_what_would_be_sent_without_a_token(home: Path) -> None:
    b, expected = chatty_session(home)
    r = subprocess.run([*HEDGE, "alerts", "--preview", "--session", b.session_id[:8]], env=_env(home),
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    for a in expected:
        assert a.text in r.stdout and a.alert_id in r.stdout
    assert "[pending]" in r.stdout and f"{len(expected)} alert(s)" in r.stdout
    assert records(home) == []


def test_follower_thread_delivers_while_the_log_grows_and_stops_cleanly(home: Path) -> None:
    b, first = chatty_session(home)
    with FakeTelegramApi(token=TOKEN) as api:
        follower = AlertFollower(home, target=TelegramTarget(TOKEN, CHAT, api.base), poll_s=0.1,
                                 log=lambda _: None).start()
        try:
            assert api.wait_for("delivered", len(first))
            path = [100_000.0 * (1.02 if (i // 48) % 2 else 1.0) for i in range(288, 2 * 288)]
            with EventStore.open(home) as store:
                store.append(b.bars(288, nav_path=[0.0] * 288 + path, start_index=288))
                expected = alerts_for(store.read(types=POLICY_TYPES, session=b.session_id))
            assert len(expected) > len(first)
            assert api.wait_for("delivered", len(expected))
        finally:
            follower.stop()
        assert not follower.alive and follower.error is None
        assert api.texts() == [a.text for a in expected]


def test_skip_backlog_records_old_alerts_as_skipped_and_sends_only_new_ones(home: Path) -> None:
    b, old = chatty_session(home)
    with FakeTelegramApi(token=TOKEN) as api:
        follower = AlertFollower(home, target=TelegramTarget(TOKEN, CHAT, api.base), poll_s=0.1,
                                 skip_backlog=True, log=lambda _: None).start()
        try:
            assert _wait_records(home, len(old))
            path = [100_000.0 * (1.02 if (i // 48) % 2 else 1.0) for i in range(288, 2 * 288)]
            with EventStore.open(home) as store:
                store.append(b.bars(288, nav_path=[0.0] * 288 + path, start_index=288))
                expected = alerts_for(store.read(types=POLICY_TYPES, session=b.session_id))
            assert api.wait_for("delivered", len(expected) - len(old))
        finally:
            follower.stop()
    recs = records(home)
    assert [r.alert_id for r in recs] == [a.alert_id for a in expected]
    assert all(isinstance(r, AlertFailed) and r.attempts == 0 and "backlog" in r.error for r in recs[:len(old)])
    assert api.texts() == [a.text for a in expected[len(old):]]


def _wait_records(home: Path, n: int, timeout: float = 60.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if len(records(home)) >= n:
            return True
        time.sleep(0.1)
    return False


def test_a_second_sender_on_the_same_home_is_refused(home: Path) -> None:
    from projections.alerts.follower import single_instance

    chatty_session(home)
    with FakeTelegramApi(token=TOKEN) as api, single_instance(home):
        r = subprocess.run([*HEDGE, "alerts", "--once"], env=_env(home, api), cwd=REPO, capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 2 and "already following" in r.stderr
        assert api.requests == []


@pytest.mark.postgres
def test_alerts_run_on_postgresql_through_the_store_url(pg_url: str, tmp_path: Path) -> None:
    b = SessionBuilder(config=session_config(nav_move_frac=0.01, min_gap_h=0, daily_cap=6, retry_base_s=0.05))
    path = [100_000.0 * (1.02 if (i // 48) % 2 else 1.0) for i in range(288)]
    with EventStore.open(url=pg_url) as store:
        store.append([b.started(), *b.bars(len(path), nav_path=path)])
        expected = alerts_for(store.read(types=POLICY_TYPES, session=b.session_id))
    with FakeTelegramApi(token=TOKEN) as api:
        env = _env(tmp_path / "home", api, HEDGE_STORE_URL=pg_url)
        for _ in range(2):  # the second run finds everything recorded
            r = subprocess.run([*HEDGE, "alerts", "--once"], env=env, cwd=REPO, capture_output=True, text=True,
                               timeout=300)
            assert r.returncode == 0, r.stderr
        assert api.texts() == [a.text for a in expected]
    with EventStore.open(url=pg_url) as store:
        sent = [e for e in store.read(types=("AlertSent",)) if isinstance(e, AlertSent)]
    assert [s.alert_id for s in sent] == [a.alert_id for a in expected]
    assert "S3cret" not in r.stdout + r.stderr
