"""``hedge explain DECISION_ID`` on a log written by a real ``hedge run``.

A veto shows the threshold that broke next to its observation; every threshold
carries the config path it came from and equals the value recorded there; the
events the decision cites resolve to global seqs whose values are the ones it
observed; allows and clamps show the route plan and orders that followed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from eventlog.codec import encode
from eventlog.events import RiskDecided
from eventlog.store import EventStore
from replay.render import fmt
from tests.integration.test_replay_verify import copy_log, hedge, rewrite

REF_TYPES = {"intent": "IntentEmitted", "nav": "NavSnapshot", "tick": "MarketTick", "kline": "KlineClosed"}


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[RiskDecided]]:
    home = tmp_path_factory.mktemp("explain") / "home"
    rc, _out, err = hedge("run", "--home", str(home), "--bars", "2500", "--no-projections", "--quiet")
    assert rc == 0, err
    with EventStore.open(home, create=False) as store:
        decisions = [e for e in store.read(types=("RiskDecided",)) if isinstance(e, RiskDecided)]
    return home, decisions


def explain_json(home: Path, ref: str) -> dict[str, Any]:
    rc, out, err = hedge("explain", "--home", str(home), ref, "--format", "json")
    assert rc == 0, err
    doc: dict[str, Any] = json.loads(out)
    return doc


def pick(decisions: list[RiskDecided], outcome: str) -> RiskDecided:
    return next(d for d in decisions if d.outcome == outcome and len(d.state_refs) >= 4)


def test_veto_shows_the_breaking_threshold_and_observation(session: tuple[Path, list[RiskDecided]]) -> None:
    home, decisions = session
    veto = pick(decisions, "veto")
    rc, out, err = hedge("explain", "--home", str(home), veto.decision_id)
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(f"decision {veto.decision_id}  VETO  gate {veto.gate}")
    for name in veto.breached:
        flagged = next(ln for ln in lines if ln.startswith(f"  ! {name} "))
        assert str(veto.thresholds[name]).rstrip("0").rstrip(".") in flagged.replace(",", "")
    broke = next(ln for ln in lines if ln.startswith("  broke: "))
    doc = explain_json(home, veto.decision_id)
    for c in doc["checks"]:
        assert c["breached"] == (c["threshold"] in veto.breached)
        if c["breached"]:
            assert c["observations"], c  # a broken threshold is always shown with what it was compared to
            for k in c["observations"]:
                assert k in broke
    assert any(r in out for r in veto.reasons)


def test_every_threshold_comes_from_its_config_path(session: tuple[Path, list[RiskDecided]]) -> None:
    home, decisions = session
    for outcome in ("veto", "clamp", "allow"):
        doc = explain_json(home, pick(decisions, outcome).decision_id)
        assert doc["config_in_force"]["matches"] and doc["config_hash"] == doc["config_in_force"]["hash"]
        for c in doc["checks"]:
            if c["config_path"] is not None:
                assert c["config_value"] == c["limit"], c
            assert c["observations"] or c["threshold"] in ("trading_window",), c


def test_cited_events_resolve_to_global_seqs_with_the_values_seen(session: tuple[Path, list[RiskDecided]]) -> None:
    home, decisions = session
    dec = pick(decisions, "clamp")
    doc = explain_json(home, dec.decision_id)
    with EventStore.open(home, create=False) as store:
        for src in doc["sources"]:
            ev = next(store.read(src["seq"], stop=src["seq"]))
            assert ev.session_seq == dec.state_refs[src["name"]] == src["session_seq"]
            assert ev.seq < dec.seq
            assert type(ev).__name__ == REF_TYPES.get(src["name"].split(".")[0], "PositionSnapshot")
    nav = next(s for s in doc["sources"] if s["name"] == "nav")
    assert nav["values"]["nav_usd"] == pytest.approx(dec.observations["nav_usd"])
    assert doc["intent"]["intent_id"] == dec.intent_id and doc["intent"]["qty"] == dec.requested_qty


@pytest.mark.parametrize("outcome", ["allow", "clamp"])
def test_allow_and_clamp_show_what_followed(session: tuple[Path, list[RiskDecided]], outcome: str) -> None:
    home, decisions = session
    dec = pick(decisions, outcome)
    rc, out, _ = hedge("explain", "--home", str(home), dec.decision_id)
    assert rc == 0 and f"{outcome.upper()}  gate {dec.gate}" in out
    doc = explain_json(home, dec.decision_id)
    kinds = [f["type"] for f in doc["followed_by"]]
    assert kinds[0] == "RoutePlanned" and doc["followed_by"][0]["values"]["decision_id"] == dec.decision_id
    assert "OrderSubmitted" in kinds
    assert "what followed:" in out


def test_prefix_last_and_bad_ids(session: tuple[Path, list[RiskDecided]]) -> None:
    home, decisions = session
    dec = decisions[len(decisions) // 2]
    assert explain_json(home, dec.decision_id)["seq"] == dec.seq
    assert explain_json(home, "last")["decision_id"] == decisions[-1].decision_id
    last_veto = [d for d in decisions if d.outcome == "veto"][-1]
    assert explain_json(home, "last-veto")["decision_id"] == last_veto.decision_id
    tag = dec.decision_id.split("-D")[0]
    rc, _, err = hedge("explain", "--home", str(home), f"{tag}-D")
    assert rc == 2 and "decisions match" in err and len(err.strip().splitlines()) == 1
    rc, _, err = hedge("explain", "--home", str(home), "deadbeef-D1")
    assert rc == 2 and err.strip().startswith(f"hedge explain: error: no risk decision matches 'deadbeef-D1' in {home / 'eventlog.sqlite'} "
                                  "(explain takes a decision id (TAG-D123), an intent")


def test_intent_plan_and_order_ids_lead_to_their_decision(session: tuple[Path, list[RiskDecided]]) -> None:
    from eventlog.events import OrderSubmitted, RoutePlanned

    home, decisions = session
    allowed = pick(decisions, "allow")
    with EventStore.open(home, create=False) as store:
        plan = next(e for e in store.read(types=("RoutePlanned",))
                    if isinstance(e, RoutePlanned) and e.decision_id == allowed.decision_id)
        order = next(e for e in store.read(types=("OrderSubmitted",))
                     if isinstance(e, OrderSubmitted) and e.plan_id == plan.plan_id)
    for ref in (allowed.intent_id, plan.plan_id, order.order_id):
        assert explain_json(home, ref)["decision_id"] == allowed.decision_id, ref
    tag = allowed.decision_id.split("-D")[0]
    rc, _, err = hedge("explain", "--home", str(home), f"{tag}-O999999999-0")
    assert rc == 2 and f"no order '{tag}-O999999999-0'" in err and "intent (TAG-I12-0)" in err


@pytest.mark.parametrize("outcome", ["veto", "clamp", "allow"])
def test_check_takes_the_decision_again_identically(session: tuple[Path, list[RiskDecided]], outcome: str) -> None:
    home, decisions = session
    dec = pick(decisions, outcome)
    rc, out, _ = hedge("explain", "--home", str(home), dec.decision_id, "--check")
    assert rc == 0 and out.splitlines()[-1].endswith("identical to the recorded decision")
    doc = explain_json(home, dec.decision_id)
    assert doc["rederived"] is None  # only on request


def test_set_answers_would_this_veto_have_passed(session: tuple[Path, list[RiskDecided]]) -> None:
    home, decisions = session
    veto = next(d for d in decisions if d.outcome == "veto" and d.breached == ["max_open_positions"])
    limit = int(veto.thresholds["max_open_positions"])
    rc, out, err = hedge("explain", "--home", str(home), veto.decision_id, "--set",
                         f"risk.max_open_positions={limit + 5}", "--format", "json")
    assert rc == 0, err
    again = json.loads(out)["rederived"]
    assert again["changes"] == [{"key": "risk_limits.global.max_open_positions", "old": limit, "new": limit + 5}]
    assert again["recorded"]["outcome"] == "veto" and again["replayed"]["outcome"] in ("allow", "clamp")
    assert "max_open_positions" not in again["replayed"]["breached"]
    assert again["thresholds"]["max_open_positions"] == limit + 5 and again["replayed"]["approved_qty"] > 0
    rc, text, _ = hedge("explain", "--home", str(home), veto.decision_id, "--set", f"risk.max_open_positions={limit + 5}")
    assert rc == 0 and any(ln.split()[:3] == ["outcome", "veto", "->"] and "changed" in ln for ln in text.splitlines())
    rc, _, err = hedge("explain", "--home", str(home), veto.decision_id, "--set", "risk.nope=1")
    assert rc == 2 and err.strip() == "hedge: config error: --set: risk.nope: unknown key"


def test_check_on_a_tampered_decision_says_different(session: tuple[Path, list[RiskDecided]], tmp_path: Path) -> None:
    home, decisions = session
    db = copy_log(home, tmp_path / "copy")
    dec = pick(decisions, "clamp")
    forged = msgspec.structs.replace(dec, approved_qty=dec.approved_qty * 3)
    rewrite(db, dec.seq, encode(forged), rechain=True)
    rc, out, _ = hedge("explain", "--home", str(db.parent), dec.decision_id, "--check")
    assert rc == 1  # the recorded decision does not follow from its inputs
    assert "DIFFERENT from the recorded decision" in out
    assert f"approved_qty: recorded {fmt(dec.approved_qty * 3)}, replayed {fmt(dec.approved_qty)}" in out
