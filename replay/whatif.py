"""What-if: re-simulate a recorded session's market data under a changed config.

``run_what_if(store, session, ["risk.max_open_positions=5", ...])``:

1. reads the session once: its closed bars (``KlineClosed``) become a
   ``LogMarket`` (bar steps in log order, the funding rate each step's ticks
   carried), the exchange filters it recorded at its start
   (``ExchangeFiltersLoaded``) are kept for the simulated venue (the venue's
   grid is market data, like the bars: not re-derived from a data directory
   the what-if does not have; ``venue_filters``), and the recorded results are
   folded into ``Metrics``;
2. applies the assignments to the config recorded in ``SessionStarted`` with
   ``config.loader.apply_overrides`` + ``from_dict`` (unknown keys and bad values
   are refused with the config loader's own ``ConfigError``);
3. runs the engine's own loop (``engine.loop.Engine``) on the engine's simulated
   venue over that market, writing a *scratch* SQLite log (a temp dir, or
   ``out_dir`` which is kept, with its projections, for ``hedge audit --home``).
   The real log is only read: the scratch store never follows
   ``HEDGE_STORE_URL`` and ``out_dir`` may not hold a log that is not a what-if's;
4. folds the scratch session into ``Metrics`` for the side-by-side comparison.

The scratch session id is derived from the recorded one and the new config hash,
so the same what-if gives the same ids. With an unchanged config a simulated
session is reproduced event for event (ids aside). A session recorded on Binance
is re-simulated on the simulated venue: its fills were real, the what-if's are
simulated, so ``baseline`` (the unchanged config, simulated) is run beside it.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config.loader import ConfigError, LoadedConfig, apply_overrides, from_dict
from engine.exchange_filters import from_event_fields
from engine.ports import SymbolFilters
from eventlog.events import (
    AccountOpened,
    ConfigChanged,
    ExchangeFiltersLoaded,
    FundingApplied,
    KlineClosed,
    MarketTick,
)
from eventlog.payloads import FilterCorrection
from eventlog.store import EventStore
from replay.compare import Metrics, MetricsFold
from replay.source import Session, session_events

MS = 1_000_000
WHATIF_NS = uuid.UUID("6b1f3c52-6f3e-4d2a-9a57-2f0e4c1d7a10")
Bar = tuple[str, float, float, float, float, float]
Filters = tuple[dict[str, SymbolFilters], str, list[FilterCorrection]]  # filters, source, corrections


class LogMarket:
    """Recorded bar steps with the same shape as the generated and CSV markets."""

    def __init__(self, start_ms: int, steps: list[tuple[int, list[Bar]]], rates: dict[int, dict[str, float]]):
        self.start_ms = start_ms
        self.steps = steps
        self.rates = rates
        self._cur = start_ms
        self.venue_data_dir: Path | None = None  # the recorded session's market directory, if still there
        self.funding_source = "default"  # what the recorded FundingApplied said its rates came from

    def funding_rates(self) -> dict[str, float]:
        """The funding rates the recorded ticks of the current step carried."""
        return dict(self.rates.get(self._cur, {}))

    def __iter__(self) -> Any:
        for open_ms, bars in self.steps:
            self._cur = open_ms
            yield open_ms, bars


@dataclass
class Recorded:
    """What one pass over the recorded session gives: its market and its results."""

    market: LogMarket
    metrics: Metrics
    interval: str | None
    config_changes: int
    filters: Filters | None = None  # the first ExchangeFiltersLoaded (None: recorded before the event existed)
    filter_changes: int = 0  # later ExchangeFiltersLoaded (a live venue re-read its filters)
    opened: dict[str, Any] | None = None  # the session's AccountOpened fields (it opened its account)


def read_recorded(store: EventStore, session: Session, progress: Callable[[int], None] | None = None) -> Recorded:
    """One pass: bar steps (deduplicated by symbol and open time), rates, recorded metrics."""
    steps: dict[int, list[Bar]] = {}
    seen: set[tuple[str, int]] = set()
    rates: dict[int, dict[str, float]] = {}
    last_rate: dict[str, float] = {}
    interval: str | None = None
    changes = 0
    filters: Filters | None = None
    filter_changes = 0
    opened: dict[str, Any] | None = None
    funding_sources: set[str] = set()
    fold = MetricsFold()
    for ev in session_events(store, session, progress=progress):
        fold.apply(ev)
        t = type(ev)
        if t is MarketTick:
            if ev.funding_rate is not None:  # type: ignore[attr-defined]
                last_rate[ev.symbol] = ev.funding_rate  # type: ignore[attr-defined]
        elif t is KlineClosed:
            k: KlineClosed = ev  # type: ignore[assignment]
            key = (k.symbol, k.open_time_ms)
            if key in seen:
                continue
            seen.add(key)
            interval = interval or k.interval
            steps.setdefault(k.open_time_ms, []).append((k.symbol, k.open, k.high, k.low, k.close, k.volume))
            if k.symbol in last_rate:
                rates.setdefault(k.open_time_ms, {})[k.symbol] = last_rate[k.symbol]
        elif t is FundingApplied:
            funding_sources.add(ev.source)  # type: ignore[attr-defined]
        elif t is ConfigChanged:
            changes += 1
        elif t is ExchangeFiltersLoaded:
            f: ExchangeFiltersLoaded = ev  # type: ignore[assignment]
            if filters is None:
                filters = (from_event_fields(f.filters), f.source, list(f.corrections))
            else:
                filter_changes += 1
        elif t is AccountOpened:
            opened = {k: getattr(ev, k) for k in ("mode", "venue", "base_currency", "starting_capital_usd",
                                                 "data_source")}
    start_ms = session.started.ts_event_ns // MS
    ordered = sorted(steps.items())  # sim sessions are already in order; live klines may interleave
    if ordered and ordered[0][0] < start_ms:
        start_ms = ordered[0][0]
    market = LogMarket(start_ms, ordered, rates)
    if len(funding_sources) == 1:  # the recorded rates came from one source (e.g. a generated series)
        market.funding_source = funding_sources.pop()
    src = session.started.data_source or ""
    if src.startswith("csv:") and Path(src[4:]).is_dir():
        # the session's market directory: funding settlements, marks and brackets as it ran (issue 14)
        market.venue_data_dir = Path(src[4:])
    return Recorded(market, fold.result(), interval, changes, filters, filter_changes, opened)


def what_if_config(session: Session, sets: list[str], interval: str | None) -> tuple[LoadedConfig, list[dict[str, Any]]]:
    """The session's recorded config with ``sets`` applied (ConfigError on bad keys / values)."""
    new, changes = apply_overrides(session.started.config, list(sets))
    loaded = from_dict(new, source="--set")
    if interval and loaded.config.universe.interval != interval:
        raise ConfigError("--set", "universe.interval",
                          f"a what-if replays the recorded {interval} bars; the interval cannot change")
    return loaded, changes


