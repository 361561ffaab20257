"""Plain-text rendering of explanations and verification results (pure: dict in, str out)."""

from __future__ import annotations

import math
from typing import Any

SOURCE_FIELDS: dict[str, tuple[str, ...]] = {
    "IntentEmitted": ("side", "qty", "price", "notional_usd", "reduce_only", "tp", "sl", "strategy", "reason"),
    "NavSnapshot": ("nav_usd", "wallet_balance", "unrealized_pnl", "available_balance", "sources_ok", "source"),
    "PositionSnapshot": ("symbol", "qty", "entry_price", "mark_price", "unrealized_pnl", "notional"),
    "MarketTick": ("symbol", "bid", "ask", "mark", "funding_rate"),
    "KlineClosed": ("symbol", "interval", "open", "high", "low", "close", "volume"),
    "VenueReconciled": ("positions",),
}
FOLLOW_FIELDS: dict[str, tuple[str, ...]] = {
    "RoutePlanned": ("plan_id", "style", "side", "qty", "slices", "decision_price"),
    "OrderSubmitted": ("order_id", "order_type", "time_in_force", "side", "qty", "price"),
    "OrderFilled": ("order_id", "qty", "price", "is_maker", "fee_usd", "slippage_bps"),
    "OrderRejected": ("order_id", "code", "reason"),
    "OrderCanceled": ("order_id", "reason", "filled_qty"),
    "OrderExpired": ("order_id", "reason", "filled_qty"),
    "RouterFallback": ("order_id", "reason", "remaining_qty"),
    "OrderAccepted": ("order_id",),
}


def fmt(v: Any) -> str:
    """A value for a person: floats to 8 significant digits with thousands separators."""
    if isinstance(v, bool) or v is None:
        return str(v).lower() if isinstance(v, bool) else "n/a"
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        if v != 0 and abs(v) < 1e-4:
            return f"{v:.4g}"
        if abs(v) >= 1000:
            return f"{v:,.0f}" if v.is_integer() else f"{v:,.2f}"
        return f"{v:.8g}"
    if isinstance(v, int):
        return f"{v:,}" if abs(v) >= 10_000 else str(v)
    return str(v)


def _kv(values: dict[str, Any], keys: tuple[str, ...]) -> str:
    return "  ".join(f"{k} {fmt(values[k])}" for k in keys if k in values and values[k] is not None)


def explain_text(x: dict[str, Any]) -> str:
    """The explanation of one decision as lines a person reads top to bottom."""
    out = [
        f"decision {x['decision_id']}  {x['outcome'].upper()}  gate {x['gate']}  (source {x['source']})",
        f"  session {x['session_id']}  seq {x['seq']} (session_seq {x['session_seq']})  at {x['time']}",
        f"  {x['symbol']}: requested qty {fmt(x['requested_qty'])}  ->  approved qty {fmt(x['approved_qty'])} "
        f"({fmt(x['approved_notional_usd'])} USD)",
        "  reasons:",
        *[f"    - {r}" for r in x["reasons"]],
    ]
    cf = x["config_in_force"]
    mark = "same as" if cf["matches"] else "DIFFERS FROM"
    out.append(f"  config {x['config_hash'][:16]}  ({mark} the config in force: {cf['event']} at seq {cf['seq']}, "
               f"{cf['hash'][:16]})")
    out.extend(_dd_policy(x.get("dd_policy")))
    broke = [c for c in x["checks"] if c["breached"]]
    if broke:
        out.append("  broke: " + "; ".join(
            f"{c['threshold']} {fmt(c['limit'])} vs "
            + (", ".join(f"{k} {fmt(v)}" for k, v in c["observations"].items()) or "-") for c in broke))
    out.append("")
    out.append("  thresholds and what they were compared with  (! = broke)")
    width = max([len(c["threshold"]) for c in x["checks"]] + [10])
    for c in x["checks"]:
        flag = "!" if c["breached"] else " "
        lim = fmt(c["limit"])
        if "limit_usd" in c:
            lim += f" (= {fmt(c['limit_usd'])} USD)"
        obs = "  ".join(f"{k} {fmt(v)}" for k, v in c["observations"].items()) or "-"
        cv = c["config_value"]
        if c["config_path"] is None:
            src = "a rule of the engine (not a config value)"
        else:
            src = c["config_path"] + ("" if cv == c["limit"] else f" = {fmt(cv)} (DIFFERS)")
        out.append(f"  {flag} {c['threshold']:<{width}}  {lim:<28} | {obs}")
        out.append(f"    {'':<{width}}  from {src}")
    if x["other_observations"]:
        out.append("  other observations: " + "  ".join(f"{k} {fmt(v)}" for k, v in x["other_observations"].items()))
    out.append("")
    out.append("  what it saw:")
    for s in x["sources"]:
        if s["seq"] is None:
            out.append(f"    {s['name']:<18} session_seq {s['session_seq']}: {s.get('note', 'missing')}")
            continue
        keys = SOURCE_FIELDS.get(s["type"], tuple(s["values"]))
        out.append(f"    {s['name']:<18} seq {s['seq']:<9} {s['type']:<16} {s['time']}  (age {fmt(s['age_s'])} s)")
        out.append(f"    {'':<18} {_kv(s['values'], keys)}")
    if x["followed_by"]:
        out.append("")
        out.append("  what followed:")
        for f in x["followed_by"]:
            keys = FOLLOW_FIELDS.get(f["type"], ())
            out.append(f"    seq {f['seq']:<9} {f['type']:<16} {_kv(f['values'], keys)}")
    elif x["outcome"] != "veto":
        out.append("")
        out.append("  what followed: no route plan found after it")
    if x.get("rederived"):
        out.append("")
        out.extend(_rederived(x["rederived"]))
    return "\n".join(out)


