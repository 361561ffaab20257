"""What each dashboard section shows, computed from a :class:`ui.state.Snapshot`.

Pure functions: snapshot in, plain rows and strings out (no Panel, no I/O), so every
card and table can be unit-tested without a server. Field names follow
docs/state_contract.md; each value falls back to "n/a" (or a documented word such as
``unknown``) when its file or field is missing.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from ui import fmt
from ui.state import Snapshot, first, sub

#: Donut order and labels when aum_v7.json has no ``buckets`` list.
AUM_BUCKETS: tuple[tuple[str, str], ...] = (
    ("futures_nav_usd", "Futures NAV"),
    ("btc_spot_usd", "BTC"),
    ("xaut_spot_usd", "XAUT"),
    ("usdc_spot_usd", "USDC"),
)
#: Tone of each state word: drives the card's colour.
TONES: dict[str, str] = {
    "normal": "good", "good": "good", "fresh": "good", "low": "good", "strong": "good",
    "positive": "good", "ok": "warn", "cautious": "warn", "high": "warn", "flat": "warn",
    "defensive": "bad", "degraded": "bad", "stale": "bad", "nav_stale": "bad",
    "negative": "bad",
}


@dataclass(frozen=True)
class Card:
    """One KPI tile: a title, a big value, a caption, a tone and a stable key for tests."""

    key: str
    title: str
    value: str
    caption: str = ""
    tone: str = "neutral"


def _obj(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else ``{}`` (a wrong type reads as missing)."""
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    """``value`` if it is a JSON array, else ``[]``."""
    return value if isinstance(value, list) else []


def tone(word: str) -> str:
    """``good`` / ``warn`` / ``bad`` / ``neutral`` for a state word."""
    return TONES.get(word.lower(), "neutral")


def risk_cards(s: Snapshot) -> list[Card]:
    """The "Risk KPIs" row: drawdown state, ATR regime, fee/PnL, router quality."""
    risk, router = _obj(sub(s.kpis, "risk")), _obj(sub(s.kpis, "router"))
    has_risk = bool(risk)
    dd = fmt.label(risk.get("dd_state"), "normal" if has_risk else fmt.NA)
    atr = fmt.label(risk.get("atr_regime"), "unknown" if has_risk else fmt.NA)
    quality = fmt.label(router.get("quality"), "unknown" if router else fmt.NA)
    fees, gross = risk.get("fees_usd_window"), risk.get("gross_pnl_usd_window")
    return [
        Card("dd_state", "Drawdown state", dd,
             f"risk mode {fmt.label(risk.get('risk_mode'))} · DD {fmt.pct(risk.get('drawdown_pct'))}",
             tone(dd)),
        Card("atr_regime", "ATR regime", atr,
             f"ATR / baseline {fmt.ratio(risk.get('atr_ratio'))}", tone(atr)),
        fee_card(risk.get("fee_pnl_ratio"), risk.get("fee_pnl_state"), fees, gross),
        Card("router_quality", f"Router quality ({router_window(s)})", quality,
             f"health score {fmt.ratio(router.get('router_health_score'))}", tone(quality)),
    ]


def router_window(s: Snapshot) -> str:
    """The router KPIs' window in words: "last 500 fills" (router_health.json ``window_fills``)."""
    n = fmt.num(s.get("router_health.json").get("window_fills"))
    if n is None:
        n = fmt.num(sub(s.kpis, "router", "fills"))
        return f"last {min(int(n), 500):,} fills" if n else "last 500 fills"
    return f"last {int(n):,} fills"


#: kpis_v7.json ``windows`` keys in the order the dashboard shows them.
WINDOWS = ("inception", "last_30d", "session")
WINDOW_WORDS = {"inception": "since inception", "last_30d": "last 30 days", "session": "this session"}


def window(s: Snapshot, key: str) -> dict[str, Any]:
    """One KPI window of kpis_v7.json (empty when the state predates windows)."""
    return _obj(sub(s.kpis, "windows", key))


def window_label(s: Snapshot, key: str) -> str:
    return fmt.label(window(s, key).get("label"), WINDOW_WORDS[key])


#: (row label, field, how to print it) of the "KPIs by window" table.
WINDOW_ROWS: tuple[tuple[str, str, str], ...] = (
    ("Return", "return_frac", "pct_signed"),
    ("Sharpe (hourly, annualised)", "sharpe", "ratio"),
    ("Round trips", "trades", "count"),
    ("Win rate", "win_rate", "pct"),
    ("Expectancy per round trip", "expectancy_usd", "usd_signed"),
    ("Realized PnL", "realized_pnl_usd", "usd_signed"),
    ("Fees", "fees_usd", "usd"),
    ("Funding", "funding_usd", "usd_signed"),
    ("Fee / PnL", "fee_pnl_ratio", "fee"),
)


def _window_cell(w: dict[str, Any], field: str, how: str) -> str:
    if not w:
        return "—"
    v = w.get(field)
    if how == "fee" and fmt.num(v) is None:
        word = fmt.label(w.get("fee_pnl_state"), "")
        return FEE_STATES.get(word, word.replace("_", " ") or "—")
    if fmt.num(v) is None:
        return {"sharpe": "too short", "return_frac": "no NAV yet", "win_rate": "no round trips",
                "expectancy_usd": "no round trips"}.get(field, "—")
    if how == "pct_signed":
        return fmt.pct(v, sign=True)
    if how == "pct":
        return fmt.pct(v, 1)
    if how == "ratio":
        return fmt.ratio(v)
    if how == "count":
        return fmt.plain(v, 0)
    if how == "usd_signed":
        return fmt.usd(v, sign=True)
    if how == "fee":
        return fmt.pct(v, 1)
    return fmt.usd(v)


