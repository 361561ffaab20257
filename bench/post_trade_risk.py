"""Risk after the trade, measured: cap drift and worst daily loss with and without the rules v6 actions.

``python -m bench.post_trade_risk [--bars N] [--generated-bars N] [--tolerance F]`` runs ``hedge run``
over the real 5m klines (``../shared/market/``, skipped when absent) and over the generated
market, once with the repo config (``block``, no trims: the behaviour before rules v6) and
once per post-trade setting, then recomputes from each log:

* at every NAV reading, each symbol's gross (|position| x mark) / NAV, from the recorded
  ``PositionSnapshot`` and ``MarketTick`` events: readings over the symbol's tier cap, over
  cap x (1 + tolerance), and the highest reading;
* the worst loss from a UTC day's first NAV reading;
* the post-trade decisions recorded (trims, flattens).

These are risk figures, not speed: nothing here is timed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import MARKET_DIR, Figure
from config.loader import load_config
from eventlog.events import MarketTick, NavSnapshot, PositionSnapshot, RiskDecided
from eventlog.store import EventStore

DAY_NS = 86_400 * 10**9


def _config(tmp: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    import json
    import shutil

    src = Path(__file__).resolve().parents[1] / "config"
    d = tmp / "config"
    shutil.copytree(src, d, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    p = d / "risk_limits.json"
    doc = json.loads(p.read_text())
    change(doc["global"])
    p.write_text(json.dumps(doc))
    return d


def run_once(tmp: Path, change: Callable[[dict[str, Any]], None], args: list[str]) -> Path:
    """``hedge run ARGS`` (the installed command) with the repo config edited by ``change``; its home."""
    cfg = _config(tmp, change)
    home = tmp / "home"
    env = {k: v for k, v in os.environ.items() if k != "HEDGE_STORE_URL"}
    env.update(HEDGE_HOME=str(home), HEDGE_CONFIG_DIR=str(cfg))
    hedge = str(Path(sys.executable).parent / "hedge")
    r = subprocess.run([hedge, "run", "--quiet", "--no-projections", "--speed", "max", *args], env=env,
                       capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise SystemExit(f"hedge run {' '.join(args)} exited {r.returncode}: {r.stderr[-500:]}")
    return home


def measure(home: Path, tolerance: float) -> dict[str, Any]:
    """Cap drift readings per symbol, worst daily loss and post-trade decisions, recomputed from the log."""
    cfg = load_config().config
    tiers = cfg.risk_limits.tiers
    qty: dict[str, float] = {}
    mark: dict[str, float] = {}
    day_start: dict[int, float] = {}
    per: dict[str, dict[str, float]] = {}
    trimmed_at: set[tuple[int, str]] = set()  # (NAV reading time, symbol) of every post-trade decision
    pending: list[tuple[int, str]] = []  # readings over cap x (1 + tolerance)
    readings = 0
    worst_loss = 0.0
    trims = flattens = 0
    with EventStore.open(home) as store:
        for e in store.read(types=("PositionSnapshot", "MarketTick", "NavSnapshot", "RiskDecided")):
            if isinstance(e, PositionSnapshot):
                qty[e.symbol] = e.qty
            elif isinstance(e, MarketTick) and e.mark is not None:
                mark[e.symbol] = e.mark
            elif isinstance(e, RiskDecided):
                if e.outcome in ("trim", "flatten"):
                    trims += e.outcome == "trim"
                    flattens += e.outcome == "flatten"
                    trimmed_at.add((e.ts_event_ns, e.symbol))
            elif isinstance(e, NavSnapshot) and e.sources_ok and e.nav_usd > 0:
                readings += 1
                d = e.ts_event_ns // DAY_NS
                start = day_start.setdefault(d, e.nav_usd)
                worst_loss = max(worst_loss, (start - e.nav_usd) / start)
                for s, q in qty.items():
                    if not q:
                        continue
                    frac = abs(q) * mark.get(s, 0.0) / e.nav_usd
                    tl = tiers.get(cfg.tier_of(s))
                    cap = tl.per_symbol_nav_pct if tl else 0.0
                    r = per.setdefault(s, {"readings": 0, "over_cap": 0, "over_tol": 0, "max": 0.0, "cap": cap})
                    r["readings"] += 1
                    r["max"] = max(r["max"], frac)
                    r["over_cap"] += frac > cap + 1e-9
                    if frac > cap * (1 + tolerance) + 1e-9:
                        r["over_tol"] += 1
                        pending.append((e.ts_event_ns, s))
    unanswered = sum(1 for k in pending if k not in trimmed_at)
    return {"nav_readings": readings, "symbols": per, "over_tol_unanswered": unanswered,
            "worst_daily_loss": round(worst_loss, 4), "trims": trims, "flattens": flattens}


def settings(tolerance: float, daily_limit: float | None = None) -> dict[str, Callable[[dict[str, Any]], None]]:
    def base(g: dict[str, Any]) -> None:
        if daily_limit is not None:
            g["daily_loss_limit_pct"] = daily_limit

    def drift(g: dict[str, Any]) -> None:
        base(g)
        g["cap_drift_tolerance_frac"] = tolerance

    def reduce(g: dict[str, Any]) -> None:
        base(g)
        g["daily_loss_action"] = g["max_drawdown_action"] = "reduce"

    def flatten(g: dict[str, Any]) -> None:
        base(g)
        g["daily_loss_action"] = g["max_drawdown_action"] = "flatten_halt"

    def both(g: dict[str, Any]) -> None:
        drift(g)
        flatten(g)

    return {"block (before)": base, f"cap_drift {tolerance:g}": drift, "reduce": reduce,
            "flatten_halt": flatten, f"cap_drift {tolerance:g} + flatten_halt": both}


def markets(bars: int | None, generated_bars: int) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if (MARKET_DIR / "BTCUSDT.csv").exists():
        out["real 5m (BTC, ETH, SOL)"] = ["--data", str(MARKET_DIR), *(["--bars", str(bars)] if bars else [])]
    out[f"generated ({generated_bars} bars)"] = ["--bars", str(generated_bars)]
    return out


def table(results: list[tuple[str, str, dict[str, Any]]], tolerance: float, focus: str = "SOLUSDT") -> str:
    sym = focus.removesuffix("USDT")
    lines = [f"| market | setting | {sym} readings over its cap | {sym} over cap x (1 + {tolerance:g}) | {sym} highest "
             f"| all symbols over cap | over cap x (1 + {tolerance:g}) with no trim decided | worst daily loss "
             "| trims | flattens |", "|---|---|---|---|---|---|---|---|---|---|"]
    for m, name, r in results:
        f = r["symbols"].get(focus, {"readings": 0, "over_cap": 0, "over_tol": 0, "max": 0.0})
        tot = sum(int(x["over_cap"]) for x in r["symbols"].values())
        n = sum(int(x["readings"]) for x in r["symbols"].values())
        lines.append(f"| {m} | {name} | {int(f['over_cap']):,} of {int(f['readings']):,} | {int(f['over_tol']):,} "
                     f"| {f['max']:.2%} | {tot:,} of {n:,} | {r['over_tol_unanswered']:,} "
                     f"| {r['worst_daily_loss']:.2%} | {r['trims']:,} | {r['flattens']:,} |")
    return "\n".join(lines)


def run(scale: float = 1.0, repeats: int = 1, *, bars: int | None = None, generated_bars: int = 20_000,
        tolerance: float = 0.02, only: str = "", real_only: bool = False,
        daily_limit: float | None = None) -> list[Figure]:
    """The figures (``python -m bench`` style); prints the markdown table too."""
    results: list[tuple[str, str, dict[str, Any]]] = []
    n_gen = max(300, int(generated_bars * scale))
    for m, args in markets(bars if scale >= 1 else max(300, int(51_838 * scale)), n_gen).items():
        if real_only and not m.startswith("real"):
            continue
        for name, change in settings(tolerance, daily_limit).items():
            if only and name not in only.split(","):
                continue
            with tempfile.TemporaryDirectory() as t:
                results.append((m, name, measure(run_once(Path(t), change, args), tolerance)))
                print(f"{m} | {name}: {results[-1][2]}", flush=True)
    print(table(results, tolerance))
    return [Figure("post_trade_risk", f"{m} {name}: worst daily loss", r["worst_daily_loss"], "fraction",
                   extra=r) for m, name, r in results]


if __name__ == "__main__":
    p = argparse.ArgumentParser(prog="python -m bench.post_trade_risk", description=__doc__)
    p.add_argument("--bars", type=int, default=None, help="real data: stop after N bars (default: all)")
    p.add_argument("--generated-bars", type=int, default=20_000)
    p.add_argument("--tolerance", type=float, default=0.02)
    p.add_argument("--only", default="", help="comma-separated setting names, e.g. 'cap_drift 0'")
    p.add_argument("--real-only", action="store_true", help="skip the generated market")
    p.add_argument("--daily-loss-limit", type=float, default=None, help="daily_loss_limit_pct for every setting")
    a = p.parse_args()
    run(bars=a.bars, generated_bars=a.generated_bars, tolerance=a.tolerance, only=a.only, real_only=a.real_only,
        daily_limit=a.daily_loss_limit)
