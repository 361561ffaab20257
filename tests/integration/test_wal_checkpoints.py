"""WAL checkpoints off the commit path (``eventlog.sqlite_checkpoints``), on a real SQLite log.

A live ``LogWriter``'s commits never checkpoint (its connections have ``wal_autocheckpoint=0``);
a thread of its own does, so the WAL stays bounded; a writer that never pauses checkpoints
after its own commits once the thread cannot keep up; closing the writer gives the connections their own checkpoints back;
nothing committed is lost on the way and the chain verifies.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest

from eventlog import sqlite_checkpoints
from eventlog.events import MarketTick
from eventlog.store import EventStore
from eventlog.verify import verify
from eventlog.writer import LogWriter


def _tick(writer: LogWriter, i: int) -> None:
    writer.emit(MarketTick, stream="market.BTCUSDT", ts_event_ns=i, symbol="BTCUSDT", bid=100.0 + i, ask=101.0 + i,
                bid_qty=1.5, ask_qty=2.5)


def _autocheckpoint(store: EventStore) -> int:
    with store.recorder.datastore.get_connection(commit=True) as conn:  # type: ignore[attr-defined]
        return int(conn._sqlite_conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0])


def test_a_live_writer_checkpoints_on_its_own_thread_and_hands_back_on_close(tmp_path: Path) -> None:
    store = EventStore.open(tmp_path)
    writer = LogWriter(store, str(uuid.uuid4()), clock_ns=time.time_ns, max_batch=64)
    bg = writer._checkpoints
    assert bg is not None
    for i in range(1, 40_001):
        _tick(writer, i)
        if i % 64 == 0:
            writer.flush()  # many small commits, as a live loop makes them
    writer.flush()
    assert _autocheckpoint(store) == 0  # the commits do not checkpoint ...
    assert bg.checkpoints >= 1 and bg.error is None  # ... the thread did
    assert os.path.getsize(tmp_path / "eventlog.sqlite-wal") < 40 * 1024 * 1024
    writer.close()
    store.append([MarketTick(session_id=str(uuid.uuid4()), session_seq=1, stream="market.BTCUSDT", ts_event_ns=1,
                             ts_init_ns=1, symbol="BTCUSDT", bid=1.0, ask=2.0)])
    assert _autocheckpoint(store) == 1000  # the next commit after close: SQLite's own checkpoints again
    assert verify(store).ok and store.count() == 40_001
    store.close()


def test_a_writer_that_never_pauses_keeps_its_wal_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_checkpoints, "PAGES", 50)
    monkeypatch.setattr(sqlite_checkpoints, "INLINE_FRAMES", 200)
    store = EventStore.open(tmp_path)
    writer = LogWriter(store, str(uuid.uuid4()), clock_ns=time.time_ns, max_batch=512)
    for i in range(1, 60_001):
        _tick(writer, i)
    writer.flush()
    # 60,000 events are ~2,300 pages: without checkpoints (the thread's, or inline ones when
    # it cannot keep up) the WAL would hold them all
    assert os.path.getsize(tmp_path / "eventlog.sqlite-wal") < 1500 * 4096
    writer.close()
    assert verify(store).ok and store.count() == 60_000
    store.close()


def test_when_the_thread_cannot_keep_up_the_next_commit_checkpoints_inline(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_checkpoints, "PAGES", 10**9)  # the thread is never asked
    store = EventStore.open(tmp_path)
    writer = LogWriter(store, str(uuid.uuid4()), clock_ns=time.time_ns)
    bg = writer._checkpoints
    assert bg is not None
    for i in range(1, 501):
        _tick(writer, i)
    writer.flush()
    got = bg.checkpoint()  # what the thread would have found: a WAL past the bound
    assert got is not None and got[1] > 0
    monkeypatch.setattr(sqlite_checkpoints, "INLINE_FRAMES", 1)
    _tick(writer, 501)
    writer.flush()
    assert bg.inline_checkpoints == 1 and bg.error is None
    writer.close()
    assert verify(store).ok and store.count() == 501
    store.close()


def test_a_read_only_log_gets_no_checkpoint_thread(tmp_path: Path) -> None:
    EventStore.open(tmp_path).close()
    ro = EventStore.open(tmp_path, readonly=True)
    assert ro.recorder.checkpoint_in_background() is None  # type: ignore[attr-defined]
    ro.close()


# -- committing a decision at once (LogWriter.commit_now, Engine.commit_decisions) -------------------


def test_commit_now_commits_without_waiting_for_the_producer_to_pause(tmp_path: Path) -> None:
    """With an idle rule and a latency bound of minutes, only ``commit_now`` can commit within the wait."""
    store = EventStore.open(tmp_path)
    writer = LogWriter(store, str(uuid.uuid4()), clock_ns=time.time_ns, idle_us=120e6, max_latency_ms=120_000)
    try:
        for i in range(1, 9):
            _tick(writer, i)
        writer.commit_now()
        deadline = time.monotonic() + 30
        while writer.durable_session_seq < 8 and time.monotonic() < deadline:
            time.sleep(0.001)
        assert writer.durable_session_seq == 8
    finally:
        writer.close()
        store.close()


class _Venue:
    def __init__(self, name: str, speed: float | None = None):
        self.name, self.speed = name, speed


@pytest.mark.parametrize(("venue", "live"), [(_Venue("binance"), True), (_Venue("sim", 60.0), True),
                                             (_Venue("sim", None), False)])
def test_a_live_loop_commits_its_decisions_at_once_and_a_max_speed_run_does_not(
        tmp_path: Path, venue: _Venue, live: bool) -> None:
    from engine.loop import Engine

    with EventStore.open(tmp_path) as store:
        writer = LogWriter(store, str(uuid.uuid4()), clock_ns=time.time_ns, background=False)
        assert Engine(venue, writer).commit_decisions is live  # type: ignore[arg-type]
