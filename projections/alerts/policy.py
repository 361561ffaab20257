"""The alert policy: a pure fold over one session's events that decides what to say.

No clock, no I/O: every input is an event of the session (its ``SessionStarted``
config, ``ConfigChanged``, ``KlineClosed``, ``NavSnapshot``, ``OrderFilled``,
``RouterFallback``) and every output is an :class:`Alert` whose id is derived from
the event that triggered it. Folding the same events always yields the same
alerts, so a restarted sender re-derives them and skips the ones the log already
records as sent or failed.

Rules (thresholds from the ``alerts`` config section recorded in the log):

* **4h-close summary** - at each ``summary_interval_h`` boundary of kline close
  time, if something material changed since the last message (NAV moved by at
  least ``nav_move_frac``, DD state changed, a core symbol's confirmed ATR regime
  changed, router health dropped by ``router_degradation_drop``), at least
  ``min_gap_h`` after the last non-urgent message.
* **Urgent** - DD state escalation (normal -> cautious -> defensive), and router
  health falling below ``router_health_floor``; no minimum gap, each re-arms only
  after the condition has cleared.
* **Drawdown policy** (rules v3, ``engine.rules.drawdown``): the DD state is the
  engine's recorded one (``DdStateChanged``, hysteresis); an automatic-rule change or an
  operator ``RiskReset`` is an urgent ``dd_override`` alert.
* **Entry drought** - no entry allowed for ``entry_drought_hours`` (``engine.rules.drought``,
  the same fold as ``risk_snapshot.json`` ``entry_drought``): one urgent ``entry_drought``
  alert that says why; it re-arms at the next entry.
* **Daily cap** - at most ``daily_cap`` messages per UTC day of event time; a
  capped urgent alert is counted and mentioned in the next message.

DD uses the risk gate's thresholds (``risk_limits.global.dd_*``) over the shared NAV
fold (``engine.rules.nav.NavTrack``, its one ``sources_ok`` rule); ATR regime uses
``strategy.atr_regime``. **Router health** is the dashboard's ``router_health_score``
(``engine.rules.router_kpis``: the same fills, post-only slices, window and slippage
allowance as ``router_health.json``), given once ``router_min_fills`` fills are in.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from config.loader import from_dict
from config.schema import HedgeConfig
from engine.rules.drawdown import HYSTERESIS_RULES, DdParams, DrawdownBook
from engine.rules.drought import EntryDrought
from engine.rules.indicators import WilderAtr, atr_regime, dd_state
from engine.rules.nav import NavTrack
from engine.rules.router_kpis import ROUTER_WINDOW, RouterKpis
from engine.rules.units import DAY_NS as _DAY_NS
from engine.rules.units import HOUR_NS as _HOUR_NS
from eventlog.events import (
    ConfigChanged,
    DdStateChanged,
    Event,
    KlineClosed,
    NavSnapshot,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    RiskDecided,
    RiskReset,
    RouterFallback,
    SessionStarted,
)
from projections.alerts.text import Snapshot, render
from projections.router import slip_allowances

# Event types the policy reads (the follower asks the store for these only).
POLICY_TYPES: tuple[str, ...] = (
    "SessionStarted", "ConfigChanged", "KlineClosed", "NavSnapshot", "OrderSubmitted", "OrderRejected",
    "OrderFilled", "RouterFallback", "RiskDecided", "DdStateChanged", "RiskReset",
)
_DD_RANK = {"normal": 0, "cautious": 1, "defensive": 2}


class Alert(msgspec.Struct, frozen=True, kw_only=True):
    """One message the policy decided to send."""

    alert_id: str  # "<session_id>:<trigger session_seq>:<kind>"
    kind: str  # summary | dd_escalation | router_floor | entry_drought | dd_override
    urgent: bool
    text: str
    reasons: list[str]
    session_id: str
    trigger_seq: int  # global seq of the triggering event (0 if not stored yet)
    trigger_session_seq: int
    ts_event_ns: int


def alert_id_for(session_id: str, session_seq: int, kind: str) -> str:
    return f"{session_id}:{session_seq}:{kind}"


class _Regime:
    """A core symbol's ATR and its confirmed regime (held ``confirm`` bars)."""

    __slots__ = ("atr", "candidate", "confirmed", "held")

    def __init__(self, period: int, baseline: int):
        self.atr = WilderAtr(period, baseline)
        self.confirmed = "unknown"
        self.candidate = "unknown"
        self.held = 0

    def update(self, k: KlineClosed, low: float, high: float, confirm: int) -> None:
        self.atr.update(k.high, k.low, k.close)
        now = atr_regime(self.atr.ratio, low, high)
        if now == self.candidate:
            self.held += 1
        else:
            self.candidate, self.held = now, 1
        if self.held >= confirm and self.candidate != "unknown":
            self.confirmed = self.candidate


