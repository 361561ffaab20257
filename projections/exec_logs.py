"""The seeds' execution JSONL logs as projections, append-only with size-based rotation.

* ``events.jsonl`` - the seed's event schema: ``ts`` (ISO 8601 UTC), ``type``
  (``order|fill|cancel|refresh|error|router``), ``symbol``, ``qty``, ``price``,
  ``is_maker``, ``slippage_bps``, ``metadata`` (plus ``seq``, the log position);
* ``orders_executed.jsonl`` - one line per fill: side, qty, price, maker/taker, fee,
  slippage, realised PnL, ``fallback`` (a taker fill of a plan that fell back);
* ``order_metrics.jsonl`` - one line per fill: decision price vs fill price, slippage,
  fee in bps, latency from the route decision (event time).

``RotatingJsonl`` rotates **line by line**: a line that would take the live file past
``max_bytes`` first moves it to ``<name>.<n>`` (n = 1, 2, ... oldest first; never
deleted). Since the decision depends only on the lines, a rebuild splits the files at the
same places whatever the batch sizes. Lines are keyed by ``seq``: after a crash, lines
already present (in the live file or, right after a rotation, the newest segment) are
skipped.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.rules.units import NS
from eventlog import events as E
from projections.files import StateFileError, dumps_line

MAX_BYTES = 64 * 1024 * 1024
LOGS = ("events.jsonl", "orders_executed.jsonl", "order_metrics.jsonl")
PLANS_MAX = 20_000


def iso(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns // NS, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{ts_ns % NS // 1000:06d}Z"


def segments(path: Path) -> list[Path]:
    """Rotated segments of ``path``, oldest first."""
    out = []
    for p in path.parent.glob(path.name + ".*"):
        suffix = p.name[len(path.name) + 1:]
        if suffix.isdigit():
            out.append((int(suffix), p))
    return [p for _, p in sorted(out)]


def _last_seq(path: Path) -> int | None:
    if not path.exists() or path.stat().st_size == 0:
        return None
    with open(path, "rb+") as fh:
        size = path.stat().st_size
        chunk = min(size, 1 << 20)
        fh.seek(size - chunk)
        tail = fh.read(chunk)
        if not tail.endswith(b"\n"):  # a torn last line (crash mid-append)
            cut = tail.rfind(b"\n")
            fh.truncate(size - chunk + cut + 1 if cut >= 0 else 0)
            tail = tail[: cut + 1] if cut >= 0 else b""
    for line in reversed(tail.splitlines()):
        if line.strip():
            try:
                return int(json.loads(line)["seq"])
            except (ValueError, KeyError, TypeError) as exc:
                raise StateFileError(f"{path}: corrupt last line ({exc}); run 'hedge rebuild'") from None
    return None


class RotatingJsonl:
    def __init__(self, path: Path, max_bytes: int = MAX_BYTES) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.last_seq = 0
        self.size = 0
        self._scanned = False

    def _scan(self) -> None:
        self._scanned = True
        segs = segments(self.path)
        last = _last_seq(self.path)
        if last is None and segs:
            last = _last_seq(segs[-1])
        self.last_seq = last or 0
        self.size = self.path.stat().st_size if self.path.exists() else 0

    def _rotate(self) -> None:
        segs = segments(self.path)
        n = int(segs[-1].name.rsplit(".", 1)[1]) + 1 if segs else 1
        os.replace(self.path, self.path.with_name(f"{self.path.name}.{n}"))
        self.size = 0

    def append(self, records: Iterable[dict[str, Any]]) -> int:
        if not self._scanned:
            self._scan()
        out = bytearray()
        n = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for rec in records:
            s = int(rec["seq"])
            if s <= self.last_seq:
                continue
            line = dumps_line(rec)
            if self.size + len(out) + len(line) > self.max_bytes and self.size + len(out) > 0:
                self._flush(out)
                out = bytearray()
                self._rotate()
            out += line
            self.last_seq = s
            n += 1
        self._flush(out)
        return n

    def _flush(self, data: bytearray) -> None:
        if data:
            with open(self.path, "ab") as fh:
                fh.write(data)
            self.size += len(data)

    def sync(self) -> None:
        if self.path.exists():
            fd = os.open(self.path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def drop(directory: Path) -> None:
    for name in LOGS:
        p = directory / name
        for f in (p, *segments(p)):
            f.unlink(missing_ok=True)


class ExecLogsView:
    """Queues the lines of the three logs as events are folded (drained by the runner)."""

    def __init__(self) -> None:
        self.pending: dict[str, list[dict[str, Any]]] = {n: [] for n in LOGS}
        self.plan_ns: OrderedDict[str, int] = OrderedDict()  # plan -> decision time
        self.order_plan: OrderedDict[str, str] = OrderedDict()

    def take(self) -> dict[str, list[dict[str, Any]]]:
        out, self.pending = self.pending, {n: [] for n in LOGS}
        return out

    def _event(self, ev: E.Event, kind: str, symbol: str, qty: float | None, price: float | None,
               is_maker: bool | None, slip: float | None, meta: dict[str, Any]) -> None:
        self.pending["events.jsonl"].append({
            "seq": ev.seq, "ts": iso(ev.ts_event_ns), "type": kind, "symbol": symbol, "qty": qty, "price": price,
            "is_maker": is_maker, "slippage_bps": slip, "metadata": meta})

    def on_plan(self, ev: E.RoutePlanned) -> None:
        self.plan_ns[ev.plan_id] = ev.ts_event_ns
        if len(self.plan_ns) > PLANS_MAX:
            self.plan_ns.popitem(last=False)

    def on_submitted(self, ev: E.OrderSubmitted) -> None:
        self.order_plan[ev.order_id] = ev.plan_id
        if len(self.order_plan) > PLANS_MAX:
            self.order_plan.popitem(last=False)
        self._event(ev, "order", ev.symbol, ev.qty, ev.price, None, None, {
            "order_id": ev.order_id, "plan_id": ev.plan_id, "side": ev.side, "order_type": ev.order_type,
            "time_in_force": ev.time_in_force, "reduce_only": ev.reduce_only, "attempt": ev.attempt,
            "slice_index": ev.slice_index, "decision_price": ev.decision_price})

    def on_rejected(self, ev: E.OrderRejected) -> None:
        self._event(ev, "error", ev.symbol, None, None, None, None,
                    {"order_id": ev.order_id, "code": ev.code, "reason": ev.reason, "status": "rejected"})

    def on_canceled(self, ev: E.OrderCanceled | E.OrderExpired) -> None:
        self._event(ev, "cancel", ev.symbol, ev.filled_qty, None, None, None,
                    {"order_id": ev.order_id, "reason": ev.reason,
                     "status": "expired" if type(ev) is E.OrderExpired else "canceled"})

    def on_fallback(self, ev: E.RouterFallback) -> None:
        self._event(ev, "router", ev.symbol, ev.remaining_qty, None, None, None, {
            "plan_id": ev.plan_id, "order_id": ev.order_id, "reason": ev.reason, "reprices": ev.reprices,
            "waited_ms": ev.waited_ms})

    def on_error(self, ev: E.VenueError) -> None:
        from projections.telemetry import sanitise

        self._event(ev, "error", "", None, None, None, None,
                    {"source": ev.source, "kind": ev.kind, "field": sanitise(ev.field), "message": sanitise(ev.message)})

    def on_reconciled(self, ev: E.VenueReconciled) -> None:
        self._event(ev, "refresh", "", None, None, None, None,
                    {"positions": len(ev.positions), "open_orders": len(ev.open_orders),
                     "canceled_orders": len(ev.canceled_orders)})

    def on_fill(self, ev: E.OrderFilled, plan_id: str | None, fell_back: bool) -> None:
        """One fill; ``plan_id``/``fell_back``: the router's context of its order (``RouterView.fill_context``)."""
        self._event(ev, "fill", ev.symbol, ev.qty, ev.price, ev.is_maker, ev.slippage_bps, {
            "order_id": ev.order_id, "trade_id": ev.trade_id, "side": ev.side, "fee_usd": ev.fee_usd,
            "realized_pnl": ev.realized_pnl, "plan_id": plan_id, "fallback": fell_back})
        ts = ev.ts_event_ns / NS
        self.pending["orders_executed.jsonl"].append({
            "seq": ev.seq, "ts": ts, "ts_iso": iso(ev.ts_event_ns), "symbol": ev.symbol, "side": ev.side,
            "qty": ev.qty, "price": ev.price, "is_maker": ev.is_maker, "fee_usd": ev.fee_usd,
            "fee_asset": ev.fee_asset, "slippage_bps": ev.slippage_bps, "realized_pnl": ev.realized_pnl,
            "order_id": ev.order_id, "trade_id": ev.trade_id, "plan_id": plan_id, "fallback": fell_back,
            "session_id": ev.session_id})
        notional = ev.qty * ev.price
        pid = self.order_plan.get(ev.order_id)
        t0 = self.plan_ns.get(pid) if pid is not None else None
        self.pending["order_metrics.jsonl"].append({
            "seq": ev.seq, "ts": ts, "symbol": ev.symbol, "order_id": ev.order_id, "plan_id": plan_id,
            "decision_price": ev.decision_price, "fill_price": ev.price, "slippage_bps": ev.slippage_bps,
            "fee_bps": ev.fee_usd / notional * 10_000.0 if notional else None, "is_maker": ev.is_maker,
            "notional_usd": notional, "latency_ms": (ev.ts_event_ns - t0) / 1e6 if t0 is not None else None,
            "fallback": fell_back})
