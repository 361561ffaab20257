"""Audit tables: the log as Parquet, for DuckDB (``hedge audit``).

Layout: ``$HEDGE_HOME/audit/<table>/<bucket>-<first_seq>-<last_seq>.parquet``. A
bucket is a fixed range of ``BUCKET`` log seqs; a file covers the seq range in its
name (rows inside it are the table's events in that range). Live catch-ups append
small tail files; a finished bucket (and, on stop or at the end of a rebuild, the
open one) is compacted into one file named ``<b>-<b*BUCKET+1>-<min(end, last)>``.
So the final layout and bytes depend only on the log, not on how it was batched:
a live run followed by ``stop()`` and ``hedge rebuild`` give identical files.

Every file is row groups of ``audit_parquet.ROW_GROUP`` rows, encoded by a background
thread as they fill: a bucket finished between two commits (a rebuild, ``hedge
project``) is written once as its final file, compaction streams parts row group by
row group, so the writer's memory is bounded by the row group, not the bucket. Columns
are built by ``audit_arrow`` (no ``pa.array``: it imports pandas).

Crash safety: tails are written before the checkpoint; on start, files beyond the
committed seq are deleted (they will be rewritten) and files contained in a
compacted file (a crash mid-compaction) are dropped.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import pyarrow as pa

from eventlog import events as E
from projections import audit_parquet
from projections.audit_arrow import bools_mask, column, dense, lines, strings
from projections.audit_parquet import DICT_COLUMNS, GroupWriter, merge_parts, read_part, write_table

if TYPE_CHECKING:
    from config.schema import HedgeConfig
    from projections.nav import NavView
    from projections.router import RouterView

BUCKET = 100_000
TS = pa.timestamp("ns")  # UTC (naive: DuckDB needs pytz for tz-aware values)
TS_MS = pa.timestamp("ms")
S, F, INT, B = pa.string(), pa.float64(), pa.int64(), pa.bool_()
LS = pa.list_(pa.string())
_json = msgspec.json.Encoder(order="sorted")
_PART = re.compile(r"^(\d{6})-(\d{12})-(\d{12})\.parquet$")

HEAD = [("seq", INT), ("session_id", S), ("ts", TS)]
SCHEMAS: dict[str, pa.Schema] = {
    "events": pa.schema([*HEAD, ("session_seq", INT), ("type", S), ("stream", S), ("payload", S)]),
    "bars": pa.schema([*HEAD, ("symbol", S), ("interval", S), ("open_time", TS_MS), ("close_time", TS_MS),
                       ("open", F), ("high", F), ("low", F), ("close", F), ("volume", F)]),
    "intents": pa.schema([*HEAD, ("intent_id", S), ("symbol", S), ("side", S), ("qty", F), ("notional_usd", F),
                          ("price", F), ("reduce_only", B), ("tp", F), ("sl", F), ("strategy", S), ("reason", S),
                          ("kline_ref", INT)]),
    "risk_decisions": pa.schema([("seq", INT), ("decision_id", S), ("session_id", S), ("ts", TS), ("symbol", S),
                                 ("outcome", S), ("gate", S), ("reasons", LS), ("thresholds", S),
                                 ("observations", S), ("breached", LS), ("config_hash", S), ("intent_id", S),
                                 ("requested_qty", F), ("approved_qty", F), ("approved_notional_usd", F),
                                 ("source", S), ("state_refs", S)]),
    "plans": pa.schema([*HEAD, ("plan_id", S), ("decision_id", S), ("intent_id", S), ("symbol", S), ("side", S),
                        ("qty", F), ("style", S), ("slices", INT), ("slice_qty", F), ("decision_price", F),
                        ("reduce_only", B)]),
    "orders": pa.schema([*HEAD, ("event", S), ("order_id", S), ("plan_id", S), ("symbol", S), ("side", S),
                         ("order_type", S), ("time_in_force", S), ("qty", F), ("price", F), ("decision_price", F),
                         ("reduce_only", B), ("attempt", INT), ("slice_index", INT), ("code", INT), ("reason", S),
                         ("filled_qty", F), ("venue_order_id", S)]),
    "fills": pa.schema([*HEAD, ("order_id", S), ("trade_id", S), ("plan_id", S), ("symbol", S), ("side", S),
                        ("qty", F), ("price", F), ("notional_usd", F), ("is_maker", B), ("fee", F), ("fee_usd", F),
                        ("fee_asset", S), ("realized_pnl", F), ("slippage_bps", F), ("decision_price", F),
                        ("fallback", B), ("position_qty_after", F)]),
    "fallbacks": pa.schema([*HEAD, ("plan_id", S), ("order_id", S), ("symbol", S), ("reason", S),
                            ("remaining_qty", F), ("reprices", INT), ("waited_ms", INT)]),
    "liquidations": pa.schema([*HEAD, ("symbol", S), ("side", S), ("qty", F), ("entry_price", F),
                               ("mark_price", F), ("liquidation_price", F), ("bankruptcy_price", F),
                               ("fill_price", F), ("fee_usd", F), ("realized_pnl", F), ("maint_margin_usd", F),
                               ("margin_balance_usd", F), ("margin_type", S), ("bracket", INT), ("mmr", F)]),
    "nav": pa.schema([*HEAD, ("nav_usd", F), ("wallet_balance", F), ("unrealized_pnl", F),
                      ("available_balance", F), ("sources_ok", B), ("peak_nav_usd", F), ("drawdown_frac", F),
                      ("dd_state", S)]),
}
TABLES = tuple(SCHEMAS)
__all__ = ["BUCKET", "DICT_COLUMNS", "SCHEMAS", "TABLES", "AuditWriter", "parse_part", "part_name",
           "read_part", "write_table"]


def part_name(bucket: int, first: int, last: int) -> str:
    return f"{bucket:06d}-{first:012d}-{last:012d}.parquet"


def parse_part(name: str) -> tuple[int, int, int] | None:
    m = _PART.match(name)
    return (int(m[1]), int(m[2]), int(m[3])) if m else None


def _from_rows(rows: list[dict[str, Any]] | list[tuple[Any, ...]], schema: pa.Schema) -> pa.RecordBatch:
    """Rows (dicts, or tuples in the schema's order) -> a record batch, column by column
    (``projections.audit_arrow``: no pandas)."""
    if isinstance(rows[0], tuple):
        cols: list[Any] = list(zip(*rows, strict=True))
    else:
        cols = [[r[f.name] for r in rows] for f in schema]
    return pa.RecordBatch.from_arrays([column(c, f.type) for c, f in zip(cols, schema, strict=True)], schema=schema)


class AuditWriter:
    """Buffers rows of the open bucket; writes tails on flush, compacts finished buckets."""

    def __init__(self, root: Path, committed_seq: int = 0, bucket_size: int = BUCKET,
                 row_group: int | None = None):
        self.root = root
        self.size = bucket_size
        self.row_group = row_group or audit_parquet.row_group()
        self.range_start = committed_seq + 1
        self.bucket: int | None = None
        # per table, the open file of range_start..: full row groups are encoded as they
        # fill (memory bounded by the row group, not the bucket); ``flush`` writes the file
        self.open: dict[str, GroupWriter] = {}
        self.stateful: dict[str, list[Any]] = {"fills": [], "nav": []}  # dict rows; nav: tuple rows
        # Parquet encoding releases the GIL: row groups and files are encoded by one
        # background thread (in order) while the fold goes on; ``wait()`` before anything
        # depends on the files being there.
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-writer")
        self._writes: deque[tuple[Future[None], int]] = deque()
        self._queued_rows = 0

    # -- rows ----------------------------------------------------------------------

    def hooks(self, router: RouterView, nav_view: NavView,
              cfg: Callable[[], HedgeConfig]) -> dict[type[E.Event], Callable[[Any], None]]:
        """Per-event row builders that need the fold state right after the event (call them then):
        the router's context of a fill, the NAV view's peak and drawdown, the config in force (``cfg()``)."""
        fills, nav = self.stateful["fills"], self.stateful["nav"]
        return {E.OrderFilled: lambda ev: fills.append(_fill(ev, router)),
                E.NavSnapshot: lambda ev: nav.append(_nav(ev, nav_view, cfg()))}

    def segments(self, batch: list[E.Event]) -> list[list[E.Event]]:
        """The batch split at audit bucket boundaries (almost always the batch itself)."""
        size = self.size
        if not batch or (batch[0].seq - 1) // size == (batch[-1].seq - 1) // size:
            return [batch]
        out: list[list[E.Event]] = []
        for ev in batch:
            b = (ev.seq - 1) // size
            if not out or (out[-1][0].seq - 1) // size != b:
                out.append([])
            out[-1].append(ev)
        return out

    def begin(self, first_seq: int) -> None:
        """Start a segment: a new bucket finishes the previous one (its rows are flushed)."""
        b = (first_seq - 1) // self.size
        if b != self.bucket:
            if self.bucket is not None:
                self.flush((self.bucket + 1) * self.size)
            self.bucket = b
            self.range_start = max(self.range_start, b * self.size + 1)

    def add_segment(self, evs: list[E.Event]) -> None:
        """Buffer the rows of a folded segment (one bucket), column by column."""
        if not evs:
            return
        n = len(evs)
        batches: dict[str, list[pa.RecordBatch]] = {"events": [pa.RecordBatch.from_arrays([
            dense(map(_SEQ, evs), n, INT),
            strings(list(map(_SESSION, evs))),
            dense(map(_TS, evs), n, TS),
            dense(map(_SESSION_SEQ, evs), n, INT),
            strings([type(e).__name__ for e in evs]),
            strings(list(map(_STREAM, evs))),
            lines(_json.encode_lines(evs)),  # the payload: JSON of every event, in one call
        ], schema=SCHEMAS["events"])]}
        groups: dict[type, list[Any]] = {}
        for e in evs:
            t = type(e)
            if t in ROWS:
                groups.setdefault(t, []).append(e)
        rows: dict[str, list[Any]] = {}
        for t, items in groups.items():
            table, fn = ROWS[t]
            if table == "bars":
                batches["bars"] = [_bars(items)]
            else:
                rows.setdefault(table, []).extend(fn(e) for e in items)
        for table, st in self.stateful.items():
            if st:
                rows[table] = list(st)
                st.clear()
        for table in sorted(rows):
            rs = sorted(rows[table], key=lambda r: r["seq"]) if table == "orders" else rows[table]
            batches[table] = [_from_rows(rs, SCHEMAS[table])]
        for table in TABLES:  # a fixed order: the background thread encodes in submission order
            for batch in batches.get(table, ()):
                w = self.open.get(table)
                if w is None:
                    w = self.open[table] = GroupWriter(SCHEMAS[table], self.row_group)
                for g in w.add(batch):
                    self._submit(w.write_group, g, w.size)

    # -- files ---------------------------------------------------------------------

    def _submit(self, fn: Callable[..., None], arg: Any, rows: int) -> None:
        """Queue ``fn(arg)`` on the writer thread; the rows queued stay within two row groups."""
        self._writes.append((self._pool.submit(fn, arg), rows))
        self._queued_rows += rows
        while self._queued_rows > 2 * self.row_group and self._writes:
            f, r = self._writes.popleft()
            f.result()
            self._queued_rows -= r

    def flush(self, last_seq: int) -> None:
        """Write the buffered rows as files covering ``range_start..last_seq``."""
        if self.bucket is None or last_seq < self.range_start:
            return
        for t in TABLES:
            w = self.open.pop(t, None)
            if w is not None:
                path = self.root / t / part_name(self.bucket, self.range_start, last_seq)
                self._submit(lambda p, w=w: w.finish(p), path, w.buffered)
        self.range_start = last_seq + 1

    def wait(self) -> None:
        """Block until every queued file is written (re-raises a write error)."""
        writes, self._writes = self._writes, deque()
        self._queued_rows = 0
        for f, _ in writes:
            f.result()

    def close(self) -> None:
        self.wait()
        self._pool.shutdown()

    def compact(self, last_seq: int, *, final: bool) -> None:
        """One file per finished bucket (and the open one when ``final``), canonically named."""
        self.wait()
        if last_seq <= 0:
            return
        open_bucket = (last_seq - 1) // self.size
        for t in TABLES:
            d = self.root / t
            if not d.is_dir():
                continue
            groups: dict[int, list[Path]] = {}
            for f in sorted(d.iterdir()):
                parsed = parse_part(f.name)
                if parsed is not None:
                    groups.setdefault(parsed[0], []).append(f)
            for b, files in groups.items():
                if b > open_bucket or (b == open_bucket and not final):
                    continue
                name = part_name(b, b * self.size + 1, min((b + 1) * self.size, last_seq))
                if len(files) == 1 and files[0].name == name:
                    continue
                merge_parts(d / name, files, SCHEMAS[t], self.row_group)  # part by part, row group by row group
                pa.default_memory_pool().release_unused()
                for f in files:
                    if f.name != name:
                        f.unlink()

    def recover(self, committed_seq: int) -> None:
        """Drop files written after the last checkpoint and leftovers of a torn compaction."""
        for t in TABLES:
            d = self.root / t
            if not d.is_dir():
                continue
            parts = [(parse_part(f.name), f) for f in sorted(d.iterdir())]
            for f in d.iterdir():
                if f.name.startswith("."):
                    f.unlink()  # temp file of an interrupted write
            spans = [(x, f) for x, f in parts if x is not None]
            for (b, first, last), f in spans:
                if first > committed_seq:
                    f.unlink()
                elif last > committed_seq:
                    tbl = read_part(f, SCHEMAS[t])
                    tbl = tbl.filter(bools_mask(tbl["seq"].to_numpy() <= committed_seq))
                    f.unlink()
                    write_table(d / part_name(b, first, committed_seq), tbl, self.row_group)
            live = [(parse_part(f.name), f) for f in sorted(d.iterdir())]
            spans = [(x, f) for x, f in live if x is not None]
            for (b, first, last), f in spans:
                if any(o != f and ob == b and of <= first and last <= ol and (of, ol) != (first, last)
                       for (ob, of, ol), o in spans):
                    f.unlink()


# ----------------------------------------------------------------------------- per-type rows


def _head(ev: E.Event) -> dict[str, Any]:
    return {"seq": ev.seq, "session_id": ev.session_id, "ts": ev.ts_event_ns}


_BAR_COLS = ("seq", "session_id", "ts_event_ns", "symbol", "interval", "open_time_ms", "close_time_ms",
             "open", "high", "low", "close", "volume")


_SEQ, _SESSION, _TS, _SESSION_SEQ, _STREAM = (attrgetter(a) for a in (
    "seq", "session_id", "ts_event_ns", "session_seq", "stream"))


def _bars(evs: list[E.KlineClosed]) -> pa.RecordBatch:
    """The bars table, column by column (one attribute pass per column, no row tuples)."""
    n = len(evs)
    schema = SCHEMAS["bars"]
    arrays = []
    for name, f in zip(_BAR_COLS, schema, strict=True):
        get = attrgetter(name)
        if f.type == S:
            arrays.append(strings(list(map(get, evs))))
        else:
            arrays.append(dense(map(get, evs), n, f.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _intent(ev: E.IntentEmitted) -> dict[str, Any]:
    return {**_head(ev), "intent_id": ev.intent_id, "symbol": ev.symbol, "side": ev.side, "qty": ev.qty,
            "notional_usd": ev.notional_usd, "price": ev.price, "reduce_only": ev.reduce_only, "tp": ev.tp,
            "sl": ev.sl, "strategy": ev.strategy, "reason": ev.reason, "kline_ref": ev.kline_ref}


def _decision(ev: E.RiskDecided) -> dict[str, Any]:
    return {**_head(ev), "decision_id": ev.decision_id, "symbol": ev.symbol, "outcome": ev.outcome,
            "gate": ev.gate, "reasons": list(ev.reasons), "thresholds": _json.encode(ev.thresholds).decode(),
            "observations": _json.encode(ev.observations).decode(), "breached": list(ev.breached),
            "config_hash": ev.config_hash, "intent_id": ev.intent_id, "requested_qty": ev.requested_qty,
            "approved_qty": ev.approved_qty, "approved_notional_usd": ev.approved_notional_usd,
            "source": ev.source, "state_refs": _json.encode(ev.state_refs).decode()}


_ORDER_FIELDS = ("plan_id", "side", "order_type", "time_in_force", "qty", "price", "decision_price",
                 "reduce_only", "attempt", "slice_index", "code", "reason", "filled_qty", "venue_order_id")


def _order(event: str) -> Callable[[Any], dict[str, Any]]:
    def row(ev: Any) -> dict[str, Any]:
        out = {**_head(ev), "event": event, "order_id": ev.order_id, "symbol": ev.symbol}
        for k in _ORDER_FIELDS:
            out[k] = getattr(ev, k, None)
        return out
    return row


def _fill(ev: E.OrderFilled, router: RouterView) -> dict[str, Any]:
    plan_id, fallback = router.fill_context(ev.order_id, ev.is_maker)
    return {**_head(ev), "order_id": ev.order_id, "trade_id": ev.trade_id, "plan_id": plan_id,
            "symbol": ev.symbol, "side": ev.side, "qty": ev.qty, "price": ev.price,
            "notional_usd": ev.qty * ev.price, "is_maker": ev.is_maker, "fee": ev.fee_usd,
            "fee_usd": ev.fee_usd, "fee_asset": ev.fee_asset, "realized_pnl": ev.realized_pnl,
            "slippage_bps": ev.slippage_bps, "decision_price": ev.decision_price, "fallback": fallback,
            "position_qty_after": ev.position_qty_after}


def _plan(ev: E.RoutePlanned) -> dict[str, Any]:
    return {**_head(ev), "plan_id": ev.plan_id, "decision_id": ev.decision_id, "intent_id": ev.intent_id,
            "symbol": ev.symbol, "side": ev.side, "qty": ev.qty, "style": ev.style, "slices": ev.slices,
            "slice_qty": ev.slice_qty, "decision_price": ev.decision_price, "reduce_only": ev.reduce_only}


def _fallback(ev: E.RouterFallback) -> dict[str, Any]:
    return {**_head(ev), "plan_id": ev.plan_id, "order_id": ev.order_id, "symbol": ev.symbol,
            "reason": ev.reason, "remaining_qty": ev.remaining_qty, "reprices": ev.reprices,
            "waited_ms": ev.waited_ms}


def _nav(ev: E.NavSnapshot, nav: NavView, cfg: HedgeConfig) -> tuple[Any, ...]:
    """A ``nav`` row as a tuple in the schema's order (one per bar step: no dict per row)."""
    return (ev.seq, ev.session_id, ev.ts_event_ns, ev.nav_usd, ev.wallet_balance, ev.unrealized_pnl,
            ev.available_balance, ev.sources_ok, nav.peak, nav.dd_frac, nav.dd_state(cfg))


_LIQ_FIELDS = ("symbol", "side", "qty", "entry_price", "mark_price", "liquidation_price", "bankruptcy_price",
               "fill_price", "fee_usd", "realized_pnl", "maint_margin_usd", "margin_balance_usd", "margin_type",
               "bracket", "mmr")


def _liquidation(ev: E.PositionLiquidated) -> dict[str, Any]:
    return {**_head(ev), **{k: getattr(ev, k) for k in _LIQ_FIELDS}}


# stateless per-type rows: event type -> (table, row builder); fills and nav come from hooks()
ROWS: dict[type[E.Event], tuple[str, Callable[[Any], dict[str, Any]]]] = {
    E.KlineClosed: ("bars", lambda ev: {}),
    E.IntentEmitted: ("intents", _intent),
    E.RiskDecided: ("risk_decisions", _decision),
    E.RoutePlanned: ("plans", _plan),
    E.OrderSubmitted: ("orders", _order("submitted")),
    E.OrderAccepted: ("orders", _order("accepted")),
    E.OrderRejected: ("orders", _order("rejected")),
    E.OrderCanceled: ("orders", _order("canceled")),
    E.OrderExpired: ("orders", _order("expired")),
    E.RouterFallback: ("fallbacks", _fallback),
    E.PositionLiquidated: ("liquidations", _liquidation),
}
