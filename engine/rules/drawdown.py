"""The drawdown policy: ``dd_state`` with hysteresis, the automatic rule, operator resets.

One rule, used by the engine (the ``dd_state`` gate and the ``DdStateChanged`` decision),
the projections (``risk_snapshot.json``), the alert policy and ``hedge risk reset``.
``docs/risk.md`` ("Drawdown policy") describes it for a person.

**Reference.** The policy's drawdown ``dd_policy_frac`` is measured from a reference NAV:
the high-water mark of the counted NAV readings (the ``sources_ok`` rule of
``engine.rules.nav``), unless a reset or the automatic rule *re-based* it. After a
re-base the reference is ``max(re-based value, every later counted reading)``.

**Hysteresis** (rules version 3). With ``c_in = dd_cautious_pct``, ``c_out =
dd_cautious_exit_pct``, ``d_in = dd_defensive_pct``, ``d_out = dd_defensive_exit_pct``
(``c_out < c_in < d_in``, ``c_out <= d_out < d_in``):

* normal -> defensive when dd >= d_in, -> cautious when dd >= c_in;
* cautious -> defensive when dd >= d_in, -> normal when dd < c_out;
* defensive -> cautious when dd < d_out (-> normal when also dd < c_out).

So a drawdown oscillating around a threshold does not flap. Under rules version 1 and 2
``dd_state`` is the stateless ``engine.rules.indicators.dd_state`` of the drawdown from
the peak (what those sessions recorded); nothing here changes them.

**Re-base.** A reset (or the automatic rule) to state ``S`` sets the reference so the
drawdown of the current NAV equals ``S``'s entry threshold: to ``normal`` the reference
is the current NAV (dd 0); to ``cautious`` it is ``nav / (1 - dd_cautious_pct)`` (dd =
``dd_cautious_pct``): the state holds, a recovery of ``c_in - c_out`` returns to normal
and a further loss of about ``d_in - c_in`` is defensive again. The account's own
drawdown from its high-water mark (``dd_frac``, the ``drawdown_limit`` gate with
``max_drawdown_pct``) is never re-based: it stays the hard limit.

**Automatic rule.** ``dd_auto_recover_days`` > 0: after that many days in ``defensive``
(event time), at the next counted NAV reading the state becomes
``dd_auto_recover_to`` (``cautious``: sizes x ``cautious_size_mult``), re-based as
above. 0 turns it off.

An override (a reset or the automatic rule) is *in force* while the reference is below
the high-water mark, i.e. until the NAV makes a new high; decisions record it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from engine.rules.indicators import drawdown_frac
from engine.rules.units import DAY_NS, NS

DdState = Literal["normal", "cautious", "defensive"]
STATES: tuple[str, ...] = ("normal", "cautious", "defensive")
HYSTERESIS_RULES = 3  # the first rules version (engine/rules/versions.py) with this policy


@dataclass(frozen=True, slots=True)
class DdParams:
    """The policy's thresholds, resolved from the config in force and the rules version."""

    cautious_in: float
    cautious_out: float
    defensive_in: float
    defensive_out: float
    auto_days: float  # 0: no automatic rule
    auto_to: str
    hysteresis: bool  # False: rules v1/v2, the stateless rule

    @classmethod
    def of(cls, cfg: Any, rules_version: int = HYSTERESIS_RULES) -> DdParams:
        global _LAST_OF
        last_cfg, last_rules, last = _LAST_OF
        if last is not None and last_cfg is cfg and last_rules == rules_version:
            return last  # every NAV reading asks again; the config is a frozen Struct
        g = cfg.risk_limits.global_
        c_out, d_out = g.dd_exits()  # 0.75 x the entry threshold when unset (config/schema.py)
        p = cls(g.dd_cautious_pct, c_out, g.dd_defensive_pct, d_out, g.dd_auto_recover_days,
                g.dd_auto_recover_to, rules_version >= HYSTERESIS_RULES)
        sc = getattr(type(cfg), "__struct_config__", None)
        if sc is not None and sc.frozen:  # only a frozen config can be remembered by identity
            _LAST_OF = (cfg, rules_version, p)
        return p

    def thresholds(self) -> dict[str, float | str]:
        """The thresholds by config name (what a decision records)."""
        return {"dd_cautious_pct": self.cautious_in, "dd_cautious_exit_pct": self.cautious_out,
                "dd_defensive_pct": self.defensive_in, "dd_defensive_exit_pct": self.defensive_out,
                "dd_auto_recover_days": self.auto_days, "dd_auto_recover_to": self.auto_to}


