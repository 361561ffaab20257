"""Audit tables: the log as Parquet, for DuckDB (``hedge audit``).

Layout: ``$HEDGE_HOME/audit/<table>/<bucket>-<first_seq>-<last_seq>.parquet``. A
bucket is a fixed range of ``BUCKET`` log seqs; a file covers the seq range in its
name (rows inside it are the table's events in that range). Live catch-ups append
small tail files; a finished bucket (and, on stop or at the end of a rebuild, the
open one) is compacted into one file named ``<b>-<b*BUCKET+1>-<min(end, last)>``.
So the final layout and bytes depend only on the log, not on how it was batched:
a live run followed by ``stop()`` and ``hedge rebuild`` give identical files.

Crash safety: tails are written before the checkpoint; on start, files beyond the
committed seq are deleted (they will be rewritten) and files contained in a
compacted file (a crash mid-compaction) are dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from eventlog import events as E
from projections.files import atomic_write

if TYPE_CHECKING:
    from projections.fold import Projector

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
    "nav": pa.schema([*HEAD, ("nav_usd", F), ("wallet_balance", F), ("unrealized_pnl", F),
                      ("available_balance", F), ("sources_ok", B), ("peak_nav_usd", F), ("drawdown_frac", F),
                      ("dd_state", S)]),
}
TABLES = tuple(SCHEMAS)


def part_name(bucket: int, first: int, last: int) -> str:
    return f"{bucket:06d}-{first:012d}-{last:012d}.parquet"


def parse_part(name: str) -> tuple[int, int, int] | None:
    m = _PART.match(name)
    return (int(m[1]), int(m[2]), int(m[3])) if m else None


def write_table(path: Path, table: pa.Table) -> None:
    sink = pa.BufferOutputStream()
    pq.write_table(table.combine_chunks(), sink, compression="zstd", write_statistics=True)
    atomic_write(path, sink.getvalue().to_pybytes())


class AuditWriter:
    """Buffers rows of the open bucket; writes tails on flush, compacts finished buckets."""

    def __init__(self, root: Path, committed_seq: int = 0, bucket_size: int = BUCKET):
        self.root = root
        self.size = bucket_size
        self.range_start = committed_seq + 1
        self.bucket: int | None = None
        self.cols: dict[str, dict[str, list[Any]]] = {t: {c: [] for c in SCHEMAS[t].names} for t in TABLES}
        self.rows = 0

    # -- rows ----------------------------------------------------------------------

    def add(self, ev: E.Event, p: Projector) -> None:
        """Rows for one event (call after the projector applied it)."""
        seq = ev.seq
        b = (seq - 1) // self.size
        if b != self.bucket:
            if self.bucket is not None:
                self.flush(min(seq - 1, (self.bucket + 1) * self.size))
            self.bucket = b
            self.range_start = max(self.range_start, b * self.size + 1)
        c = self.cols["events"]
        c["seq"].append(seq)
        c["session_id"].append(ev.session_id)
        c["ts"].append(ev.ts_event_ns)
        c["session_seq"].append(ev.session_seq)
        c["type"].append(type(ev).__name__)
        c["stream"].append(ev.stream)
        c["payload"].append(_json.encode(ev))
        self.rows += 1
        fn = ROWS.get(type(ev))
        if fn is not None:
            fn(self, ev, p)

    def _row(self, table: str, ev: E.Event, **values: Any) -> None:
        c = self.cols[table]
        c["seq"].append(ev.seq)
        c["session_id"].append(ev.session_id)
        c["ts"].append(ev.ts_event_ns)
        for k, v in values.items():
            c[k].append(v)

    # -- files ---------------------------------------------------------------------

    def flush(self, last_seq: int) -> None:
        """Write buffered rows as tail files covering ``range_start..last_seq``."""
        if self.bucket is None or last_seq < self.range_start:
            return
        for t in TABLES:
            cols = self.cols[t]
            if not cols["seq"]:
                continue
            schema = SCHEMAS[t]
            arrays = []
            for f in schema:
                vals = cols[f.name]
                if f.name == "payload":
                    arrays.append(pa.array(vals, pa.binary()).cast(S))
                elif f.type == TS:
                    arrays.append(pa.array(vals, INT).cast(TS))
                elif f.type == TS_MS:
                    arrays.append(pa.array(vals, INT).cast(TS_MS))
                else:
                    arrays.append(pa.array(vals, f.type))
            write_table(self.root / t / part_name(self.bucket, self.range_start, last_seq),
                        pa.Table.from_arrays(arrays, schema=schema))
            for v in cols.values():
                v.clear()
        self.range_start = last_seq + 1

    def compact(self, last_seq: int, *, final: bool) -> None:
        """One file per finished bucket (and the open one when ``final``), canonically named."""
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
                table = pa.concat_tables([pq.read_table(f, schema=SCHEMAS[t]) for f in files])
                write_table(d / name, table)
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
                    tbl = pq.read_table(f, schema=SCHEMAS[t])
                    tbl = tbl.filter(pc.less_equal(tbl["seq"], committed_seq))
                    f.unlink()
                    write_table(d / part_name(b, first, committed_seq), tbl)
            live = [(parse_part(f.name), f) for f in sorted(d.iterdir())]
            spans = [(x, f) for x, f in live if x is not None]
            for (b, first, last), f in spans:
                if any(o != f and ob == b and of <= first and last <= ol and (of, ol) != (first, last)
                       for (ob, of, ol), o in spans):
                    f.unlink()


# ----------------------------------------------------------------------------- per-type rows


def _bar(w: AuditWriter, ev: E.KlineClosed, p: Projector) -> None:
    w._row("bars", ev, symbol=ev.symbol, interval=ev.interval, open_time=ev.open_time_ms,
           close_time=ev.close_time_ms, open=ev.open, high=ev.high, low=ev.low, close=ev.close, volume=ev.volume)


def _intent(w: AuditWriter, ev: E.IntentEmitted, p: Projector) -> None:
    w._row("intents", ev, intent_id=ev.intent_id, symbol=ev.symbol, side=ev.side, qty=ev.qty,
           notional_usd=ev.notional_usd, price=ev.price, reduce_only=ev.reduce_only, tp=ev.tp, sl=ev.sl,
           strategy=ev.strategy, reason=ev.reason, kline_ref=ev.kline_ref)


def _decision(w: AuditWriter, ev: E.RiskDecided, p: Projector) -> None:
    w._row("risk_decisions", ev, decision_id=ev.decision_id, symbol=ev.symbol, outcome=ev.outcome,
           gate=ev.gate, reasons=list(ev.reasons), thresholds=_json.encode(ev.thresholds).decode(),
           observations=_json.encode(ev.observations).decode(), breached=list(ev.breached),
           config_hash=ev.config_hash, intent_id=ev.intent_id, requested_qty=ev.requested_qty,
           approved_qty=ev.approved_qty, approved_notional_usd=ev.approved_notional_usd, source=ev.source,
           state_refs=_json.encode(ev.state_refs).decode())


_ORDER_BLANK = {"plan_id": None, "side": None, "order_type": None, "time_in_force": None, "qty": None,
                "price": None, "decision_price": None, "reduce_only": None, "attempt": None,
                "slice_index": None, "code": None, "reason": None, "filled_qty": None, "venue_order_id": None}


def _order(event: str) -> Callable[[AuditWriter, Any, Projector], None]:
    def row(w: AuditWriter, ev: Any, p: Projector) -> None:
        vals = dict(_ORDER_BLANK)
        for k in vals:
            if hasattr(ev, k):
                vals[k] = getattr(ev, k)
        w._row("orders", ev, event=event, order_id=ev.order_id, symbol=ev.symbol, **vals)
    return row


def _fill(w: AuditWriter, ev: E.OrderFilled, p: Projector) -> None:
    plan_id, fallback = p.router.fill_context(ev.order_id, ev.is_maker)
    w._row("fills", ev, order_id=ev.order_id, trade_id=ev.trade_id, plan_id=plan_id, symbol=ev.symbol,
           side=ev.side, qty=ev.qty, price=ev.price, notional_usd=ev.qty * ev.price, is_maker=ev.is_maker,
           fee=ev.fee_usd, fee_usd=ev.fee_usd, fee_asset=ev.fee_asset, realized_pnl=ev.realized_pnl,
           slippage_bps=ev.slippage_bps, decision_price=ev.decision_price, fallback=fallback,
           position_qty_after=ev.position_qty_after)


def _fallback(w: AuditWriter, ev: E.RouterFallback, p: Projector) -> None:
    w._row("fallbacks", ev, plan_id=ev.plan_id, order_id=ev.order_id, symbol=ev.symbol, reason=ev.reason,
           remaining_qty=ev.remaining_qty, reprices=ev.reprices, waited_ms=ev.waited_ms)


def _nav(w: AuditWriter, ev: E.NavSnapshot, p: Projector) -> None:
    w._row("nav", ev, nav_usd=ev.nav_usd, wallet_balance=ev.wallet_balance, unrealized_pnl=ev.unrealized_pnl,
           available_balance=ev.available_balance, sources_ok=ev.sources_ok, peak_nav_usd=p.nav.peak,
           drawdown_frac=p.nav.dd_frac, dd_state=p.nav.dd_state(p))


ROWS: dict[type[E.Event], Callable[[AuditWriter, Any, Projector], None]] = {
    E.KlineClosed: _bar,
    E.IntentEmitted: _intent,
    E.RiskDecided: _decision,
    E.OrderSubmitted: _order("submitted"),
    E.OrderAccepted: _order("accepted"),
    E.OrderRejected: _order("rejected"),
    E.OrderCanceled: _order("canceled"),
    E.OrderExpired: _order("expired"),
    E.OrderFilled: _fill,
    E.RouterFallback: _fallback,
    E.NavSnapshot: _nav,
}
