"""Load: a sustained synthetic tick stream with a projection process following the log.

The writer (``tests.reliability.loadgen``) emits thousands of events a second
through the real group-commit writer for a bounded time, on loopback only;
``hedge project --follow`` runs as its own process, as on a projection host. We
sample the lag (log head - what the projections reflect) and both processes'
memory every second. Figures are printed (and quoted in docs/reliability.md);
the assertions are about correctness and boundedness, not speed.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from tests.reliability.harness import REPO, Site

RATE = float(os.environ.get("HEDGE_LOAD_RATE", "5000"))
SECONDS = float(os.environ.get("HEDGE_LOAD_SECONDS", "25"))


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _projected_seq(home: Path) -> int:
    try:
        return int(json.loads((home / "state" / "nav_state.json").read_text()).get("seq") or 0)
    except (OSError, ValueError):
        return 0


def _head(site: Site) -> int:
    with site.store() as s:
        return s.head()[0]


def test_sustained_stream_with_bounded_memory_and_no_growing_lag(site: Site, backend: str) -> None:
    gen = subprocess.Popen([sys.executable, "-m", "tests.reliability.loadgen", str(RATE), str(SECONDS)],
                           cwd=REPO, env=site.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert gen.stdout is not None
    first = json.loads(gen.stdout.readline())  # the store exists once the first report is out
    follower = site.popen("project", "--follow", "--interval", "0.5")
    samples: list[dict[str, float]] = []
    reports = [first]
    try:
        for line in gen.stdout:
            rep = json.loads(line)
            reports.append(rep)
            if rep.get("done"):
                break
            projected = _projected_seq(site.home)
            samples.append({"t": rep["t"], "lag": max(0, _head(site) - projected), "projected": projected,
                            "gen_rss": rep["rss_kb"], "proj_rss": _rss_kb(follower.pid)})
        assert gen.wait(timeout=120) == 0, gen.stderr.read() if gen.stderr else ""
        done = reports[-1]
        assert done.get("done") and done["events"] >= RATE * SECONDS * 0.5
        # After the stream stops the follower catches up completely.
        deadline = time.monotonic() + 180
        while _projected_seq(site.home) < done["head_seq"] and time.monotonic() < deadline:
            time.sleep(0.25)
        assert _projected_seq(site.home) == done["head_seq"], "projections never caught up"
    finally:
        follower.send_signal(signal.SIGINT)
        try:
            follower.wait(timeout=60)
        except subprocess.TimeoutExpired:
            follower.kill()
    assert site.verify()["ok"]

    half = len(samples) // 2
    early, late = samples[:half], samples[half:]
    assert early and late

    def peak(xs: list[dict[str, float]], k: str) -> float:
        return max(x[k] for x in xs)

    def median(xs: list[dict[str, float]], k: str) -> float:
        return float(statistics.median(x[k] for x in xs))

    # Memory is bounded: the writer is flat; the projector's baseline does not keep
    # growing (it peaks briefly each time an audit bucket of 100k events is compacted).
    assert peak(late, "gen_rss") <= peak(early, "gen_rss") + 30_000
    # The projector's memory is compared once it is working (it has written state files):
    # a follower still importing its libraries on a loaded machine would make "early" small.
    working = [x for x in samples if x["projected"] > 0]
    assert len(working) >= 4, "the projector wrote no state files while the stream ran"
    w_early, w_late = working[: len(working) // 2], working[len(working) // 2:]
    assert median(w_late, "proj_rss") <= median(w_early, "proj_rss") * 1.5 + 30_000
    assert peak(samples, "proj_rss") < 1_000_000
    # Lag does not grow: the second half's worst lag is within the first half's worst
    # plus a few seconds of stream (the follower polls and commits in chunks).
    assert peak(late, "lag") <= peak(early, "lag") + 3 * RATE, samples
    print(f"\nload[{backend}]: {done['events']} events in {done['seconds']} s = {done['events_per_s']}/s; "
          f"lag peak early {peak(early, 'lag'):.0f} late {peak(late, 'lag'):.0f} events; "
          f"writer RSS {peak(early, 'gen_rss') / 1024:.0f}->{peak(late, 'gen_rss') / 1024:.0f} MiB; "
          f"projector RSS {peak(early, 'proj_rss') / 1024:.0f}->{peak(late, 'proj_rss') / 1024:.0f} MiB")
    if os.environ.get("HEDGE_LOAD_TRACE"):
        print(" ".join(f"{x['t']:.0f}:{x['lag']:.0f}/{x['proj_rss'] / 1024:.0f}M" for x in samples))
