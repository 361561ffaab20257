"""Projection runner: catch up with the log, write every output, remember the position.

One ``Projection`` owns the fold (``projections.fold.Projector``), the audit
writer and the veto JSONL for one ``$HEDGE_HOME``. A catch-up folds batches read
with ``EventStore.read_batches``; a commit then writes, in this order:

1. audit tail files and veto lines (both idempotent: named / keyed by seq),
2. every state file (each carries the ``seq`` it reflects), atomically,
3. the checkpoint ``projections/checkpoint.bin`` = fold state + seq + hash of that
   row (``projections.checkpoint``: msgpack data, never pickle) — **the commit point**,
4. compaction of finished audit buckets (of committed data only).

A crash anywhere before 3 redoes the same events on the next start and rewrites
the same bytes; nothing is applied twice or skipped. A checkpoint whose row hash
does not match the log (a different log under the same home) is refused.

``rebuild`` drops every view and folds the whole log (``hedge rebuild``; audit buckets
of big logs are built in parallel by ``projections.parallel``);
``run_projections`` is ``hedge project [--follow]``: its own process, on any host that can
read the log (``HEDGE_STORE_URL``), and the projection follower ``hedge run`` starts as its
child (``hedge.follower_process``) - one way to follow the log.
"""

from __future__ import annotations

import contextlib
import queue
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from eventlog.accounts import DEFAULT_ACCOUNT, account_home, account_index
from eventlog.chain import row_hash
from eventlog.events import Event
from eventlog.store import EventStore
from projections.audit import BUCKET, AuditWriter
from projections.checkpoint import read_checkpoint, write_checkpoint
from projections.exec_logs import LOGS as EXEC_LOGS
from projections.exec_logs import RotatingJsonl
from projections.exec_logs import drop as drop_exec_logs
from projections.exec_logs import segments as exec_log_segments
from projections.files import JsonlAppender, StateFileError, write_json
from projections.fold import Projector
from projections.lock import Lock, ProjectionError
from projections.swap import clear_scratch, scratch_home, swap_in

__all__ = ["Lock", "Paths", "Projection", "ProjectionError", "drop_views",
           "read_checkpoint", "rebuild", "run_projections", "write_checkpoint"]
from projections.seed_docs import SEED_FILES
from projections.shadow import ShadowReader

STATE_FILES = (
    "nav_state.json", "nav_history.json", "aum_v7.json", "positions_state.json",
    "positions_ledger.json", "router_health.json", "risk_snapshot.json", "diagnostics.json",
    "kpis_v7.json", *SEED_FILES, "positions.json", "pipeline_v6_shadow_head.json",
    "pipeline_v6_compare_summary.json",
)
DEFAULT_BATCH = 5000


class Paths:
    def __init__(self, home: Path):
        self.home = Path(home)
        self.state = self.home / "state"
        self.audit = self.home / "audit"
        self.vetoes = self.home / "execution" / "risk_vetoes.jsonl"
        self.dir = self.home / "projections"
        self.checkpoint = self.dir / "checkpoint.bin"
        self.lock = self.dir / "lock"


def _row_hash_at(store: EventStore, seq: int) -> str | None:
    if seq <= 0:
        return None
    for rows in store.rows(seq, stop=seq, batch=1):
        for r in rows:
            if r[0] == seq:
                return row_hash(r[4]).hex()
    return None