def venue_filters(rec: Recorded) -> Filters | None:
    """The exchange filters of the what-if's simulated venue: those the session recorded, unless
    they were the config's own (source ``config``): then the what-if's config gives them, as a
    fresh run would (so a ``--set`` of a universe tick or minimum applies)."""
    if rec.filters is None or rec.filters[1] == "config":
        return None
    return rec.filters


def recorded_notes(session: Session, rec: Recorded) -> list[str]:
    """What the reader should know about the recorded inputs the what-if runs with (filters, account)."""
    out = []
    if rec.filters is None:
        out.append("the session recorded no exchange filters (older log): the what-if takes them from the config")
    elif rec.filter_changes:
        out.append(f"the venue's exchange filters changed {rec.filter_changes} time(s) during the session; the "
                   "what-if keeps those in force at its start throughout")
    if session.started.resumed_at_seq:
        out.append(f"the session continued account {session.started.account or 'main'!r} from seq "
                   f"{session.started.resumed_at_seq:,}; the what-if starts from a fresh account")
    return out


def account_opened(scratch: EventStore, cfg: Any, recorded: dict[str, Any] | None) -> dict[str, Any] | None:
    """The ``AccountOpened`` fields of a what-if session: the scratch log is its own fund, so its
    first session opens the default account, as the recorded session's first session did (its
    fields, on the simulated venue with the what-if's opening balance); later ones continue it."""
    from eventlog.accounts import DEFAULT_ACCOUNT, account_index

    if DEFAULT_ACCOUNT in account_index(scratch):
        return None
    return {"mode": "sim", "base_currency": "USDT", "data_source": "", **(recorded or {}), "venue": "sim",
            "starting_capital_usd": cfg.runtime.sim.initial_balance_usd}


