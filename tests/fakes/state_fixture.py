"""A hand-written, realistic ``$HEDGE_HOME`` for dashboard tests that do not run the engine.

Field names follow docs/state_contract.md. The browser test uses state produced by a
real ``hedge run`` instead; this fixture serves the unit tests and the nginx tests.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

T0 = 1_709_251_200.0  # 2024-03-01 00:00 UTC
NAV = 10_482.37


def _header(name: str, seq: int = 4821, ts: float = T0 + 86_400 * 3) -> dict[str, Any]:
    return {"schema": f"{name}/1", "schema_version": 1, "seq": seq, "updated_ts": ts,
            "session_id": "sess-fixture"}


def files() -> dict[str, Any]:
    """Every state file's content by name (``execution/risk_vetoes.jsonl`` is a list)."""
    now = T0 + 86_400 * 3
    hourly = [{"ts": T0 + 3600 * i, "nav_usd": 10_000 + 600 * math.sin(i / 9) + 6 * i,
               "drawdown_frac": max(0.0, -0.03 * math.sin(i / 9))} for i in range(72)]
    recent = [{"ts": now - 300 * (40 - i), "nav_usd": NAV - 40 + i, "drawdown_frac": 0.004} for i in range(41)]
    buckets = [("futures_nav_usd", "Futures NAV", NAV, 482.37), ("btc_spot_usd", "BTC", 31_250.0, 6_250.0),
               ("xaut_spot_usd", "XAUT", 8_120.5, 620.5), ("usdc_spot_usd", "USDC", 5_000.0, 0.0)]
    total = sum(b[2] for b in buckets)
    aum = {**_header("aum_v7"), "complete": True, "prices_ts": now, "total_usd": total,
           "total": {"value": total, "pnl": sum(b[3] for b in buckets), "cost_basis": total - 7_352.87},
           "buckets": [{"key": k, "label": lab, "value": v, "pnl": p, "share": v / total}
                       for k, lab, v, p in buckets]}
    for k, _lab, v, p in buckets:
        aum[k] = {"value": v, "pnl": p, "cost_basis": v - p, "qty": None, "price": None}
    symbols = {
        "BTCUSDT": {"atr": 412.5, "atr_pct": 0.0066, "atr_ratio": 1.12, "atr_regime": "normal",
                    "dd_state": "normal", "dd_today_pct": 0.0021, "last_close": 62_410.0, "position_qty": 0.05},
        "ETHUSDT": {"atr": 31.2, "atr_pct": 0.0091, "atr_ratio": 1.61, "atr_regime": "high",
                    "dd_state": "cautious", "dd_today_pct": 0.0312, "last_close": 3_420.5, "position_qty": -1.2},
        "SOLUSDT": {"atr": None, "atr_pct": None, "atr_ratio": None, "atr_regime": "unknown",
                    "dd_state": "normal", "dd_today_pct": 0.0, "last_close": None, "position_qty": 0.0},
    }
    positions = [
        {"symbol": "BTCUSDT", "side": "LONG", "qty": 0.05, "entryPrice": 61_000.0, "entry_price": 61_000.0,
         "mark_price": 62_410.0, "leverage": 3.0, "notional": 3_120.5, "unrealized_pnl": 70.5, "pnl": 70.5,
         "tier": "CORE", "updated_ts": now},
        {"symbol": "ETHUSDT", "side": "SHORT", "qty": -1.2, "entryPrice": 3_400.0, "entry_price": 3_400.0,
         "mark_price": 3_420.5, "leverage": 2.0, "notional": 4_104.6, "unrealized_pnl": -24.6, "pnl": -24.6,
         "tier": "CORE", "updated_ts": now},
    ]
    router_syms = [
        {"symbol": "BTCUSDT", "maker_fill_rate": 0.71, "fallback_ratio": 0.18, "slippage_p50": 0.8,
         "slip_q95": 3.1, "router_health_score": 0.81, "quality": "good", "fills": 24, "orders": 30,
         "post_only_rejects": 2, "last_fill_ts": now - 600},
        {"symbol": "ETHUSDT", "maker_fill_rate": 0.52, "fallback_ratio": 0.35, "slippage_p50": 1.4,
         "slip_q95": 6.2, "router_health_score": 0.62, "quality": "ok", "fills": 17, "orders": 25,
         "post_only_rejects": 4, "last_fill_ts": now - 1800},
        {"symbol": "SOLUSDT", "maker_fill_rate": None, "fallback_ratio": None, "slippage_p50": None,
         "slip_q95": None, "router_health_score": None, "quality": "unknown", "fills": 0, "orders": 0,
         "post_only_rejects": 0, "last_fill_ts": None},
    ]
    vetoes = [
        {"seq": 100 + i, "decision_id": f"d{i}", "ts": now - 900 * (6 - i), "session_id": "sess-fixture",
         "symbol": sym, "outcome": outcome, "gate": gate, "reasons": [reason],
         "thresholds": thr, "observations": obs, "breached": [next(iter(thr))], "config_hash": "abc",
         "intent_id": f"i{i}", "requested_qty": 1.0, "approved_qty": 0.0 if outcome == "veto" else 0.5,
         "source": "risk_limits"}
        for i, (sym, outcome, gate, reason, thr, obs) in enumerate([
            ("ETHUSDT", "veto", "symbol_cap", "symbol_cap: per_symbol_nav_pct: 3100.00 + 600.00 USD over cap",
             {"per_symbol_nav_pct": 0.3}, {"symbol_gross": 3_100.0, "requested_notional_usd": 600.0,
                                           "nav_usd": NAV}),
            ("BTCUSDT", "clamp", "max_trade_nav", "max_trade_nav: clamped 1468.00 -> 1048.24 USD",
             {"max_trade_nav_pct": 0.1}, {"requested_notional_usd": 1_468.0, "nav_usd": NAV}),
            ("SOLUSDT", "veto", "nav_freshness", "nav_freshness: NAV 4210 s old > 90 s",
             {"nav_freshness_seconds": 90}, {"nav_age_s": 4210.0, "nav_usd": NAV}),
            ("ETHUSDT", "veto", "symbol_cap", "symbol_cap: per_symbol_nav_pct: 3100.00 + 420.00 USD over cap",
             {"per_symbol_nav_pct": 0.3}, {"symbol_gross": 3_100.0, "requested_notional_usd": 420.0,
                                           "nav_usd": NAV}),
        ])
    ]
    return {
        "nav_state.json": {
            **_header("nav_state"), "nav_usd": NAV, "nav_total": NAV, "wallet_balance": NAV - 45.9,
            "unrealized_pnl": 45.9, "available_balance": 8_000.0, "nav_ts": now - 42, "nav_age_s": 42.0,
            "nav_stale_after_s": 3600.0, "fresh": True, "stale": False, "freshness": "fresh",
            "sources_ok": True, "source": "sim", "start_nav_usd": 10_000.0, "return_frac": 0.048237,
            "peak_nav_usd": 10_530.0, "drawdown_frac": 0.004523, "drawdown_pct": 0.004523,
            "day_start_nav_usd": 10_400.0, "daily_pnl_usd": 82.37, "daily_loss_frac": 0.0,
            "aum": {"futures": NAV, "offexchange": {"BTC": 31_250.0, "XAUT": 8_120.5, "USDC": 5_000.0},
                    "total": total},
            "nav_health_snapshot": {"nav_age_s": 42.0, "sources_ok": True, "fresh": True, "stale_after_s": 3600.0},
        },
        "nav_history.json": {**_header("nav_history"), "hourly": hourly, "recent": recent},
        "positions_state.json": {**_header("positions_state"), "positions": positions, "count": 2,
                                 "gross_notional_usd": 7_225.1, "net_notional_usd": -984.1},
        "positions_ledger.json": {**_header("positions_ledger"), "source": "eventlog", "tp_sl_coverage": 1.0,
                                  "closed_recent": [], "entries": {
                                      "BTCUSDT:LONG": {"symbol": "BTCUSDT", "side": "LONG", "qty": 0.05,
                                                       "entry_price": 61_000.0, "tp_sl": {"tp": 64_000.0, "sl": 59_500.0}},
                                      "ETHUSDT:SHORT": {"symbol": "ETHUSDT", "side": "SHORT", "qty": -1.2,
                                                        "entry_price": 3_400.0, "tp_sl": {"tp": 3_150.0, "sl": None}}}},
        "risk_snapshot.json": {**_header("risk_snapshot"), "risk_mode": "normal", "decisions":
                               {"allow": 57, "clamp": 1, "veto": 3}},
        "router_health.json": {**_header("router_health"), "maker_fill_rate": 0.64, "fallback_ratio": 0.24,
                               "slippage_p50": 1.0, "slip_q95": 4.8, "post_only_rejects": 6, "fills": 41,
                               "orders": 55, "plans": 50, "router_health_score": 0.74, "quality": "ok",
                               "symbols": router_syms},
        "diagnostics.json": {**_header("diagnostics"), "veto_counters": {
            "total": 3, "by_gate": {"symbol_cap": 2, "nav_freshness": 1}, "clamps": 1, "allows": 57, "decisions": 61}},
        "kpis_v7.json": {
            **_header("kpis_v7"),
            "nav": {"nav_usd": NAV, "peak_nav_usd": 10_530.0, "age_s": 42.0, "nav_age_s": 42.0, "fresh": True,
                    "freshness": "fresh", "sources_ok": True, "aum_total_usd": total, "return_frac": 0.048237,
                    "daily_pnl_usd": 82.37},
            "risk": {"dd_state": "normal", "drawdown_pct": 0.004523, "dd_frac": 0.004523, "daily_loss_frac": 0.0,
                     "risk_mode": "normal", "atr_regime": "normal", "atr_ratio": 1.07, "fee_pnl_ratio": 0.083,
                     "fees_usd_window": 12.4, "gross_pnl_usd_window": 149.4, "gross_nav_mult": 0.69,
                     "open_positions": 2, "vetoes_total": 3},
            "router": {"quality": "ok", "router_health_score": 0.74, "maker_fill_rate": 0.64,
                       "fallback_ratio": 0.24, "slippage_p50": 1.0, "slip_q95": 4.8, "fills": 41,
                       "post_only_rejects": 6},
            "performance": {"sharpe": 1.4, "sharpe_state": "strong", "expectancy_usd": 3.2,
                            "expectancy_state": "positive", "win_rate": 0.56, "trades": 18,
                            "realized_pnl_usd": 149.4, "fees_usd": 12.4, "funding_usd": -1.1},
            "symbols": symbols,
        },
        "aum_v7.json": aum,
        "execution/risk_vetoes.jsonl": vetoes,
    }