def window_columns(s: Snapshot) -> list[str]:
    return ["KPI", *(window_label(s, k) for k in WINDOWS)]


def window_rows(s: Snapshot) -> list[dict[str, str]]:
    """Every performance KPI over since inception / last 30 days / this session (empty
    before the state carries windows)."""
    ws = {k: window(s, k) for k in WINDOWS}
    if not any(ws.values()):
        return []
    cols = window_columns(s)
    return [{"KPI": label, **{cols[i + 1]: _window_cell(ws[k], field, how) for i, k in enumerate(WINDOWS)}}
            for label, field, how in WINDOW_ROWS]


FEE_STATES = {"losing": "on a loss", "fees_exceed_gross": "fees > gross", "unknown": "no fills yet"}
FEE_TITLE = "Fee / PnL (last 200 fills)"  # kpis_v7 risk.fee_pnl_ratio's window (projections.risk)


def fee_card(ratio: Any, state_word: Any, fees: Any, gross: Any) -> Card:
    """Fees over gross realised PnL; when the window lost money the ratio is undefined
    (engine.rules.perf.fee_ratio): the card says so instead of showing n/a."""
    word = fmt.label(state_word, "")
    if fmt.num(ratio) is not None:
        return Card("fee_pnl", FEE_TITLE, fmt.pct(ratio, 1), f"fees {fmt.usd(fees)} of gross {fmt.usd(gross)}",
                    "warn" if word == "fees_exceed_gross" else "neutral")
    if fmt.num(fees) is None and not word:
        return Card("fee_pnl", FEE_TITLE, fmt.NA, "")
    value = FEE_STATES.get(word, word.replace("_", " ") or "no gross PnL yet")
    return Card("fee_pnl", FEE_TITLE, value,
                f"fees {fmt.usd(fees)} add to a gross {fmt.usd(gross, sign=True)}", "bad" if word == "losing" else "neutral")


def performance_cards(s: Snapshot) -> list[Card]:
    """Performance cards, each titled with its window: Sharpe over the last 30 days,
    expectancy and win rate since inception, realised PnL this session (kpis_v7 ``windows``;
    a state without windows falls back to ``performance`` and names that window instead)."""
    perf = _obj(sub(s.kpis, "performance"))
    inc, d30, ses = window(s, "inception"), window(s, "last_30d"), window(s, "session")
    sharpe_src, sharpe_win = (d30, window_label(s, "last_30d")) if d30 else (perf, "last 720 hours")
    trips_src, trips_win = (inc, window_label(s, "inception")) if inc else (perf, "last 100 round trips")
    pnl_src, pnl_win = (ses, window_label(s, "session")) if ses else (perf, "this session")
    sharpe_state = fmt.label(sharpe_src.get("sharpe_state"), "unknown" if perf else fmt.NA)
    exp_state = fmt.label(trips_src.get("expectancy_state"), "unknown" if perf else fmt.NA)
    realized, fees, funding = pnl_src.get("realized_pnl_usd"), pnl_src.get("fees_usd"), pnl_src.get("funding_usd")
    r, f, fu = fmt.num(realized), fmt.num(fees), fmt.num(funding)
    net = r - f + fu if r is not None and f is not None and fu is not None else None
    trades = trips_src.get("trades") if trips_src is not perf else perf.get("trades")
    return [
        Card("sharpe", f"Sharpe ({sharpe_win})", fmt.ratio(sharpe_src.get("sharpe")), sharpe_state, tone(sharpe_state))
        if fmt.num(sharpe_src.get("sharpe")) is not None or not perf else
        Card("sharpe", f"Sharpe ({sharpe_win})", "—",
             "needs a day of hourly NAV changes in the window (flat or too short)"),
        Card("expectancy", f"Expectancy per round trip ({trips_win})",
             fmt.usd(trips_src.get("expectancy_usd"), sign=True), exp_state, tone(exp_state)),
        Card("win_rate", f"Win rate ({trips_win})", fmt.pct(trips_src.get("win_rate"), 1),
             f"{fmt.plain(trades, 0)} round trips"),
        Card("realized", f"Realized PnL ({pnl_win})", fmt.usd(realized, sign=True),
             f"fees {fmt.usd(fees)} · funding {fmt.usd(funding, sign=True)} · net {fmt.usd(net, sign=True)}"),
    ]


def aum_total(s: Snapshot) -> Any:
    """Total AUM in USD from aum_v7.json, else nav_state's ``aum.total``, else kpis."""
    return first(s.aum.get("total_usd"), sub(s.aum, "total", "value"),
                 sub(s.nav_state, "aum", "total"), sub(s.kpis, "nav", "aum_total_usd"))


def nav_usd(s: Snapshot) -> Any:
    """NAV (futures wallet) in USD from nav_state.json."""
    return first(s.nav_state.get("nav_usd"), s.nav_state.get("nav_total"),
                 sub(s.kpis, "nav", "nav_usd"))


