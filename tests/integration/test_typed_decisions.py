"""Decisions are typed (``engine.drafts``): every decision ``decide`` returns is its own
event, a draft that validates against the event's schema, and replay compares every
field of it - also the defaulted ones a decision used to leave out of its dict.

On a real-data session (``../shared/market``, skipped when absent) and on generated data.
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from engine.core import Emit, decide
from engine.replay_core import rederive
from engine.state import EngineState, evolve
from eventlog.events import Event, OrderSubmitted
from eventlog.store import EventStore
from tests.integration.test_replay_verify import hedge


def session(home: Path, *data: str) -> list[Event]:
    rc, _out, err = hedge("run", "--home", str(home), *data, "--bars", "2500", "--no-projections", "--quiet")
    assert rc == 0, err
    with EventStore.open(home, create=False) as store:
        return list(store.read())


@pytest.fixture(scope="module", params=["real", "generated"])
def events(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> list[Event]:
    home = tmp_path_factory.mktemp(request.param) / "home"
    if request.param == "real":
        market: Path = request.getfixturevalue("market_dir")
        return session(home, "--data", str(market))
    return session(home)


def test_every_decision_is_a_draft_of_its_event_that_validates_strictly(events: list[Event]) -> None:
    state = EngineState()
    kinds: set[str] = set()
    for ev in events:
        evolve(state, ev)
        for action in decide(state, ev):
            if type(action) is not Emit:
                continue
            draft = action.event
            assert (draft.session_id, draft.session_seq, draft.ts_event_ns, draft.ts_init_ns) == ("", 0, 0, 0)
            assert action.ts_event_ns == ev.ts_event_ns  # recorded at the trigger's time
            # every field holds a value of its declared type (a dict row or a wrong literal would fail)
            assert msgspec.convert(msgspec.to_builtins(draft), type(draft), strict=True) == draft
            kinds.add(type(draft).__name__)
    assert {"IntentEmitted", "RiskDecided", "RoutePlanned", "OrderSubmitted"} <= kinds


def test_replay_compares_the_fields_a_decision_leaves_at_their_default(events: list[Event]) -> None:
    assert rederive(events).ok
    # a router order never sets stop_price: before typed decisions replay skipped it
    i = next(i for i, e in enumerate(events) if type(e) is OrderSubmitted and e.stop_price is None)
    tampered = [*events[:i], msgspec.structs.replace(events[i], stop_price=1.0), *events[i + 1:]]
    report = rederive(tampered)
    assert [(m.type, m.field, m.recorded, m.derived) for m in report.mismatches] == [
        ("OrderSubmitted", "stop_price", 1.0, None)]
