"""Router autotune and the feedback allocator in the engine: their fold and their decision.

``AutotuneFold`` folds the router's events into ``PolicyEvidence`` (router
windows of the fills routed with the policy in force, as the projections fold
them for ``router_policy_suggestions_v6.json``) and marks the first ``KlineClosed`` of
every ``runtime.autotune_every_h`` period of event time as *due*. On a due kline,
``on_kline`` proposes (``engine.rules.autotune``) and, only when the flags allow,
applies:

* ``router_autotune_v6_enabled`` and ``router_autotune_v6_apply_enabled`` ->
  ``ConfigChanged(source="autotune")`` setting ``runtime.router.symbols[SYM]``;
* ``feedback_allocator_v6_enabled`` -> ``ConfigChanged(source="feedback_allocator")``
  setting ``strategy.symbol_weights``.

Both are decisions (pure functions of the folded log), so ``hedge replay --verify``
re-derives and compares them and a what-if replay or the shadow pipeline applies
its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.drafts import Decisions, head
from engine.rules.autotune import (
    POLICY_KEYS,
    PolicyEvidence,
    propose_weight,
    router_changes,
    router_proposals,
)
from engine.rules.units import HOUR_NS
from eventlog.events import (
    ConfigChanged,
    Event,
    KlineClosed,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    RouterFallback,
    SessionStarted,
)

if TYPE_CHECKING:
    from engine.state import EngineState

Out = Decisions
AUTOTUNE_TYPES = frozenset({OrderSubmitted, OrderRejected, RouterFallback, OrderFilled, KlineClosed, SessionStarted,
                            ConfigChanged})


class AutotuneFold:
    __slots__ = ("bucket", "due", "evidence")

    def __init__(self) -> None:
        self.evidence = PolicyEvidence()
        self.bucket = -1
        self.due = False

    def __getstate__(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}

    def __setstate__(self, s: dict[str, Any]) -> None:
        for k, v in s.items():
            setattr(self, k, v)

    def apply(self, st: EngineState, ev: Event) -> None:
        t = type(ev)
        if t is KlineClosed:
            every = max(1, int(st.config.runtime.autotune_every_h * HOUR_NS))
            b = ev.ts_event_ns // every
            self.due = b != self.bucket
            self.bucket = b
        elif t is SessionStarted or t is ConfigChanged:
            self.evidence.on_config(st.config)
        else:
            self.evidence.apply(ev)


def _changed(state: EngineState, old: dict[str, Any], new: dict[str, Any], prev_hash: str,
             source: str) -> tuple[ConfigChanged, str] | None:
    from config.loader import from_dict
    from engine.config_diff import diff_config

    changes = diff_config(old, new)
    if not changes:
        return None
    loaded = from_dict(new)
    return ConfigChanged(**head("session"), config=new, config_hash=loaded.config_hash, previous_hash=prev_hash,
                         changes=changes, source=source), loaded.config_hash


def on_kline(state: EngineState, ev: KlineClosed) -> Out:
    """The applied suggestions of a due kline (none unless the flags allow)."""
    a = state.autotune
    if not a.due:
        return []
    cfg = state.config
    flags = cfg.runtime.v6_flags
    apply_router = flags.router_autotune_v6_enabled and flags.router_autotune_v6_apply_enabled
    if not (apply_router or flags.feedback_allocator_v6_enabled):
        return []
    from config.loader import config_to_dict

    symbols = sorted(state.symbols)
    cur = config_to_dict(cfg)
    prev_hash = state.config_hash
    out: Out = []
    if apply_router:
        props = router_proposals(a.evidence, cfg, symbols)
        diff = router_changes(cfg, {s: p[1] for s, p in props.items()})
        if diff:
            new = config_to_dict(cfg)
            per = new["runtime"]["router"]["symbols"]
            for sym, kv in diff.items():
                row = {k: None for k in POLICY_KEYS} | dict(per.get(sym) or {})
                row.update(kv)
                per[sym] = row
            got = _changed(state, cur, new, prev_hash, "autotune")
            if got is not None:
                out.append(got[0])
                cur, prev_hash = new, got[1]
    if flags.feedback_allocator_v6_enabled:
        new = {**cur, "strategy": {**cur["strategy"], "symbol_weights": dict(cur["strategy"]["symbol_weights"])}}
        weights = new["strategy"]["symbol_weights"]
        for sym in symbols:
            w = propose_weight(state.intel, sym, cfg)[0]
            if w == 1.0:
                weights.pop(sym, None)
            else:
                weights[sym] = w
        new["strategy"]["symbol_weights"] = dict(sorted(weights.items()))
        got = _changed(state, cur, new, prev_hash, "feedback_allocator")
        if got is not None:
            out.append(got[0])
    return out
