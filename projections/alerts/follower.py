"""Follow the log, fold the alert policy, deliver, record ``AlertSent`` / ``AlertFailed``.

Exactly once across restarts:

* alert ids derive from the triggering event (``policy.alert_id_for``), so a
  restarted follower re-derives the same alerts from the same log;
* on start it reads every ``AlertSent``/``AlertFailed`` in the log and skips those
  ids; it then delivers the rest **one at a time, in log order**, and commits the
  ``AlertSent`` (with Telegram's ``message_id``) before it sends the next one.

So a crash before Telegram accepted a message re-sends it once on restart, and a
crash after the record never re-sends. The one window left is a crash between
Telegram's acceptance and the record's commit (a few milliseconds): the Bot API has
no idempotency key, so that alert would be sent again - documented in docs/alerts.md.

Each follower process writes its records in its **own alerter session** (a fresh
id, ``stream="alerts"``, no ``SessionStarted`` so ``hedge sessions`` and
``--session last`` keep meaning trading sessions). The engine's session is never
written by two writers, so the store's unique ``(session, session_seq)`` key cannot
collide. One follower per home at a time (``alerts.lock``, an OS file lock).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from config.settings import TelegramSettings
from eventlog.events import AlertFailed, AlertSent, SessionStarted
from eventlog.store import EventStore, resolve_home
from eventlog.writer import LogWriter
from projections.alerts.delivery import TelegramSender, TelegramTarget, redact
from projections.alerts.policy import POLICY_TYPES, Alert, AlertPolicy

FOLLOW_TYPES: tuple[str, ...] = (*POLICY_TYPES, "AlertSent", "AlertFailed")
BACKLOG_SKIPPED = "skipped: backlog at start (--skip-backlog)"


class AlreadyRunning(RuntimeError):
    """Another alert follower holds this home's lock."""


@contextlib.contextmanager
def single_instance(home: str | os.PathLike[str] | None = None) -> Iterator[Path]:
    """Hold ``$HEDGE_HOME/alerts.lock`` (released by the OS even on SIGKILL)."""
    path = resolve_home(home) / "alerts.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AlreadyRunning(f"another 'hedge alerts' is already following {path.parent}") from None
        yield path
    finally:
        os.close(fd)


def done_alert_ids(store: EventStore) -> dict[str, str]:
    """alert_id -> "sent" | "failed" for every record in the log."""
    out: dict[str, str] = {}
    for ev in store.read(types=("AlertSent", "AlertFailed")):
        if isinstance(ev, AlertSent):
            out[ev.alert_id] = "sent"
        elif isinstance(ev, AlertFailed):
            out.setdefault(ev.alert_id, "failed")
    return out


@dataclass
class RunStats:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    already_done: int = 0
    position: int = 0
    alerter_session: str = ""
    log: list[str] = field(default_factory=list)


class _Stopped(Exception):
    pass