def open_scratch(directory: Path) -> EventStore:
    """An SQLite log in ``directory`` (never ``HEDGE_STORE_URL``: the real log stays untouched)."""
    from eventlog.sqlite_backend import ChainedSQLiteRecorder, check_sqlite_file

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "eventlog.sqlite"
    check_sqlite_file(str(path))
    rec = ChainedSQLiteRecorder(str(path))
    rec.create_table()
    return EventStore(rec, str(path))


def check_out_dir(out: Path, real: EventStore) -> None:
    """Refuse an ``--out`` that is the real log or holds a log that is not a what-if's."""
    path = (out / "eventlog.sqlite").resolve()
    if str(path) == str(Path(real.location).resolve()):
        raise ValueError(f"--out: {out} is the log being replayed; choose another directory")
    if path.exists():
        with open_scratch(out) as scratch:
            for info in scratch.sessions():
                ev = next(scratch.read(info.first_seq, stop=info.first_seq), None)
                if ev is None or "what_if_of" not in getattr(ev, "params", {}):
                    raise ValueError(f"--out: {path} holds a log that is not a what-if's "
                                     f"(session {info.session_id}); choose an empty directory")


def _session_id(store: EventStore, recorded_id: str, config_hash: str) -> str:
    n = 0
    while True:
        sid = str(uuid.uuid5(WHATIF_NS, f"{recorded_id}:{config_hash}:{n}"))
        if store.next_session_seq(sid) == 1:
            return sid
        n += 1


@dataclass
class SimRun:
    session_id: str
    metrics: Metrics
    elapsed_s: float
    bar_steps: int


def simulate(scratch: EventStore, session: Session, loaded: LoadedConfig, market: LogMarket, params: dict[str, Any],
             progress: Callable[[int], None] | None = None, filters: Filters | None = None,
             opened: dict[str, Any] | None = None) -> SimRun:
    """Run the engine's loop on the simulated venue over ``market`` into the scratch log.

    ``filters``: the exchange filters the recorded session ran with (``Recorded.filters``);
    None lets the simulated venue take them from the config, as a generated market does.
    ``opened``: the recorded session's ``AccountOpened`` fields (``Recorded.opened``).
    """
    from engine.bootstrap import SimOptions, make_sim_venue, open_session
    from eventlog.accounts import DEFAULT_ACCOUNT

    cfg = loaded.config
    symbols = list(session.started.symbols)
    sid = _session_id(scratch, session.session_id, loaded.config_hash)
    venue = make_sim_venue(loaded, symbols, SimOptions(market=market, data_source=f"replay:{session.session_id}",
                                                       filters=filters))
    steps = {"n": 0}
    fold = MetricsFold()  # folds exactly the events the writer records (SessionEnded aside)

    def on_event(ev: Any) -> None:
        fold.apply(ev)
        if type(ev) is KlineClosed and progress is not None:
            steps["n"] += 1
            if steps["n"] % 1000 == 0:
                progress(steps["n"])

    t0 = time.perf_counter()
    engine = open_session(loaded, venue, scratch, sid, symbols, params=params, account=DEFAULT_ACCOUNT,
                          account_opened=account_opened(scratch, cfg, opened), on_event=on_event, background=False)
    reason = engine.run()
    engine.end(reason)
    engine.writer.close()
    elapsed = time.perf_counter() - t0
    return SimRun(sid, fold.result(), elapsed, engine.bar_steps)


