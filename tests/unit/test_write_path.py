"""The log's write path, made cheaper, writes exactly what it wrote before.

* ``CompactKeys.chained`` chains and splits in one pass: on a real SQLite log it stores
  the same rows, registers the same sessions and ends at the same head as the two-pass
  path it replaced (kept here, verbatim, as the oracle), and refuses the same rows.
* ``LogWriter.emit_fields`` (the engine's record path) builds the same event as
  ``LogWriter.emit`` for any fields, or fails the same way.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

import msgspec
import pytest
from eventsourcing.persistence import IntegrityError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventlog.chain import GENESIS, chain_states
from eventlog.codec import encode, encode_map
from eventlog.compact import split_preamble, stored_without_preamble
from eventlog.events import EVENT_TYPES, Event, MarketTick
from eventlog.sqlite_keys import CompactKeys
from eventlog.store import EventStore
from eventlog.typecodes import TYPE_CODES
from eventlog.writer import LogWriter
from tests.eventgen import _for, event_strategy, session_logs

_settings = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _two_pass(keys: CompactKeys, conn: sqlite3.Connection, rows: Sequence[tuple[str, int, str, bytes]],
              prev: bytes, first_id: int) -> tuple[list[tuple[int, int, Any, bytes]], bytes]:
    """The write path before the one-pass version: ``chain_states``, then the preamble split."""
    states, head = chain_states(prev, [r[3] for r in rows])
    out: list[tuple[int, int, Any, bytes]] = []
    seen: dict[str, list[int]] = {}
    for i, (r, st_) in enumerate(zip(rows, states, strict=True)):
        hexid, version = r[0], r[1]
        s = seen.get(hexid)
        if s is None:
            got = conn.execute("SELECT number, first_seq, last_seq, last_version FROM log_sessions "
                               "WHERE session_id=?", (hexid,)).fetchone()
            if got is not None and got[2] >= first_id:
                got = keys._recount(conn, got[0], first_id + i)
            if got is None:
                cur = conn.execute("INSERT INTO log_sessions (session_id, first_seq, last_seq, last_version) "
                                   "VALUES (?, ?, ?, 0)", (hexid, first_id + i, first_id + i))
                got = (cur.lastrowid, first_id + i, first_id + i, 0)
            s = seen[hexid] = list(got)
        if not isinstance(version, int) or version <= s[3]:
            raise IntegrityError("duplicate")
        s[2], s[3] = first_id + i, version
        if s[1] > s[2]:
            s[1] = s[2]
        raw, rest = split_preamble(st_[32:])
        if raw is not None:
            if raw.hex() != hexid:
                raise IntegrityError("another session's payload")
            body = st_[:32] + rest
        elif stored_without_preamble(st_[32:]):
            raise ValueError("a bare msgpack array is not an event payload")
        else:
            body = st_
        out.append((s[0], version, TYPE_CODES.get(r[2], r[2]), body))
    conn.executemany("UPDATE log_sessions SET first_seq=?, last_seq=?, last_version=? WHERE number=?",
                     [(s[1], s[2], s[3], s[0]) for s in seen.values()])
    return out, head


def _attempt(fn: Any, conn: sqlite3.Connection, rows: list[tuple[str, int, str, bytes]], prev: bytes,
             first_id: int) -> tuple[Any, ...]:
    """(stored rows, head, log_sessions afterwards) or the exception class; rolled back either way."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        stored, head = fn(CompactKeys(), conn, rows, prev, first_id)
        sessions = conn.execute("SELECT * FROM log_sessions ORDER BY number").fetchall()
        return stored, head, sessions
    except (IntegrityError, ValueError) as exc:
        return (type(exc),)
    finally:
        conn.execute("ROLLBACK")


def _rows(evs: list[Event], data: st.DataObject) -> list[tuple[str, int, str, bytes]]:
    """The rows ``EventStore.append`` would hand the recorder, with some made odd: a format-1
    map payload, a payload of another session, a repeated or lower version."""
    rows = []
    for e in evs:
        payload = encode(e)
        kind = data.draw(st.sampled_from(["plain"] * 8 + ["map", "foreign", "dup"]))
        if kind == "map":
            payload = encode_map(e)
        elif kind == "foreign":
            payload = encode(msgspec.structs.replace(e, session_id=str(data.draw(st.uuids()))))
        version = e.session_seq - 1 if kind == "dup" else e.session_seq
        rows.append((UUID(e.session_id).hex, version, type(e).__name__, payload))
    return rows


@pytest.fixture(scope="module")
def log() -> Any:
    """A compact log holding one session already (so a batch can continue a known session)."""
    with tempfile.TemporaryDirectory(prefix="hedge-write-path-") as d:
        store = EventStore.open(Path(d))
        old = UUID(int=7)
        store.append([e for e in _known_session(str(old))])
        store.close()
        conn = sqlite3.connect(Path(d) / "eventlog.sqlite", isolation_level=None)
        yield conn, old.hex
        conn.close()


def _known_session(sid: str) -> list[Event]:
    from tests.eventgen import session_events

    return session_events(sid, 3, end=False)


