"""Positions view: exchange-side positions, marks, the TP/SL ledger, intraday PnL.

``PositionSnapshot`` is authoritative; fills (``position_qty_after``) keep the
position current between snapshots. TP/SL come from the allowed intent that
opened or added to the position.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import Any

from config.schema import HedgeConfig
from engine.rules.indicators import dd_state
from engine.rules.positions import apply_fill
from engine.rules.units import DAY_NS, NS
from eventlog.events import (
    IntentEmitted,
    OrderFilled,
    OrderSubmitted,
    PositionClosed,
    PositionLiquidated,
    PositionSnapshot,
    RiskDecided,
)

INTENTS_MAX = 10_000  # intents waiting for their decision (bounded memory)
CLOSED_MAX = 50


class Pos:
    """One open position (mutable fold state)."""

    __slots__ = ("entry", "lev", "mark", "qty", "ts_ns")

    def __init__(self, qty: float, entry: float, mark: float | None, lev: float, ts_ns: int):
        self.qty = qty
        self.entry = entry
        self.mark = mark
        self.lev = lev
        self.ts_ns = ts_ns

    def __getstate__(self) -> tuple[float, float, float | None, float, int]:
        return (self.qty, self.entry, self.mark, self.lev, self.ts_ns)

    def __setstate__(self, s: tuple[float, float, float | None, float, int]) -> None:
        self.qty, self.entry, self.mark, self.lev, self.ts_ns = s

    @property
    def upnl(self) -> float | None:
        return None if self.mark is None else self.qty * (self.mark - self.entry)


def side_of(qty: float) -> str:
    return "LONG" if qty > 0 else "SHORT"


class PositionsView:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.pos: dict[str, Pos] = {}
        self.ledger: dict[str, dict[str, Any]] = {}
        self.pending: dict[str, dict[str, Any]] = {}  # "SYM:SIDE" -> TP/SL of last allowed intent
        self.intents: OrderedDict[str, tuple[str, str, float | None, float | None, str, bool]] = OrderedDict()
        self.closed: deque[dict[str, Any]] = deque(maxlen=CLOSED_MAX)
        self.tp_hits = 0
        self.sl_hits = 0
        self.closes = 0
        # intraday PnL per symbol: [day, realized_today, upnl_at_day_start, peak_today, dd_today_frac]
        self.day: dict[str, list[float]] = {}
        # the venue's margin readings per open position: (liquidation price, maint margin, margin ratio)
        self.margin: dict[str, tuple[float, float, float]] = {}
        self.liquidations = 0

    # -- fold ----------------------------------------------------------------------

    def on_snapshot(self, ev: PositionSnapshot, base_nav: float | None) -> None:
        sym = ev.symbol
        grew = False
        if ev.qty == 0:
            self.pos.pop(sym, None)
            self.margin.pop(sym, None)
        else:
            if ev.liquidation_price or ev.maint_margin_usd:
                self.margin[sym] = (ev.liquidation_price, ev.maint_margin_usd, ev.margin_ratio)
            old = self.pos.get(sym)
            grew = old is None or old.qty * ev.qty < 0 or abs(ev.qty) > abs(old.qty)
            self.pos[sym] = Pos(ev.qty, ev.entry_price, ev.mark_price or None, ev.leverage, ev.ts_event_ns)
        self._sync_ledger(sym, ev.ts_event_ns, ev.qty != 0 and grew)
        self._mark_day(sym, ev.ts_event_ns, base_nav)

    def on_fill(self, ev: OrderFilled, leverage: float, base_nav: float | None) -> None:
        sym = ev.symbol
        after = ev.position_qty_after
        old = self.pos.get(sym)
        oq = old.qty if old else 0.0
        grew = False
        if after == 0:
            self.pos.pop(sym, None)
        elif old is None or oq * after < 0:
            self.pos[sym] = Pos(after, ev.price, ev.price, leverage, ev.ts_event_ns)
            grew = True
        else:
            if abs(after) > abs(oq):
                # average entry: the one rule (engine.rules.positions.apply_fill)
                _, old.entry, _ = apply_fill(oq, old.entry, 1 if after > oq else -1, abs(after - oq), ev.price)
                grew = True
            old.qty = after
            old.ts_ns = ev.ts_event_ns
            if old.mark is None:
                old.mark = ev.price
        self._sync_ledger(sym, ev.ts_event_ns, grew)
        d = self._day_row(sym, ev.ts_event_ns)
        d[1] += ev.realized_pnl - ev.fee_usd
        self._mark_day(sym, ev.ts_event_ns, base_nav)

    def on_protective(self, ev: OrderSubmitted) -> None:
        """A protective order at the venue (engine/protective.py): the ledger's TP/SL is its stop."""
        pos = self.pos.get(ev.symbol)
        kind = {"STOP_MARKET": "sl", "TAKE_PROFIT_MARKET": "tp"}.get(ev.order_type)
        entry = self.ledger.get(f"{ev.symbol}:{side_of(pos.qty)}") if pos is not None else None
        if entry is not None and kind is not None and ev.stop_price:
            entry["tp_sl"] = {**entry["tp_sl"], kind: ev.stop_price}

    def on_liquidated(self, ev: PositionLiquidated, base_nav: float | None) -> None:
        """The venue force-closed the position: gone, its loss and fee in the day's PnL."""
        sym = ev.symbol
        self.pos.pop(sym, None)
        self.margin.pop(sym, None)
        self.liquidations += 1
        self._sync_ledger(sym, ev.ts_event_ns, False)
        self._day_row(sym, ev.ts_event_ns)[1] += ev.realized_pnl - ev.fee_usd
        self._mark_day(sym, ev.ts_event_ns, base_nav)

    def on_funding(self, sym: str, amount: float, ts_ns: int, base_nav: float | None) -> None:
        self._day_row(sym, ts_ns)[1] += amount
        self._mark_day(sym, ts_ns, base_nav)

    def on_price(self, sym: str, price: float, ts_ns: int, base_nav: float | None) -> None:
        pos = self.pos.get(sym)
        if pos is not None:
            pos.mark = price
        if pos is not None or sym in self.day:
            self._mark_day(sym, ts_ns, base_nav)

    def on_intent(self, ev: IntentEmitted) -> None:
        self.intents[ev.intent_id] = (ev.symbol, ev.side, ev.tp, ev.sl, ev.strategy, ev.reduce_only)
        if len(self.intents) > INTENTS_MAX:
            self.intents.popitem(last=False)

    def on_decision(self, ev: RiskDecided) -> None:
        it = self.intents.pop(ev.intent_id, None)
        if it is None or ev.outcome == "veto":
            return
        sym, side, tp, sl, strategy, reduce_only = it
        if reduce_only or (tp is None and sl is None):
            return
        key = f"{sym}:{'LONG' if side == 'BUY' else 'SHORT'}"
        self.pending[key] = {"tp": tp, "sl": sl, "strategy": strategy, "intent_id": ev.intent_id}

    def on_closed(self, ev: PositionClosed) -> None:
        self.closes += 1
        if ev.trigger == "tp":
            self.tp_hits += 1
        elif ev.trigger == "sl":
            self.sl_hits += 1
        self.closed.append({"symbol": ev.symbol, "trigger": ev.trigger, "level": ev.level,
                            "price": ev.price, "ts": ev.ts_event_ns / NS})

    # -- internals -----------------------------------------------------------------

    def _sync_ledger(self, sym: str, ts_ns: int, grew: bool) -> None:
        pos = self.pos.get(sym)
        keep = f"{sym}:{side_of(pos.qty)}" if pos is not None else None
        for key in (f"{sym}:LONG", f"{sym}:SHORT"):
            if key != keep:
                self.ledger.pop(key, None)
        if pos is None or keep is None:
            return
        entry = self.ledger.get(keep)
        info = self.pending.get(keep) if grew else None
        if entry is None:
            entry = self.ledger[keep] = {
                "symbol": sym, "side": side_of(pos.qty), "opened_ts": ts_ns / NS,
                "tp_sl": {"tp": None, "sl": None}, "strategy": None, "intent_id": None,
            }
            info = self.pending.get(keep)
        if info is not None:
            entry["tp_sl"] = {"tp": info["tp"], "sl": info["sl"]}
            entry["strategy"] = info["strategy"]
            entry["intent_id"] = info["intent_id"]
        entry["qty"] = pos.qty
        entry["entry_price"] = pos.entry
        entry["updated_ts"] = ts_ns / NS

    def _day_row(self, sym: str, ts_ns: int) -> list[float]:
        day = ts_ns // DAY_NS
        row = self.day.get(sym)
        if row is None or row[0] != day:
            pos = self.pos.get(sym)
            u = (pos.upnl or 0.0) if pos else 0.0
            row = self.day[sym] = [day, 0.0, u, 0.0, 0.0]
        return row

    def _mark_day(self, sym: str, ts_ns: int, base: float | None) -> None:
        """Mark the symbol's intraday PnL; ``base`` is the day-start NAV (else the NAV)."""
        row = self._day_row(sym, ts_ns)
        pos = self.pos.get(sym)
        u = (pos.upnl or 0.0) if pos else 0.0
        pnl = row[1] + u - row[2]
        if pnl > row[3]:
            row[3] = pnl
        row[4] = (row[3] - pnl) / base if base else 0.0

    # -- outputs -------------------------------------------------------------------

    def dd_today(self, sym: str, now_ns: int) -> float | None:
        row = self.day.get(sym)
        if row is None:
            return None
        return row[4] if row[0] == now_ns // DAY_NS else 0.0

    def symbol_dd_state(self, sym: str, cfg: HedgeConfig, now_ns: int) -> str:
        g = cfg.risk_limits.global_
        return dd_state(self.dd_today(sym, now_ns), g.dd_cautious_pct, g.dd_defensive_pct)

    def exits(self) -> dict[str, int]:
        return {"positions_closed": self.closes, "tp_hits": self.tp_hits, "sl_hits": self.sl_hits}

    def gross(self) -> float:
        return sum(abs(x.qty * x.mark) for x in self.pos.values() if x.mark is not None)

    def render_positions(self, cfg: HedgeConfig) -> dict[str, Any]:
        rows = []
        net = 0.0
        for sym in sorted(self.pos):
            x = self.pos[sym]
            notional = abs(x.qty * x.mark) if x.mark is not None else None
            if x.mark is not None:
                net += x.qty * x.mark
            rows.append({
                "symbol": sym, "side": side_of(x.qty), "qty": x.qty, "entryPrice": x.entry,
                "entry_price": x.entry, "mark_price": x.mark, "leverage": x.lev, "notional": notional,
                "unrealized_pnl": x.upnl, "pnl": x.upnl, "tier": cfg.tier_of(sym),
                "updated_ts": x.ts_ns / NS,
                **dict(zip(("liquidation_price", "maint_margin_usd", "margin_ratio"),
                           self.margin.get(sym, (None, None, None)), strict=True)),
            })
        return {"positions": rows, "count": len(rows), "gross_notional_usd": self.gross(), "net_notional_usd": net}

    def render_ledger(self) -> dict[str, Any]:
        entries = {k: dict(v) for k, v in sorted(self.ledger.items())}
        covered = sum(1 for v in entries.values() if v["tp_sl"]["tp"] is not None or v["tp_sl"]["sl"] is not None)
        return {
            "entries": entries, "source": "eventlog",
            "tp_sl_coverage": covered / len(entries) if entries else None,
            "closed_recent": list(self.closed),
        }