def overview_cards(s: Snapshot) -> list[Card]:
    """The "Overview" row: NAV, AUM, DD / ATR, router fill / fallback, NAV age."""
    nav, kn = s.nav_state, _obj(sub(s.kpis, "nav"))
    risk, router = _obj(sub(s.kpis, "risk")), _obj(sub(s.kpis, "router"))
    dd = first(risk.get("drawdown_pct"), nav.get("drawdown_frac"))
    maker, fallback = router.get("maker_fill_rate"), router.get("fallback_ratio")
    age = first(nav.get("nav_age_s"), kn.get("nav_age_s"), kn.get("age_s"))
    freshness = fmt.label(first(nav.get("freshness"), kn.get("freshness")), "unknown")
    aum = s.aum
    return [
        Card("nav", "NAV (USD)", fmt.usd(nav_usd(s)),
             f"return since inception {fmt.pct(first(nav.get('return_frac'), kn.get('return_frac')), sign=True)}"
             f" · today {fmt.usd(first(nav.get('daily_pnl_usd'), kn.get('daily_pnl_usd')), sign=True)}"
             + zar_note(s)),
        Card("aum", "AUM (USD)", fmt.usd(aum_total(s)),
             f"PnL {fmt.usd(sub(aum, 'total', 'pnl'), sign=True)}"
             + ("" if aum.get("complete", True) else " · incomplete")
             + (f" · {zar(aum.get('total_zar'))}" if aum.get("total_zar") is not None else "")),
        Card("dd_atr", "DD / ATR", f"{fmt.pct(dd)} / {fmt.ratio(risk.get('atr_ratio'))}",
             f"peak {fmt.usd(first(nav.get('peak_nav_usd'), kn.get('peak_nav_usd')))}"),
        Card("router_fill", f"Router fill / fallback ({router_window(s)})", f"{fmt.pct(maker, 0)} / {fmt.pct(fallback, 0)}",
             f"maker fill {fmt.ratio(maker)} · fallback {fmt.ratio(fallback)}"),
        Card("nav_age", "NAV age", fmt.age(age),
             f"{freshness} · as of {fmt.when(nav.get('nav_ts'))}", tone(freshness)),
    ]


def aum_slices(s: Snapshot) -> list[dict[str, Any]]:
    """Donut slices in order: ``{key, label, value, pnl, share}`` with numbers or None."""
    buckets = s.aum.get("buckets")
    rows: list[dict[str, Any]] = []
    if isinstance(buckets, list) and buckets:
        for b in buckets:
            if isinstance(b, dict):
                rows.append({"key": str(b.get("key", "")), "label": fmt.label(b.get("label"), str(b.get("key", "?"))),
                             "value": fmt.num(b.get("value")), "pnl": fmt.num(b.get("pnl")),
                             "share": fmt.num(b.get("share"))})
    else:
        for key, label in AUM_BUCKETS:
            b = s.aum.get(key)
            if isinstance(b, dict):
                rows.append({"key": key, "label": label, "value": fmt.num(b.get("value")),
                             "pnl": fmt.num(b.get("pnl")), "share": None})
    total = sum(r["value"] for r in rows if r["value"] and r["value"] > 0)
    for r in rows:
        if r["share"] is None and total and r["value"] is not None:
            r["share"] = max(r["value"], 0.0) / total
    return rows


def position_rows(s: Snapshot) -> list[dict[str, str]]:
    """Open positions with TP/SL from the ledger and per-symbol KPIs from kpis_v7."""
    positions = sub(s.get("positions_state.json"), "positions")
    ledger = _obj(sub(s.get("positions_ledger.json"), "entries"))
    symbols = _obj(sub(s.kpis, "symbols"))
    rows = []
    for p in positions if isinstance(positions, list) else []:
        if not isinstance(p, dict):
            continue
        sym, side = str(p.get("symbol", "?")), fmt.label(p.get("side"), "?")
        entry = ledger.get(f"{sym}:{side}") if isinstance(ledger, dict) else None
        tp_sl = _obj(sub(entry, "tp_sl"))
        k = symbols.get(sym) if isinstance(symbols, dict) else None
        k = k if isinstance(k, dict) else {}
        rows.append({
            "Symbol": sym, "Side": side, "Qty": fmt.qty(p.get("qty")),
            "Entry": fmt.price(first(p.get("entry_price"), p.get("entryPrice"))),
            "Mark": fmt.price(p.get("mark_price")),
            "Notional": fmt.usd(p.get("notional")),
            "PnL": fmt.usd(first(p.get("pnl"), p.get("unrealized_pnl")), sign=True),
            "TP": fmt.price(tp_sl.get("tp")), "SL": fmt.price(tp_sl.get("sl")),
            "Symbol DD state": fmt.label(k.get("dd_state"), "-"),
            "Symbol DD today": fmt.pct(k.get("dd_today_pct")),
            "ATR ratio": fmt.ratio(k.get("atr_ratio")),
            "ATR regime": fmt.label(k.get("atr_regime")),
        })
    return rows