def project(directory: Path, scratch: EventStore) -> str | None:
    """Run the projections on the scratch log (state files, audit tables); None or the error."""
    try:
        from projections.runner import Lock, Paths, Projection
    except ImportError as exc:
        return f"projections unavailable: {exc}"
    lock = Lock(Paths(directory).lock)
    try:
        Projection(directory, scratch, log=lambda msg: None).sync(final=True)
    except Exception as exc:  # the comparison stands even if the state files cannot be written
        return f"{type(exc).__name__}: {exc}"
    finally:
        lock.release()
    return None


@dataclass
class WhatIfResult:
    session_id: str
    venue: str
    changes: list[dict[str, Any]]
    config_hash: str
    new_config_hash: str
    recorded: Metrics
    what_if: SimRun
    baseline: SimRun | None = None
    out_dir: str | None = None
    projections_error: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id, "venue": self.venue, "changes": self.changes,
            "config_hash": self.config_hash, "what_if_config_hash": self.new_config_hash,
            "what_if_session_id": self.what_if.session_id, "bar_steps": self.what_if.bar_steps,
            "elapsed_s": round(self.what_if.elapsed_s, 6),
            "bars_per_s": round(self.what_if.metrics.bars / self.what_if.elapsed_s, 1) if self.what_if.elapsed_s else None,
            "recorded": self.recorded.to_dict(), "what_if": self.what_if.metrics.to_dict(),
            "baseline": self.baseline.metrics.to_dict() if self.baseline else None,
            "baseline_session_id": self.baseline.session_id if self.baseline else None,
            "out_dir": self.out_dir, "projections_error": self.projections_error, "notes": self.notes,
        }


Progress = Callable[[str, "int | None"], AbstractContextManager[Callable[[int], None]]]


@contextmanager
def _silent(label: str, total: int | None) -> Iterator[Callable[[int], None]]:
    yield lambda done: None


def run_what_if(store: EventStore, session: Session, sets: list[str], *, out_dir: str | None = None,
                progress: Progress | None = None) -> WhatIfResult:
    """Re-simulate ``session`` with ``sets`` applied; compare with what was recorded.

    ``progress(label, total)`` is a context manager yielding ``tick(done)`` (``hedge.progress.counter``).
    """
    bar = progress or _silent
    with bar("reading the session", session.events) as tick:
        rec = read_recorded(store, session, tick)
    loaded, changes = what_if_config(session, sets, rec.interval)
    if not rec.market.steps:
        raise LookupError(f"session {session.session_id} has no recorded bars to re-simulate")
    out = Path(out_dir) if out_dir else None
    if out is not None:
        check_out_dir(out, store)
    notes: list[str] = []
    if rec.config_changes:
        notes.append(f"the session changed its config {rec.config_changes} time(s); the what-if runs the "
                     "starting config with --set applied throughout")
    notes.extend(recorded_notes(session, rec))
    if not changes and loaded.config_hash != session.started.config_hash:
        notes.append("the recorded config re-hashes differently under this build's config schema "
                     "(fields added since, with their defaults)")
    params = {"what_if_of": session.session_id, "set": list(sets), "changes": changes}
    tmp = tempfile.TemporaryDirectory(prefix="hedge-whatif-") if out is None else None
    directory = out if out is not None else Path(tmp.name)  # type: ignore[union-attr]
    try:
        with open_scratch(directory) as scratch:
            with bar("re-simulating", rec.metrics.bars) as tick:
                run = simulate(scratch, session, loaded, rec.market, params, tick, venue_filters(rec), rec.opened)
            baseline = None
            if session.started.venue != "sim":
                notes.append(f"recorded on {session.started.venue} ({session.started.mode}): real fills; "
                             "'sim baseline' is the unchanged config on the simulated venue")
                base_cfg, _ = what_if_config(session, [], rec.interval)
                baseline = simulate(scratch, session, base_cfg, LogMarket(rec.market.start_ms, rec.market.steps,
                                                                          rec.market.rates),
                                    {"what_if_of": session.session_id, "set": [], "changes": []},
                                    filters=venue_filters(rec), opened=rec.opened)
            err = project(directory, scratch) if out is not None else None
    finally:
        if tmp is not None:
            tmp.cleanup()
    return WhatIfResult(
        session_id=session.session_id, venue=session.started.venue, changes=changes,
        config_hash=session.started.config_hash, new_config_hash=loaded.config_hash, recorded=rec.metrics,
        what_if=run, baseline=baseline, out_dir=str(out) if out is not None else None,
        projections_error=err, notes=notes,
    )


