"""A progress bar for long work (rich), silent when output is not a terminal or disabled."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def counter(label: str, total: int | None, *, enabled: bool = True) -> Iterator[Callable[[int], None]]:
    """Yields ``tick(done)``; draws a bar on stderr when it is a terminal."""
    if not enabled or not sys.stderr.isatty():
        yield lambda done: None
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
        yield lambda done: prog.update(task, completed=done)