def traded_symbols(s: Snapshot) -> set[str]:
    """Symbols with a fill this session (router_health) or an open position."""
    out = set()
    for r in _list(sub(s.get("router_health.json"), "symbols")):
        if isinstance(r, dict) and (fmt.num(r.get("fills")) or 0) > 0:
            out.add(str(r.get("symbol")))
    symbols = sub(s.kpis, "symbols")
    for sym, k in symbols.items() if isinstance(symbols, dict) else []:
        if isinstance(k, dict) and (fmt.num(k.get("position_qty")) or 0) != 0:
            out.add(sym)
    return out


def symbol_rows(s: Snapshot) -> list[dict[str, str]]:
    """Per-symbol risk regime of the symbols traded or held this session (kpis_v7 ``symbols``)."""
    symbols = sub(s.kpis, "symbols")
    traded = traded_symbols(s)
    rows = []
    for sym, k in sorted(symbols.items()) if isinstance(symbols, dict) else []:
        if sym not in traded:
            continue
        k = k if isinstance(k, dict) else {}
        rows.append({"Symbol": sym, "Position": fmt.qty(k.get("position_qty")),
                     "Last close": fmt.price(k.get("last_close")),
                     "ATR": fmt.sig(k.get("atr")), "ATR %": fmt.pct(k.get("atr_pct")),
                     "ATR ratio": fmt.ratio(k.get("atr_ratio")),
                     "ATR regime": fmt.label(k.get("atr_regime"), "-"),
                     "Symbol DD state": fmt.label(k.get("dd_state"), "-"),
                     "Symbol DD today": fmt.pct(k.get("dd_today_pct"))})
    return rows


def idle_symbols(s: Snapshot) -> list[str]:
    """Configured symbols neither traded nor held this session (folded under the table)."""
    symbols = sub(s.kpis, "symbols")
    traded = traded_symbols(s)
    return sorted(sym for sym in symbols if sym not in traded) if isinstance(symbols, dict) else []


def nav_points(s: Snapshot) -> list[dict[str, float]]:
    """The whole NAV history for the charts, downsampled: daily points before the hourly
    window, hourly points before the recent window, then every recent reading."""
    hist = s.get("nav_history.json")
    recent = [p for p in _list(hist.get("recent")) if _point(p)]
    hourly = [p for p in _list(hist.get("hourly")) if _point(p)]
    daily = [p for p in _list(hist.get("daily")) if _point(p)]
    start = recent[0]["ts"] if recent else float("inf")
    hourly = [p for p in hourly if p["ts"] < start]
    h0 = hourly[0]["ts"] if hourly else start
    merged = [p for p in daily if p["ts"] < h0] + hourly + recent
    return [{"ts": float(p["ts"]), "nav_usd": float(p["nav_usd"]),
             "drawdown_frac": float(fmt.num(p.get("drawdown_frac")) or 0.0)} for p in merged]


def _point(p: Any) -> bool:
    return isinstance(p, dict) and fmt.num(p.get("ts")) is not None and fmt.num(p.get("nav_usd")) is not None


def _stem(name: str) -> str:
    """``max_drawdown_pct`` -> ``drawdown``: the part a threshold and its observation share."""
    words = [w for w in re.split(r"[_\W]+", name.lower())
             if w and w not in {"max", "min", "limit", "pct", "frac", "usd", "s", "seconds", "after", "cap"}]
    return "_".join(words)


#: Which observations a threshold is compared with (docs/risk.md, gate table).
OBSERVED_BY: dict[str, tuple[str, ...]] = {
    "trading_window": ("minute_of_day_utc",),
    "nav_freshness_seconds": ("nav_age_s",),
    "nav_stale_after_seconds": ("nav_age_s",),
    "nav_sources_ok_required": ("nav_sources_ok",),
    "max_drawdown_pct": ("dd_frac",),
    "dd_cautious_pct": ("dd_frac",),
    "dd_defensive_pct": ("dd_frac",),
    "cautious_size_mult": ("dd_state",),
    "daily_loss_limit_pct": ("daily_loss_frac",),
    "max_margin_ratio": ("margin_ratio",),
    "min_liquidation_distance_frac": ("liquidation_distance_frac",),
    "atr_high_ratio": ("atr_ratio",),
    "atr_low_ratio": ("atr_ratio",),
    "high_vol_size_mult": ("atr_regime",),
    "max_trade_nav_pct": ("requested_notional_usd", "nav_usd"),
    "max_open_positions": ("open_positions_count",),
    "per_symbol_nav_pct": ("symbol_gross", "requested_notional_usd", "nav_usd"),
    "tier_gross_nav_pct": ("tier_gross", "requested_notional_usd", "nav_usd"),
    "max_gross_nav_mult": ("portfolio_gross", "requested_notional_usd", "nav_usd"),
    "min_notional": ("requested_notional_usd",),
}


def observed_keys(name: str, observations: dict[str, Any]) -> list[str]:
    """The observation keys threshold ``name`` was compared with (known gates first, then
    the key sharing most words with the name)."""
    keys = list(OBSERVED_BY.get(name, ()))
    if name.startswith("correlation.") and name.count(".") >= 2:
        keys = [f"group_gross.{name.split('.')[1]}", "requested_notional_usd", "nav_usd"]
    elif name.startswith("tiers."):
        keys = ["tier", "nav_age_s", "dd_frac"]
    if name in observations:
        keys.insert(0, name)
    found = [k for k in keys if k in observations]
    if not found:
        best = _closest(name, observations)
        found = [best] if best else []
    return found


