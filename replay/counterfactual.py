"""One decision again: re-derive a recorded risk decision, as recorded or under changed limits.

``rederive_decision(store, found, sets)`` folds the decision's session up to the
event before it with the engine's ``evolve`` (so the state is exactly what the
live loop had when it decided), optionally swaps in the config in force with
``sets`` applied, and asks the engine's own ``engine.core.risk_fields`` again.
Without ``sets`` this proves the single decision (it must come out identical);
with ``sets`` it answers "would this veto have passed with X?" for this one
intent, everything else held as recorded. Only the log is read.

A post-trade decision (outcome ``trim`` / ``flatten``, rules v6) has no intent: it is
re-derived by ``engine.risk.check_positions`` on the state folded up to the NAV reading
that triggered it (``state_refs["nav"]``), as the engine decided it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from config.loader import apply_overrides, from_dict
from engine.core import risk_fields
from engine.post_trade import POST_TRADE_OUTCOMES
from engine.replay_core import payload
from engine.risk import check_positions
from engine.state import EngineState, evolve
from eventlog.events import IntentEmitted
from eventlog.store import EventStore
from replay.source import Found
from replay.verify import expand

KEYS = ("outcome", "gate", "approved_qty", "approved_notional_usd", "breached", "reasons")


def rederive_decision(store: EventStore, found: Found, sets: list[str], config: dict[str, Any], *,
                      progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """The decision re-derived from its recorded inputs (under ``config`` + ``sets``), compared."""
    dec = found.decision
    state = EngineState()
    done = 0
    post = dec.outcome in POST_TRADE_OUTCOMES
    upto = dec.state_refs.get("nav", 0) if post else dec.session_seq - 1  # post-trade: up to its NAV reading
    for evs in store.read_batches(found.session.info.first_seq, stop=dec.seq - 1, session=dec.session_id):
        for ev in evs:
            if ev.session_seq <= upto:
                evolve(state, ev)
        done += len(evs)
        if progress is not None:
            progress(done)
    intent = state.intents.get(dec.intent_id)
    if not post and not isinstance(intent, IntentEmitted):
        raise LookupError(f"decision {dec.decision_id}: its intent {dec.intent_id} is not in the log before it")
    changes: list[dict[str, Any]] = []
    if sets:
        new, changes = apply_overrides(config, list(sets))
        loaded = from_dict(new, source="--set")
        state.cfg = loaded.config
        state.config_hash = loaded.config_hash
    if post:
        again = [f for f in check_positions(state, upto, dec.ts_event_ns) if f["decision_id"] == dec.decision_id]
        fields = again[0] if again else {**payload(dec), "outcome": "none", "approved_qty": 0.0,
                                         "approved_notional_usd": 0.0, "breached": [], "reasons": []}
    else:
        assert isinstance(intent, IntentEmitted)
        fields = risk_fields(state, intent)
    recorded = payload(dec)
    diffs = []
    for k in sorted(fields):
        if k in recorded and fields[k] != recorded[k]:
            diffs.extend(expand(dec.seq, dec.session_seq, "RiskDecided", k, recorded[k], fields[k]))
    return {
        "sets": list(sets), "changes": changes, "identical": not diffs,
        "replayed": {k: fields[k] for k in KEYS}, "recorded": {k: recorded[k] for k in KEYS},
        "thresholds": fields["thresholds"], "config_hash": fields["config_hash"],
        "diffs": [d.__dict__ for d in diffs], "events_folded": done,
    }