_LAST_OF: tuple[Any, int, DdParams | None] = (None, 0, None)  # DdParams.of's last answer (config, rules, params)


def next_state(state: str, dd: float | None, p: DdParams) -> str:
    """The state after a reading with drawdown ``dd`` (hysteresis; see the module doc)."""
    if dd is None:
        return state
    if not p.hysteresis:
        return "normal" if dd < p.cautious_in else "cautious" if dd < p.defensive_in else "defensive"
    if dd >= p.defensive_in:
        return "defensive"
    if state == "defensive":
        if dd >= p.defensive_out:
            return "defensive"
        return "cautious" if dd >= p.cautious_out else "normal"
    if state == "cautious":
        return "cautious" if dd >= p.cautious_out else "normal"
    return "cautious" if dd >= p.cautious_in else "normal"


def rebased_ref(nav: float, to: str, p: DdParams) -> float:
    """The reference that puts ``nav`` exactly at ``to``'s entry threshold (``normal``: nav)."""
    if to == "cautious":
        return nav / (1.0 - p.cautious_in)
    if to == "defensive":
        return nav / (1.0 - p.defensive_in)
    return nav


@dataclass(frozen=True, slots=True)
class Change:
    """A state change the policy decided (the content of ``DdStateChanged``)."""

    from_state: str
    to_state: str
    cause: str  # threshold | auto_rule
    ref_nav: float | None  # the reference after the change
    reason: str


