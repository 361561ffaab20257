"""Progress for long work: a bar on a terminal, a one-line status every few seconds otherwise.

``counter(label, total)`` yields ``tick(done, total=None)``. On a terminal (stderr) it draws
a rich progress bar; when stderr is not a terminal (a pipe, a log file, CI) it prints
``label: done/total (rate/s)`` at most every ``STATUS_EVERY_S`` seconds, so no long verb
is silent; ``enabled=False`` says nothing at all.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

STATUS_EVERY_S = 10.0


class Tick(Protocol):
    def __call__(self, done: int, total: int | None = None) -> None: ...


class _StatusLines:
    def __init__(self, label: str, total: int | None, every_s: float):
        self.label = label
        self.total = total
        self.every_s = every_s
        self.t0 = time.monotonic()
        self.next_at = self.t0 + every_s

    def __call__(self, done: int, total: int | None = None) -> None:
        if total is not None:
            self.total = total
        now = time.monotonic()
        if now < self.next_at:
            return
        self.next_at = now + self.every_s
        of = f"/{self.total:,}" if self.total else ""
        rate = done / max(now - self.t0, 1e-9)
        try:
            print(f"{self.label}: {done:,}{of} ({rate:,.0f}/s)", file=sys.stderr, flush=True)
        except (OSError, ValueError):
            pass


@contextmanager
def counter(label: str, total: int | None, *, enabled: bool = True,
            every_s: float = STATUS_EVERY_S) -> Iterator[Tick]:
    """Yields ``tick(done, total=None)``; a bar on a terminal, status lines otherwise."""
    if not enabled:
        yield lambda done, total=None: None
        return
    if not sys.stderr.isatty():
        yield _StatusLines(label, total, every_s)
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  transient=True) as prog:
        task = prog.add_task(label, total=total)

        def tick(done: int, total: int | None = None) -> None:
            if total is not None:
                prog.update(task, completed=done, total=total)
            else:
                prog.update(task, completed=done)

        yield tick