class Projection:
    """Fold + outputs + position for one home. Not thread-safe: one per process (``Lock``)."""

    def __init__(self, home: Path, store: EventStore, *, batch: int = DEFAULT_BATCH,
                 log: Callable[[str], None] | None = None, bucket_size: int = BUCKET,
                 audit: bool = True, account: str = DEFAULT_ACCOUNT):
        """``home`` is the account's home (``account_home``): its outputs live there."""
        self.account = account
        self.paths = Paths(home)
        self.store = store
        self.batch = batch
        self.log = log or (lambda msg: print(msg, file=sys.stderr))
        self.proj, self.seq = self._resume()
        self.audit = AuditWriter(self.paths.audit, self.seq, bucket_size)
        self.audit_rows = audit  # False: another process writes the audit files (parallel rebuild)
        self.audit.recover(self.seq)
        self.vetoes = JsonlAppender(self.paths.vetoes)
        self.exec_logs = {n: RotatingJsonl(self.paths.vetoes.parent / n) for n in EXEC_LOGS}
        self.shadow = ShadowReader(self.paths.home)
        self.committed = self.seq if self._outputs_present() else -1

    def _outputs_present(self) -> bool:
        return all((self.paths.state / f).exists() for f in STATE_FILES)

    def _outputs_missing(self, seq: int, proj: Projector) -> str | None:
        """What a checkpoint says exists but does not (someone deleted part of the outputs)."""
        events = self.paths.audit / "events"
        if seq > 0 and not (events.is_dir() and any(events.glob("*.parquet"))):
            return f"audit tables in {self.paths.audit}"
        want = getattr(proj, "veto_seq", 0)  # absent in checkpoints of older versions
        if want and JsonlAppender(self.paths.vetoes).stored_seq() < want:
            return f"lines of {self.paths.vetoes}"
        return None

    def _resume(self) -> tuple[Projector, int]:
        ck = self.paths.checkpoint
        fresh = Projector(self.account)
        if not ck.exists():
            return fresh, 0
        if not self._outputs_present():
            self.log(f"projections: state files missing in {self.paths.state}; rebuilding from the log")
            return fresh, 0
        try:
            seq, head, proj = read_checkpoint(ck)
        except StateFileError as exc:
            self.log(f"projections: {exc}; rebuilding from the log")
            return fresh, 0
        if getattr(proj, "account", None) != self.account:
            self.log(f"projections: the checkpoint is not of account {self.account!r}; rebuilding from the log")
            return fresh, 0
        missing = self._outputs_missing(seq, proj)
        if missing:
            self.log(f"projections: {missing} missing; rebuilding from the log")
            return fresh, 0
        if seq > 0 and _row_hash_at(self.store, seq) != head:
            raise ProjectionError(
                f"{ck} was made from a different log (row {seq} differs from "
                f"{self.store.location}); run 'hedge rebuild'")
        return proj, seq

    # -- work ----------------------------------------------------------------------

    def _batches(self, prefetch: bool, stop: int | None = None) -> Iterator[list[Event]]:
        """Decoded batches from ``seq + 1``; with ``prefetch`` a thread reads the next rows
        from the store while this one folds (SQLite releases the GIL while it reads)."""
        if not prefetch:
            yield from self.store.read_batches(self.seq + 1, stop=stop, batch=self.batch)
            return
        q: queue.Queue[Any] = queue.Queue(maxsize=4)
        halt = threading.Event()

        def produce() -> None:
            try:
                for page in self.store.pages(self.seq + 1, stop=stop, batch=self.batch):
                    while not halt.is_set():
                        try:
                            q.put(page, timeout=0.1)
                            break
                        except queue.Full:
                            continue
                    if halt.is_set():
                        return
                q.put(None)
            except BaseException as exc:
                q.put(exc)

        t = threading.Thread(target=produce, name="hedge-projections-reader", daemon=True)
        t.start()
        try:
            while True:
                item = q.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield self.store.decode_page(item)
        finally:
            halt.set()
            t.join()

    def catch_up(self, *, max_events: int | None = None, progress: Callable[[int], None] | None = None,
                 prefetch: bool = False, stop: int | None = None) -> int:
        """Fold new events (up to ``max_events``); returns how many were applied."""
        n = 0
        proj = self.proj
        apply = proj.apply
        audit = self.audit
        hooks = audit.hooks(proj.router, proj.nav, lambda: proj.cfg)
        hook = hooks.get
        rows = self.audit_rows
        accepted = proj.accepted
        for batch in self._batches(prefetch, stop):
            last = batch[-1].seq
            n += len(batch)
            batch = accepted(batch)  # this account's events only
            if not batch:
                self.seq = last
                continue
            if not rows:
                for ev in batch:
                    apply(ev)
            else:
                for seg in audit.segments(batch):
                    audit.begin(seg[0].seq)
                    for ev in seg:
                        apply(ev)
                        h = hook(type(ev))
                        if h is not None:
                            h(ev)
                    audit.add_segment(seg)
            self.seq = last
            lines = proj.take_veto_lines()
            if lines:
                self.vetoes.append(lines)
            for name, recs in proj.exec_logs.take().items():
                if recs:
                    self.exec_logs[name].append(recs)
            if progress is not None:
                progress(n)
            if max_events is not None and n >= max_events:
                break
        return n

    def commit(self, *, final: bool = False) -> None:
        """Write every output for the current position, then the checkpoint."""
        self.audit.flush(self.seq)
        self.audit.wait()
        self.vetoes.sync()
        for log in self.exec_logs.values():
            log.sync()
        self.proj.veto_seq = self.vetoes.stored_seq()
        docs = self.proj.documents()
        p = self.proj
        docs.update(self.shadow.documents(p.decisions, p.cfg, p.session_id, p.header))
        for name, doc in docs.items():
            write_json(self.paths.state / name, doc)
        for name, rows in self.proj.list_documents(docs).items():
            write_json(self.paths.state / name, rows)
        write_checkpoint(self.paths.checkpoint, self.seq, _row_hash_at(self.store, self.seq), self.proj)
        self.committed = self.seq
        self.audit.compact(self.seq, final=final)

    def close(self) -> None:
        """Finish queued audit writes and stop the writer thread."""
        self.audit.close()

    def sync(self, *, final: bool = False, chunk: int = 200_000) -> int:
        """Catch up fully, committing every ``chunk`` events so readers see progress."""
        total = 0
        while True:
            n = self.catch_up(max_events=chunk)
            total += n
            done = n < chunk
            if n or self.committed != self.seq or (final and done):
                self.commit(final=final and done)
            if done:
                return total