class SessionAlertPolicy:
    """State of the policy for one trading session; :meth:`apply` is the fold step."""

    def __init__(self, started: SessionStarted):
        self.session_id = started.session_id
        self.banner = banner_of(started.mode)
        self.cfg: HedgeConfig = from_dict(started.config).config
        c = self.cfg
        self.core = self._core_symbols(c)
        ar = c.strategy.atr_regime
        self.regimes = {s: _Regime(ar.period, ar.baseline_bars) for s in self.core}
        self.nav: float | None = None
        self.track = NavTrack()
        self.dd = 0.0
        self.dd_state = "normal"
        self.router = RouterKpis(ROUTER_WINDOW)  # the dashboard's router KPIs, same window
        self.allowances = slip_allowances(c)
        # what the last message said (the reference for "material change")
        self.ref_nav: float | None = None
        self.ref_dd_state = "normal"
        self.ref_regime: dict[str, str] = {}
        self.ref_health: float | None = None
        # pacing
        self.last_boundary = -1
        self.pending_close_ms: int | None = None  # a 4h close waiting for the core symbols' bars
        self.pending_seen: set[str] = set()
        self.last_summary_ns: int | None = None
        self.day = -1
        self.day_count = 0
        self.capped = 0
        self.dd_alerted = 0
        self.dd_lower_since: int | None = None
        self.router_armed = True
        # drawdown policy (rules v3) and entry drought
        self.rules_version = started.rules_version
        self.dd_book = DrawdownBook()
        self.drought = EntryDrought()
        self.drought.on_start(started.ts_event_ns)
        self.drought_armed = True

    # -- fold ------------------------------------------------------------------------

    def apply(self, ev: Event) -> list[Alert]:
        """Fold one event of this session; returns the alerts it triggers (often none)."""
        out = self._overdue_summary(ev)
        if isinstance(ev, KlineClosed):
            out += self._on_kline(ev)
        elif isinstance(ev, NavSnapshot):
            out += self._on_nav(ev)
        elif isinstance(ev, OrderFilled):
            self.router.on_fill(ev.is_maker, ev.qty, ev.price, ev.slippage_bps, ev.symbol, ev.ts_event_ns)
            out += self._check_router(ev)
        elif isinstance(ev, OrderSubmitted):
            self.router.on_submitted(ev.order_id, ev.plan_id, ev.symbol, ev.time_in_force, ev.slice_index)
        elif isinstance(ev, OrderRejected):
            self.router.on_rejected(ev.order_id, ev.symbol, ev.code)
        elif isinstance(ev, RouterFallback):
            self.router.on_fallback(ev.order_id, ev.symbol)
        elif isinstance(ev, ConfigChanged):
            self._reconfigure(ev.config)
        elif isinstance(ev, RiskDecided):
            self.drought.on_decision(ev.ts_event_ns, ev.outcome, ev.gate,
                                     ev.observations.get("risk_increasing") is True)
            if ev.outcome != "veto" and ev.observations.get("risk_increasing") is True:
                self.drought_armed = True
        elif isinstance(ev, DdStateChanged):
            out += self._on_dd_changed(ev)
        elif isinstance(ev, RiskReset):
            out += self._on_reset(ev)
        if self.drought_armed and isinstance(ev, KlineClosed | RiskDecided):
            out += self._check_drought(ev)
        return out

    def _reconfigure(self, config: dict[str, Any]) -> None:
        cfg = from_dict(config).config
        self.cfg = cfg
        self.allowances = slip_allowances(cfg)
        self.core = self._core_symbols(cfg)
        ar = cfg.strategy.atr_regime
        for s in self.core:  # a newly core symbol starts its ATR warm-up now
            self.regimes.setdefault(s, _Regime(ar.period, ar.baseline_bars))
        self.regimes = {s: self.regimes[s] for s in self.core}

    @staticmethod
    def _core_symbols(cfg: HedgeConfig) -> list[str]:
        return list(cfg.alerts.core_symbols) or sorted(s for s, sp in cfg.universe.symbols.items() if sp.core)

    # -- observations ----------------------------------------------------------------

    def router_kpis(self) -> dict[str, Any]:
        """``router_health.json``'s book-wide KPIs, folded from this session's events."""
        return self.router.render(self.allowances)

    def router_health(self) -> float | None:
        """The dashboard's router health score (None before ``router_min_fills`` fills)."""
        if len(self.router.all.fills) < max(1, self.cfg.alerts.router_min_fills):
            return None
        score: float | None = self.router_kpis()["router_health_score"]
        return score

    def snapshot(self, ts_ns: int) -> Snapshot:
        ar = self.cfg.strategy.atr_regime
        return Snapshot(
            session_id=self.session_id, ts_ns=ts_ns, nav=self.nav, ref_nav=self.ref_nav,
            dd=self.dd, dd_state=self.dd_state,
            regimes={s: (r.confirmed, r.atr.ratio) for s, r in self.regimes.items()},
            atr_low=ar.low_ratio, atr_high=ar.high_ratio,
            health=self.router_health(), router=self.router_kpis(), capped=self.capped, banner=self.banner,
        )

    # -- rules -----------------------------------------------------------------------

    def _on_kline(self, k: KlineClosed) -> list[Alert]:
        a = self.cfg.alerts
        ar = self.cfg.strategy.atr_regime
        reg = self.regimes.get(k.symbol)
        if reg is not None and k.interval == self.cfg.universe.interval:
            reg.update(k, ar.low_ratio, ar.high_ratio, max(1, a.atr_confirm_bars))
            # the first confirmed regime is the reference until a message says otherwise
            if reg.confirmed != "unknown":
                self.ref_regime.setdefault(k.symbol, reg.confirmed)
        step_ms = int(a.summary_interval_h * 3_600_000)
        if step_ms <= 0 or k.interval != self.cfg.universe.interval:
            return []
        end_ms = k.close_time_ms + 1
        if end_ms % step_ms == 0 and end_ms // step_ms > self.last_boundary:
            # a 4h close: decide once every core symbol's closing bar is in (or, failing
            # that, at the first later event - see _overdue_summary)
            self.last_boundary = end_ms // step_ms
            self.pending_close_ms, self.pending_seen = end_ms, set()
        if self.pending_close_ms is not None and end_ms == self.pending_close_ms:
            self.pending_seen.add(k.symbol)
            if self.pending_seen >= set(self.core):
                return self._summary(k)
        return []

    def _overdue_summary(self, ev: Event) -> list[Alert]:
        """A 4h close whose core bars did not all arrive: decide at the first later event."""
        close = self.pending_close_ms
        if close is None:
            return []
        later = ev.close_time_ms + 1 > close if isinstance(ev, KlineClosed) else ev.ts_event_ns > close * 1_000_000
        return self._summary(ev) if later else []

    def _summary(self, ev: Event) -> list[Alert]:
        self.pending_close_ms = None
        reasons = self._material_changes()
        if not reasons:
            return []
        gap_ns = self.cfg.alerts.min_gap_h * _HOUR_NS
        if self.last_summary_ns is not None and ev.ts_event_ns - self.last_summary_ns < gap_ns:
            return []
        return self._emit(ev, "summary", reasons, urgent=False)

    def _material_changes(self) -> list[str]:
        a = self.cfg.alerts
        out: list[str] = []
        if self.nav is not None and self.ref_nav:
            move = self.nav / self.ref_nav - 1.0
            if abs(move) >= a.nav_move_frac:
                out.append(f"NAV {move:+.1%} since last message")
        if self.dd_state != self.ref_dd_state:
            out.append(f"DD state {self.ref_dd_state} -> {self.dd_state}")
        for s in self.core:
            now, before = self.regimes[s].confirmed, self.ref_regime.get(s)
            major = now in a.atr_major_regimes or before in a.atr_major_regimes
            if before is not None and now != "unknown" and now != before and major:
                out.append(f"{s} ATR regime {before} -> {now}")
        h = self.router_health()
        if h is not None and self.ref_health is not None and self.ref_health - h >= a.router_degradation_drop:
            out.append(f"router health {self.ref_health:.2f} -> {h:.2f}")
        return out

    def _on_nav(self, n: NavSnapshot) -> list[Alert]:
        if n.nav_usd <= 0 or not self.track.update(n.nav_usd, n.ts_event_ns, n.sources_ok):
            return []  # the one sources_ok rule: shown by the dashboard, never alerted on
        g = self.cfg.risk_limits.global_
        self.nav = n.nav_usd
        if self.ref_nav is None:
            self.ref_nav = n.nav_usd
        prev = self.dd_state
        if self.rules_version >= HYSTERESIS_RULES:
            # the engine's policy: its state changes arrive as DdStateChanged right after this reading
            self.dd_book.on_nav(n.nav_usd)
            self.dd = self.dd_book.dd or 0.0
        else:
            self.dd = self.track.drawdown or 0.0
            self.dd_state = dd_state(self.dd, g.dd_cautious_pct, g.dd_defensive_pct)
        return self._check_dd(n, prev)

    def _on_dd_changed(self, ev: DdStateChanged) -> list[Alert]:
        self.dd_book.on_changed(ev.to_state, ev.ts_event_ns, ev.cause, ev.ref_nav_usd, ev.reason)
        prev, self.dd_state = self.dd_state, self.dd_book.state
        self.dd = self.dd_book.dd or 0.0
        if ev.cause == "auto_rule":
            return self._emit(ev, "dd_override", [f"automatic rule: {ev.reason}"], urgent=True)
        return self._check_dd(ev, prev)

    def _on_reset(self, ev: RiskReset) -> list[Alert]:
        if not ev.source_seq:
            return []  # the operator's own record: the engine's copy is what applies
        p = DdParams.of(self.cfg, self.rules_version)
        before = ev.before_state or "?"
        self.dd_book.on_reset(ev.to_state, ev.ts_event_ns, ev.ref_nav_usd, p, seq=ev.source_seq,
                              by=ev.operator, reason=ev.reason)
        self.dd_state = self.dd_book.state
        self.dd = self.dd_book.dd or 0.0
        why = f"operator reset by {ev.operator}: {before} -> {ev.to_state} ({ev.reason})"
        return self._emit(ev, "dd_override", [why], urgent=True)

    def _check_drought(self, ev: Event) -> list[Alert]:
        since = self.dd_book.since_ns if self.rules_version >= HYSTERESIS_RULES else None
        st = self.drought.status(ev.ts_event_ns, self.cfg.alerts.entry_drought_hours, self.dd_state, since)
        if st is None:
            return []
        out = self._emit(ev, "entry_drought", [f"no entry for {st['hours']:.0f} h: {st['reason']}"], urgent=True)
        self.drought_armed = not out  # held back by the daily cap: said at the first chance after it
        return out

    def _check_dd(self, n: Event, prev: str) -> list[Alert]:
        rank = _DD_RANK[self.dd_state]
        if rank > self.dd_alerted:
            self.dd_alerted = rank
            self.dd_lower_since = None
            why = f"DD {self.dd:.1%} crossed the {self.dd_state} threshold ({prev} -> {self.dd_state})"
            return self._emit(n, "dd_escalation", [why], urgent=True)
        if rank < self.dd_alerted:
            # re-arm only after the state stayed lower for min_gap_h (no flapping)
            if self.dd_lower_since is None:
                self.dd_lower_since = n.ts_event_ns
            elif n.ts_event_ns - self.dd_lower_since >= self.cfg.alerts.min_gap_h * _HOUR_NS:
                self.dd_alerted = rank
                self.dd_lower_since = None
        else:
            self.dd_lower_since = None
        return []

    def _check_router(self, f: OrderFilled) -> list[Alert]:
        a = self.cfg.alerts
        h = self.router_health()
        if h is None:
            return []
        if self.ref_health is None:
            self.ref_health = h
        if self.router_armed and h < a.router_health_floor:
            self.router_armed = False
            why = f"router health {h:.2f} fell below the floor {a.router_health_floor:.2f}"
            return self._emit(f, "router_floor", [why], urgent=True)
        if not self.router_armed and h >= a.router_health_floor + a.router_rearm_frac:
            self.router_armed = True
        return []

    def _emit(self, ev: Event, kind: str, reasons: list[str], *, urgent: bool) -> list[Alert]:
        day = ev.ts_event_ns // _DAY_NS
        if day != self.day:
            self.day, self.day_count = day, 0
        if self.day_count >= self.cfg.alerts.daily_cap:
            self.capped += 1
            return []
        self.day_count += 1
        # other material news rides along (an urgent alert already states its own reason)
        own = {"dd_escalation": "DD state", "dd_override": "DD state", "router_floor": "router"}.get(kind)
        reasons = reasons + [
            r for r in self._material_changes() if r not in reasons and not (own and r.startswith(own))
        ]
        text = render(kind, reasons, self.snapshot(ev.ts_event_ns))
        self.capped = 0
        if not urgent:
            self.last_summary_ns = ev.ts_event_ns
        # the message is the new reference for "what changed since the last message"
        self.ref_nav = self.nav
        self.ref_dd_state = self.dd_state
        self.ref_regime.update({s: r.confirmed for s, r in self.regimes.items() if r.confirmed != "unknown"})
        h = self.router_health()
        if h is not None:
            self.ref_health = h
        return [Alert(
            alert_id=alert_id_for(self.session_id, ev.session_seq, kind), kind=kind, urgent=urgent,
            text=text, reasons=reasons, session_id=self.session_id, trigger_seq=ev.seq,
            trigger_session_seq=ev.session_seq, ts_event_ns=ev.ts_event_ns,
        )]


