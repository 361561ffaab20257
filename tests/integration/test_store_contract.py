"""The event store's contract, run once per backend (real SQLite file, real PostgreSQL).

Like eventsourcing's ``ApplicationRecorderTestCase``: ``StoreContract`` holds the
behaviour, each backend subclass only says how to open a store and how to make
its storage refuse writes.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import pytest

from eventlog.chain import GENESIS, chain_states, row_hash
from eventlog.codec import encode
from eventlog.store import EventStore
from eventlog.verify import verify
from eventlog.writer import LogWriter, WriterFailed
from tests.eventgen import T0, MarketTick, ended, new_session_id, session_events, started, tick
from tests.rawlog import RawLog

REPO = Path(__file__).resolve().parents[2]


def _stamped(events, seqs):  # type: ignore[no-untyped-def]
    return [msgspec.structs.replace(e, seq=s) for e, s in zip(events, seqs, strict=True)]


class StoreContract:
    """Behaviour every backend must have. Subclasses provide ``open_store`` and ``break_writes``."""

    @pytest.fixture
    def open_store(self) -> Callable[[], EventStore]:
        raise NotImplementedError

    @pytest.fixture
    def store(self, open_store: Callable[[], EventStore]) -> Iterator[EventStore]:
        s = open_store()
        yield s
        s.close()

    def break_writes(self, store: EventStore) -> None:
        """Make the storage under ``store`` refuse further writes (full / read-only)."""
        raise NotImplementedError

    def raw(self, store: EventStore) -> RawLog:
        raise NotImplementedError

    # -- appending and reading -----------------------------------------------------------

    def test_append_then_read_gives_the_same_events_in_order_with_their_seq(self, store: EventStore) -> None:
        sid = new_session_id()
        evs = session_events(sid, 20)
        seqs = store.append(evs)
        assert seqs == sorted(seqs) and len(set(seqs)) == len(evs)
        assert list(store.read()) == _stamped(evs, seqs)
        assert store.count() == len(evs)

    def test_append_of_an_empty_batch_stores_nothing(self, store: EventStore) -> None:
        assert store.append([]) == []
        assert store.count() == 0 and store.head() == (0, "0" * 64)

    def test_seqs_keep_increasing_across_appends(self, store: EventStore) -> None:
        sid = new_session_id()
        a = store.append(session_events(sid, 5, end=False))
        b = store.append([tick(sid, 7), tick(sid, 8)])
        assert a[-1] < b[0] and b == sorted(b)

    def test_read_from_start_to_stop_inclusive(self, store: EventStore) -> None:
        sid = new_session_id()
        seqs = store.append(session_events(sid, 30))
        got = [e.seq for e in store.read(seqs[5], stop=seqs[12])]
        assert got == seqs[5:13]
        assert list(store.read(seqs[-1] + 1)) == []

    def test_rows_and_batches_are_bounded_by_batch_size(self, store: EventStore) -> None:
        sid = new_session_id()
        seqs = store.append(session_events(sid, 48))  # 50 events
        sizes = [len(b) for b in store.read_batches(batch=7)]
        assert all(0 < n <= 7 for n in sizes) and sum(sizes) == 50
        flat = [r[0] for rows in store.rows(batch=7) for r in rows]
        assert flat == seqs

    def test_read_filters_by_session_and_by_type(self, store: EventStore) -> None:
        a, b = new_session_id(), new_session_id()
        store.append(session_events(a, 3, end=False) + session_events(b, 2))
        store.append([ended(a, 5)])
        assert {e.session_id for e in store.read(session=a)} == {a}
        assert [e.session_seq for e in store.read(session=a)] == [1, 2, 3, 4, 5]
        assert [type(e).__name__ for e in store.read(types=("SessionEnded",))] == ["SessionEnded"] * 2
        only = list(store.read(session=b, types=("MarketTick",), batch=1))
        assert [(e.session_id, e.session_seq) for e in only] == [(b, 2), (b, 3)]

    def test_head_is_the_hash_of_the_last_stored_row(self, store: EventStore) -> None:
        assert store.head() == (0, "0" * 64)
        evs = session_events(new_session_id(), 10)
        seqs = store.append(evs)
        _, expect = chain_states(GENESIS, [encode(e) for e in evs])
        assert store.head() == (seqs[-1], expect.hex())
        last = self.raw(store).state(seqs[-1])
        assert row_hash(last).hex() == expect.hex()

    def test_any_batch_split_gives_the_same_chain(self, open_store: Callable[[], EventStore]) -> None:
        evs = session_events("0" * 31 + "1", 40)
        heads = []
        for split in ((41,), (1, 40), (10, 10, 10, 11), (7,) * 5 + (6,)):
            s = open_store()
            try:
                self.raw(s).truncate_after(0)  # start each split from an empty log (attacker tool)
                i = 0
                for n in split:
                    s.append(evs[i:i + n])
                    i += n
                heads.append(s.head()[1])
                assert verify(s).ok
            finally:
                s.close()
        assert len(set(heads)) == 1

    def test_sessions_lists_each_session_with_its_end(self, store: EventStore) -> None:
        a, b = new_session_id(), new_session_id()
        store.append(session_events(a, 2))
        store.append([started(b, ts=T0 + 5)])
        ss = store.sessions()
        assert [s.session_id for s in ss] == [a, b]
        assert ss[0].end_reason == "normal" and ss[0].events == 4 and ss[0].symbols == ["BTCUSDT"]
        assert ss[1].end_reason is None and ss[1].last_seq is None
        assert store.find_session(a[:8]).session_id == a
        assert store.find_session("last").session_id == b
        with pytest.raises(LookupError):
            store.find_session("zz")

    def test_next_session_seq_follows_the_stored_session(self, store: EventStore) -> None:
        sid = new_session_id()
        assert store.next_session_seq(sid) == 1
        store.append(session_events(sid, 4, end=False))
        assert store.next_session_seq(sid) == 6

    def test_events_survive_reopening_and_are_seen_by_another_connection(
        self, store: EventStore, open_store: Callable[[], EventStore]
    ) -> None:
        evs = session_events(new_session_id(), 12)
        seqs = store.append(evs)
        other = open_store()
        try:
            assert list(other.read()) == _stamped(evs, seqs)
            assert other.head() == store.head()
        finally:
            other.close()

    # -- never updated, never deleted -------------------------------------------------

    def test_a_duplicate_event_key_is_refused_and_the_stored_event_is_unchanged(self, store: EventStore) -> None:
        sid = new_session_id()
        store.append(session_events(sid, 3, end=False))
        before = self.raw(store).rows()
        imposter = msgspec.structs.replace(tick(sid, 2), bid=1.0)
        with pytest.raises(Exception, match=r"(?i)unique|duplicate|integrity"):
            store.append([tick(sid, 5), imposter])  # whole batch refused, atomically
        assert self.raw(store).rows() == before
        assert verify(store).ok

    def test_gaps_in_seq_are_tolerated_by_readers_and_verify(self, store: EventStore) -> None:
        sid = new_session_id()
        first = store.append(session_events(sid, 3, end=False))
        with pytest.raises(Exception, match=r"(?i)unique|duplicate|integrity"):
            store.append([tick(sid, 5), tick(sid, 1)])  # rolled back (PostgreSQL burns its ids)
        later = store.append([tick(sid, 5), tick(sid, 6)])
        assert later[0] > first[-1]
        got = [e.session_seq for e in store.read(batch=2)]
        assert got == [1, 2, 3, 4, 5, 6]
        res = verify(store)
        assert res.ok and res.events == 6 and res.last_seq == later[-1]

    def test_concurrent_writers_get_one_chain_in_commit_order(
        self, open_store: Callable[[], EventStore]
    ) -> None:
        stores = [open_store() for _ in range(3)]
        errors: list[BaseException] = []

        def work(s: EventStore) -> None:
            sid = new_session_id()
            try:
                for k in range(10):
                    s.append([tick(sid, k * 20 + i + 1) for i in range(20)])
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(s,)) for s in stores]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        try:
            assert not errors
            res = verify(stores[0])
            assert res.ok, res.problem
            assert res.events == 600 and res.sessions == 3
        finally:
            for s in stores:
                s.close()

    # -- the writer: group commit ------------------------------------------------------

    def _writer(self, store: EventStore, **kw) -> LogWriter:  # type: ignore[no-untyped-def]
        sid = new_session_id()
        clock = iter(range(T0, T0 + 10**12, 1000))
        return LogWriter(store, sid, clock_ns=lambda: next(clock), **kw)

    def _emit_ticks(self, w: LogWriter, n: int) -> None:
        for i in range(n):
            w.emit(MarketTick, stream="market.BTCUSDT", ts_event_ns=T0 + i, symbol="BTCUSDT", bid=1.0 + i, ask=2.0)

    def test_writer_commits_in_groups_bounded_by_its_back_pressure(self, store: EventStore) -> None:
        # A commit takes the whole queue; the producer blocks at 8 x max_batch queued.
        sizes: list[int] = []
        w = self._writer(store, max_batch=64, max_latency_ms=50, on_commit=lambda b, ids: sizes.append(len(b)))
        self._emit_ticks(w, 1000)
        assert w.flush() == 1000
        w.close()
        assert sum(sizes) == 1000 and max(sizes) <= 8 * 64 and len(sizes) < 1000
        assert [e.session_seq for e in store.read()] == list(range(1, 1001))

    def test_writer_flush_makes_everything_durable_for_another_reader(
        self, store: EventStore, open_store: Callable[[], EventStore]
    ) -> None:
        w = self._writer(store, max_batch=10_000, max_latency_ms=60_000)  # only flush commits
        self._emit_ticks(w, 250)
        assert w.flush() == 250
        other = open_store()
        try:
            assert other.count() == 250 and verify(other).ok
        finally:
            other.close()
            w.close()

    def test_writer_commits_a_lone_event_within_its_latency_bound(self, store: EventStore) -> None:
        w = self._writer(store, max_batch=1000, max_latency_ms=20)
        self._emit_ticks(w, 1)
        deadline = time.monotonic() + 30  # generous: correctness, not timing
        while store.count() < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert store.count() == 1
        w.close()

    def test_writer_close_flushes_what_is_queued(self, store: EventStore) -> None:
        w = self._writer(store, max_batch=10_000, max_latency_ms=60_000)
        self._emit_ticks(w, 77)
        w.close()
        assert store.count() == 77

    def test_writer_fails_loudly_when_storage_refuses_writes_and_keeps_what_was_committed(
        self, store: EventStore, open_store: Callable[[], EventStore]
    ) -> None:
        w = self._writer(store, max_batch=50, max_latency_ms=5)
        self._emit_ticks(w, 120)
        durable = w.flush()
        self.break_writes(store)
        with pytest.raises(WriterFailed):
            self._emit_ticks(w, 500)
            w.flush()
        with pytest.raises(WriterFailed):  # and it stays failed: the engine must stop
            self._emit_ticks(w, 1)
        assert w.durable_session_seq >= durable
        other = open_store()
        try:
            res = verify(other)
            assert res.ok and res.events == w.durable_session_seq
            assert [e.session_seq for e in other.read()] == list(range(1, w.durable_session_seq + 1))
        finally:
            other.close()


class TestSQLiteStore(StoreContract):
    @pytest.fixture
    def open_store(self, home: Path) -> Callable[[], EventStore]:
        return lambda: EventStore.open(home)

    def raw(self, store: EventStore) -> RawLog:
        return RawLog(sqlite_path=store.location)

    def break_writes(self, store: EventStore) -> None:
        # A full disk: cap the database at its current size on every pooled connection.
        pool = store.recorder.datastore.pool  # type: ignore[attr-defined]
        conns = list(pool._pool)
        assert conns, "the writer's connection should be pooled"
        for c in conns:
            n = c._sqlite_conn.execute("PRAGMA page_count").fetchone()[0]
            c._sqlite_conn.execute(f"PRAGMA max_page_count={n}")
        pool.max_overflow = 0
        pool.pool_size = len(conns)


@pytest.mark.postgres
class TestPostgresStore(StoreContract):
    @pytest.fixture
    def open_store(self, pg_url: str) -> Callable[[], EventStore]:
        return lambda: EventStore.open(url=pg_url)

    def raw(self, store: EventStore) -> RawLog:
        return RawLog(url=self._url)

    @pytest.fixture(autouse=True)
    def _remember_url(self, pg_url: str) -> None:
        self._url = pg_url

    def break_writes(self, store: EventStore) -> None:
        # The database turns read-only (e.g. a failover to a replica): existing sessions end.
        import psycopg

        from eventlog.pg_backend import parse_url

        kw = parse_url(self._url)
        db = kw["dbname"]
        with psycopg.connect(**{**kw, "dbname": "postgres"}, autocommit=True) as con:
            con.execute(f'ALTER DATABASE "{db}" SET default_transaction_read_only = on')
            con.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (db,))


def test_no_code_path_updates_or_deletes_stored_events() -> None:
    """Static guarantee: no UPDATE/DELETE/TRUNCATE/DROP of the events table in product code."""
    bad = re.compile(r"\b(UPDATE|DELETE\s+FROM|TRUNCATE|DROP\s+TABLE|ALTER\s+TABLE)\b.*"
                     r"(stored_events|event_blocks|events_table_name|\{0\}|self\._t\b|self\.blocks\b)")
    offenders = []
    for pkg in ("eventlog", "engine", "projections", "replay", "hedge", "ui", "config"):
        for f in sorted((REPO / pkg).rglob("*.py")) if (REPO / pkg).exists() else []:
            for i, line in enumerate(f.read_text().splitlines(), 1):
                if bad.search(line):
                    offenders.append(f"{f.relative_to(REPO)}:{i}: {line.strip()}")
    assert not offenders, "\n".join(offenders)
