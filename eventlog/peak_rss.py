"""This process's peak resident memory, in MB (in the lowest layer: every command and bench reports it).

``getrusage(RUSAGE_SELF).ru_maxrss`` is the wrong figure for a process started by a large
one: Linux carries the parent's high-water mark across ``fork``/``vfork`` + ``exec`` (it
keeps the larger of the old and the new address space's peaks), so ``hedge run`` started
by a 500 MB benchmark process reported 500 MB of its own. ``VmHWM`` in
``/proc/self/status`` is the peak of this process's own address space since its ``exec``.
Elsewhere (no ``/proc``) the ``ru_maxrss`` figure is the best there is.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path


def peak_rss_mb(status: Path = Path("/proc/self/status")) -> float:
    try:
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0  # kB
    except (OSError, ValueError, IndexError):
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024.0 * 1024.0) if sys.platform == "darwin" else rss / 1024.0
