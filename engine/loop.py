"""The live loop: venue updates -> record -> fold -> decide -> record -> act.

``Engine.process`` records one event through the log writer, folds it with
``evolve`` and executes what ``decide`` returns, depth-first: decision events
are recorded and decided on in turn, ``Submit``/``Cancel`` go to the venue and
its immediate answers are processed the same way. The same code runs for the
simulated venue and for Binance; only the venue and the clock differ.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Iterable
from types import UnionType
from typing import Annotated, Any, Optional, Union, get_args, get_origin

import msgspec

from engine.config_diff import diff_config
from engine.core import Cancel, Emit, Submit, decide
from engine.ports import Venue, VenueUpdate
from engine.rules.versions import RULES_VERSION
from engine.state import EngineState, evolve
from eventlog.events import (
    AccountOpened,
    ConfigChanged,
    Event,
    KlineClosed,
    OrderFilled,
    SessionEnded,
    SessionStarted,
    VenueError,
)
from eventlog.writer import LogWriter


def enrich_fill(state: EngineState, fields: dict[str, Any]) -> dict[str, Any]:
    """Add decision price and slippage (bps, positive = worse) to a venue fill.

    The venue does not know the decision price; the router's order does. Pure:
    reads only the folded state.
    """
    o = state.router.orders.get(fields.get("order_id", ""))
    if o is None or not o.decision_price:
        return fields
    dp = o.decision_price
    sign = 1.0 if fields.get("side", o.side) == "BUY" else -1.0
    fields["decision_price"] = dp
    fields["slippage_bps"] = round(sign * (fields["price"] - dp) / dp * 10_000.0, 6)
    return fields


_HEADER = {"session_id": "00000000-0000-0000-0000-000000000000", "session_seq": 0, "stream": "", "ts_event_ns": 0,
           "ts_init_ns": 0}
_LOC = re.compile(r"`\$\.?([^`]*)`")


_PAYLOADS: dict[type, tuple[type[msgspec.Struct], bool]] = {}
_FINITE = Annotated[float, msgspec.Meta(ge=-sys.float_info.max, le=sys.float_info.max)]  # NaN and inf fail both


def _finite(t: Any) -> Any:
    """A float field's type with the finite check in it (``float``, ``float | None``), else None."""
    if t is float:
        return _FINITE
    if get_origin(t) in (Union, UnionType) and set(get_args(t)) == {float, type(None)}:
        return Optional[_FINITE]  # noqa: UP045 (Annotated inside a union: the typing spelling)
    return None


def _admits_float(t: Any) -> bool:
    info = msgspec.inspect.type_info(t)
    kinds = info.types if isinstance(info, msgspec.inspect.UnionType) else (info,)
    return any(isinstance(k, msgspec.inspect.FloatType | msgspec.inspect.AnyType) for k in kinds)


def _payload_type(cls: type[Event]) -> tuple[type[msgspec.Struct], bool]:
    """``cls`` without the header the writer stamps: the fields a venue update may carry, its
    float fields refusing NaN and infinity themselves; and whether a field of another type
    may still hold a float (then the values are scanned for one that is not finite)."""
    got = _PAYLOADS.get(cls)
    if got is None:
        fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
        scan = False
        for f in msgspec.structs.fields(cls):
            if f.name in _HEADER:
                continue
            typ = _finite(f.type)
            if typ is None:
                typ = f.type
                scan = scan or _admits_float(f.type)
            if f.required:
                fields.append((f.name, typ))
            elif f.default_factory is not msgspec.NODEFAULT:
                fields.append((f.name, typ, msgspec.field(default_factory=f.default_factory)))
            else:
                fields.append((f.name, typ, f.default))
        got = _PAYLOADS[cls] = (msgspec.defstruct(f"{cls.__name__}Payload", fields, kw_only=True,
                                                  forbid_unknown_fields=True), scan)
    return got


def _valid_fast(u: VenueUpdate) -> bool:
    """True if the fields surely make a valid event (one ``convert`` of the payload alone,
    unknown fields refused, every float finite); False means: ask ``check_update``'s full
    path, which names the field. Accepts exactly what the full path accepts."""
    fields = u.fields
    payload, scan = _payload_type(u.cls)
    if scan:
        for v in fields.values():
            if isinstance(v, float) and v - v != 0.0:
                return False
    try:
        msgspec.convert(fields, payload, strict=True)
    except msgspec.ValidationError:
        return False
    return True


