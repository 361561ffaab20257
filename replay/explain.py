"""``explain``: one risk decision as a person reads it, from the log alone.

For a ``RiskDecided`` (veto, clamp or allow) it gathers:

* the outcome, gate, source, reasons, requested and approved size;
* every threshold next to the observations it was compared with, which ones
  broke (``breached``) and where the threshold came from in the config that
  was in force (``SessionStarted`` / the last ``ConfigChanged`` before it),
  with the recorded config value beside the threshold the decision carries;
* the events the decision saw (``state_refs``: the intent, the NAV snapshot,
  positions, the tick and the kline), resolved to their global ``seq`` with
  their values;
* what followed: the route plan, its orders and their fills.

The pairing of thresholds with observations (``RELATED``) is presentation
only; the decision itself is never recomputed here (``hedge replay --verify``
does that).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import msgspec

from engine.rules.units import NS
from eventlog.events import (
    ConfigChanged,
    Event,
    OrderSubmitted,
    RiskDecided,
    RoutePlanned,
    SessionStarted,
)
from eventlog.store import EventStore
from replay.source import Found, load_session, resolve_refs

FOLLOW_WINDOW = 3000  # events after the decision searched for its plan, orders and fills
FOLLOW_TYPES = ("RoutePlanned", "OrderSubmitted", "OrderAccepted", "OrderRejected", "OrderCanceled",
                "OrderExpired", "OrderFilled", "RouterFallback")

# threshold -> observations it is compared with (presentation only)
RELATED: dict[str, tuple[str, ...]] = {
    "trading_window": ("minute_of_day_utc",),
    "nav_freshness_seconds": ("nav_age_s",),
    "nav_stale_after_seconds": ("nav_age_s", "nav_sources_ok"),
    "nav_sources_ok_required": ("nav_sources_ok",),
    "dd_cautious_pct": ("dd_frac", "dd_policy_frac", "dd_state"),
    "dd_defensive_pct": ("dd_frac", "dd_policy_frac", "dd_state"),
    "cautious_size_mult": ("dd_state",),
    "dd_cautious_exit_pct": ("dd_policy_frac", "dd_state"),
    "dd_defensive_exit_pct": ("dd_policy_frac", "dd_state"),
    "dd_auto_recover_days": ("dd_state", "dd_state_since_ts", "dd_override"),
    "dd_auto_recover_to": ("dd_override",),
    "max_drawdown_pct": ("dd_frac", "peak_nav_usd", "nav_usd"),
    "daily_loss_limit_pct": ("daily_loss_frac",),
    "max_margin_ratio": ("margin_ratio",),
    "min_liquidation_distance_frac": ("liquidation_distance_frac", "price"),
    "atr_high_ratio": ("atr_ratio", "atr_regime"),
    "atr_low_ratio": ("atr_ratio", "atr_regime"),
    "high_vol_size_mult": ("atr_regime",),
    "max_trade_nav_pct": ("requested_notional_usd", "nav_usd"),
    "max_open_positions": ("open_positions_count", "exposure_qty"),
    "per_symbol_nav_pct": ("symbol_gross", "requested_notional_usd", "nav_usd"),
    "tier_gross_nav_pct": ("tier_gross", "requested_notional_usd", "nav_usd"),
    "max_gross_nav_mult": ("portfolio_gross", "requested_notional_usd", "nav_usd"),
    "min_clamp_ratio": ("requested_notional_usd",),
    "step_size": ("requested_qty",),
    "min_qty": ("requested_qty",),
    "min_notional": ("requested_notional_usd",),
    "expectancy_min": ("expectancy_frac", "expectancy_trades", "expectancy_usd"),
    "expectancy_min_trades": ("expectancy_trades",),
    "expectancy_window": ("expectancy_trades",),
    # risk after the trade (rules v6, engine/post_trade.py)
    "cap_drift_tolerance_frac": ("symbol_gross", "tier_gross", "portfolio_gross", "binding_cap", "trim_frac"),
    "daily_loss_action": ("daily_loss_frac", "day_start_nav_usd", "nav_usd"),
    "max_drawdown_action": ("dd_frac", "peak_nav_usd", "nav_usd"),
    "breach_reduce_frac": ("position_qty", "requested_notional_usd"),
}
# thresholds that are a fraction (or multiple) of NAV: shown with their USD level too
NAV_LEVELS = ("max_trade_nav_pct", "per_symbol_nav_pct", "tier_gross_nav_pct", "max_gross_nav_mult")


def related(name: str, obs: dict[str, Any]) -> dict[str, Any]:
    """The observations a threshold is compared with (those present in ``obs``)."""
    keys: tuple[str, ...] = RELATED.get(name, ())
    parts = name.split(".")
    if not keys and len(parts) == 3 and parts[0] == "correlation":
        keys = (f"group_gross.{parts[1]}", "requested_notional_usd", "nav_usd")
    elif not keys and len(parts) == 3 and parts[0] == "tiers":
        keys = ("tier", "nav_age_s", "nav_sources_ok", "dd_frac")
    return {k: obs[k] for k in keys if k in obs}


# thresholds that are rules of the engine, not config values
BUILT_IN = ("nav_sources_ok_required",)


def config_path(name: str, dec: RiskDecided) -> str | None:
    """Where a threshold lives in the config (dotted path of the recorded config dict)."""
    if name in BUILT_IN:
        return None
    tier = dec.observations.get("tier")
    parts = name.split(".")
    if name in ("per_symbol_nav_pct", "tier_gross_nav_pct") and tier:
        return f"risk_limits.tiers.{tier}.{name}"
    if name in ("atr_high_ratio", "atr_low_ratio"):
        return f"strategy.atr_regime.{name.removeprefix('atr_')}"
    if name in ("step_size", "min_qty", "min_notional"):
        return f"universe.symbols.{dec.symbol}.{name}"
    if name == "trading_window":
        return "runtime.trading_window"
    if name in ("expectancy_min", "expectancy_min_trades", "expectancy_window"):
        return f"runtime.signal_gate.{name}"
    if len(parts) == 3 and parts[0] == "correlation":
        return f"correlation_groups.groups.{parts[1]}.{parts[2]}"
    if len(parts) == 3 and parts[0] == "tiers":
        return f"risk_limits.{name}"
    return f"risk_limits.global.{name}"


DERIVED = ("dd_cautious_exit_pct", "dd_defensive_exit_pct")


def derived_exit(cfg: dict[str, Any], name: str) -> Any:
    """The value an unset drawdown exit threshold takes (``GlobalLimits.dd_exits``)."""
    from config.loader import from_dict

    try:
        c_out, d_out = from_dict(cfg).config.risk_limits.global_.dd_exits()
    except ValueError:
        return None
    return c_out if name == "dd_cautious_exit_pct" else d_out


def lookup(cfg: dict[str, Any], path: str) -> Any:
    """Value at a dotted path of a config dict (``<absent>`` when it is not there)."""
    node: Any = cfg
    for p in path.split("."):
        if not isinstance(node, dict) or p not in node:
            return "<absent>"
        node = node[p]
    if isinstance(node, dict) and path == "runtime.trading_window":
        return f"{node.get('start_utc')}-{node.get('end_utc')}" if node.get("enabled") else "off"
    return node


ID_KINDS = ("a decision id (TAG-D123), an intent (TAG-I12-0), plan (TAG-P13) or order (TAG-O14-0) id, "
            "a unique prefix of one, 'last' or 'last-veto'")
_OTHER_ID = re.compile(r"^([0-9a-fA-F]{8})-([IPO])\d")


def _decision_of(store: EventStore, sessions: list[Any], ref: str) -> str:
    """The decision id an intent, plan or order id leads to (what a user pastes from a fill or a log line)."""
    m = _OTHER_ID.match(ref)
    assert m is not None
    tag, kind = m.group(1).lower(), m.group(2)
    cands = [s for s in sessions if s.session_id.replace("-", "")[:8] == tag]
    wanted = {"I": ("RiskDecided",), "P": ("RoutePlanned",), "O": ("OrderSubmitted", "RoutePlanned")}[kind]
    names = {"I": "intent", "P": "plan", "O": "order"}
    for info in cands:
        plans: dict[str, str] = {}
        for ev in store.read(info.first_seq, session=info.session_id, types=wanted):
            if kind == "I" and isinstance(ev, RiskDecided) and ev.intent_id == ref:
                return ev.decision_id
            if isinstance(ev, RoutePlanned):
                if kind == "P" and ev.plan_id == ref:
                    return ev.decision_id
                plans[ev.plan_id] = ev.decision_id
            if kind == "O" and isinstance(ev, OrderSubmitted) and ev.order_id == ref and ev.plan_id in plans:
                return plans[ev.plan_id]
    raise LookupError(f"no {names[kind]} {ref!r} in {store.location} (explain takes {ID_KINDS})")


def find_decision(store: EventStore, ref: str) -> Found:
    """A decision by id, unique id prefix, ``last`` or ``last-veto``, or by the intent, plan or
    order id it led to; LookupError otherwise."""
    ref = ref.strip()
    if not ref:
        raise LookupError(f"no decision id given (explain takes {ID_KINDS})")
    sessions = store.sessions()
    if _OTHER_ID.match(ref):
        ref = _decision_of(store, sessions, ref)
    if ref in ("last", "last-veto"):
        for info in reversed(sessions):
            hit: RiskDecided | None = None
            for ev in store.read(info.first_seq, session=info.session_id, types=("RiskDecided",)):
                if isinstance(ev, RiskDecided) and (ref == "last" or ev.outcome == "veto"):
                    hit = ev
            if hit is not None:
                return Found(hit, load_session(store, info.session_id))
        raise LookupError(f"no {'veto' if ref == 'last-veto' else 'risk decision'} in {store.location}")
    head = ref[:8].lower()
    cands = [s for s in sessions if s.session_id.replace("-", "")[:8].startswith(head)] or sessions
    hits: list[RiskDecided] = []
    for info in cands:
        for ev in store.read(info.first_seq, session=info.session_id, types=("RiskDecided",)):
            if isinstance(ev, RiskDecided) and ev.decision_id.startswith(ref):
                if ev.decision_id == ref:
                    return Found(ev, load_session(store, info.session_id))
                hits.append(ev)
    if not hits:
        raise LookupError(f"no risk decision matches {ref!r} in {store.location} (explain takes {ID_KINDS})")
    if len(hits) > 1:
        some = ", ".join(h.decision_id for h in hits[:3])
        raise LookupError(f"{len(hits)} decisions match {ref!r} ({some}, ...): give more of the id")
    return Found(hits[0], load_session(store, hits[0].session_id))


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / NS, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _values(ev: Event) -> dict[str, Any]:
    skip = {"seq", "session_id", "session_seq", "stream", "ts_init_ns", "v", "type"}
    d: dict[str, Any] = msgspec.to_builtins(ev)  # nested payload rows become plain objects
    return {k: v for k, v in d.items() if k not in skip and k != "ts_event_ns"}


def dd_policy(obs: dict[str, Any]) -> dict[str, Any] | None:
    """The drawdown policy as the decision saw it (rules v3 observations), with any reset in force."""
    if "dd_policy_frac" not in obs:
        return None
    since = obs.get("dd_state_since_ts")
    out: dict[str, Any] = {
        "state": obs.get("dd_state"), "since": _iso(int(since * NS)) if isinstance(since, int | float) else None,
        "dd_policy_frac": obs.get("dd_policy_frac"), "ref_nav_usd": obs.get("dd_ref_nav_usd"),
        "dd_frac": obs.get("dd_frac"), "peak_nav_usd": obs.get("peak_nav_usd"), "override": None,
    }
    kind = obs.get("dd_override")
    if kind:
        ts = obs.get("dd_override_ts")
        out["override"] = {"kind": kind, "seq": obs.get("dd_override_seq"), "by": obs.get("dd_override_by"),
                           "reason": obs.get("dd_override_reason"),
                           "time": _iso(int(ts * NS)) if isinstance(ts, int | float) else None}
    return out


def _config_in_force(store: EventStore, found: Found) -> tuple[dict[str, Any], str, int, str]:
    """(config dict, hash, seq, event type) in force when the decision was taken."""
    cfg_ev: SessionStarted | ConfigChanged = found.session.started
    for ev in store.read(found.session.info.first_seq, stop=found.decision.seq,
                         session=found.session.session_id, types=("ConfigChanged",)):
        if isinstance(ev, ConfigChanged):
            cfg_ev = ev
    return cfg_ev.config, cfg_ev.config_hash, cfg_ev.seq, type(cfg_ev).__name__


def _followed_by(store: EventStore, found: Found) -> list[dict[str, Any]]:
    dec = found.decision
    plans: set[str] = set()
    orders: set[str] = set()
    out: list[dict[str, Any]] = []
    for ev in store.read(dec.seq + 1, stop=dec.seq + FOLLOW_WINDOW, session=dec.session_id, types=FOLLOW_TYPES):
        if isinstance(ev, RoutePlanned):
            if ev.decision_id != dec.decision_id:
                continue
            plans.add(ev.plan_id)
        elif isinstance(ev, OrderSubmitted):
            if ev.plan_id not in plans:
                continue
            orders.add(ev.order_id)
        elif getattr(ev, "plan_id", None) not in plans and getattr(ev, "order_id", None) not in orders:
            continue
        out.append({"seq": ev.seq, "session_seq": ev.session_seq, "type": type(ev).__name__,
                    "time": _iso(ev.ts_event_ns), "values": _values(ev)})
    return out


def explain(store: EventStore, ref: str, *, check: bool = False, sets: list[str] | None = None,
            progress: Any = None) -> dict[str, Any]:
    """Everything about one decision, as a JSON-ready dict (``render.explain_text`` prints it).

    ``check`` re-derives the decision from the log; ``sets`` re-derives it under changed limits
    (``replay.counterfactual``); ``progress(total)`` is a context manager yielding ``tick(done)``.
    """
    found = find_decision(store, ref)
    dec = found.decision
    cfg, cfg_hash, cfg_seq, cfg_type = _config_in_force(store, found)
    obs: dict[str, Any] = dict(dec.observations)
    obs.setdefault("requested_qty", dec.requested_qty)
    nav = obs.get("nav_usd")
    checks = []
    for name, limit in dec.thresholds.items():
        path = config_path(name, dec)
        value = lookup(cfg, path) if path else limit
        if value is None and name in DERIVED:  # an unset exit threshold: derived from its entry threshold
            value = derived_exit(cfg, name)
        c: dict[str, Any] = {"threshold": name, "limit": limit, "breached": name in dec.breached,
                             "observations": related(name, obs), "config_path": path, "config_value": value}
        if name in NAV_LEVELS and isinstance(limit, int | float) and isinstance(nav, int | float):
            c["limit_usd"] = round(float(limit) * nav, 2)
        checks.append(c)
    used = {k for c in checks for k in c["observations"]}
    refs = resolve_refs(store, dec.session_id, dict(dec.state_refs), dec.seq, found.session.info.first_seq)
    sources = []
    for name, sseq in sorted(dec.state_refs.items(), key=lambda kv: (kv[0] != "intent", kv[0])):
        ev = refs.get(name)
        row: dict[str, Any] = {"name": name, "session_seq": sseq}
        if ev is None:
            row.update(seq=None, type=None, note="not found in the log")
        else:
            row.update(seq=ev.seq, type=type(ev).__name__, time=_iso(ev.ts_event_ns),
                       age_s=round((dec.ts_event_ns - ev.ts_event_ns) / NS, 3), values=_values(ev))
        sources.append(row)
    intent = refs.get("intent")
    again = None
    if check or sets:
        from contextlib import nullcontext

        from replay.counterfactual import rederive_decision

        with (progress(dec.seq - found.session.info.first_seq) if progress else nullcontext(None)) as tick:
            again = rederive_decision(store, found, list(sets or []), cfg, progress=tick)
    return {
        "decision_id": dec.decision_id, "session_id": dec.session_id, "seq": dec.seq,
        "session_seq": dec.session_seq, "time": _iso(dec.ts_event_ns), "ts_event_ns": dec.ts_event_ns,
        "symbol": dec.symbol, "outcome": dec.outcome, "gate": dec.gate, "source": dec.source,
        "reasons": list(dec.reasons), "breached": list(dec.breached),
        "requested_qty": dec.requested_qty, "approved_qty": dec.approved_qty,
        "approved_notional_usd": dec.approved_notional_usd, "intent_id": dec.intent_id,
        "config_hash": dec.config_hash,
        "config_in_force": {"hash": cfg_hash, "seq": cfg_seq, "event": cfg_type,
                            "matches": cfg_hash == dec.config_hash},
        "checks": checks,
        "dd_policy": dd_policy(obs),
        "other_observations": {k: v for k, v in obs.items() if k not in used and not k.startswith("dd_override")},
        "sources": sources,
        "intent": ({"seq": intent.seq, **_values(intent)} if intent is not None else None),
        "followed_by": _followed_by(store, found),
        "rederived": again,
    }