def _closest(name: str, observations: dict[str, Any]) -> str | None:
    """The observation key sharing the most words with threshold ``name`` (None if none)."""
    want = set(_stem(name).split("_")) - {""}
    best, score = None, 0
    for k in sorted(observations):
        shared = len(want & set(_stem(k).split("_")))
        if shared > score:
            best, score = k, shared
    return best


#: Investor words for the config keys, observations and gates a veto names (docs/risk.md).
WORDS: dict[str, str] = {
    "dd_cautious_pct": "cautious drawdown level", "dd_defensive_pct": "defensive drawdown level",
    "max_drawdown_pct": "maximum drawdown", "dd_frac": "drawdown", "dd_state": "drawdown state",
    "daily_loss_limit_pct": "daily loss limit", "daily_loss_frac": "loss today",
    "nav_freshness_seconds": "NAV freshness limit", "nav_stale_after_seconds": "NAV stale after",
    "nav_age_s": "NAV age", "nav_sources_ok_required": "NAV sources must be ok", "nav_sources_ok": "NAV sources ok",
    "nav_usd": "NAV", "max_open_positions": "open positions limit", "open_positions_count": "open positions",
    "atr_high_ratio": "high-volatility ATR ratio", "atr_low_ratio": "low-volatility ATR ratio",
    "atr_ratio": "ATR ratio", "atr_regime": "volatility regime", "high_vol_size_mult": "high-volatility size cut",
    "cautious_size_mult": "cautious size cut", "max_trade_nav_pct": "trade size limit (of NAV)",
    "requested_notional_usd": "order size", "per_symbol_nav_pct": "per-symbol limit (of NAV)",
    "symbol_gross": "symbol exposure", "tier_gross_nav_pct": "tier limit (of NAV)", "tier_gross": "tier exposure",
    "max_gross_nav_mult": "gross exposure limit (x NAV)", "portfolio_gross": "portfolio exposure",
    "min_notional": "minimum order size", "trading_window": "trading window",
    "minute_of_day_utc": "time of day (UTC)", "tier": "tier", "exposure_qty": "position",
    "position_qty": "position", "price": "price",
    "max_margin_ratio": "margin ratio limit", "margin_ratio": "margin ratio",
    "min_liquidation_distance_frac": "minimum distance to liquidation",
    "liquidation_distance_frac": "distance to liquidation",
}
GATES: dict[str, str] = {
    "dd_state": "drawdown state", "max_drawdown": "maximum drawdown", "nav_freshness": "NAV freshness",
    "nav_sources": "NAV sources", "daily_loss": "daily loss limit", "max_open_positions": "open positions limit",
    "symbol_cap": "per-symbol limit", "tier_cap": "tier limit", "portfolio_cap": "gross exposure limit",
    "correlation_cap": "correlation limit", "alt_ext_disabled": "ALT-EXT tier paused", "min_notional": "minimum size",
    "trade_cap": "trade size limit", "trading_window": "trading window", "atr_regime": "volatility regime",
    "liquidation_buffer": "distance to liquidation",
}


def words(key: str) -> str:
    """An investor's name for a config key or observation (``dd_frac`` -> ``drawdown``)."""
    if key in WORDS:
        return WORDS[key]
    if key.startswith("group_gross."):
        return f"{key.split('.', 1)[1]} group exposure"
    if key.startswith("correlation.") and key.count(".") >= 2:
        return f"{key.split('.')[1]} group limit (of NAV)"
    if key.startswith("tiers."):
        return f"{key.split('.')[1]} tier rule"
    base = re.sub(r"_(pct|frac|usd|s|seconds)$", "", key)
    return base.replace("_", " ").replace(".", " ")


def gate_words(gate: Any) -> str:
    g = fmt.label(gate, "")
    return GATES.get(g, g.replace("_", " ")) if g else "unknown gate"