@_settings
@given(evs=session_logs(max_events=25), data=st.data())
def test_one_pass_stores_the_same_rows_and_head_as_chain_then_split(log: Any, evs: list[Event],
                                                                     data: st.DataObject) -> None:
    conn, known = log
    if data.draw(st.booleans()):  # continue the known session too, after its last version
        more = [msgspec.structs.replace(e, session_id=str(UUID(known)), session_seq=10 + i)
                for i, e in enumerate(data.draw(st.lists(event_strategy(), max_size=4)))]
        evs = [*evs, *more]
    rows = _rows(evs, data)
    prev = data.draw(st.sampled_from([GENESIS, bytes(range(32))]))
    first_id = conn.execute("SELECT max(rowid) FROM stored_events").fetchone()[0] + 1
    want = _attempt(_two_pass, conn, rows, prev, first_id)
    assert _attempt(CompactKeys.chained, conn, rows, prev, first_id) == want
    # the verbatim copy (``hedge migrate``: the states already chained) stores the same rows too
    states, head = chain_states(prev, [r[3] for r in rows])

    def verbatim(keys: CompactKeys, c: sqlite3.Connection, rs: Any, _prev: bytes, first: int) -> Any:
        return keys.stored(c, rs, states, first), head

    assert _attempt(verbatim, conn, rows, prev, first_id) == want


def test_the_one_pass_head_is_the_store_head(tmp_path: Path) -> None:
    """End to end: the head the store reports is the SHA-256 chain over the self-describing payloads."""
    from tests.eventgen import session_events

    sid = str(UUID(int=11))
    evs = session_events(sid, 50)
    with EventStore.open(tmp_path) as store:
        store.append(evs[:20])
        store.append(evs[20:])
        _, head = chain_states(GENESIS, [encode(e) for e in evs])
        assert store.head() == (len(evs), head.hex())


# -- LogWriter.emit_fields: the same event as emit -------------------------------------------------

_HEADER = {"seq", "session_id", "session_seq", "stream", "ts_event_ns", "ts_init_ns", "v"}


def _outcome(fn: Any) -> Any:
    try:
        return fn()
    except (TypeError, msgspec.ValidationError) as exc:
        return type(exc)


@pytest.fixture(scope="module")
def idle_store() -> Any:
    """A store the writers below never commit to (nothing reaches ``max_batch``)."""
    with tempfile.TemporaryDirectory(prefix="hedge-emit-") as d, EventStore.open(Path(d)) as store:
        yield store


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(EVENT_TYPES)), data=st.data())
def test_emit_fields_builds_the_event_emit_builds(idle_store: EventStore, name: str, data: st.DataObject) -> None:
    cls = EVENT_TYPES[name]
    info = msgspec.inspect.type_info(cls)
    fields: dict[str, Any] = {}
    for f in info.fields:  # type: ignore[attr-defined]
        if f.name in _HEADER:
            continue
        # optional fields now and then, required ones nearly always (a missing one must fail alike)
        if data.draw(st.booleans()) if not f.required else data.draw(st.integers(0, 9)) > 0:
            fields[f.name] = data.draw(_for(f.type))
    if data.draw(st.integers(0, 9)) == 0:  # now and then a field the class does not have
        fields[data.draw(st.sampled_from(["colour", "seq", "stream", "v"]))] = 1
    sid = str(UUID(int=3))
    a = LogWriter(idle_store, sid, clock_ns=lambda: 42, background=False)
    b = LogWriter(idle_store, sid, clock_ns=lambda: 42, background=False)
    ts = data.draw(st.integers(0, 2**62))
    want = _outcome(lambda: a.emit(cls, stream="s", ts_event_ns=ts, **fields))
    got = _outcome(lambda: b.emit_fields(cls, "s", ts, fields))
    assert got == want
    assert a.next_session_seq == b.next_session_seq
    if isinstance(got, Event):
        assert encode(got) == encode(want)


def test_emit_fields_gives_each_event_its_own_default_list(tmp_path: Path) -> None:
    from eventlog.events import RiskDecided

    with EventStore.open(tmp_path) as store:
        w = LogWriter(store, str(UUID(int=4)), clock_ns=lambda: 1, background=False)
        fields = {"decision_id": "d", "intent_id": "i", "symbol": "BTCUSDT", "outcome": "veto", "gate": "g",
                  "reasons": [], "thresholds": {}, "observations": {}, "config_hash": "c", "requested_qty": 1.0,
                  "approved_qty": 0.0, "approved_notional_usd": 0.0}
        one = w.emit_fields(RiskDecided, "risk", 1, fields)
        two = w.emit_fields(RiskDecided, "risk", 1, fields)
        assert one.breached == [] and one.breached is not two.breached


def test_a_tick_recorded_by_fields_is_stored_as_emit_stores_it(tmp_path: Path) -> None:
    fields = {"symbol": "BTCUSDT", "bid": 1.5, "ask": 2.0, "bid_qty": 0.0, "ask_qty": 3.0, "mark": None,
              "funding_rate": 0.0001}
    rows = []
    for how in ("emit", "fields"):
        with EventStore.open(tmp_path / how) as store:
            w = LogWriter(store, str(UUID(int=5)), clock_ns=lambda: 99, background=False)
            for i in range(3):
                if how == "emit":
                    w.emit(MarketTick, stream="market.BTCUSDT", ts_event_ns=i, **fields)
                else:
                    w.emit_fields(MarketTick, "market.BTCUSDT", i, fields)
            w.close()
            rows.append([r for b in store.rows() for r in b])
    assert rows[0] == rows[1]

