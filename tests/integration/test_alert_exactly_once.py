"""Kill the real ``hedge alerts --follow`` with SIGKILL mid-stream, restart it: each alert once."""

from __future__ import annotations

import collections
import signal
import subprocess
import time
from pathlib import Path

import pytest

from eventlog.events import AlertSent
from eventlog.store import EventStore
from projections.alerts.policy import POLICY_TYPES, alerts_for
from tests.fakes.alert_sessions import SessionBuilder, session_config
from tests.fakes.telegram_api import FakeTelegramApi
from tests.integration.test_alert_delivery import CHAT, HEDGE, REPO, TOKEN, _all_bytes, _env


def _append_slowly(home: Path, events: list, chunk: int = 200) -> None:
    """The 'engine': keeps appending to the same log while the follower runs."""
    with EventStore.open(home) as store:
        for i in range(0, len(events), chunk):
            store.append(events[i:i + chunk])
            time.sleep(0.02)


def _sent(home: Path) -> list[AlertSent]:
    with EventStore.open(home) as store:
        return [e for e in store.read(types=("AlertSent",)) if isinstance(e, AlertSent)]


def _wait(cond, timeout: float = 120.0) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.1)
    return False


def test_sigkill_mid_stream_then_restart_delivers_every_alert_exactly_once(home: Path) -> None:
    b = SessionBuilder(config=session_config(nav_move_frac=0.01, min_gap_h=0, daily_cap=6, retry_base_s=0.05,
                                             request_timeout_s=120))
    path = [100_000.0 * (1.02 if (i // 48) % 2 else 1.0) for i in range(3 * 288)]
    events = [b.started(), *b.bars(len(path), nav_path=path)]
    third = len(events) // 3
    _append_slowly(home, events[:third])
    cmd = [*HEDGE, "alerts", "--follow", "--poll", "0.2"]
    with FakeTelegramApi(token=TOKEN) as api:
        api.slow_from(4, 15.0)  # the 4th request hangs: the sender is killed while it waits
        first = subprocess.Popen(cmd, env=_env(home, api), cwd=REPO, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        try:
            _append_slowly(home, events[third:2 * third])  # mid-stream: the log grows meanwhile
            assert api.wait_for("requests", 4, timeout=120)
            assert _wait(lambda: api.in_flight >= 1)
        finally:
            first.send_signal(signal.SIGKILL)
            out1, err1 = first.communicate(timeout=60)
        assert first.returncode == -signal.SIGKILL
        assert len(api.delivered) == 3 and len(_sent(home)) == 3
        api.slow_from(None)

        second = subprocess.Popen(cmd, env=_env(home, api), cwd=REPO, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        try:
            _append_slowly(home, events[2 * third:])
            with EventStore.open(home) as store:
                expected = alerts_for(store.read(types=POLICY_TYPES, session=b.session_id))
            assert len(expected) >= 12
            assert _wait(lambda: len(_sent(home)) >= len(expected), timeout=180)
            # the killed request finally ends; the fake saw its client gone, so it was never delivered
            assert _wait(lambda: api.requests[3].answered != "", timeout=60)
            assert api.requests[3].answered == "client gone"
        finally:
            second.send_signal(signal.SIGTERM)
            out2, err2 = second.communicate(timeout=60)
        assert second.returncode == 0, err2

    texts = api.texts()
    assert texts == [a.text for a in expected]  # every alert, in order
    assert max(collections.Counter(texts).values()) == 1  # none twice
    sent = _sent(home)
    assert [s.alert_id for s in sent] == [a.alert_id for a in expected]
    assert [s.message_id for s in sent] == [d.message_id for d in api.delivered]
    assert {s.chat_id for s in sent} == {CHAT}
    assert len({s.session_id for s in sent}) == 2  # one alerter session per process
    secret = TOKEN.split(":", 1)[1]
    assert secret not in out1 + err1 + out2 + err2
    assert secret.encode() not in _all_bytes(home)


@pytest.mark.market
@pytest.mark.slow
def test_follower_beside_a_real_hedge_run_sends_that_sessions_alerts_once(home: Path, market_dir: Path) -> None:
    """``hedge alerts --follow`` started first, then ``hedge run --data``: what it sends is the preview."""
    with FakeTelegramApi(token=TOKEN) as api:
        follower = subprocess.Popen([*HEDGE, "alerts", "--follow", "--poll", "0.5"], env=_env(home, api), cwd=REPO,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            run = subprocess.run([*HEDGE, "run", "--data", str(market_dir), "--no-projections", "--quiet"],
                                 env=_env(home), cwd=REPO, capture_output=True, text=True, timeout=1800)
            assert run.returncode == 0, run.stderr[-2000:]
            with EventStore.open(home) as store:
                info = store.find_session("last")
                expected = alerts_for(store.read(info.first_seq, session=info.session_id, types=POLICY_TYPES))
            assert expected
            assert _wait(lambda: len(_sent(home)) >= len(expected), timeout=600)
        finally:
            follower.send_signal(signal.SIGTERM)
            out, err = follower.communicate(timeout=120)
        assert follower.returncode == 0, err[-2000:]
    assert api.texts() == [a.text for a in expected]
    assert TOKEN.split(":", 1)[1] not in out + err


def test_hedge_run_starts_the_alerts_itself_when_telegram_is_configured(home: Path, market_dir: Path) -> None:
    """With TELEGRAM_BOT_TOKEN set, ``hedge run`` sends its session's alerts in its own thread."""
    with FakeTelegramApi(token=TOKEN) as api:
        run = subprocess.run([*HEDGE, "run", "--data", str(market_dir), "--no-projections", "--quiet"],
                             env=_env(home, api), cwd=REPO, capture_output=True, text=True, timeout=1800)
        assert run.returncode == 0, run.stderr[-2000:]
        with EventStore.open(home) as store:
            info = store.find_session("last")
            expected = alerts_for(store.read(info.first_seq, session=info.session_id, types=POLICY_TYPES))
        assert expected
        sent_by_run = len(_sent(home))
        assert sent_by_run >= 1, "hedge run's own alert thread delivered nothing"
        # The run stops its sender with the session; what was still due is caught up by
        # `hedge alerts --once`, and nothing is delivered twice.
        once = subprocess.run([*HEDGE, "alerts", "--once"], env=_env(home, api), cwd=REPO,
                              capture_output=True, text=True, timeout=900)
        assert once.returncode == 0, once.stderr[-2000:]
        assert [s.text for s in _sent(home)] == [a.text for a in expected]
    assert api.texts() == [a.text for a in expected]
    assert TOKEN.split(":", 1)[1] not in run.stdout + run.stderr + once.stdout + once.stderr
