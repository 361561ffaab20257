"""Dashboard parts of issue 16: the live vs shadow card, the tuning table, ZAR figures."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ui import model, state


def snap(**files: dict[str, Any]) -> state.Snapshot:
    return state.Snapshot(home=Path("/nonexistent"), files={k.replace("__", "."): v for k, v in files.items()})


HEAD = {"total": 120, "allowed": 90, "vetoed": 30, "overlay": ["risk.max_open_positions=5"]}
CMP = {"live": {"allow": 70, "clamp": 25, "veto": 25, "net_pnl_usd": 120.4},
       "shadow": {"allow": 66, "clamp": 24, "veto": 30, "net_pnl_usd": 80.0},
       "veto_agreement": 0.95, "pnl_diff_usd": -40.4, "warmup_reason": None}


def test_shadow_card_compares_live_and_shadow_in_words() -> None:
    s = snap(**{"pipeline_v6_shadow_head.json": HEAD, "pipeline_v6_compare_summary.json": CMP})
    c = {x.key: x for x in model.shadow_cards(s)}
    assert c["shadow_config"].value == "open positions limit 5"
    assert c["shadow_allowed"].value == "95 / 90" and c["shadow_allowed"].caption == "vetoed 25 / 30"
    assert c["shadow_agreement"].value == "95.0%" and c["shadow_agreement"].tone == "good"
    assert c["shadow_pnl"].value == "+$120 / +$80" and "-$40" in c["shadow_pnl"].caption


def test_no_shadow_no_card() -> None:
    assert model.shadow_cards(snap()) == []
    assert model.shadow_cards(snap(**{"pipeline_v6_shadow_head.json": {**HEAD, "total": 0}})) == []


ROUTER = {"mode": "propose", "symbols": [
    {"symbol": "BTCUSDT", "status": "proposed",
     "current": {"maker_wait_s": 30.0, "max_reprices": 2, "twap_slices": 4, "reprice_offset_ticks": 1},
     "proposed": {"maker_wait_s": 45.0, "max_reprices": 3, "twap_slices": 4, "reprice_offset_ticks": 1},
     "evidence": {"sample_size": 124, "fill_rate": 0.62, "fallback_ratio": 0.34, "slippage_p95_bps": 3.2}},
    {"symbol": "ETHUSDT", "status": "unchanged", "current": {}, "proposed": {},
     "evidence": {"sample_size": 0, "fill_rate": None, "fallback_ratio": None, "slippage_p95_bps": None}},
]}
ALLOC = {"global": {"feedback_allocator_v6_enabled": False}, "symbols": [
    {"symbol": "BTCUSDT", "suggested_weight": 1.1, "current_weight": 1.0, "applied": False,
     "evidence": {"score": 0.6, "round_trips": 14, "expectancy_frac": 0.0021}},
    {"symbol": "ETHUSDT", "suggested_weight": 1.0, "current_weight": 1.0, "applied": False,
     "evidence": {"score": 0.5, "round_trips": 2, "expectancy_frac": None}},
]}


def test_tuning_table_shows_proposal_evidence_and_whether_applied() -> None:
    rows = model.tuning_rows(snap(**{"router_policy_suggestions_v6.json": ROUTER,
                                     "risk_allocation_suggestions_v6.json": ALLOC}))
    assert [r["Symbol"] for r in rows] == ["BTCUSDT"]  # ETH: nothing proposed, nothing applied
    r = rows[0]
    assert r["Routing proposal"] == "maker wait 30s to 45s; reprices 2 to 3"
    assert r["Evidence"] == "maker fill 62% · fallback 34% · slippage p95 3.20 bps · 124 fills"
    assert r["Routing"] == "proposed only" and r["Allocation"] == "proposed only"
    assert r["Weight"] == "1.00 to 1.10" and "14 round trips" in r["Weight evidence"]
    text = json.dumps(rows)
    assert "n/a" not in text and not re.search(r"\b[a-z]+(?:_[a-z0-9]+)+\b", text)  # investor words only
    applying = {**ROUTER, "mode": "apply"}
    rows = model.tuning_rows(snap(**{"router_policy_suggestions_v6.json": applying}))
    assert rows[0]["Routing"] == "applied at the next review"
    assert model.router_evidence_words(ROUTER["symbols"][1]["evidence"]) == "no fills yet"


def test_zar_beside_nav_and_aum_only_when_a_rate_is_configured() -> None:
    nav = {"nav_usd": 100_000.0, "nav_zar": 1_820_000.0, "usd_zar_rate": 18.2}
    aum = {"total_usd": 150_000.0, "total_zar": 2_730_000.0}
    c = {x.key: x for x in model.overview_cards(snap(**{"nav_state.json": nav, "aum_v7.json": aum}))}
    assert c["nav"].caption.endswith("R 1,820,000 at 18.20 ZAR/USD")
    assert c["aum"].caption.endswith("R 2,730,000")
    c = {x.key: x for x in model.overview_cards(snap(**{"nav_state.json": {"nav_usd": 1.0, "nav_zar": None}}))}
    assert "ZAR" not in c["nav"].caption and "R " not in c["aum"].caption