def value_words(key: str, value: Any) -> str:
    """A threshold or observation formatted by what it measures (%, USD, time, count)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    f = fmt.num(value)
    if f is None:
        return fmt.compact(value) if value is not None else "not recorded"
    if key.endswith(("_pct", "_frac")) or key.startswith("correlation."):
        return fmt.pct(f)
    if key.endswith("_usd") or key.endswith("gross") or key.startswith("group_gross."):
        return fmt.usd(f, 0)
    if key.endswith(("_s", "_seconds")):
        return fmt.age(f)
    if key == "minute_of_day_utc":
        return f"{int(f) // 60:02d}:{int(f) % 60:02d}"
    if key.endswith("_mult"):
        return f"{f:g}x"
    if key.endswith("ratio"):
        return fmt.ratio(f)
    return fmt.compact(f)


def breaking_words(line: dict[str, Any]) -> tuple[str, str]:
    """("limit: value", "observed: value") in investor words, for the first breached threshold."""
    thresholds, observations = _obj(line.get("thresholds")), _obj(line.get("observations"))
    raw = line.get("breached")
    breached = [b for b in raw if isinstance(b, str)] if isinstance(raw, list) else []
    names = breached or sorted(thresholds)
    if not names:
        return "not recorded", "not recorded"
    name = names[0]
    limit = f"{words(name)} {value_words(name, thresholds.get(name))}"
    keys = observed_keys(name, observations)
    seen = "; ".join(f"{words(k)} {value_words(k, observations[k])}" for k in keys) if keys else "not recorded"
    return limit, seen


def breaking_pair(line: dict[str, Any]) -> tuple[str, str]:
    """("name = threshold", "name = observation") for the first breached threshold."""
    thresholds, observations = _obj(line.get("thresholds")), _obj(line.get("observations"))
    raw = line.get("breached")
    breached = [b for b in raw if isinstance(b, str)] if isinstance(raw, list) else []
    names = breached or sorted(thresholds)
    if not names:
        return fmt.NA, fmt.compact(observations) if observations else fmt.NA
    name = names[0]
    threshold = f"{name} = {fmt.compact(thresholds.get(name))}"
    keys = observed_keys(name, observations)
    if not keys:
        return threshold, fmt.compact(observations) if observations else fmt.NA
    return threshold, "; ".join(f"{k} = {fmt.compact(observations[k])}" for k in keys)


OUTCOMES = {"veto": "blocked", "clamp": "reduced"}


def veto_rows(s: Snapshot, limit: int = 50) -> list[dict[str, str]]:
    """Recent vetoes and clamps, newest first: which limit, at what value, what was observed."""
    rows = []
    for line in reversed(s.vetoes[-limit:]):
        threshold, observation = breaking_words(line)
        outcome = fmt.label(line.get("outcome"), "")
        rows.append({"Time": fmt.when(line.get("ts")), "Symbol": fmt.label(line.get("symbol"), "-"),
                     "Outcome": OUTCOMES.get(outcome, outcome or "-"), "Gate": gate_words(line.get("gate")),
                     "Threshold": threshold, "Observation": observation})
    return rows


def veto_counts(s: Snapshot) -> list[tuple[str, int]]:
    """(gate, count) sorted by count: the session counters, else counted from the jsonl tail."""
    by_gate = sub(s.get("diagnostics.json"), "veto_counters", "by_gate")
    if isinstance(by_gate, dict) and by_gate:
        counts = {str(k): int(v) for k, v in by_gate.items() if fmt.num(v) is not None}
    else:
        counts = dict(Counter(str(v.get("gate", "?")) for v in s.vetoes))
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def decision_counts(s: Snapshot) -> dict[str, str]:
    """allow / clamp / veto counts of the session (risk_snapshot ``decisions``)."""
    d = _obj(sub(s.get("risk_snapshot.json"), "decisions"))
    return {k: fmt.plain(d.get(k), 0) for k in ("allow", "clamp", "veto")}


def router_rows(s: Snapshot) -> list[dict[str, str]]:
    """Router health of the symbols traded or held (router_health.json ``symbols``); the
    others are listed by :func:`idle_symbols` under the table."""
    rows = []
    traded = traded_symbols(s)
    for r in _list(sub(s.get("router_health.json"), "symbols")):
        if not isinstance(r, dict) or str(r.get("symbol")) not in traded:
            continue
        rows.append({"Symbol": fmt.label(r.get("symbol")), "Quality": fmt.label(r.get("quality")),
                     "Score": fmt.ratio(r.get("router_health_score")),
                     "Maker fill": fmt.pct(r.get("maker_fill_rate"), 1),
                     "Fallback": fmt.pct(r.get("fallback_ratio"), 1),
                     "Slip p50 (bps)": fmt.plain(r.get("slippage_p50")),
                     "Slip q95 (bps)": fmt.plain(r.get("slip_q95")),
                     "Fills": fmt.plain(r.get("fills"), 0), "Orders": fmt.plain(r.get("orders"), 0),
                     "Post-only rejects": fmt.plain(r.get("post_only_rejects"), 0),
                     "Last fill": fmt.when(r.get("last_fill_ts"))})
    return rows


LIVE_MODES = ("live", "testnet", "binance-dry", "paper")


def drought_banner(s: Snapshot) -> str | None:
    """The "no entries" banner: risk_snapshot.json ``entry_drought`` (engine/rules/drought.py), else None.

    Says why in the fund's words: "No new positions for 5 days 3 h - defensive since
    2025-11-20 14:10: 346 entries vetoed"."""
    d = _obj(s.get("risk_snapshot.json").get("entry_drought"))
    reason = d.get("reason")
    if not d or not isinstance(reason, str):
        return None
    hours = fmt.num(d.get("hours"))
    span = f" for {fmt.age(hours * 3600)}" if hours is not None else ""
    return f"No new positions{span} \u2014 {reason}"


def status_items(s: Snapshot, *, live_stale_s: float) -> tuple[list[tuple[str, str]], tuple[str, str]]:
    """The status strip: (label, value) pairs and the (word, tone) pill.

    A live account's freshness is judged against the wall clock (the state's newest
    event time vs now: "data 3h 05m old" in red past ``live_stale_s``); a simulated
    session's against its own clock (the NAV freshness rule)."""
    nav = s.nav_state
    mode = fmt.label(first(nav.get("account_mode"), nav.get("mode")), "")
    sid = nav.get("session_id")
    items = [("Session", sid[:8] if isinstance(sid, str) and sid else "none yet"),
             ("Data as of", fmt.when(nav.get("updated_ts")) if nav.get("updated_ts") else "no data yet"),
             ("Page read", fmt.when(s.read_at))]
    if mode:
        items.insert(0, ("Account", mode))
    if not s.present:
        return items, ("no data", "bad")
    if mode.lower() in LIVE_MODES:
        updated = fmt.num(nav.get("updated_ts"))
        if updated is None:
            return items, ("live · age unknown", "warn")
        lag = max(0.0, s.read_at - updated)
        if lag > live_stale_s:
            return items, (f"data {fmt.age(lag)} old", "bad")
        return items, ("live · data fresh", "good")
    freshness = fmt.label(nav.get("freshness"), "unknown")
    return items, (f"NAV {freshness}", tone(freshness))


