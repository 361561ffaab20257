"""How ``hedge run`` ends on signals and on a closed stdout.

* The first SIGINT (Ctrl-C) or SIGTERM asks for a clean stop: the loop ends after
  the current step, ``SessionEnded`` is recorded, the writer flushes.
* A second one forces a prompt exit: if the loop is still running it is broken
  off at once (``KeyboardInterrupt``) and the session is ended as ``interrupted``;
  if ``SessionEnded`` is already committed (printing the summary), the process
  exits at once with 130; while it is being committed, the commit gets at most
  ``FORCED_GRACE_S`` before the process exits anyway (a hung store cannot hold it).
  Every commit is one transaction, so the log is consistent either way (the same
  guarantee as kill -9); ``SessionEnded`` is emitted once (``hedge run``'s ``_end``).
* A closed stdout (``hedge run | head -1``) is noticed between steps
  (``stdout_closed``: the pipe reports an error once its reader is gone) and on
  any write (``say`` catches ``BrokenPipeError``); the run then ends cleanly as
  ``stdout closed`` and prints nothing more to stdout.
"""

from __future__ import annotations

import os
import select
import signal
import stat
import sys
import threading
from collections.abc import Callable
from typing import Any

FORCED_GRACE_S = 10.0
EXIT_FORCED = 130


class Stopper:
    """SIGINT/SIGTERM policy for one run (install in the main thread only)."""

    def __init__(self, on_first: Callable[[], None]):
        self.on_first = on_first
        self.stopping = False
        self.forced = False
        self.ending = False
        self.durable = False  # SessionEnded is committed: nothing is left to lose
        self._old: dict[int, Any] = {}
        self._dog = False

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        for sig, h in self._old.items():
            signal.signal(sig, h)
        self._old.clear()

    def begin_ending(self) -> None:
        """From here on a further signal exits at once (the log is already consistent)."""
        self.ending = True
        if self.forced:
            self._watchdog()

    def _watchdog(self) -> None:
        if not self._dog:
            self._dog = True
            _watchdog()

    def _handle(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if not self.stopping:
            self.stopping = True
            self.on_first()
            _err(f"hedge run: {name}: stopping after the current step (again to force)")
            return
        self.forced = True
        if self.ending and self.durable:
            _err(f"hedge run: {name} again: exiting now; the session is ended and committed")
            _exit_forced()
        if self.ending:
            _err(f"hedge run: {name} again: committing the session's end (at most {FORCED_GRACE_S:g} s)")
            self._watchdog()
            return
        _err(f"hedge run: {name} again: breaking off the session")
        self._watchdog()
        raise KeyboardInterrupt


def _watchdog() -> None:
    def fire() -> None:
        _err(f"hedge run: the forced stop did not finish within {FORCED_GRACE_S:g} s: exiting now")
        _exit_forced()

    t = threading.Timer(FORCED_GRACE_S, fire)
    t.daemon = True
    t.start()


def _err(text: str) -> None:
    try:
        print(text, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


class Out:
    """stdout that notices when nobody reads it any more."""

    def __init__(self) -> None:
        self.closed = False
        self._poll: Any = None
        try:
            fd = sys.stdout.fileno()
            if stat.S_ISFIFO(os.fstat(fd).st_mode) or stat.S_ISSOCK(os.fstat(fd).st_mode):
                p = select.poll()
                p.register(fd, select.POLLERR | select.POLLHUP)
                self._poll = p
        except (OSError, ValueError, AttributeError):
            self._poll = None

    def stdout_closed(self) -> bool:
        """True once the reader of a piped stdout has gone (checked without writing)."""
        if self.closed:
            return True
        if self._poll is not None and self._poll.poll(0):
            self._mark_closed()
        return self.closed

    def say(self, text: str) -> None:
        """Print a line to stdout; a broken pipe marks stdout closed instead of raising."""
        if self.closed:
            return
        try:
            print(text, flush=True)
        except (BrokenPipeError, ValueError):
            self._mark_closed()

    def _mark_closed(self) -> None:
        self.closed = True
        try:  # later writes (and the interpreter's final flush) go nowhere, silently
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        except (OSError, ValueError):
            pass


def _exit_forced() -> None:
    """Exit now, and take the projection follower along: it shares our stderr, and a reader
    waiting for that pipe to close must not wait for its final catch-up."""
    from hedge.follower_process import kill_running

    kill_running()
    os._exit(EXIT_FORCED)