def _dd_policy(d: dict[str, Any] | None) -> list[str]:
    """The drawdown policy line (rules v3), and the reset or automatic rule in force if any."""
    if not d:
        return []
    def pct(v: Any) -> str:
        return f"{v:.2%}" if isinstance(v, int | float) else "n/a"

    line = (f"  drawdown policy: {d.get('state')} since {d.get('since') or 'the start'}, drawdown "
            f"{pct(d.get('dd_policy_frac'))} from its reference {fmt(d.get('ref_nav_usd'))} USD "
            f"({pct(d.get('dd_frac'))} from the high-water mark {fmt(d.get('peak_nav_usd'))} USD)")
    o = d.get("override")
    if not o:
        return [line]
    what = "operator reset" if o["kind"] == "operator_reset" else "automatic rule"
    where = f"RiskReset seq {o['seq']}" if o["kind"] == "operator_reset" else "DdStateChanged"
    by = f" by {o['by']}" if o.get("by") else ""
    return [line, f"  {what.upper()} IN FORCE: {where}{by} at {o.get('time')}: {o.get('reason') or '-'}"]


def _rederived(r: dict[str, Any]) -> list[str]:
    """The decision taken again from the log (as recorded, or under --set)."""
    head = f"  taken again from the log ({r['events_folded']:,} events folded)"
    if not r["sets"]:
        if r["identical"]:
            return [f"{head}: identical to the recorded decision"]
        return [f"{head}: DIFFERENT from the recorded decision", *(
            f"    {d['field']}: recorded {fmt(d['recorded'])}, replayed {fmt(d['replayed'])}" for d in r["diffs"])]
    out = [f"{head} under " + ", ".join(f"{c['key']} {fmt(c['old'])} -> {fmt(c['new'])}" for c in r["changes"]) + ":"]
    for k, new in r["replayed"].items():
        old = r["recorded"][k]
        mark = "" if old == new else "   <- changed"
        if isinstance(new, list):
            new, old = "; ".join(map(str, new)) or "-", "; ".join(map(str, old)) or "-"
        out.append(f"    {k:<22} {fmt(old)} -> {fmt(new)}{mark}")
    return out


def verify_text(r: dict[str, Any], *, max_diffs: int) -> str:
    """Counts, then (if any) the first differences; a broken hash chain (``chain``) is said first."""
    chain = r.get("chain") or {"ok": True}
    same = not (r["diffs_total"] or r["unexpected_session_seqs"] or r["missing"])
    head = "ok" if r["ok"] else "CHAIN BROKEN" if same else "DIFFERENT"
    out = [
        f"{head}: session {r['session_id']}  config {r['config_hash'][:12]}",
        f"  events {r['events']:,}  bars {r['bars']:,} ({r['bar_steps']:,} steps)  replayed in {r['elapsed_s']:.2f} s "
        f"({r['bars_per_s']:,.0f} bars/s)",
        f"  decisions checked {r['checked']:,}  identical {r['identical']:,}  different {r['different']:,}",
        "  by type: " + ", ".join(f"{t} {n:,}" + (f" ({r['different_by_type'][t]} different)"
                                                   if r["different_by_type"].get(t) else "")
                                  for t, n in r["checked_by_type"].items()),
    ]
    if not chain["ok"]:
        out.append(f"  hash chain: BROKEN at seq {chain['seq']}: {chain['problem']} ('hedge verify' names the altered row)")
    if r["diffs"]:
        out.append(f"  first differences ({min(max_diffs, r['diffs_total'])} of {r['diffs_total']}):")
        out.append(f"    {'seq':>9}  {'type':<15} {'field':<34} {'recorded':<22} replayed")
        for d in r["diffs"][:max_diffs]:
            out.append(f"    {d['seq']:>9}  {d['type']:<15} {d['field']:<34} {fmt(d['recorded']):<22} {fmt(d['replayed'])}")
    if r["unexpected_session_seqs"]:
        some = ", ".join(str(s) for s in r["unexpected_session_seqs"][:10])
        out.append(f"  recorded decisions the replay did not derive (session_seq): {some}")
    if r["missing"]:
        out.append(f"  decisions the replay derived that were never recorded: {len(r['missing'])}")
        for m in r["missing"][:max_diffs]:
            ident = next((f"{k} {m[k]}" for k in ("decision_id", "intent_id", "plan_id", "order_id") if k in m), "")
            out.append(f"    {m.get('type')} {ident}")
    if r.get("pending"):
        out.append(f"  session not ended: {len(r['pending'])} decision(s) its last events call for are not in "
                   "the log yet (running, or stopped between a trigger and its decision)")
    return "\n".join(out)