def health(s: Snapshot) -> dict[str, Any]:
    """The /healthz body: which files exist, how old they are (wall clock), NAV age (log clock)."""
    ages = {n: round(max(0.0, s.read_at - m), 1) for n, m in sorted(s.mtimes.items())}
    nav = s.nav_state
    newest = min(ages.values()) if ages else None
    return {
        "status": "ok" if nav else "no_state",
        "state_dir": str(s.home / "state"),
        "files_present": len(s.present),
        "files_expected": len(s.files),
        "state_age_s": newest,
        "file_age_s": ages,
        "nav_usd": fmt.num(nav_usd(s)),
        "nav_age_s": fmt.num(nav.get("nav_age_s")),
        "nav_freshness": fmt.label(nav.get("freshness"), "unknown"),
        "updated_ts": fmt.num(nav.get("updated_ts")),
        "session_id": nav.get("session_id") if isinstance(nav.get("session_id"), str) else None,
    }


#: ``account_mode`` (nav_state.json) -> the banner every page shows when the account is not live.
MODE_BANNERS = {"sim": "SIMULATED", "simulated": "SIMULATED", "backtest": "SIMULATED", "replay": "SIMULATED",
                "paper": "PAPER", "dry_run": "PAPER", "dry": "PAPER", "binance-dry": "PAPER",
                "testnet": "TESTNET"}


def mode_banner(s: Snapshot) -> str | None:
    """SIMULATED / PAPER / TESTNET when nav_state.json's ``account_mode`` is not ``live``;
    None when it is live or absent (a state written before the field existed)."""
    mode = s.nav_state.get("account_mode")
    if not isinstance(mode, str) or not mode.strip() or mode.strip().lower() == "live":
        return None
    m = mode.strip().lower()
    return MODE_BANNERS.get(m, m.upper().replace("_", " "))


def session_markers(s: Snapshot) -> list[dict[str, Any]]:
    """Session starts for the NAV chart from nav_history.json's ``sessions`` list
    (``[{session_id, started_ts, ended_ts, end_reason}]``); empty when absent."""
    out = []
    for x in _list(s.get("nav_history.json").get("sessions")):
        started = _epoch(x.get("started_ts")) if isinstance(x, dict) else None
        if started is None:
            continue
        sid = x.get("session_id")
        label = f"session {sid[:8]}" if isinstance(sid, str) and sid else "session"
        out.append({"ts": started, "label": label, "ended_ts": _epoch(x.get("ended_ts")),
                    "end_reason": x.get("end_reason")})
    return sorted(out, key=lambda m: m["ts"])


def _epoch(value: Any) -> float | None:
    """Epoch seconds from a number or an ISO 8601 UTC string (``2025-07-04T11:40:00.000000Z``)."""
    n = fmt.num(value)
    if n is not None:
        return n
    if not isinstance(value, str) or not value:
        return None
    from datetime import UTC, datetime

    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()


# ----------------------------------------------------------------------------- issue 16


def zar(value: Any) -> str:
    """A rand amount (the guide's ``_zar`` convention), whole rands."""
    f = fmt.num(value)
    return f"R {f:,.0f}" if f is not None else ""


def zar_note(s: Snapshot) -> str:
    """" · R 1,836,849 at 18.20 ZAR/USD" when a USD/ZAR rate is configured, else ""."""
    nav_zar, rate = s.nav_state.get("nav_zar"), fmt.num(s.nav_state.get("usd_zar_rate"))
    if nav_zar is None or rate is None:
        return ""
    return f" · {zar(nav_zar)} at {rate:.2f} ZAR/USD"


def overlay_words(overlay: Any) -> str:
    """``["risk.max_open_positions=5"]`` -> ``"open positions limit 5"``."""
    parts = []
    for item in _list(overlay):
        key, _, value = str(item).partition("=")
        leaf = key.rsplit(".", 1)[-1]
        name = GATES.get(leaf) or words(leaf)
        parts.append(f"{name} {value_words(leaf, fmt.num(value) if fmt.num(value) is not None else value)}")
    return ", ".join(parts) or "no change"


