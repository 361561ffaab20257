"""Bootstrap: the one way to wire a session - venue, log writer, engine, ``start()``.

* ``make_venue(name, loaded, symbols, options, settings)`` is the only place that
  chooses adapters. The simulated venue takes a given market (a what-if, the shadow,
  tests), generated bars (seeded) or a ``--data`` directory of kline CSVs; ``binance``
  is delegated to ``engine.venues.binance.make_binance_venue`` (its settings - keys,
  ``DRY_RUN``, ``BINANCE_TESTNET`` - come in ``settings.binance``, read once by the CLI).
* ``build_engine(loaded, venue, store, session_id, ...)`` makes the group-commit
  ``LogWriter`` (the config's ``runtime.group_commit``, the venue's clock) and the
  ``Engine`` over them.
* ``start_session(engine, loaded, symbols, ...)`` records ``SessionStarted`` (the
  normalised config, its hash, the venue's mode, name and data source) and the venue's
  opening state.
* ``open_session`` is both, for the callers that need nothing in between
  (``hedge replay --set`` / the shadow pipeline, the benches, tests).

``hedge run`` builds first and starts later (it takes the account lock, installs signal
handlers and the shadow between the two); every other session is opened here too, so no
caller repeats the wiring.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from config.loader import LoadedConfig
from config.settings import Settings
from engine.ports import Venue

if TYPE_CHECKING:
    from engine.loop import Engine
    from engine.state import EngineState
    from eventlog.events import Event


class VenueUnavailable(RuntimeError):
    """The requested venue cannot be built here (missing adapter, missing keys...)."""


@dataclass(frozen=True)
class SimOptions:
    data_dir: Path | None = None
    seed: int | None = None
    speed: float | None = None  # None = as fast as possible
    max_jump: float | None = None  # CSV spike limit (None = kline_csv.DEFAULT_MAX_JUMP)
    market: Any = None  # a ready market (what-if, shadow, tests): neither CSVs nor a generated one
    data_source: str = "scripted"  # the data source recorded for ``market``
    filters: Any = None  # the exchange filters a re-simulated session ran with (``SimVenue(filters=)``)


def resolve_symbols(loaded: LoadedConfig, requested: list[str] | None, data_dir: Path | None) -> list[str]:
    """The session's symbols: ``--symbols``, else those with data, else the universe."""
    universe = loaded.config.universe.symbols
    if requested:
        bad = [s for s in requested if s not in universe]
        if bad:
            raise ValueError(f"--symbols: {', '.join(bad)} not in the universe ({', '.join(sorted(universe))})")
        return list(dict.fromkeys(requested))
    if data_dir is not None:
        from engine.venues.kline_csv import available_symbols

        have = [s for s in available_symbols(data_dir) if s in universe]
        if not have:
            raise ValueError(f"--data: no <SYMBOL>.csv for a universe symbol in {data_dir}")
        return have
    return sorted(universe)


def make_sim_venue(loaded: LoadedConfig, symbols: list[str], opts: SimOptions) -> Any:
    """The simulated venue over CSV bars (``opts.data_dir``) or a seeded generated market."""
    from engine.venues.sim import INTERVAL_MS, SimVenue

    cfg = loaded.config
    sim = cfg.runtime.sim
    market: Any
    if opts.market is not None:
        return SimVenue(cfg, symbols, opts.market, speed=opts.speed, data_source=opts.data_source,
                        filters=opts.filters)
    if opts.data_dir is not None:
        from engine.venues.kline_csv import CsvMarket

        if not opts.data_dir.is_dir():
            raise NotADirectoryError(f"--data: {opts.data_dir} is not a directory")
        from engine.venues.kline_csv import DEFAULT_MAX_JUMP

        market = CsvMarket(opts.data_dir, symbols, default_funding_rate=sim.default_funding_rate,
                           max_jump=DEFAULT_MAX_JUMP if opts.max_jump is None else opts.max_jump)
        source = f"csv:{opts.data_dir}"
    else:
        from engine.venues.market_gen import GeneratedMarket

        seed = sim.seed if opts.seed is None else opts.seed
        ticks = {s: cfg.universe.symbols[s].tick_size for s in symbols}
        market = GeneratedMarket(symbols, ticks, seed=seed, start_ms=sim.start_ms,
                                 interval_ms=INTERVAL_MS[cfg.universe.interval],
                                 default_funding_rate=sim.default_funding_rate,
                                 funding_interval_h=sim.funding_interval_h)
        source = f"generated:seed={seed}"
    return SimVenue(cfg, symbols, market, speed=opts.speed, data_source=source)


