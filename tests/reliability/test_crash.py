"""Crash: ``kill -9`` a running ``hedge run --speed max`` at random moments, on both backends.

After every kill: the log verifies; it is a prefix of what an uncrashed run with
the same input writes; every event the projections had seen as committed is in
it; every event the writer reported committed before the kill is in it; the
projections resumed after the crash equal a full rebuild; and a resumed
run (a new session on the same log) adds no duplicate order.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import pytest

from tests.reliability.harness import REPO, Site, events_of, payloads

ROUNDS = int(os.environ.get("HEDGE_CRASH_ROUNDS", "10"))
BARS = "2500"
SID = "c0ffee00-0000-4000-8000-000000000001"


def _run_to_the_end(site: Site) -> float:
    """The uncrashed reference run; returns its wall time after the session line."""
    p = site.popen("run", "--speed", "max", "--bars", BARS, "--session-id", SID, "--quiet")
    assert p.stdout is not None
    first = p.stdout.readline()
    t0 = time.monotonic()
    _out, err = p.communicate(timeout=600)
    assert p.returncode == 0, err
    assert first.startswith("session ")
    return time.monotonic() - t0


def _kill_at_random(site: Site, after_s: float, at_events: int = 0) -> tuple[bool, int, int]:
    """Start a run, SIGKILL it ``after_s`` s after it announced its session, or (when
    ``at_events``) as soon as the log holds that many events.

    Returns (killed, last global seq and last session_seq the writer reported
    committed). The run goes through ``run_reporting``: the real CLI with the log
    writer printing each commit after the store accepted it.
    """
    p = subprocess.Popen([sys.executable, "-m", "tests.reliability.run_reporting", "run", "--speed", "max",
                          "--bars", BARS, "--session-id", SID, "--quiet"],
                         cwd=REPO, env=site.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout is not None
    lines = []
    while True:
        line = p.stdout.readline()
        lines.append(line)
        if not line or line.startswith("session "):
            break
    if at_events:
        raw = site.raw()
        while p.poll() is None:
            try:
                if raw.exists() and raw.max_seq() >= at_events:
                    break
            except Exception:  # the file/table may be mid-creation
                pass
            time.sleep(0.005)
    elif after_s > 0:
        time.sleep(after_s)
    killed = p.poll() is None
    if killed:
        os.kill(p.pid, signal.SIGKILL)
    out, err = p.communicate(timeout=120)
    if not killed:
        assert p.returncode == 0, err
    reported = [ln.split() for ln in [*lines, *out.splitlines()] if ln.startswith("COMMITTED ")]
    if not reported:
        return killed, 0, 0
    return killed, max(int(r[1]) for r in reported), max(int(r[2]) for r in reported)


def _state_seq(site: Site) -> int:
    """The highest seq any state file says it reflects (the projections' view of 'committed').

    Every state file must parse (a torn write would not). Object files carry the
    ``seq`` they reflect; the seed's top-level-list files (``positions.json``) carry
    none and are only checked for being whole JSON.
    """
    best = 0
    for name, data in site.state_files().items():
        if name.startswith("state/") and name.endswith(".json"):
            try:
                doc = json.loads(data)
            except ValueError:
                pytest.fail(f"{name} is not valid JSON after a crash (torn write)")
            if isinstance(doc, dict):
                best = max(best, int(doc.get("seq") or 0))
            elif not isinstance(doc, list):
                pytest.fail(f"{name} is JSON but neither an object nor a list: {type(doc).__name__}")
    return best


def test_kill_9_at_random_moments_loses_nothing_committed(make_site: Callable[[str], Site], backend: str) -> None:
    ref = make_site("reference")
    wall = _run_to_the_end(ref)
    expected = payloads(ref)
    assert len(expected) > 10_000
    rnd = random.Random(int(os.environ.get("HEDGE_CRASH_SEED", "20261121")))
    killed_rounds = 0
    lengths: list[int] = []
    reported: list[int] = []
    for i in range(ROUNDS):
        site = make_site(f"crash{i}")
        # Kill points spread over the run, including right at the start and near the end.
        # Kill points: at start-up, at random times, and at random positions in the log
        # (every other round), so kills land across start-up, trading and shutdown.
        after = rnd.uniform(0, wall * 1.05) if i else 0.0
        at_events = rnd.randint(1, len(expected)) if i % 2 else 0
        killed, committed_seq, committed_session_seq = _kill_at_random(site, after, at_events)
        killed_rounds += killed
        ctx = f"[{backend} round {i}, kill after {after:.3f}s / at {at_events} events, killed={killed}]"

        res = site.verify()
        assert res["ok"], f"{ctx} {res}"
        got = payloads(site)
        lengths.append(len(got))
        assert got == expected[:len(got)], f"{ctx} log is not a prefix of the uncrashed run"

        # Every event the engine was told is committed is in the log.
        assert res["last_seq"] >= committed_seq, f"{ctx} writer reported seq {committed_seq} committed"
        assert len(got) >= committed_session_seq, f"{ctx} reported session_seq {committed_session_seq}"
        reported.append(committed_session_seq)

        seen = _state_seq(site)
        assert seen <= res["last_seq"], f"{ctx} projections saw seq {seen}, log ends at {res['last_seq']}"

        # Projections resumed after the crash == a full rebuild from the log.
        proj = site.hedge("project")
        assert proj.returncode == 0, f"{ctx} {proj.stderr}"
        resumed = site.state_files()
        rb = site.hedge("rebuild", "--quiet")
        assert rb.returncode == 0, f"{ctx} {rb.stderr}"
        assert site.state_files() == resumed, f"{ctx} resumed projections differ from a rebuild"

        # A resumed run starts a new session on the same log; no order id is ever reused.
        again = site.hedge("run", "--speed", "max", "--bars", "300", "--quiet", "--no-projections")
        assert again.returncode == 0, f"{ctx} {again.stderr}"
        assert site.verify()["ok"]
        ids = [e.order_id for e in events_of(site, "OrderSubmitted")]
        assert len(ids) == len(set(ids)), f"{ctx} duplicate order ids after resuming"
        sessions = json.loads(site.hedge("sessions", "--format", "json").stdout)
        assert len(sessions) == (2 if got else 1)
    assert killed_rounds >= ROUNDS // 2, f"only {killed_rounds} of {ROUNDS} runs were killed mid-way"
    print(f"\n{backend}: {killed_rounds}/{ROUNDS} killed; log lengths after kill: {sorted(lengths)} "
          f"of {len(expected)}; reported committed at kill: {sorted(reported)}")