class DrawdownBook:
    """Fold of the policy: state, since when, reference, high-water mark, override in force."""

    __slots__ = ("last", "override", "peak", "ref", "since_ns", "state")

    def __init__(self) -> None:
        self.state = "normal"
        self.since_ns: int | None = None  # when the current state began (None: from the start)
        self.ref: float | None = None  # drawdown reference (the peak unless re-based)
        self.peak: float | None = None  # high-water mark of counted readings
        self.last: float | None = None  # last counted reading
        self.override: dict[str, Any] | None = None  # the reset / auto rule that re-based ref

    def __getstate__(self) -> tuple[object, ...]:
        return tuple(getattr(self, k) for k in self.__slots__)

    def __setstate__(self, s: tuple[object, ...]) -> None:
        for k, v in zip(self.__slots__, s, strict=True):
            setattr(self, k, v)

    # -- fold --------------------------------------------------------------------------

    def on_nav(self, nav: float) -> None:
        """A counted NAV reading (callers apply ``engine.rules.nav.counts`` first)."""
        self.last = nav
        if self.peak is None or nav > self.peak:
            self.peak = nav
        if self.ref is None or nav > self.ref:
            self.ref = nav
        if self.override is not None and self.ref >= self.peak:
            self.override = None  # a new high: the re-base no longer matters

    def apply(self, to: str, ts_ns: int, ref: float | None = None, override: dict[str, Any] | None = None) -> None:
        """Enter ``to`` at ``ts_ns`` (a re-base sets ``ref`` and the override in force)."""
        if to != self.state:
            self.state = to
            self.since_ns = ts_ns
        if ref is not None:
            self.ref = ref
            self.override = override if self.peak is None or ref < self.peak else None

    def on_changed(self, to: str, ts_ns: int, cause: str, ref: float | None, reason: str) -> None:
        """Fold a recorded ``DdStateChanged`` (the engine's, the projections' and the alerts' fold).

        The automatic rule's override carries no log position (``seq`` None): it is named by
        its time, so an account run as one session or as several records the same decisions.
        """
        if cause == "auto_rule":
            self.apply(to, ts_ns, ref=ref, override=override_info("auto_rule", seq=None, ts_ns=ts_ns,
                                                                  reason=reason))
        else:
            self.apply(to, ts_ns)

    def on_reset(self, to: str, ts_ns: int, ref: float | None, p: DdParams, *, seq: int, by: str,
                 reason: str) -> None:
        """Fold a ``RiskReset``: enter ``to`` and re-base (``ref``, or computed from the last reading)."""
        if ref is None and self.last is not None:
            ref = rebased_ref(self.last, to, p)
        self.apply(to, ts_ns, ref=ref, override=override_info("operator_reset", seq=seq, ts_ns=ts_ns, by=by,
                                                              reason=reason))

    # -- derived -----------------------------------------------------------------------

    @property
    def dd(self) -> float | None:
        """Drawdown of the last counted reading from the reference."""
        if self.last is None or self.ref is None:
            return None
        return drawdown_frac(self.last, self.ref)

    def decide(self, ts_ns: int, p: DdParams) -> Change | None:
        """After a counted reading: the state change the policy makes, if any (pure)."""
        if not p.hysteresis or self.last is None:
            return None
        dd = self.dd
        if (self.state == "defensive" and p.auto_days > 0 and self.since_ns is not None
                and ts_ns - self.since_ns >= p.auto_days * DAY_NS and p.auto_to != "defensive"):
            ref = rebased_ref(self.last, p.auto_to, p)
            days = (ts_ns - self.since_ns) / DAY_NS
            return Change("defensive", p.auto_to, "auto_rule", ref,
                          f"defensive for {days:.2f} days >= dd_auto_recover_days {p.auto_days:g}: "
                          f"{p.auto_to}, drawdown reference re-based {self.ref:.2f} -> {ref:.2f} USD")
        to = next_state(self.state, dd, p)
        if to == self.state:
            return None
        return Change(self.state, to, "threshold", self.ref, _why(self.state, to, dd or 0.0, p))

    def observations(self) -> dict[str, float | int | str | bool | None]:
        """What a risk decision records about the policy (rules v3)."""
        o = self.override or {}
        return {
            "dd_policy_frac": None if self.dd is None else round(self.dd, 8),
            "dd_ref_nav_usd": None if self.ref is None else round(self.ref, 8),
            "dd_state_since_ts": None if self.since_ns is None else self.since_ns / NS,
            "dd_override": o.get("kind"),
            "dd_override_seq": o.get("seq"),
            "dd_override_by": o.get("by"),
            "dd_override_reason": o.get("reason"),
            "dd_override_ts": o.get("ts"),
        }


def _why(frm: str, to: str, dd: float, p: DdParams) -> str:
    worse = STATES.index(to) > STATES.index(frm)
    if worse:
        lim, name = (p.defensive_in, "dd_defensive_pct") if to == "defensive" else (p.cautious_in, "dd_cautious_pct")
        return f"dd_policy_frac {dd:.4f} >= {name} {lim:g}: {frm} -> {to}"
    lim, name = ((p.defensive_out, "dd_defensive_exit_pct") if frm == "defensive"
                 else (p.cautious_out, "dd_cautious_exit_pct"))
    return f"dd_policy_frac {dd:.4f} < {name} {lim:g}: {frm} -> {to}"


def override_info(kind: str, *, seq: int | None, ts_ns: int, by: str = "", reason: str = "") -> dict[str, Any]:
    """The override record a re-base carries (observations ``dd_override_*``)."""
    return {"kind": kind, "seq": seq, "by": by or None, "reason": reason or None, "ts": ts_ns / NS}