def drop_views(home: Path, account: str = DEFAULT_ACCOUNT) -> None:
    """Delete every projection output of an account and its checkpoint (the log is untouched)."""
    p = Paths(account_home(home, account))
    for name in STATE_FILES:
        for f in (p.state / name, p.state / f".{name}.tmp"):
            f.unlink(missing_ok=True)
    shutil.rmtree(p.audit, ignore_errors=True)
    p.vetoes.unlink(missing_ok=True)
    drop_exec_logs(p.vetoes.parent)
    p.checkpoint.unlink(missing_ok=True)


def rebuild(home: Path, store_url: str | None = None, *, progress: Callable[[int, int], None] | None = None,
            batch: int = DEFAULT_BATCH, bucket_size: int = BUCKET,
            workers: int | None = None, account: str | None = None) -> dict[str, Any]:
    """Fold the whole log again into a scratch home and swap it in; returns {events, seconds, ...}.

    ``account`` None rebuilds every account in the log (each into its own home,
    ``eventlog.accounts.account_home``); the figures returned are the fund's (``main``)
    or the last account's. The previous projections stay in place until the new ones
    are complete (``projections.swap``): a rebuild that fails (a log that does not
    verify) or is killed leaves them as they were.

    With more than two audit buckets of events (or ``workers`` given) and a log of one
    account, the audit tables are built by ``workers`` processes (``projections.parallel``)
    while this process folds the state files; ``workers=0`` forces the single-process path.
    """
    home = Path(home)
    if account is None:
        store = EventStore.open(home, store_url, create=False)
        try:
            names = sorted(account_index(store)) or [DEFAULT_ACCOUNT]
        finally:
            store.close()
    else:
        names = [account]
    out: dict[str, Any] = {}
    for name in names:
        stats = _rebuild_one(home, name, store_url, progress=progress, batch=batch, bucket_size=bucket_size,
                             workers=workers if len(names) == 1 else 0)
        stats["account"] = name
        if not out or name == DEFAULT_ACCOUNT:
            out = stats
    out["accounts"] = names
    return out


