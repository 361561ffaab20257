"""``hedge run``: the trading loop (simulated venue by default), every step an event.

Records ``SessionStarted`` (the normalised config and its hash) first and
``SessionEnded`` (with the summary) last; prints the session id at the start and
a short summary at the end. Env flags keep the seeds' meaning: ``DRY_RUN=1``
never sends real orders, ``BINANCE_TESTNET=1`` uses testnet endpoints,
``EXECUTOR_ONCE=1`` is ``--once`` (all read once by the CLI: ``args.settings``). The
session is wired by ``engine.bootstrap`` (venue, writer, engine, ``start``). SIGHUP reloads the config directory: the change
is recorded as ``ConfigChanged`` (every changed key, old and new value, the new
hash) and decisions after it use the new config; a bad edit is refused and the
session goes on with the config it had.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hedge.cli import UsageError
from hedge.progress import counter
from hedge.run_status import StatusLine, is_endless, start_lines
from hedge.settings import of as settings_of

STATUS_EVERY_S = 10.0


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("--venue", choices=("sim", "binance"), default="sim", help="venue adapter (default sim)")
    p.add_argument("--account", metavar="NAME",
                   help="the account this session continues (default $HEDGE_ACCOUNT, else runtime.account, "
                        "else main); an account keeps one mode and venue for life (docs/accounts.md)")
    p.add_argument("--data", metavar="DIR", help="kline CSVs <SYMBOL>.csv (open_time_ms,open,high,low,close,volume); "
                   "default: a generated, seeded market")
    p.add_argument("--max-jump", type=float, metavar="RATIO",
                   help="--data: refuse a bar whose high is more than RATIO x the previous close, or whose "
                   "low is less than the previous close / RATIO (a spike; default 10)")
    p.add_argument("--symbols", metavar="LIST", help="comma-separated symbols (default: all with data / the universe)")
    p.add_argument("--speed", default="max", metavar="N|max",
                   help="simulated clock rate: N x real time, or max (default)")
    p.add_argument("--bars", type=int, metavar="N", help="stop after N bar steps")
    p.add_argument("--until", metavar="TIME", help="stop at this market time (ISO 8601 UTC or epoch ms)")
    p.add_argument("--once", action="store_true", help="one iteration and exit (as EXECUTOR_ONCE=1)")
    p.add_argument("--seed", type=int, help="seed of the generated market (default runtime.sim.seed)")
    p.add_argument("--session-id", metavar="UUID", help="explicit session id (default: a new random one)")
    p.add_argument("--no-projections", action="store_true", help="do not run the projection follower")
    p.add_argument("--quiet", action="store_true", help="print only the session id and the summary")
    p.add_argument("--status-every", type=float, default=STATUS_EVERY_S, metavar="SECONDS",
                   help="seconds between one-line status reports when no progress bar is drawn "
                        f"(stderr not a terminal, --speed N, --until, an endless run; default {STATUS_EVERY_S:g})")
    p.add_argument("--full", action="store_true",
                   help="end with the full report (per-symbol and per-month tables), not the short one")
    p.add_argument("--shadow", dest="shadow_sets", action="append", default=[], metavar="KEY=VALUE",
                   help="shadow pipeline overlay (repeatable; needs pipeline_v6_shadow_enabled): a second decider "
                        "on the same bars with this config change, on simulated matching")


CHECKPOINT_EVERY_EVENTS = 250_000  # events between two resume checkpoints of a running session


def parse_speed(text: str) -> float | None:
    if text == "max":
        return None
    try:
        v = float(text)
    except ValueError:
        raise UsageError(f"--speed: expected a number or 'max', got {text!r}") from None
    if not v > 0:
        raise UsageError(f"--speed: must be > 0, got {text!r}")
    return v


def parse_until(text: str | None) -> int | None:
    """ISO 8601 (UTC if no zone) or epoch milliseconds -> epoch ns."""
    if text is None:
        return None
    if text.isdigit():
        from hedge.argcheck import epoch_ms

        return epoch_ms("--until", int(text)) * 1_000_000
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--until: expected ISO 8601 time or epoch ms, got {text!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1_000_000_000)


def _session_id(text: str | None) -> str:
    if not text:
        return str(uuid.uuid4())
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise UsageError(f"--session-id: not a UUID: {text!r}") from None


def _start_side(name: str, start: Any) -> Any:
    """Start a side thread (projections, alerts); a failure is one stderr line, never fatal."""
    try:
        return start()
    except (ImportError, AttributeError):
        return None
    except Exception as exc:  # side threads must never stop trading
        print(f"hedge run: {name} not started: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None


def _stop_side(name: str, thread: Any) -> None:
    if thread is None:
        return
    try:
        thread.stop()
    except Exception as exc:
        print(f"hedge run: {name} stopped with an error: {type(exc).__name__}: {exc}", file=sys.stderr)


def _start_projections(home: Path, account: str, store_url: str | None) -> Any:
    """The projection follower as a child process (``hedge.follower_process``): the engine and
    the projections use two cores; it dies with this process, however this one ends."""
    def start() -> Any:
        from hedge.cli import environment
        from hedge.follower_process import FollowerProcess

        follower = FollowerProcess(home, account, store_url=store_url, environment=environment())
        follower.start()
        return follower

    return _start_side("projections", start)


def _stop_projections(follower: Any) -> Any:
    """Final catch-up: SIGTERM, then wait until the child has written its last state files and
    exited. Returns how it ended (``FollowerEnd``) or None; a bad end is one stderr line."""
    if follower is None:
        return None
    try:
        line = follower.stop()
    except Exception as exc:
        line = f"hedge run: projections stopped with an error: {type(exc).__name__}: {exc}"
    if line:
        print(line, file=sys.stderr, flush=True)
    return follower.end


def _start_alerts(home: Path, session_id: str, settings: Any) -> Any:
    """Telegram alerts for this session in their own thread, when TELEGRAM_BOT_TOKEN is set.

    A slow or failing Telegram never delays the loop: the follower reads the log on its own
    connection and records AlertSent/AlertFailed in its own alerter session.
    """

    if not settings.telegram.token:
        return None  # not configured: do not even import aiogram (seconds of start-up)

    def start() -> Any:
        from projections.alerts.follower import start_if_configured

        return start_if_configured(home, settings.store_url, session_id=session_id, telegram=settings.telegram)

    return _start_side("alerts", start)


def format_summary(summary: dict[str, Any]) -> str:
    vg = summary.get("vetoes_by_gate", {})
    vetoes = ", ".join(f"{g} {n}" for g, n in sorted(vg.items(), key=lambda kv: (-kv[1], kv[0]))) or "none"
    nav = summary.get("final_nav_usd")
    lines = [
        f"  events {summary.get('events', 0)}  bar steps {summary.get('bar_steps', 0)}  "
        f"bars {summary.get('bars', 0)}",
        f"  intents {summary.get('intents', 0)}  vetoes {summary.get('vetoes', 0)} ({vetoes})  "
        f"clamps {summary.get('clamps', 0)}",
        f"  orders {summary.get('orders', 0)}  rejects {summary.get('rejects', 0)}  "
        f"fallbacks {summary.get('fallbacks', 0)}  fills {summary.get('fills', 0)} "
        f"(maker {summary.get('maker_fills', 0)})  fees {summary.get('fees_usd', 0.0):,.2f} USD",
        f"  realized {summary.get('realized_pnl_usd', 0.0):,.2f} USD  funding {summary.get('funding_usd', 0.0):,.2f} USD  "
        f"max dd {summary.get('max_dd_frac', 0.0):.2%}  final NAV "
        + (f"{nav:,.2f} USD" if isinstance(nav, int | float) else "n/a"),
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from config.flags import flags_of, with_flags
    from config.loader import load_config
    from engine.bootstrap import (
        SimOptions,
        VenueUnavailable,
        build_engine,
        make_venue,
        resolve_symbols,
        start_session,
    )
    from eventlog.store import EventStore
    from eventlog.writer import WriterFailed
    from hedge.settings import home as home_of

    settings = settings_of(args)
    flag_overrides = settings.v6_overrides()
    loaded = with_flags(load_config(getattr(args, "config", None)), flag_overrides)
    cfg = loaded.config
    speed = parse_speed(args.speed)
    until_ns = parse_until(args.until)
    if args.bars is not None and args.bars < 1:
        raise UsageError("--bars: must be >= 1")
    if not args.status_every > 0:
        raise UsageError(f"--status-every: must be > 0, got {args.status_every!r}")
    if args.seed is not None:
        from hedge.argcheck import int_in

        int_in("--seed", args.seed, 0, 2**32 - 1)
    max_jump = getattr(args, "max_jump", None)
    if max_jump is not None and not (math.isfinite(max_jump) and 1 < max_jump <= 1e12):
        raise UsageError(f"--max-jump: must be a ratio in (1, 1e12], got {max_jump!r}")
    once = bool(args.once or settings.executor_once)
    data_dir = Path(args.data) if args.data else None
    if data_dir is not None and not data_dir.is_dir():
        raise UsageError(f"--data: {data_dir} is not a directory")
    if args.data and args.venue != "sim":
        raise UsageError("--data is only for --venue sim")
    requested = [s.strip().upper() for s in args.symbols.split(",") if s.strip()] if args.symbols else None
    symbols = resolve_symbols(loaded, requested, data_dir)
    session_id = _session_id(args.session_id)
    try:
        venue = make_venue(args.venue, loaded, symbols, SimOptions(data_dir, args.seed, speed, max_jump), settings)
    except VenueUnavailable as exc:
        raise UsageError(str(exc)) from None
    from hedge.accounts_cli import account_name

    account = account_name(getattr(args, "account", None), default=cfg.runtime.account, settings=settings)
    home = home_of(args)

    def open_store() -> EventStore:
        return EventStore.open(home, settings.store_url, sync=settings.sqlite_sync, layout=settings.log_layout)

    store = open_store()
    if store.next_session_seq(session_id) != 1:
        store.close()
        raise UsageError(f"--session-id: session {session_id} already exists in {store.location}")
    _check_log_before_appending(store, home)
    try:
        lock, resume, opened = _open_account(store, home, account, venue, cfg)
    except BaseException:
        store.close()
        raise
    if hasattr(venue, "resume_from"):  # Binance: fills made while we were down are read back from here
        from engine.venues.binance.restart import resume_point

        venue.resume_from(resume_point(store, venue.mode, set(resume.sessions)) if resume.sessions else None)
    try:
        shadow = _make_shadow(home, cfg, args.shadow_sets, loaded.as_dict())
    except UsageError:
        lock.release()
        store.close()
        raise
    # the simulator commits whole bar steps, so even a kill -9 leaves the log at a step
    # boundary and the next session resumes exactly there (docs/accounts.md)
    engine = build_engine(loaded, venue, store, session_id, state=resume.state, step_atomic=venue.name == "sim",
                          on_event=shadow.on_event if shadow is not None else None)
    writer = engine.writer
    from hedge.risk_reset import ResetPickup, pickup_start  # operator resets (docs/risk.md)

    pickup = ResetPickup(open_store, account, pickup_start(store, resume.sessions),
                         on_error=lambda m: print(f"hedge run: {m}", file=sys.stderr, flush=True))
    stop: dict[str, bool] = {"reload": False}
    from hedge.run_signals import Out, Stopper

    out = Out()
    stopper = Stopper(getattr(venue, "request_stop", None) or (lambda: None))
    ended: list[Any] = []

    def _end(why: str) -> Any:
        """Record SessionEnded exactly once, whatever path ends the session."""
        if not ended:
            stopper.begin_ending()
            stats = getattr(venue, "session_stats", None)  # e.g. Binance's loop stall figures
            ended.append(engine.end(why, stats() if stats is not None else None))
        return ended[0]

    def _should_stop() -> bool:
        return stopper.stopping or out.stdout_closed()

    def _hup(signum: int, frame: Any) -> None:
        stop["reload"] = True
        wake = getattr(venue, "wake", None)
        if wake is not None:
            wake()

    ck_at = [0]
    follower_check_at = [0.0]

    def _check_follower() -> None:
        """Once a second: a projection follower that died is said when it happens, not at the end."""
        now = time.monotonic()
        if follower is None or now < follower_check_at[0]:
            return
        follower_check_at[0] = now + 1.0
        line = follower.check()
        if line:
            print(line, file=sys.stderr, flush=True)

    def _between() -> None:
        _check_follower()
        # at a step boundary: now and then a resume checkpoint, so even a session killed
        # later resumes from near its end rather than folding the whole account
        if engine.state.summary.events - ck_at[0] >= CHECKPOINT_EVERY_EVENTS:
            ck_at[0] = engine.state.summary.events
            writer.flush()
            _save_resume(home, account, engine, venue, writer, store, resume)
        for ev in pickup(engine):
            print(f"hedge run: risk reset by {ev.operator}: {ev.before_state} -> {ev.to_state}",  # type: ignore[attr-defined]
                  file=sys.stderr, flush=True)
        if not stop.get("reload"):
            return
        stop["reload"] = False
        try:
            fresh = with_flags(load_config(getattr(args, "config", None)), flag_overrides)
        except Exception as exc:  # a bad edit never stops trading: keep the running config
            print(f"hedge run: config reload refused, still running on {engine.state.config_hash[:12]}: {exc}",
                  file=sys.stderr, flush=True)
            return
        ev = engine.change_config(fresh.as_dict(), fresh.config_hash)
        if ev is None:
            print("hedge run: config reloaded, nothing changed", file=sys.stderr, flush=True)
        else:
            keys = ", ".join(c.key for c in ev.changes)  # type: ignore[attr-defined]
            print(f"hedge run: config reloaded -> {fresh.config_hash[:12]} ({keys})", file=sys.stderr, flush=True)

    old_handlers: dict[int, Any] = {}
    if _main_thread():
        stopper.install()
        if hasattr(signal, "SIGHUP"):
            old_handlers[signal.SIGHUP] = signal.signal(signal.SIGHUP, _hup)
    params = {"bars": args.bars, "until": args.until, "speed": args.speed, "once": once,
              "seed": args.seed if args.seed is not None else cfg.runtime.sim.seed,
              "data": str(data_dir) if data_dir else None,
              "dry_run": settings.binance.dry_run, "testnet": settings.binance.testnet,
              "v6_flags": flags_of(cfg), "v6_flags_env": sorted(flag_overrides),
              "shadow": {"sets": list(args.shadow_sets)} if shadow is not None else None}
    data_source = str(getattr(venue, "data_source", args.venue))
    follower = None
    alerter = None
    wall0 = time.perf_counter()
    reason = "error"
    try:
        start_session(engine, loaded, symbols, params=params, data_source=data_source, account=account,
                      account_opened=opened, resumed_at=(resume.last_seq, resume.last_hash))
        out.say(f"session {session_id}  account {account} ({'new' if opened else _resumed_text(resume)})  "
                f"venue {venue.name} ({venue.mode})  symbols {','.join(symbols)}  "
                f"data {data_source}  config {loaded.config_hash[:12]}")
        if not args.no_projections:
            writer.flush()
            follower = _start_projections(home, account, settings.store_url)
        alerter = _start_alerts(home, session_id, settings)
        expected = _expected_steps(venue)
        total = args.bars or (expected if until_ns is None else None)  # --until: the data's end is not ours
        bar = not args.quiet and total is not None and speed is None and sys.stderr.isatty()
        if not args.quiet:
            for line in start_lines(endless=is_endless(bars=args.bars, until_ns=until_ns, once=once,
                                                       expected_steps=expected), venue_mode=venue.mode):
                print(line, file=sys.stderr, flush=True)
        status = None if bar or args.quiet else StatusLine(engine, every_s=args.status_every)

        def _between_steps() -> None:
            _between()
            if status is not None:
                status.poll()

        try:
            with counter("bars", total, enabled=bar) as tick:
                reason = engine.run(max_bars=args.bars, until_ns=until_ns, once=once,
                                    idle=lambda: time.sleep(0.05), should_stop=_should_stop,
                                    progress=tick, between=_between_steps)
        except KeyboardInterrupt:
            reason = "interrupted"
        if reason == "stopped" and out.closed:
            reason = "stdout closed"
        bars = sum(s.bars for s in engine.state.syms.values())
        summary = dict(_end(reason).summary)
        writer.close()  # everything durable: the rate below includes the last commit
        stopper.durable = True
        _save_resume(home, account, engine, venue, writer, store, resume)
        if shadow is not None:
            shadow.close()  # the shadow finishes the last bars before the final projection
        loop_wall = time.perf_counter() - wall0
        ran_follower = follower is not None
        follower_end = _stop_projections(follower)  # the state files are final when it returns
        follower = None
        wall = time.perf_counter() - wall0
        _stop_side("alerts", alerter)
        alerter = None
        out.say(f"session {session_id} ended ({reason})")
        out.say(format_summary(summary))
        if not args.quiet:
            out.say(_rate_lines(bars, summary["events"], loop_wall, wall, store.location,
                                ran_follower, follower_end))
        if args.no_projections:
            out.say("  (no report: --no-projections left the audit tables behind; "
                    "'hedge rebuild' then 'hedge report')")
        elif not out.closed:
            from hedge.cmd_report import print_after_run

            try:
                out.say("")
                print_after_run(home, session_id, full=args.full, account=account)
            except BrokenPipeError:
                out.say("")  # marks stdout closed; the session itself ended cleanly
        return 0
    except WriterFailed as exc:
        print(f"hedge run: the event log failed, trading stopped: {exc}", file=sys.stderr)
        return 1
    except BaseException as exc:
        try:
            from eventlog.redact import Redactor

            # an exception may carry an upstream's echo of a key: never into the log
            _end("interrupted" if isinstance(exc, KeyboardInterrupt)
                 else Redactor(*settings.secrets())(f"error: {type(exc).__name__}: {exc}"[:500]))
            writer.close()
        except Exception:
            pass
        raise
    finally:
        _stop_projections(follower)
        _stop_side("alerts", alerter)
        pickup.close()
        try:
            venue.close()
        finally:
            lock.release()
            store.close()
            stopper.restore()
            for signum, h in old_handlers.items():
                signal.signal(signum, h)


def _rate_lines(bars: int, events: int, loop_s: float, wall_s: float, location: str, ran_follower: bool,
                follower_end: Any) -> str:
    """The run's speed: the loop's (every event durable) and, with projections, until they are final.

    Peak RSS: this process's, the follower's and their sum (two processes: the sum is what
    the machine pays, at most - their peaks need not coincide).
    """
    import resource

    from eventlog.peak_rss import peak_rss_mb

    own = resource.getrusage(resource.RUSAGE_SELF)
    engine_mb = peak_rss_mb()
    lines = [f"  {bars / loop_s:,.0f} bars/s, {events / loop_s:,.0f} events/s over {loop_s:.2f} s "
             f"(the loop, every event durable), peak RSS {engine_mb:,.0f} MB, "
             f"{own.ru_utime + own.ru_stime:.2f} CPU-s -> {location}"]
    if follower_end is not None and follower_end.ok:
        lines.append(f"  projections final after {wall_s:.2f} s ({bars / wall_s:,.0f} bars/s end to end), "
                     f"their peak RSS {follower_end.peak_rss_mb:,.0f} MB ({engine_mb + follower_end.peak_rss_mb:,.0f} "
                     f"MB with the engine's), {follower_end.cpu_s:.2f} CPU-s")
    elif ran_follower:
        lines.append("  projections not final (their follower ended early, see above): "
                     "'hedge project' catches them up")
    return "\n".join(lines)


def _open_account(store: Any, home: Path, account: str, venue: Any, cfg: Any) -> tuple[Any, Any, Any]:
    """Refuse a session of another mode or venue, take the account's lock, fold its log.

    All of it before the venue connects. Returns (lock, AccountResume, AccountOpened
    fields or None when the account exists).
    """
    from engine.resume import fold_account
    from eventlog.account_lock import AccountBusy, AccountLock
    from eventlog.accounts import AccountMismatch, account_index, account_mode, check_session

    mode = account_mode(venue.mode)
    accounts = account_index(store)
    try:
        info = check_session(accounts, account, mode, venue.name)
    except AccountMismatch as exc:
        raise UsageError(str(exc)) from None
    try:
        lock = AccountLock(store, account, home).acquire()
    except AccountBusy as exc:
        raise UsageError(str(exc)) from None
    try:
        from engine import resume_checkpoint
        from eventlog.accounts import account_home

        ck = resume_checkpoint.load(account_home(home, account), store, account) if info is not None else None
        sim_fold = None
        paper = venue.name == "sim" or getattr(venue, "dry", None) is not None  # Binance dry run: paper too
        if info is not None and paper:
            from engine.venues.sim_resume import SimResume

            sim_fold = ck[1].sim if ck is not None and ck[1].sim is not None else SimResume()
        if ck is not None and paper and ck[1].sim is None:
            ck = None  # a checkpoint without the paper account cannot resume it
        resume = fold_account(store, info, account, sinks=[sim_fold.apply] if sim_fold is not None else [],
                              start_seq=ck[0] if ck else 0, state=ck[1].engine if ck else None,
                              events=ck[1].events if ck else 0)
        if sim_fold is not None and venue.name == "sim":
            sim_fold.restore(venue)
        elif sim_fold is not None:
            venue.resume_paper(sim_fold)
    except BaseException:
        lock.release()
        raise
    opened = None
    if info is None:
        sim = cfg.runtime.sim
        opened = {"mode": mode, "venue": venue.name, "base_currency": "USDT",
                  "starting_capital_usd": sim.initial_balance_usd if mode in ("sim", "paper") else 0.0,
                  "data_source": str(getattr(venue, "data_source", venue.name))}
    return lock, resume, opened


def _save_resume(home: Path, account: str, engine: Any, venue: Any, writer: Any, store: Any, resume: Any) -> None:
    """The account's resume checkpoint after a clean end (a failure costs speed, never state)."""
    try:
        from engine import resume_checkpoint
        from eventlog.accounts import account_home

        seq = writer.last_global_seq
        if not seq:
            return
        sim = None
        if venue.name == "sim":
            from engine.venues.sim_resume import SimResume

            sim = SimResume.from_venue(venue)
        state = resume_checkpoint.ResumeState(account, engine.state, sim, resume.events + writer.committed)
        resume_checkpoint.save(account_home(home, account), seq, store.link_before(seq + 1).hex(), state)
    except Exception as exc:
        print(f"hedge run: resume checkpoint not written ({type(exc).__name__}: {exc}); "
              "the next session folds the whole account", file=sys.stderr)


