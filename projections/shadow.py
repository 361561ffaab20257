"""``pipeline_v6_shadow_head.json`` and ``pipeline_v6_compare_summary.json``.

``DecisionFold`` is folded the same way from the live log (inside the projector) and
from the shadow log of the latest live session (``$HEDGE_HOME/shadow/<session>/``,
written by ``replay.shadow``): decision counts, approved notional, each decision's
outcome keyed by (symbol, decision time), fill slippage and net PnL. The head counts
``allowed`` = allow + clamp, ``vetoed`` = veto, exactly as ``hedge replay --set``
reports allows/clamps/vetoes. The compare summary pairs live and shadow decisions
made on the same bar (same symbol and decision time).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.rules.units import NS
from eventlog.events import Event, FundingApplied, OrderFilled, RiskDecided, SessionStarted

if TYPE_CHECKING:
    from config.schema import HedgeConfig
    from eventlog.store import EventStore

MIN_SAMPLE = 20
SHADOW_DIR = "shadow"


class DecisionFold:
    def __init__(self) -> None:
        self.counts = {"allow": 0, "clamp": 0, "veto": 0}
        self.notional = 0.0
        self.outcomes: dict[tuple[str, int], str] = {}
        self.slip_sum = 0.0
        self.fills = 0
        self.net = 0.0
        self.last_ns = 0

    def apply(self, ev: Event) -> None:
        t = type(ev)
        if t is RiskDecided:
            d: RiskDecided = ev  # type: ignore[assignment]
            self.counts[d.outcome] = self.counts.get(d.outcome, 0) + 1
            self.notional += d.approved_notional_usd
            self.outcomes[(d.symbol, d.ts_event_ns)] = d.outcome
        elif t is OrderFilled:
            f: OrderFilled = ev  # type: ignore[assignment]
            self.slip_sum += f.slippage_bps
            self.fills += 1
            self.net += f.realized_pnl - f.fee_usd
        elif t is FundingApplied:
            self.net += ev.amount_usd  # type: ignore[attr-defined]
        if ev.ts_event_ns > self.last_ns:
            self.last_ns = ev.ts_event_ns

    @property
    def mean_slip(self) -> float | None:
        return self.slip_sum / self.fills if self.fills else None


class ShadowReader:
    """Incremental fold of the shadow log of the latest live session (owned by the runner)."""

    def __init__(self, home: Path) -> None:
        self.home = Path(home)
        self.session: str | None = None
        self.fold = DecisionFold()
        self.seq = 0
        self.started: SessionStarted | None = None

    def _store(self, session_id: str) -> EventStore | None:
        from eventlog.sqlite_backend import ChainedSQLiteRecorder
        from eventlog.store import EventStore

        path = self.home / SHADOW_DIR / session_id / "eventlog.sqlite"
        if not path.exists():
            return None
        return EventStore(ChainedSQLiteRecorder(str(path)), str(path))

    def catch_up(self, live_session: str | None) -> None:
        if live_session != self.session:
            self.session, self.fold, self.seq, self.started = live_session, DecisionFold(), 0, None
        if live_session is None:
            return
        store = self._store(live_session)
        if store is None:
            return
        import sqlite3

        with store:
            try:
                for ev in store.read(self.seq + 1):
                    self.seq = ev.seq
                    if type(ev) is SessionStarted and self.started is None:
                        self.started = ev  # type: ignore[assignment]
                    self.fold.apply(ev)
            except sqlite3.OperationalError as exc:
                if "no such table" not in str(exc):
                    raise
                # the shadow thread created the file but not its table yet: next catch-up

    def documents(self, live: DecisionFold, cfg: HedgeConfig, session_id: str | None,
                  header: Callable[[str], dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """The two shadow files: this shadow fold beside the live one (``live``) of ``session_id``;
        ``header(name)`` is the projector's state-file header."""
        self.catch_up(session_id)
        sf, lf = self.fold, live
        overlay = list(self.started.params.get("set", [])) if self.started is not None else []
        enabled = cfg.runtime.v6_flags.pipeline_v6_shadow_enabled
        gen = sf.last_ns / NS if sf.last_ns else None
        total = sum(sf.counts.values())
        head: dict[str, Any] = {"total": total, "allowed": sf.counts["allow"] + sf.counts["clamp"], "vetoed": sf.counts["veto"],
                "clamped": sf.counts["clamp"], "generated_ts": gen, "enabled": enabled, "overlay": overlay,
                "live_session_id": session_id, "shadow_session_id": self.started.session_id if self.started else None}
        keys = sorted(set(sf.outcomes) & set(lf.outcomes))
        agree = sum(1 for k in keys if (sf.outcomes[k] == "veto") == (lf.outcomes[k] == "veto"))
        warm: str | None = None
        if not enabled and self.started is None:
            warm = "shadow pipeline not enabled (runtime.v6_flags.pipeline_v6_shadow_enabled)"
        elif self.started is None:
            warm = "no shadow decisions yet"
        elif len(keys) < MIN_SAMPLE:
            warm = f"fewer than {MIN_SAMPLE} decisions on the same bars ({len(keys)})"
        ls, ss = lf.mean_slip, sf.mean_slip
        compare: dict[str, Any] = {
            "generated_ts": gen, "sample_size": len(keys),
            "veto_agreement": agree / len(keys) if keys else None,
            "live": {"decisions": sum(lf.counts.values()), **lf.counts, "approved_notional_usd": lf.notional,
                     "net_pnl_usd": lf.net, "fills": lf.fills},
            "shadow": {"decisions": total, **sf.counts, "approved_notional_usd": sf.notional, "net_pnl_usd": sf.net,
                       "fills": sf.fills},
            "notional_diff_usd": sf.notional - lf.notional,
            "slippage_diff_bps": {"live_mean": ls, "shadow_mean": ss,
                                  "diff": (ss - ls) if ss is not None and ls is not None else None},
            "pnl_diff_usd": sf.net - lf.net,
            "warmup_reason": warm, "overlay": overlay,
        }
        docs: dict[str, dict[str, Any]] = {"pipeline_v6_shadow_head.json": head,
                                           "pipeline_v6_compare_summary.json": compare}
        for name, doc in docs.items():
            doc.update(header(name.removesuffix(".json")))
        return docs
