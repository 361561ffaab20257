"""Parallel audit tables for ``hedge rebuild``: bucket ranges built by worker processes.

The audit rows of a bucket depend only on the bucket's events, except two columns
that need earlier history: ``nav`` (peak, drawdown, DD state) and ``fills`` (plan
id, fallback). A worker warms a projector with just the events those columns need
(``WARM_TYPES``, read with a type filter, a small share of the log), then folds its
contiguous range of buckets and writes each bucket as its canonical file. The
result is byte-identical to the sequential runner (the tests compare them), while
the main process folds the state files at the same time.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import signal
from pathlib import Path
from typing import Any

from eventlog import events as E
from eventlog.store import EventStore
from projections.audit import AuditWriter
from projections.fold import Projector

# what the stateful audit columns (nav peak/dd/state, fill plan id/fallback) depend on
WARM_TYPES = (E.SessionStarted, E.ConfigChanged, E.NavSnapshot, E.OrderSubmitted, E.RouterFallback)
_WARM_NAMES = tuple(t.__name__ for t in WARM_TYPES)
_PR_SET_PDEATHSIG = 1


def plan(last_seq: int, bucket_size: int, workers: int) -> list[tuple[int, int]]:
    """Contiguous bucket ranges [first, last] (inclusive), one per worker."""
    buckets = (last_seq - 1) // bucket_size + 1 if last_seq > 0 else 0
    workers = max(1, min(workers, buckets))
    if not buckets:
        return []
    step, extra = divmod(buckets, workers)
    out, b = [], 0
    for i in range(workers):
        n = step + (1 if i < extra else 0)
        out.append((b, b + n - 1))
        b += n
    return out


def build_range(home: str, store_url: str | None, first: int, last: int, bucket_size: int,
                last_seq: int, batch: int, audit_dir: str | None = None) -> int:
    """Write the audit files of buckets ``first..last``; returns the events folded."""
    store = EventStore.open(home, store_url, create=False)
    try:
        p = Projector()
        start = first * bucket_size + 1
        if start > 1:
            for evs in store.read_batches(1, stop=start - 1, batch=batch, types=_WARM_NAMES):
                p.apply_all(evs)
        stop = min((last + 1) * bucket_size, last_seq)
        audit = AuditWriter(Path(audit_dir) if audit_dir else Path(home) / "audit", start - 1, bucket_size)
        hook = audit.hooks(p.router, p.nav, lambda: p.cfg).get
        warm = set(WARM_TYPES)
        n = 0
        for evs in store.read_batches(start, stop=stop, batch=batch):
            for seg in audit.segments(evs):
                audit.begin(seg[0].seq)
                for ev in seg:
                    if type(ev) in warm:
                        p.apply(ev)
                    h = hook(type(ev))
                    if h is not None:
                        h(ev)
                audit.add_segment(seg)
            n += len(evs)
        audit.flush(stop)
        audit.close()
        return n
    finally:
        store.close()


def default_workers() -> int:
    return max(1, min(4, (os.cpu_count() or 2) - 1))


def _die_with_parent(parent: int) -> None:
    """Pool initializer: the kernel kills this worker when the parent dies, however it dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the orphan check below still runs per task
        pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle


def start(home: Path, store_url: str | None, last_seq: int, bucket_size: int, *,
          workers: int, batch: int, audit_dir: Path | None = None) -> tuple[Any, list[Any]]:
    """Start the workers (spawned: no inherited threads or connections); returns (pool, results).

    Workers die with this process (``PR_SET_PDEATHSIG``) and write only under
    ``audit_dir`` (the rebuild's scratch home).
    """
    ctx = mp.get_context("spawn")
    ranges = plan(last_seq, bucket_size, workers)
    pool = ctx.Pool(len(ranges), initializer=_die_with_parent, initargs=(os.getpid(),))
    target = str(audit_dir) if audit_dir is not None else None
    results = [pool.apply_async(build_range, (str(home), store_url, a, b, bucket_size, last_seq, batch, target))
               for a, b in ranges]
    pool.close()
    return pool, results


def finish(pool: Any, results: list[Any]) -> int:
    """Wait for the workers; re-raises a worker's error."""
    try:
        return sum(r.get() for r in results)
    finally:
        pool.terminate()
        pool.join()
