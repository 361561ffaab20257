"""The Binance loop meter: what counts as the engine's loop being busy (a stall)."""

from __future__ import annotations

import time

from engine.venues.binance.loopmeter import LoopMeter


def test_processing_an_answer_is_busy_waiting_on_the_queue_and_idling_are_not() -> None:
    m = LoopMeter(bound_ms=100)
    assert m.enter(1) == []  # the first call closes no span
    m.waited(5.0)  # time spent waiting on the venue's queue
    m.leave(answered=True)
    time.sleep(0.15)  # the engine folds, decides, records and acts on the answer
    over = m.enter(2)
    assert m.iterations == 1 and m.max_s >= 0.15 and m.over == 1
    assert [u.fields["kind"] for u in over] == ["stall"] and over[0].fields["source"] == "loop"
    m.leave(answered=False)
    time.sleep(0.3)  # nothing came: the loop idles, which is not a stall
    assert m.enter(3) == []
    assert m.iterations == 2 and m.over == 1 and m.max_s < 0.3
    assert m.stats()["over_bound"] == 1 and m.stats()["bound_ms"] == 100
