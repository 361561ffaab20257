"""``hedge`` with the log writer reporting each commit: ``python -m tests.reliability.run_reporting run ...``.

The crash test needs to know what the engine believed was durable at the moment
it was killed. This wraps the real ``LogWriter._write`` (the group commit) and,
after each batch the store accepted, prints ``COMMITTED <global seq>
<session_seq>`` on stdout, flushed - so every number printed had committed before
the print. Nothing else changes: the same CLI, engine and store run.
"""

from __future__ import annotations

import sys
from typing import Any

from eventlog import writer

_original = writer.LogWriter._write


def _write_and_report(self: writer.LogWriter, batch: list[Any]) -> None:
    _original(self, batch)
    if self._error is None and batch:
        print(f"COMMITTED {self.last_global_seq} {self.durable_session_seq}", flush=True)


writer.LogWriter._write = _write_and_report  # type: ignore[method-assign]

if __name__ == "__main__":
    from hedge.cli import main

    sys.exit(main(sys.argv[1:]))