def _rebuild_one(home: Path, account: str, store_url: str | None, *,
                 progress: Callable[[int, int], None] | None, batch: int,
                 bucket_size: int, workers: int | None) -> dict[str, Any]:
    from projections import parallel

    ahome = account_home(home, account)
    ahome.mkdir(parents=True, exist_ok=True)
    store = EventStore.open(home, store_url, create=False)
    lock = Lock(Paths(ahome).lock)
    pool = None
    clear_scratch(ahome)
    scratch = scratch_home(ahome)
    try:
        total = store.last_seq()
        if workers is None:
            single = len(account_index(store)) <= 1
            workers = parallel.default_workers() if single and total > 2 * bucket_size else 0
        t0 = time.perf_counter()
        if workers > 0 and total > 0:
            pool, results = parallel.start(home, store_url, total, bucket_size, workers=workers, batch=batch,
                                           audit_dir=Paths(scratch).audit)
        proj = Projection(scratch, store, batch=batch, bucket_size=bucket_size, audit=pool is None,
                          account=account)
        proj.shadow = ShadowReader(ahome)  # shadow logs live in the real home, not the scratch one
        report = progress
        n = proj.catch_up(progress=(lambda done: report(done, total)) if report is not None else None,
                          prefetch=True, stop=total)
        if pool is not None:
            parallel.finish(pool, results)
            pool = None
        proj.commit(final=True)
        proj.close()
        _swap_views(scratch, ahome)
        dt = time.perf_counter() - t0
        return {"events": n, "seq": proj.seq, "seconds": dt, "events_per_s": n / dt if dt > 0 else None,
                "workers": workers}
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
        shutil.rmtree(scratch, ignore_errors=True)
        lock.release()
        store.close()


def _swap_views(scratch: Path, home: Path) -> None:
    """Move a complete rebuild into place, checkpoint last (``projections.swap``)."""
    s = Paths(scratch)
    logs = sorted({str(f.relative_to(root)) for root in (scratch, home) for name in EXEC_LOGS
                   for f in (Paths(root).vetoes.parent / name, *exec_log_segments(Paths(root).vetoes.parent / name))
                   if f.exists()})
    order = [str(s.audit.relative_to(scratch)), str(s.vetoes.relative_to(scratch)), *logs,
             *(str(p.relative_to(scratch)) for p in (s.state, s.checkpoint))]
    swap_in(scratch, home, order)


def _store_lost(exc: BaseException) -> bool:
    """True for a lost or refused connection to the log's server (it may come back)."""
    from eventsourcing.persistence import InterfaceError, OperationalError

    if isinstance(exc, ConnectionError | OperationalError | InterfaceError):
        return True
    mod = type(exc).__module__.split(".")[0]
    return mod == "psycopg" and type(exc).__name__ in ("OperationalError", "InterfaceError")


def run_projections(home: Path, store_url: str | None = None, *, follow: bool = False,
                    interval_s: float = 1.0, should_stop: Callable[[], bool] = lambda: False,
                    batch: int = DEFAULT_BATCH, account: str = DEFAULT_ACCOUNT,
                    after_sync: Callable[[], None] | None = None,
                    log: Callable[[str], None] | None = None) -> int:
    """``hedge project``: catch up (and keep following); resumes from the checkpoint.

    ``after_sync`` runs after every catch-up (``--mirror``: the sync_state mirror).

    Following a PostgreSQL log, a lost connection (a server restart, a failover) is not
    fatal: the partial catch-up is dropped, the store reopened every ``interval_s`` until
    the server answers, and the views resume from their checkpoint - the same path as a
    restarted ``hedge project``. Each loss and reconnect is said on stderr.
    """
    say = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    store: EventStore | None = EventStore.open(home, store_url, create=False)
    ahome = account_home(home, account)
    ahome.mkdir(parents=True, exist_ok=True)
    lock = Lock(Paths(ahome).lock)
    events = 0
    proj: Projection | None = None

    def wait(seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not should_stop():
            time.sleep(min(0.1, seconds))

    try:
        while True:
            stopping = should_stop()
            try:
                if store is None:
                    store = EventStore.open(home, store_url, create=False)
                    say(f"projections: reconnected to {store.location}")
                if proj is None:
                    proj = Projection(ahome, store, batch=batch, account=account)
                events += proj.sync(final=not follow or stopping)
            except Exception as exc:
                if not (follow and store_url and _store_lost(exc)):
                    raise
                if proj is not None:
                    proj.close()
                    proj = None
                if store is not None:
                    say(f"projections: lost the event log ({' '.join(str(exc).split())[:200]}); "
                        "reconnecting")
                    with contextlib.suppress(Exception):
                        store.close()
                    store = None
                if stopping:
                    return events
                wait(interval_s)
                continue
            if after_sync is not None:
                after_sync()
            if not follow or stopping:
                proj.close()
                return events
            wait(interval_s)
    finally:
        lock.release()
        if store is not None:
            store.close()
