"""The simulated account's margin as Binance USD-M computes it, and its liquidations.

Cross margin by default; symbols in ``runtime.sim.isolated_symbols`` (or every symbol
with ``margin_type = "isolated"``) are isolated. Leverage per symbol
(``runtime.sim.symbol_leverage``, else ``runtime.sim.leverage``). All at the mark price.

* isolated margin of a position = ``|qty| * entry / leverage`` + the funding it has
  settled since it opened (funding is paid from the isolated wallet, as on Binance);
* cross wallet = wallet - the isolated margins; cross margin balance = cross wallet +
  the cross positions' unrealised PnL; account margin ratio = cross maintenance margin /
  cross margin balance;
* available balance = cross wallet + unrealised *losses* (profits are not free margin
  here: conservative) - the cross positions' initial margin (``notional / leverage``) -
  open orders' initial margin. An order that needs more is rejected with -2019;
* **liquidation**: when an isolated position's margin + uPnL, or the cross margin balance,
  falls below maintenance margin at a point of the bar's path, the position (cross: the
  one with the largest maintenance margin first, until the account is above maintenance)
  is closed at its liquidation price (at the mark on a gap at the open, never past the
  bankruptcy price: a loss beyond it is the insurance fund's), with the liquidation fee
  on the notional capped at the margin left. Its open orders are canceled.

State beyond the matching books: the funding each isolated position settled since it
opened (``iso_funding``) - a sum of ``FundingApplied`` events, so a restore can fold it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from engine.ports import VenueUpdate
from engine.venues.liq_guard import LiqGuard, account_key, bands
from engine.venues.margin import (
    Bracket,
    bankruptcy_price,
    default_brackets,
    liquidation_price,
    maint_margin,
)
from eventlog.events import OrderCanceled, PositionLiquidated

if TYPE_CHECKING:
    from engine.venues.sim_matching import SimMatching


class SimMargin:
    def __init__(self, m: SimMatching):
        sim = m.cfg.runtime.sim
        self.m = m
        self.brackets: dict[str, list[Bracket]] = {s: default_brackets() for s in m.symbols}
        self.bracket_source: dict[str, str] = {s: "default" for s in m.symbols}
        iso = set(getattr(sim, "isolated_symbols", []) or [])
        all_iso = getattr(sim, "margin_type", "cross") == "isolated"
        self.isolated = {s for s in m.symbols if all_iso or s in iso}
        per = dict(getattr(sim, "symbol_leverage", {}) or {})
        self.lev = {s: float(per.get(s, m.leverage)) for s in m.symbols}
        self.liq_fee = float(getattr(sim, "liquidation_fee_frac", 0.0125))
        self.iso_funding: dict[str, float] = {s: 0.0 for s in m.symbols}
        self.guard = LiqGuard()  # skips the check while no mark can liquidate (engine/venues/liq_guard.py)

    # -- readings -------------------------------------------------------------------

    def margin_type(self, s: str) -> str:
        return "isolated" if s in self.isolated else "cross"

    def upnl(self, s: str, mark: float | None = None) -> float:
        q, e = self.m.pos[s]
        return q * ((self.m.mark.get(s, e) if mark is None else mark) - e) if q else 0.0

    def mm(self, s: str, mark: float | None = None) -> tuple[float, Bracket]:
        q, e = self.m.pos[s]
        px = self.m.mark.get(s, e) if mark is None else mark
        return maint_margin(self.brackets[s], q * px)

    def iso_margin(self, s: str) -> float:
        q, e = self.m.pos[s]
        return abs(q) * e / self.lev[s] + self.iso_funding[s] if q else 0.0

    def cross_wallet(self) -> float:
        # in symbol order: a set's order changes with the process's string hashing, a float sum's last bit with it
        return self.m.wallet - sum(self.iso_margin(s) for s in sorted(self.isolated))

    def cross(self, marks: dict[str, float] | None = None) -> tuple[float, float]:
        """(cross margin balance, cross maintenance margin) at ``marks`` (default the venue's)."""
        bal, mm = self.cross_wallet(), 0.0
        for s in self.m.symbols:
            if s in self.isolated or not self.m.pos[s][0]:
                continue
            mk = None if marks is None else marks.get(s)
            bal += self.upnl(s, mk)
            mm += self.mm(s, mk)[0]
        return bal, mm

    def account_ratio(self) -> tuple[float, float]:
        """(cross maintenance margin, margin ratio = maint / margin balance)."""
        bal, mm = self.cross()
        return mm, (mm / bal if bal > 0 else (1.0 if mm > 0 else 0.0))

    def backing(self, s: str, marks: dict[str, float] | None = None) -> float:
        """The margin backing position ``s`` in Binance's liquidation formula (``wb``)."""
        if s in self.isolated:
            return self.iso_margin(s)
        wb = self.cross_wallet()
        for o in self.m.symbols:
            if o == s or o in self.isolated or not self.m.pos[o][0]:
                continue
            mk = None if marks is None else marks.get(o)
            wb += self.upnl(o, mk) - self.mm(o, mk)[0]
        return wb

    def position_fields(self, s: str) -> dict[str, float | str]:
        q, e = self.m.pos[s]
        if not q:
            return {"margin_type": self.margin_type(s), "leverage": self.lev[s]}
        side = 1 if q > 0 else -1
        lp, _ = liquidation_price(side, abs(q), e, self.backing(s), self.brackets[s])
        mm, _ = self.mm(s)
        if s in self.isolated:
            bal = self.iso_margin(s) + self.upnl(s)
            ratio = mm / bal if bal > 0 else 1.0
        else:
            ratio = self.account_ratio()[1]
        return {"liquidation_price": lp, "maint_margin_usd": mm, "margin_ratio": ratio,
                "margin_type": self.margin_type(s), "leverage": self.lev[s]}

    def available(self) -> float:
        m = self.m
        cw = self.cross_wallet()
        free = cw
        for s in m.symbols:
            q = m.pos[s][0]
            if not q or s in self.isolated:
                continue
            free += min(0.0, self.upnl(s)) - abs(q) * m.mark.get(s, m.pos[s][1]) / self.lev[s]
        for s in m.symbols:
            for w in (*m.arriving[s], *m.resting[s].values()):
                if not w.req.reduce_only:
                    free -= w.remaining * (w.req.price or m.mark.get(s, 0.0)) / self.lev[s]
        return free

    def initial_margin(self, s: str, qty: float, price: float) -> float:
        return qty * price / self.lev[s]

    # -- liquidation ----------------------------------------------------------------

    def check_at(self, ts: int, mark_of: Callable[[str], float | None], priced: Iterable[str], *, gap: bool,
                 span_id: object = None, span_of: Callable[[str], tuple[float, float] | None] | None = None,
                 ) -> list[VenueUpdate]:
        """``check`` at the marks ``mark_of`` gives the ``priced`` symbols (None: not priced here),
        skipped while every position's mark is inside the guard's band (the same outcome);
        ``span_id``/``span_of``: the bar step and its extreme marks (``LiqGuard.holds``)."""
        key = account_key(self)
        if self.guard.holds(key, mark_of, span_id, span_of):
            return []
        marks = {s: mk for s in priced if (mk := mark_of(s)) is not None}
        out = self.check(ts, marks, gap=gap)
        self.guard.reset(None if out else key, None if out else bands(self, marks))
        return out

    def check(self, ts: int, marks: dict[str, float], *, gap: bool) -> list[VenueUpdate]:
        """Liquidate what is below maintenance at ``marks`` (one point of the bars' path)."""
        m = self.m
        out: list[VenueUpdate] = []
        for s in sorted(self.isolated):
            if m.pos[s][0] and s in marks:
                mm, _ = self.mm(s, marks[s])
                if self.iso_margin(s) + self.upnl(s, marks[s]) < mm:
                    out.extend(self._liquidate(s, ts, marks, gap=gap))
        while True:
            bal, mm = self.cross(marks)
            live = [s for s in m.symbols if s not in self.isolated and m.pos[s][0]]
            if not live or bal >= mm:
                return out
            worst = max(live, key=lambda s: (self.mm(s, marks.get(s))[0], s))
            out.extend(self._liquidate(worst, ts, marks, gap=gap))

    def _liquidate(self, s: str, ts: int, marks: dict[str, float], *, gap: bool) -> list[VenueUpdate]:
        m = self.m
        q, e = m.pos[s]
        side = 1 if q > 0 else -1
        qty = abs(q)
        mark = marks.get(s, m.mark.get(s, e))
        wb = self.backing(s, marks)
        lp, b = liquidation_price(side, qty, e, wb, self.brackets[s])
        bp = bankruptcy_price(side, qty, e, wb)
        mm, _ = maint_margin(self.brackets[s], qty * mark)
        px = mark if gap or lp <= 0 else lp  # a gap through the level fills at the open's mark
        if bp > 0:  # never past the bankruptcy price: beyond it the loss is the insurance fund's
            px = max(px, bp) if side > 0 else min(px, bp)
        realized = side * qty * (px - e)
        left = wb + realized
        fee = max(0.0, min(self.liq_fee * qty * px, left))
        m.wallet += realized - fee
        m.realized += realized
        m.fees_paid += fee
        m.pos[s] = [0.0, 0.0]
        self.iso_funding[s] = 0.0
        m.trade_seq += 1
        out = [VenueUpdate(PositionLiquidated, "account", ts, {
            "symbol": s, "side": "SELL" if side > 0 else "BUY", "qty": qty, "entry_price": e, "mark_price": mark,
            "liquidation_price": lp, "bankruptcy_price": bp, "fill_price": px, "fee_usd": fee,
            "realized_pnl": realized, "maint_margin_usd": mm, "margin_balance_usd": wb + side * qty * (mark - e),
            "margin_type": self.margin_type(s), "bracket": b.tier, "mmr": b.mmr, "trade_id": f"T{m.trade_seq}"})]
        for w in m.arriving[s]:
            out.append(VenueUpdate(OrderCanceled, "orders", ts, {"order_id": w.req.order_id, "symbol": s,
                                                                 "reason": "liquidation", "filled_qty": w.filled}))
        for oid, w in m.resting[s].items():
            out.append(VenueUpdate(OrderCanceled, "orders", ts, {"order_id": oid, "symbol": s,
                                                                 "reason": "liquidation", "filled_qty": w.filled}))
        for oid, w in m.stops[s].items():
            out.append(VenueUpdate(OrderCanceled, "orders", ts, {"order_id": oid, "symbol": s,
                                                                 "reason": "liquidation", "filled_qty": w.filled}))
        m.arriving[s] = []
        m.resting[s] = {}
        m.stops[s] = {}
        return out