def _resumed_text(resume: Any) -> str:
    n = len(resume.sessions)
    ck = f", checkpoint at seq {resume.checkpoint_seq}" if resume.checkpoint_seq else ""
    return (f"resumed after {n} session{'s' if n != 1 else ''}, {resume.events:,} events, "
            f"at seq {resume.last_seq}{ck}")


def _check_log_before_appending(store: Any, home: Path) -> None:
    """Refuse to chain new events after rows that do not verify (``ChainBroken``, exit 1).

    Rows up to the projections checkpoint were checked when they were projected, so
    only the rows after it are read again (the whole log when there is none).
    """
    from eventlog.chaincheck import check_tail
    from eventlog.checkpoint import read_position

    pos = read_position(home / "projections" / "checkpoint.bin", "projections")
    anchor = (pos[0], pos[1]) if pos and pos[1] else None
    try:
        check_tail(store, anchor)
    except BaseException:
        store.close()
        raise


def _make_shadow(home: Path, cfg: Any, sets: list[str], config: dict[str, Any]) -> Any:
    """The live shadow pipeline when ``pipeline_v6_shadow_enabled`` (a bad overlay is a usage error)."""
    if not cfg.runtime.v6_flags.pipeline_v6_shadow_enabled:
        if sets:
            raise UsageError("--shadow needs runtime.v6_flags.pipeline_v6_shadow_enabled (or PIPELINE_V6_SHADOW_ENABLED=1)")
        return None
    from config.loader import ConfigError
    from replay.shadow import ShadowPipeline, check_shadow_sets

    try:
        check_shadow_sets(config, sets)
    except ConfigError as exc:
        raise UsageError(f"--shadow: {exc}") from None
    return ShadowPipeline(home, sets)


def _expected_steps(venue: Any) -> int | None:
    """Bar steps in a CSV market (for the progress bar); None when unknown."""
    n = getattr(getattr(venue, "market", None), "expected_steps", None)
    return int(n) if n else None


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