def banner_of(mode: str) -> str | None:
    """The banner every alert of a non-live account carries (None for live)."""
    from eventlog.accounts import account_mode_or_raw

    return {"sim": "SIMULATED", "paper": "PAPER", "testnet": "TESTNET"}.get(account_mode_or_raw(mode))


class AlertPolicy:
    """Routes events to one :class:`SessionAlertPolicy` per account (docs/accounts.md).

    A session of an account continues the account's policy (its NAV peak, DD state,
    pacing, daily cap, router window), so a restart neither repeats nor forgets what
    an uninterrupted run would have said; sessions recorded before accounts existed
    each have their own. Sessions without a ``SessionStarted`` (the alerter's own
    sessions) are ignored, and so is a session whose recorded config no longer loads
    (kept in ``unreadable``): one odd session must not silence the alerts of the others.
    ``sessions`` restricts the alerts returned to the given session ids (every session
    is still folded, so the policy of their account has its whole history).
    """

    def __init__(self, sessions: Iterable[str] | None = None):
        self.only = set(sessions) if sessions is not None else None
        self.by_session: dict[str, SessionAlertPolicy] = {}
        self.by_account: dict[str, SessionAlertPolicy] = {}
        self.unreadable: dict[str, str] = {}  # session -> why its recorded config did not load

    def apply(self, ev: Event) -> list[Alert]:
        sid = ev.session_id
        if isinstance(ev, SessionStarted):
            self._start(ev)
            return []
        pol = self.by_session.get(sid)
        if pol is None:
            return []
        out = pol.apply(ev)
        return out if self.only is None or sid in self.only else []

    def _start(self, ev: SessionStarted) -> None:
        sid = ev.session_id
        pol = self.by_account.get(ev.account) if ev.account else None
        try:
            if pol is None:
                pol = SessionAlertPolicy(ev)
                if ev.account:
                    self.by_account[ev.account] = pol
            else:  # the account goes on: same policy state, this session's id and config
                pol.session_id = sid
                pol.cfg = from_dict(ev.config).config
                pol.banner = banner_of(ev.mode)
        except ValueError as exc:  # ConfigError: a recorded config this version refuses
            self.unreadable[sid] = str(exc)
            return
        self.by_session[sid] = pol


def alerts_for(events: Iterable[Event], sessions: Iterable[str] | None = None) -> list[Alert]:
    """Every alert the policy decides over ``events`` (in order)."""
    pol = AlertPolicy(sessions)
    out: list[Alert] = []
    for ev in events:
        out.extend(pol.apply(ev))
    return out