def write(home: Path) -> Path:
    """Write the fixture under ``home`` (``state/*.json`` + ``execution/risk_vetoes.jsonl``)."""
    (home / "state").mkdir(parents=True, exist_ok=True)
    (home / "execution").mkdir(parents=True, exist_ok=True)
    for name, content in files().items():
        if name.endswith(".jsonl"):
            text = "".join(json.dumps(line, sort_keys=True) + "\n" for line in content)
            (home / name).write_text(text, encoding="utf-8")
        else:
            (home / "state" / name).write_text(json.dumps(content, indent=2, sort_keys=True) + "\n",
                                               encoding="utf-8")
    return home


# -- running the dashboard / proxy as real processes in tests --------------------------

REPO = Path(__file__).resolve().parents[2]
HEDGE = REPO / ".venv" / "bin" / "hedge"


def free_port() -> int:
    """A free loopback TCP port."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def hedge_cmd() -> list[str]:
    """How to run the ``hedge`` console script (the venv's, else ``python -m hedge.cli``)."""
    import sys

    return [str(HEDGE)] if HEDGE.exists() else [sys.executable, "-m", "hedge.cli"]


def start(args: list[str], home: Path, log: Path) -> Any:
    """Start ``hedge ARGS`` with HEDGE_HOME=home, output to ``log``; returns the Popen."""
    import os
    import subprocess

    env = {**os.environ, "HEDGE_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    env.pop("HEDGE_STORE_URL", None)
    fh = log.open("wb")
    return subprocess.Popen([*hedge_cmd(), *args], env=env, stdout=fh, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, cwd=REPO)


def wait_for(url: str, proc: Any, log: Path, timeout: float = 90.0, auth: Any = None) -> Any:
    """Poll ``url`` until it answers (any status) while ``proc`` lives; the response."""
    import time

    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"process exited {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
        try:
            return requests.get(url, auth=auth, timeout=10)
        except requests.RequestException:
            time.sleep(0.25)
    raise AssertionError(f"{url} did not answer in {timeout}s: {log.read_text(errors='replace')[-2000:]}")


def stop(proc: Any, timeout: float = 30.0) -> int:
    """SIGTERM ``proc`` and wait; returns its exit code (kills it after ``timeout``)."""
    import subprocess

    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return int(proc.returncode)
