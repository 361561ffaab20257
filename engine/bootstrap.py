"""Bootstrap: build the venue (sim or Binance) and its market data in one place.

``make_venue(name, loaded, symbols, options, env)`` is the only place that
chooses adapters. The simulated venue takes generated bars (seeded) or a
``--data`` directory of kline CSVs; ``binance`` is delegated to
``engine.venues.binance.make_binance_venue`` (DRY_RUN / BINANCE_TESTNET decide
its mode there).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config.loader import LoadedConfig
from engine.ports import Venue


class VenueUnavailable(RuntimeError):
    """The requested venue cannot be built here (missing adapter, missing keys...)."""


@dataclass(frozen=True)
class SimOptions:
    data_dir: Path | None = None
    seed: int | None = None
    speed: float | None = None  # None = as fast as possible
    max_jump: float | None = None  # CSV spike limit (None = kline_csv.DEFAULT_MAX_JUMP)


def env_flag(env: Mapping[str, str], name: str) -> bool | None:
    """True/False for 1/0-like values of ``env[name]``, None when unset."""
    v = env.get(name)
    if v is None or v == "":
        return None
    return v.strip().lower() in ("1", "true", "yes", "on")


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
               env: Mapping[str, str]) -> Venue:
    """``sim`` or ``binance``; raises VenueUnavailable with a one-line reason."""
    if name == "sim":
        venue: Venue = make_sim_venue(loaded, symbols, opts)
        return venue
    if name == "binance":
        try:
            from engine.venues.binance import make_binance_venue  # type: ignore[import-not-found,unused-ignore]
        except ImportError as exc:
            raise VenueUnavailable(f"the Binance venue is not available in this build ({exc})") from None
        return make_binance_venue(loaded, symbols, env, clock=None)  # type: ignore[no-any-return]
    raise VenueUnavailable(f"unknown venue {name!r} (expected sim or binance)")


def build_sim_engine(loaded: LoadedConfig, symbols: list[str], market: Any, store: Any, session_id: str, *,
                     background: bool = False, params: dict[str, Any] | None = None) -> Any:
    """A started Engine on the simulated venue over ``market`` (tests and embedding).

    Records SessionStarted and the opening account reading; the caller drives
    ``engine.run(...)`` or steps ``engine.apply(engine.venue.next_updates())``.
    """
    from engine.loop import Engine
    from engine.venues.sim import SimVenue
    from eventlog.writer import LogWriter

    venue = SimVenue(loaded.config, symbols, market, data_source="scripted")
    gc = loaded.config.runtime.group_commit
    writer = LogWriter(store, session_id, clock_ns=venue.clock().now_ns, max_batch=gc.max_batch,
                       max_latency_ms=gc.max_latency_ms, background=background)
    engine = Engine(venue, writer)
    engine.start(engine_version=loaded.config.runtime.engine_version, mode="sim", venue="sim",
                 symbols=symbols, config=loaded.as_dict(), config_hash=loaded.config_hash,
                 normalisations=list(loaded.normalisations), data_source="scripted",
                 params=params or {}, ts_event_ns=venue.clock().now_ns())
    return engine
