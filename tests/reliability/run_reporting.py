"""``hedge`` with the log writer reporting each commit: ``python -m tests.reliability.run_reporting run ...``.

The crash test needs to know what the engine believed was durable at the moment
it was killed. This chains a reporter into the real ``LogWriter``'s public
``on_commit`` hook, so after each batch the store accepted it prints ``COMMITTED <global seq>
<session_seq>`` on stdout, flushed - so every number printed had committed before
the print. Nothing else changes: the same CLI, engine and store run.
"""

from __future__ import annotations

import functools
import sys
from typing import Any

from eventlog import writer

_init = writer.LogWriter.__init__


@functools.wraps(_init)
def _init_reporting(self: writer.LogWriter, *args: Any, **kwargs: Any) -> None:
    """Chain a reporting ``on_commit`` (public hook: called after the store accepted a batch)."""
    inner = kwargs.get("on_commit")

    def report(batch: list[Any], ids: list[int]) -> None:
        if ids:
            print(f"COMMITTED {ids[-1]} {batch[-1].session_seq}", flush=True)
        if inner is not None:
            inner(batch, ids)

    kwargs["on_commit"] = report
    _init(self, *args, **kwargs)


writer.LogWriter.__init__ = _init_reporting  # type: ignore[method-assign]

if __name__ == "__main__":
    from hedge.cli import main

    sys.exit(main(sys.argv[1:]))