class AlertRunner:
    """The follow loop over one open store; ``sender`` is None only for dry folding."""

    def __init__(
        self, store: EventStore, sender: TelegramSender, *, sessions: list[str] | None = None,
        poll_s: float = 1.0, skip_backlog: bool = False, log: Callable[[str], None] | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
    ):
        self.store = store
        self.sender = sender
        self.policy = AlertPolicy(sessions)
        self.poll_s = poll_s
        self.skip_backlog = skip_backlog
        self.clock_ns = clock_ns
        self._log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self.stats = RunStats()
        self._writer: LogWriter | None = None
        self._stop: asyncio.Event | None = None

    def log(self, line: str) -> None:
        self._log(redact(line, self.sender.target.token))

    # -- recording -------------------------------------------------------------------

    def _record(self, cls: type[AlertSent] | type[AlertFailed], **fields: object) -> None:
        if self._writer is None:
            sid = uuid.uuid4().hex
            self._writer = LogWriter(self.store, sid, clock_ns=self.clock_ns, background=False)
            self.stats.alerter_session = sid
        self._writer.emit(cls, stream="alerts", ts_event_ns=self.clock_ns(), **fields)  # type: ignore[arg-type]
        self._writer.flush()

    async def _sleep(self, seconds: float) -> None:
        stop = self._stop
        if stop is None:
            await asyncio.sleep(seconds)
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=max(0.0, seconds))
        if stop.is_set():
            raise _Stopped

    async def _deliver(self, a: Alert, backlog: bool) -> None:
        if backlog and self.skip_backlog:
            self._record(AlertFailed, alert_id=a.alert_id, kind=a.kind, error=BACKLOG_SKIPPED, attempts=0,
                         trigger_seq=a.trigger_seq)
            self.stats.skipped += 1
            return
        cfg = self.policy.by_session[a.session_id].cfg.alerts
        self.sender.configure(attempts=cfg.retry_attempts, base_s=cfg.retry_base_s, max_s=cfg.retry_max_s,
                              timeout_s=cfg.request_timeout_s)
        d = await self.sender.send(a.text)
        if d.ok:
            self._record(AlertSent, alert_id=a.alert_id, kind=a.kind, text=a.text,
                         chat_id=self.sender.target.chat_id, message_id=d.message_id, attempts=d.attempts,
                         trigger_seq=a.trigger_seq)
            self.stats.sent += 1
            self.log(f"hedge alerts: sent {a.kind} {a.alert_id} (message {d.message_id}, {d.attempts} attempt(s))")
        else:
            self._record(AlertFailed, alert_id=a.alert_id, kind=a.kind, error=redact(d.error, self.sender.target.token),
                         attempts=d.attempts, trigger_seq=a.trigger_seq)
            self.stats.failed += 1
            self.log(f"hedge alerts: FAILED {a.kind} {a.alert_id} after {d.attempts} attempt(s): {d.error}")

    # -- the loop --------------------------------------------------------------------

    async def run(self, *, follow: bool, stop: asyncio.Event | None = None) -> RunStats:
        """Catch up (and keep following if ``follow``) until ``stop`` is set."""
        self._stop = stop
        self.sender.sleep = self._sleep
        done = set(done_alert_ids(self.store))
        head_at_start = self.store.last_seq()
        pos = 1
        try:
            while True:
                for batch in self.store.read_batches(pos, types=FOLLOW_TYPES, batch=2000):
                    for ev in batch:
                        pos = ev.seq + 1
                        if isinstance(ev, (AlertSent, AlertFailed)):
                            done.add(ev.alert_id)
                            continue
                        alerts = self.policy.apply(ev)
                        if ev.session_id in self.policy.unreadable and isinstance(ev, SessionStarted):
                            self.log(f"hedge alerts: session {ev.session_id} skipped: "
                                     f"{self.policy.unreadable[ev.session_id]}")
                        for a in alerts:
                            if a.alert_id in done:
                                self.stats.already_done += 1
                                continue
                            await self._deliver(a, backlog=ev.seq <= head_at_start)
                            done.add(a.alert_id)
                            if stop is not None and stop.is_set():
                                return self.stats
                    self.stats.position = pos - 1
                if not follow or (stop is not None and stop.is_set()):
                    return self.stats
                await self._sleep(self.poll_s)
        except _Stopped:
            return self.stats
        finally:
            self.stats.position = pos - 1
            await self.sender.close()


class AlertFollower:
    """Run the follower in a background thread beside the engine (never blocks it).

    ``AlertFollower(home, store_url=None).start()`` ... ``.stop()``. The thread has
    its own event loop and its own store connection; a Telegram outage only slows
    this thread. Errors never propagate: they end the thread, land in ``.error``
    (token redacted) and one line on stderr.
    """

    def __init__(
        self, home: str | os.PathLike[str] | None = None, store_url: str | None = None, *,
        sessions: list[str] | None = None, target: TelegramTarget | None = None, poll_s: float = 1.0,
        skip_backlog: bool = False, log: Callable[[str], None] | None = None,
    ):
        self.home = home
        self.store_url = store_url
        self.sessions = sessions
        self.target = target
        self.poll_s = poll_s
        self.skip_backlog = skip_backlog
        self._log = log
        self.error: str | None = None
        self.stats: RunStats | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()

    def start(self) -> AlertFollower:
        self._thread = threading.Thread(target=self._main, name="hedge-alerts", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=30)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _main(self) -> None:
        token = self.target.token if self.target else None
        try:
            asyncio.run(self._amain())
        except BaseException as exc:  # the engine must never see this
            self.error = redact(f"{type(exc).__name__}: {exc}", token)
            print(f"hedge alerts: stopped: {self.error}", file=sys.stderr, flush=True)
        finally:
            self._ready.set()

    async def _amain(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._ready.set()
        target = self.target
        if target is None:
            raise ValueError("no Telegram target (TELEGRAM_BOT_TOKEN / TELEGRAM_CHAT_ID)")
        with single_instance(self.home), EventStore.open(self.home, self.store_url) as store:
            runner = AlertRunner(store, TelegramSender(target), sessions=self.sessions, poll_s=self.poll_s,
                                 skip_backlog=self.skip_backlog, log=self._log)
            self.stats = runner.stats
            await runner.run(follow=True, stop=self._stop)


def start_if_configured(
    home: str | os.PathLike[str] | None = None, store_url: str | None = None, *,
    session_id: str | None = None, telegram: TelegramSettings | None = None,
) -> AlertFollower | None:
    """For ``hedge run``: start a follower thread for this session when Telegram is configured.

    Returns ``None`` (and starts nothing) unless ``TELEGRAM_BOT_TOKEN`` is set; a bad
    setting (no chat id, malformed token) is one stderr line, never an exception.
    """
    if telegram is None or not telegram.token:
        return None
    try:
        target = TelegramTarget.from_settings(telegram)
    except ValueError as exc:
        print(f"hedge alerts: not started: {exc}", file=sys.stderr, flush=True)
        return None
    return AlertFollower(home, store_url, sessions=[session_id] if session_id else None, target=target).start()