def shadow_cards(s: Snapshot) -> list[Card]:
    """Live vs shadow: decisions, allowed, vetoed, agreement, PnL; [] when no shadow ran."""
    head, cmp_ = s.get("pipeline_v6_shadow_head.json"), s.get("pipeline_v6_compare_summary.json")
    if not head or not head.get("total"):
        return []
    live, shadow = _obj(cmp_.get("live")), _obj(cmp_.get("shadow"))
    live_allowed = (fmt.num(live.get("allow")) or 0) + (fmt.num(live.get("clamp")) or 0) if live else None
    agreement = cmp_.get("veto_agreement")
    warm = cmp_.get("warmup_reason")
    return [
        Card("shadow_config", "Shadow differs by", overlay_words(head.get("overlay")),
             f"{fmt.plain(head.get('total'), 0)} decisions beside live, on simulated fills"),
        Card("shadow_allowed", "Allowed: live / shadow",
             f"{fmt.plain(live_allowed, 0)} / {fmt.plain(head.get('allowed'), 0)}",
             f"vetoed {fmt.plain(live.get('veto'), 0)} / {fmt.plain(head.get('vetoed'), 0)}"),
        Card("shadow_agreement", "Veto agreement", fmt.pct(agreement, 1),
             "same allow or veto on the same order" if warm is None else "warming up",
             "good" if isinstance(agreement, int | float) and agreement >= 0.9 else "warn"),
        Card("shadow_pnl", "PnL: live / shadow",
             f"{fmt.usd(live.get('net_pnl_usd'), 0, sign=True)} / {fmt.usd(shadow.get('net_pnl_usd'), 0, sign=True)}",
             f"difference {fmt.usd(cmp_.get('pnl_diff_usd'), 0, sign=True)}"),
    ]


POLICY_WORDS = {"maker_wait_s": "maker wait", "max_reprices": "reprices", "twap_slices": "TWAP slices",
                "reprice_offset_ticks": "post-only offset (ticks)"}


def _policy_change(key: str, old: Any, new: Any) -> str:
    if key == "maker_wait_s":
        return f"{POLICY_WORDS[key]} {fmt.age(old)} to {fmt.age(new)}"
    return f"{POLICY_WORDS[key]} {fmt.plain(old, 0)} to {fmt.plain(new, 0)}"


def router_evidence_words(ev: dict[str, Any]) -> str:
    """"maker fill 82% · fallback 8% · slippage p95 3.20 bps · 500 fills", only what was measured."""
    if not ev.get("sample_size"):
        return "no fills yet"
    parts = []
    if ev.get("fill_rate") is not None:
        parts.append(f"maker fill {fmt.pct(ev['fill_rate'], 0)}")
    if ev.get("fallback_ratio") is not None:
        parts.append(f"fallback {fmt.pct(ev['fallback_ratio'], 0)}")
    if ev.get("slippage_p95_bps") is not None:
        parts.append(f"slippage p95 {fmt.plain(ev['slippage_p95_bps'])} bps")
    if ev.get("first_slice_slippage_p95_bps") is not None:
        parts.append(f"first slice {fmt.plain(ev['first_slice_slippage_p95_bps'])} bps")
    parts.append(f"{fmt.plain(ev['sample_size'], 0)} fills")
    return " · ".join(parts)


def tuning_rows(s: Snapshot) -> list[dict[str, str]]:
    """Router and allocation proposals per symbol: what, on what evidence, applied or not."""
    router = {str(r.get("symbol")): r for r in _list(s.get("router_policy_suggestions_v6.json").get("symbols"))
              if isinstance(r, dict)}
    alloc = {str(r.get("symbol")): r for r in _list(s.get("risk_allocation_suggestions_v6.json").get("symbols"))
             if isinstance(r, dict)}
    applying = s.get("router_policy_suggestions_v6.json").get("mode") == "apply"
    allocating = sub(s.get("risk_allocation_suggestions_v6.json"), "global", "feedback_allocator_v6_enabled") is True
    rows = []
    for sym in sorted(set(router) | set(alloc)):
        r, a = _obj(router.get(sym)), _obj(alloc.get(sym))
        ev, cur, new = _obj(r.get("evidence")), _obj(r.get("current")), _obj(r.get("proposed"))
        changed = [k for k in POLICY_WORDS if cur.get(k) != new.get(k)]
        weight, cur_w = a.get("suggested_weight"), a.get("current_weight")
        if not changed and r.get("status") != "applied" and weight in (None, 1.0) and cur_w in (None, 1.0):
            continue
        if changed:
            proposal = "; ".join(_policy_change(k, cur.get(k), new.get(k)) for k in changed)
            state = "applied at the next review" if applying else "proposed only"
        elif r.get("status") == "applied":
            proposal = "; ".join(f"{POLICY_WORDS[k]} {fmt.age(cur.get(k)) if k == 'maker_wait_s' else fmt.plain(cur.get(k), 0)}"
                                 for k in POLICY_WORDS)
            state = "applied"
        else:
            proposal, state = "keep the routing", "no change"
        aev = _obj(a.get("evidence"))
        rows.append({
            "Symbol": sym, "Routing proposal": proposal,
            "Evidence": router_evidence_words(ev),
            "Routing": state,
            "Weight": f"{fmt.ratio(cur_w)} to {fmt.ratio(weight)}" if cur_w != weight else fmt.ratio(weight),
            "Weight evidence": (f"score {fmt.ratio(aev.get('score'))} · {fmt.plain(aev.get('round_trips'), 0)} round trips"
                                f" · {fmt.pct(aev.get('expectancy_frac'), 2, sign=True)} per trip"
                                if aev.get("expectancy_frac") is not None
                                else f"{fmt.plain(aev.get('round_trips'), 0)} round trips: too few to weigh"),
            "Allocation": "applied" if a.get("applied") and weight != 1.0 else
                          (("applied at the next review" if allocating else "proposed only")
                           if cur_w != weight else "no change"),
        })
    return rows