def make_venue(name: str, loaded: LoadedConfig, symbols: list[str], opts: SimOptions,
               settings: Settings | None = None) -> Venue:
    """``sim`` or ``binance``; raises VenueUnavailable with a one-line reason."""
    if name == "sim":
        venue: Venue = make_sim_venue(loaded, symbols, opts)
        return venue
    if name == "binance":
        try:
            from engine.venues.binance import make_binance_venue  # type: ignore[import-not-found,unused-ignore]
        except ImportError as exc:
            raise VenueUnavailable(f"the Binance venue is not available in this build ({exc})") from None
        binance = (settings or Settings()).binance
        return make_binance_venue(loaded, symbols, binance, clock=None)  # type: ignore[no-any-return]
    raise VenueUnavailable(f"unknown venue {name!r} (expected sim or binance)")


def build_engine(loaded: LoadedConfig, venue: Venue, store: Any, session_id: str, *,
                 state: EngineState | None = None, on_event: Callable[[Event], None] | None = None,
                 background: bool = True, step_atomic: bool = False,
                 on_commit: Callable[[list[Event], list[int]], None] | None = None) -> Engine:
    """The log writer (group commit from ``runtime.group_commit``, stamped by the venue's
    clock) and the engine over ``venue``; nothing recorded yet (``start_session``)."""
    from engine.loop import Engine
    from eventlog.writer import LogWriter

    gc = loaded.config.runtime.group_commit
    writer = LogWriter(store, session_id, clock_ns=venue.clock().now_ns, max_batch=gc.max_batch,
                       max_latency_ms=gc.max_latency_ms, background=background, step_atomic=step_atomic,
                       on_commit=on_commit)
    return Engine(venue, writer, state=state, on_event=on_event)


def start_session(engine: Engine, loaded: LoadedConfig, symbols: list[str], *, params: dict[str, Any],
                  data_source: str | None = None, account: str = "",
                  account_opened: dict[str, Any] | None = None,
                  resumed_at: tuple[int, str] = (0, "")) -> Event:
    """Record ``SessionStarted`` (the normalised config and its hash, the venue's mode, name
    and data source) and the venue's opening state; returns the ``SessionStarted``."""
    venue = engine.venue
    return engine.start(engine_version=loaded.config.runtime.engine_version, mode=venue.mode, venue=venue.name,
                        symbols=symbols, config=loaded.as_dict(), config_hash=loaded.config_hash,
                        normalisations=list(loaded.normalisations),
                        data_source=str(getattr(venue, "data_source", venue.name)) if data_source is None
                        else data_source,
                        params=params, ts_event_ns=venue.clock().now_ns(), account=account,
                        account_opened=account_opened, resumed_at=resumed_at)


def open_session(loaded: LoadedConfig, venue: Venue, store: Any, session_id: str, symbols: list[str], *,
                 params: dict[str, Any] | None = None, account: str = "",
                 account_opened: dict[str, Any] | None = None,
                 on_event: Callable[[Event], None] | None = None, background: bool = True,
                 on_commit: Callable[[list[Event], list[int]], None] | None = None) -> Engine:
    """``build_engine`` + ``start_session``: a started engine; the caller drives
    ``engine.run(...)`` (or steps ``engine.apply(engine.venue.next_updates())``) and ends it."""
    engine = build_engine(loaded, venue, store, session_id, on_event=on_event, background=background,
                          on_commit=on_commit)
    start_session(engine, loaded, symbols, params=params or {}, account=account, account_opened=account_opened)
    return engine


def build_sim_engine(loaded: LoadedConfig, symbols: list[str], market: Any, store: Any, session_id: str, *,
                     background: bool = False, params: dict[str, Any] | None = None) -> Engine:
    """A started Engine on the simulated venue over ``market`` (tests and embedding).

    Records SessionStarted and the opening account reading; the caller drives
    ``engine.run(...)`` or steps ``engine.apply(engine.venue.next_updates())``.
    """
    venue = make_sim_venue(loaded, symbols, SimOptions(market=market))
    return open_session(loaded, venue, store, session_id, symbols, params=params, background=background)
