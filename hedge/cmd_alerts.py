"""``hedge alerts``: low-frequency Telegram alerts, decided by a pure policy over the log.

* ``--preview [--session S]`` prints what would be sent for a session (default: the
  last trading session) and whether it already was; no token needed.
* ``--once`` catches up (sends every alert not yet recorded as sent or failed) and exits.
* ``--follow`` catches up, then keeps following the log (``--poll`` seconds).

Sending needs ``TELEGRAM_BOT_TOKEN`` and ``TELEGRAM_CHAT_ID``; ``TELEGRAM_API_BASE``
points at a self-hosted Bot API server (default the official one). Every delivery
is recorded as ``AlertSent`` (``AlertFailed`` after the last retry), so a restart
never re-sends and never skips. See docs/alerts.md.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import signal
from datetime import UTC, datetime

from hedge.cli import UsageError
from hedge.settings import home as home_of
from hedge.settings import of as settings_of
from hedge.settings import open_store


def register(p: argparse.ArgumentParser) -> None:
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--follow", action="store_true", help="catch up, then follow the log and send")
    mode.add_argument("--once", action="store_true", help="catch up (send what is pending) and exit")
    mode.add_argument("--preview", action="store_true", help="print what would be sent; send nothing")
    p.add_argument("--session", metavar="S", help="only this session (id, prefix or 'last'); "
                   "--preview defaults to the last session, sending to all sessions")
    p.add_argument("--poll", type=float, default=1.0, metavar="SECONDS", help="follow poll interval (default 1)")
    p.add_argument("--skip-backlog", action="store_true",
                   help="record alerts already due at start as skipped (AlertFailed) instead of sending them")


def _when(ns: int) -> str:
    return datetime.fromtimestamp(-(-ns // 1_000_000_000), tz=UTC).strftime("%Y-%m-%d %H:%M")


def _preview(store: object, session: str | None) -> int:
    from eventlog.store import EventStore
    from projections.alerts.follower import done_alert_ids
    from projections.alerts.policy import POLICY_TYPES, AlertPolicy

    assert isinstance(store, EventStore)
    info = store.find_session(session or "last")
    from hedge.progress import counter

    policy = AlertPolicy([info.session_id])
    alerts = []
    with counter(f"alerts: folding session {info.session_id[:8]}, events read", None) as tick:
        for n, ev in enumerate(store.read(info.first_seq, session=info.session_id, types=POLICY_TYPES), 1):
            alerts.extend(policy.apply(ev))
            if n % 5000 == 0:
                tick(n)
    if info.session_id in policy.unreadable:
        raise UsageError(f"session {info.session_id}: recorded config does not load: "
                         f"{policy.unreadable[info.session_id]}")
    done = done_alert_ids(store)
    for i, a in enumerate(alerts, 1):
        status = done.get(a.alert_id, "pending")
        print(f"--- #{i} {_when(a.ts_event_ns)} UTC  {a.kind}{' (urgent)' if a.urgent else ''}  "
              f"[{status}]  {a.alert_id}")
        print(a.text)
    print("---")
    span = info.ended_ns or (alerts[-1].ts_event_ns if alerts else info.started_ns)
    days = max((span - info.started_ns) / 86_400e9, 1e-9)
    per_day = collections.Counter(a.ts_event_ns // 86_400_000_000_000 for a in alerts)
    kinds = collections.Counter(a.kind for a in alerts)
    print(f"session {info.session_id}: {len(alerts)} alert(s) over {days:.1f} day(s) = "
          f"{len(alerts) / days * 7:.2f}/week; busiest day {max(per_day.values(), default=0)}; "
          + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    return 0


async def _send(args: argparse.Namespace) -> int:
    from projections.alerts.delivery import DeliveryFatal, TelegramSender, TelegramTarget, redact
    from projections.alerts.follower import AlertRunner, AlreadyRunning, single_instance

    try:
        target = TelegramTarget.from_settings(settings_of(args).telegram)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        with single_instance(home_of(args)), open_store(args) as store:
            sessions = [store.find_session(args.session).session_id] if args.session else None
            runner = AlertRunner(store, TelegramSender(target), sessions=sessions, poll_s=args.poll,
                                 skip_backlog=args.skip_backlog)
            st = await runner.run(follow=args.follow, stop=stop)
    except AlreadyRunning as exc:
        raise UsageError(str(exc)) from None
    except DeliveryFatal as exc:
        raise UsageError(redact(str(exc), target.token)) from None
    except Exception as exc:  # never let the token escape through an error line
        raise RuntimeError(redact(f"{type(exc).__name__}: {exc}", target.token)) from None
    print(f"hedge alerts: {st.sent} sent, {st.failed} failed, {st.skipped} skipped, "
          f"{st.already_done} already done; log position {st.position}")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.preview:
        with open_store(args, create=False) as store:
            return _preview(store, args.session)
    if args.skip_backlog and args.once:
        raise UsageError("--skip-backlog only makes sense with --follow")
    from hedge.argcheck import seconds

    seconds("--poll", args.poll)
    return asyncio.run(_send(args))