@dataclass
class SweepResult:
    session_id: str
    venue: str
    key: str
    changes: list[dict[str, Any]]  # the --set changes every column shares
    recorded: Metrics
    columns: list[tuple[str, SimRun, str]]  # (value, run, config hash)
    bar_steps: int
    elapsed_s: float
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id, "venue": self.venue, "key": self.key,
            "short_key": self.key.rsplit(".", 1)[-1], "changes": self.changes, "bar_steps": self.bar_steps,
            "elapsed_s": round(self.elapsed_s, 6), "recorded": self.recorded.to_dict(), "notes": self.notes,
            "columns": [{"value": v, "session_id": r.session_id, "config_hash": h, "metrics": r.metrics.to_dict()}
                        for v, r, h in self.columns],
        }


def run_sweep(store: EventStore, session: Session, sets: list[str], sweep: str, *,
              progress: Progress | None = None) -> SweepResult:
    """One what-if per value of ``KEY=V1,V2,...`` (``sets`` applied to all), in one scratch log."""
    key, _, text = sweep.partition("=")
    values = [v.strip() for v in text.split(",") if v.strip()]
    if not key.strip() or not values:
        raise ConfigError("--sweep", sweep, "expected KEY=V1,V2,...")
    bar = progress or _silent
    with bar("reading the session", session.events) as tick:
        rec = read_recorded(store, session, tick)
    if not rec.market.steps:
        raise LookupError(f"session {session.session_id} has no recorded bars to re-simulate")
    _, changes = what_if_config(session, sets, rec.interval)
    configs = [what_if_config(session, [*sets, f"{key.strip()}={v}"], rec.interval) for v in values]  # refuse early
    full_key = configs[0][1][-1]["key"]
    notes = recorded_notes(session, rec)
    if session.started.venue != "sim":
        notes.append(f"recorded on {session.started.venue} ({session.started.mode}): real fills; every other "
                     "column is simulated")
    cols: list[tuple[str, SimRun, str]] = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hedge-sweep-") as tmp, open_scratch(Path(tmp)) as scratch:
        for v, (loaded, _) in zip(values, configs, strict=True):
            params = {"what_if_of": session.session_id, "set": [*sets, f"{key.strip()}={v}"], "sweep": full_key}
            with bar(f"re-simulating {full_key.rsplit('.', 1)[-1]}={v}", rec.metrics.bars) as tick:
                run = simulate(scratch, session, loaded, rec.market, params, tick, venue_filters(rec), rec.opened)
                cols.append((v, run, loaded.config_hash))
    return SweepResult(session_id=session.session_id, venue=session.started.venue, key=full_key, changes=changes,
                       recorded=rec.metrics, columns=cols, bar_steps=len(rec.market.steps),
                       elapsed_s=time.perf_counter() - t0, notes=notes)