def check_update(u: VenueUpdate) -> str | None:
    """None if the update's fields make a valid event, else ``"field: reason"``.

    Venue payloads are converted at the edge; this is the last line of defence so
    that nothing undecodable ever reaches the log.
    """
    return None if _valid_fast(u) else explain_update(u)


def explain_update(u: VenueUpdate) -> str | None:
    """``check_update``'s full path: the first bad field and why (None: valid after all)."""
    unknown = sorted(set(u.fields) - set(u.cls.__struct_fields__))
    if unknown:
        return f"{unknown[0]}: unknown field"
    for k, v in u.fields.items():
        if isinstance(v, float) and not math.isfinite(v):
            return f"{k}: not a finite number ({v})"
    try:
        msgspec.convert({**u.fields, **_HEADER, "type": u.cls.__name__}, u.cls, strict=True)
    except msgspec.ValidationError as exc:
        msg = str(exc)
        m = _LOC.search(msg)
        field = m.group(1) if m else ""
        missing = re.search(r"missing required field `(.+?)`", msg)
        return f"{missing.group(1) if missing else field}: {msg}"
    return None


class Engine:
    """Wires a venue, the log writer and the decision core.

    ``validate`` checks every venue update against its event schema before it is
    recorded (on by default for every venue but the simulator, whose updates are
    built from typed values); a bad one becomes a ``VenueError`` and the loop goes on.
    """

    def __init__(self, venue: Venue, writer: LogWriter, state: EngineState | None = None,
                 on_event: Callable[[Event], None] | None = None, validate: bool | None = None):
        self.venue = venue
        self.writer = writer
        self.state = state or EngineState()
        self.on_event = on_event
        self.validate = getattr(venue, "name", "") != "sim" if validate is None else validate
        self.durable_acts = getattr(venue, "name", "") != "sim"
        # a live loop (any venue but a max-speed simulation) commits a venue batch that led to a
        # decision at once instead of when the log writer sees the producer pause
        self.commit_decisions = getattr(venue, "name", "") != "sim" or getattr(venue, "speed", None) is not None
        self._decided = False
        self.bar_steps = 0
        self._last_close_ms = -1

    def record(self, cls: type[Event], stream: str, ts_event_ns: int, fields: dict[str, Any]) -> Event:
        """Record one event, fold it, and carry out every decision it triggers."""
        if cls is OrderFilled:
            fields = enrich_fill(self.state, dict(fields))
        return self._fold_and_decide(self.writer.emit_fields(cls, stream, ts_event_ns, fields))

    def _fold_and_decide(self, ev: Event) -> Event:
        evolve(self.state, ev)
        if type(ev) is KlineClosed and ev.close_time_ms > self._last_close_ms:  # type: ignore[attr-defined]
            self._last_close_ms = ev.close_time_ms  # type: ignore[attr-defined]
            self.bar_steps += 1
        if self.on_event is not None:
            self.on_event(ev)
        for action in decide(self.state, ev):
            if type(action) is Emit:  # a typed decision: the draft event, stamped by the writer
                self._decided = True
                self._fold_and_decide(self.writer.emit_draft(action.event, action.ts_event_ns))
            elif type(action) is Submit:
                self._durable_before_acting()
                self.apply(self.venue.submit(action.req))
            elif type(action) is Cancel:
                self._durable_before_acting()
                self.apply(self.venue.cancel(action.symbol, action.order_id))
        return ev

    def _durable_before_acting(self) -> None:
        """Decide, record, act: on a real venue the OrderSubmitted (and everything before it)
        is durable before the order leaves, so a crash never leaves an order the log
        does not know. The simulator needs no flush (it cannot outlive the process)."""
        if self.durable_acts:
            self.writer.flush()

    def apply(self, updates: Iterable[VenueUpdate]) -> None:
        """Record venue updates (validated at the edge when ``validate`` is on)."""
        for u in updates:
            if self.validate:
                bad = check_update(u)
                if bad is not None:
                    field, _, msg = bad.partition(": ")
                    self.record(VenueError, "venue", u.ts_event_ns, {
                        "source": f"engine.{u.stream}", "kind": "parse", "field": f"{u.cls.__name__}.{field}",
                        "message": msg[:500], "raw": repr(u.fields)[:2000]})
                    continue
            self.record(u.cls, u.stream, u.ts_event_ns, u.fields)

    def start(self, *, engine_version: str, mode: str, venue: str, symbols: list[str],
              config: dict[str, Any], config_hash: str, normalisations: list[str],
              data_source: str, params: dict[str, Any], ts_event_ns: int, account: str = "",
              account_opened: dict[str, Any] | None = None, resumed_at: tuple[int, str] = (0, "")) -> Event:
        """Record SessionStarted (config frozen into the log) and the venue's opening state.

        ``account_opened`` (the account's first session only) records ``AccountOpened``
        right after it; ``resumed_at`` is the seq and hash of the account's last event
        folded into the state before this session (docs/accounts.md).
        """
        ev = self.record(SessionStarted, "session", ts_event_ns, {
            "engine_version": engine_version, "mode": mode, "venue": venue, "symbols": symbols,
            "config": config, "config_hash": config_hash, "normalisations": normalisations,
            "data_source": data_source, "params": params, "rules_version": RULES_VERSION,
            "account": account, "resumed_at_seq": resumed_at[0], "resumed_at_hash": resumed_at[1],
        })
        if account_opened is not None:
            self.record(AccountOpened, "session", ts_event_ns, {"account": account, **account_opened})
        self.apply(self.venue.connect(symbols))
        self.writer.end_step()
        return ev

    def run(self, *, max_bars: int | None = None, until_ns: int | None = None, once: bool = False,
            idle: Callable[[], None] | None = None, should_stop: Callable[[], bool] | None = None,
            progress: Callable[[int], None] | None = None,
            between: Callable[[], None] | None = None) -> str:
        """Drive the venue until the data ends, ``max_bars`` bar steps, ``until_ns`` or one step.

        Returns the end reason: ``data_end``, ``bars``, ``until``, ``once`` or ``stopped``.
        ``progress(bar_steps)`` is called every 1,000 bar steps; ``between()`` before each
        venue poll (the place for operator actions such as a config reload).
        """
        clock = self.venue.clock()
        # a venue that lives a step in time (the simulator) hands it over one update at a
        # time, so what the engine sends meanwhile reaches its book inside the step
        poll = getattr(self.venue, "next_step", None) or self.venue.next_updates
        next_report = 1000
        while True:
            if between is not None:
                between()
            if progress is not None and self.bar_steps >= next_report:
                progress(self.bar_steps)
                next_report = self.bar_steps + 1000
            if should_stop is not None and should_stop():
                return "stopped"
            if until_ns is not None and clock.now_ns() >= until_ns:
                return "until"  # a resumed account may already stand at --until: no step past it
            batch = poll()
            if batch is None:
                return "data_end"
            if not batch:
                if idle is not None:
                    idle()
                continue
            self.apply(batch)
            self.writer.end_step()  # a step-atomic writer commits whole bar steps only
            if self._decided:
                self._decided = False
                if self.commit_decisions:
                    self.writer.commit_now()
            if once:
                return "once"
            if max_bars is not None and self.bar_steps >= max_bars:
                return "bars"
            if until_ns is not None and clock.now_ns() >= until_ns:
                return "until"

    def change_config(self, config: dict[str, Any], config_hash: str) -> Event | None:
        """Record ConfigChanged (old -> new value of every changed key); decisions after it use it.

        Returns None when nothing changed.
        """
        from config.loader import config_to_dict

        old = config_to_dict(self.state.config)
        changes = diff_config(old, config)
        if not changes:
            return None
        ts = max(self.state.now_ns, self.venue.clock().now_ns())
        return self.record(ConfigChanged, "session", ts, {
            "config": config, "config_hash": config_hash, "previous_hash": self.state.config_hash,
            "changes": changes})

    def end(self, reason: str, extra: dict[str, Any] | None = None) -> Event:
        """Record SessionEnded with the folded summary; flush the log."""
        summary = self.state.summary_dict()
        summary["events"] = self.state.summary.events + 1
        summary["bar_steps"] = self.bar_steps
        summary["end_reason"] = reason
        if extra:
            summary.update(extra)
        ts = max(self.state.now_ns, self.venue.clock().now_ns())
        ev = self.writer.emit(SessionEnded, stream="session", ts_event_ns=ts, reason=reason, summary=summary)
        evolve(self.state, ev)
        self.writer.flush()
        return ev
