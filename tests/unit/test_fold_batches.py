"""``Projector.accepted`` (the runner's account filter for a whole batch) keeps exactly
the events ``Projector.accepts`` keeps one by one, and learns the same foreign sessions."""

from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from eventlog import events as E
from projections.fold import Projector
from tests.eventgen import event_strategy

_ACCOUNT = st.sampled_from(["", "main", "other"])


@st.composite
def _batches(draw: st.DrawFn) -> list[list[E.Event]]:
    """Batches of events of 1-3 sessions; session starts and account-scoped events name
    this account, another one, or none."""
    sids = [draw(st.uuids()).hex for _ in range(draw(st.integers(1, 3)))]
    out: list[E.Event] = []
    for _ in range(draw(st.integers(0, 25))):
        ev = draw(event_strategy(draw(st.sampled_from(sids))))
        if "account" in type(ev).__struct_fields__:
            ev = msgspec.structs.replace(ev, account=draw(_ACCOUNT))  # type: ignore[call-arg]
        out.append(ev)
    cuts = sorted(draw(st.lists(st.integers(0, len(out)), max_size=4)))
    return [out[a:b] for a, b in zip([0, *cuts], [*cuts, len(out)], strict=True)]


@given(_batches(), st.sampled_from(["main", "other"]))
@settings(max_examples=150, deadline=None)
def test_accepted_keeps_what_accepts_keeps(batches: list[list[E.Event]], account: str) -> None:
    one, whole = Projector(account), Projector(account)
    for batch in batches:
        assert whole.accepted(batch) == [ev for ev in batch if one.accepts(ev)]
        assert whole.foreign == one.foreign
