"""Reading what replay needs from the log: sessions, their events, cited events.

Everything here only reads. Sessions are named by id, unique id prefix or
``last`` (the store's ``find_session``). A decision cites the events it saw by
``session_seq`` (``RiskDecided.state_refs``); ``resolve_refs`` finds those
events and their global ``seq`` by scanning the session backwards from the
decision in doubling windows (the store has no index by ``session_seq``, and
the cited events are nearly always a few rows before the decision).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from eventlog.events import Event, RiskDecided, SessionEnded, SessionStarted
from eventlog.store import EventStore, SessionInfo

FIRST_WINDOW = 512


@dataclass(frozen=True)
class Session:
    """One recorded session: its info, its SessionStarted and (if recorded) its end."""

    info: SessionInfo
    started: SessionStarted
    ended: SessionEnded | None

    @property
    def session_id(self) -> str:
        return self.info.session_id

    @property
    def tag(self) -> str:
        """The id prefix every decision / order id of the session starts with."""
        return self.session_id.replace("-", "")[:8]

    @property
    def events(self) -> int | None:
        """Number of events of the session (known once it ended)."""
        return self.ended.session_seq if self.ended is not None else None


def find_info(store: EventStore, ref: str) -> SessionInfo:
    """Session info by id (with or without dashes), unique prefix or ``last``."""
    ref = ref.strip().lower()
    if not ref:
        raise LookupError("no session given")
    sessions = store.sessions()
    if not sessions:
        raise LookupError(f"no sessions in {store.location}")
    if ref == "last":
        return sessions[-1]
    flat = ref.replace("-", "")
    hits = [s for s in sessions if s.session_id.replace("-", "").startswith(flat)]
    if len(hits) != 1:
        what = "no session matches" if not hits else f"{len(hits)} sessions match"
        raise LookupError(f"{what} {ref!r} in {store.location}")
    return hits[0]


def load_session(store: EventStore, ref: str) -> Session:
    """The session named by ``ref`` (id, unique prefix, ``last``); LookupError otherwise."""
    info = find_info(store, ref)
    started = next(store.read(info.first_seq, stop=info.first_seq, types=("SessionStarted",)), None)
    if not isinstance(started, SessionStarted):
        raise LookupError(f"session {info.session_id}: its SessionStarted could not be read")
    ended: SessionEnded | None = None
    if info.last_seq is not None:
        ev = next(store.read(info.last_seq, stop=info.last_seq, types=("SessionEnded",)), None)
        ended = ev if isinstance(ev, SessionEnded) else None
    return Session(info=info, started=started, ended=ended)


def session_batches(store: EventStore, session: Session, *, batch: int = 5000,
                    progress: Callable[[int], None] | None = None) -> Iterator[list[Event]]:
    """The session's events in log order, in batches (``progress(n)`` after each batch)."""
    done = 0
    for evs in store.read_batches(session.info.first_seq, batch=batch, session=session.session_id):
        yield evs
        done += len(evs)
        if progress is not None:
            progress(done)


def session_events(store: EventStore, session: Session, *, batch: int = 5000,
                   progress: Callable[[int], None] | None = None) -> Iterator[Event]:
    """The session's events in log order (``progress(n)`` after each batch)."""
    for evs in session_batches(store, session, batch=batch, progress=progress):
        yield from evs


def resolve_refs(store: EventStore, session_id: str, wanted: dict[str, int], before_seq: int,
                 first_seq: int) -> dict[str, Event]:
    """Map ``name -> session_seq`` to the cited events (with their global ``seq``).

    Scans ``[lo, before_seq]`` of the session, doubling the window until every
    cited event is found or the session's start is reached. Names whose event
    is not in the log are missing from the result.
    """
    by_sseq: dict[int, list[str]] = {}
    for name, sseq in wanted.items():
        by_sseq.setdefault(int(sseq), []).append(name)
    found: dict[str, Event] = {}
    window = FIRST_WINDOW
    hi = before_seq
    while by_sseq and hi >= first_seq:
        lo = max(first_seq, hi - window + 1)
        for ev in store.read(lo, stop=hi, session=session_id):
            names = by_sseq.pop(ev.session_seq, None)
            if names:
                for n in names:
                    found[n] = ev
        hi = lo - 1
        window *= 2
    return found


@dataclass(frozen=True)
class Found:
    """A risk decision found in the log, with its session (``explain``, ``counterfactual``)."""

    decision: RiskDecided
    session: Session
