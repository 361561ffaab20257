"""Run: bars/s of ``hedge run --speed max`` over the real 5m klines (all three symbols,
155,514 bars at scale 1), every event persisted, as a subprocess exactly as a user runs it
- with the projection follower (the default) and with ``--no-projections``.

With projections the figure is the rate until the state files are final (``hedge run``'s
"projections final after" line: the follower's final catch-up and compaction included),
not the loop's own rate, which is kept in the extras. Peak memory: ``hedge run`` and its
follower are two processes; their peak RSS (each reported by ``hedge run``: its own, and the
follower's from ``wait4``) and their sum - what the machine pays, at most - are a figure of
their own, beside the engine alone (``--no-projections``).

Baseline (same run, interleaved): the session's unavoidable I/O - read the CSVs
(polars, as the sim venue does), encode every event the session logged (msgspec), chain
them and ``executemany`` them into a WAL, ``synchronous=NORMAL`` table - expressed as
bars/s. The ratio is the share of the session's wall time that this floor would take.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import MARKET_DIR, REPO, Figure, insert_chained, raw_sqlite
from bench.fixtures import have_market, log_rows, run_session_argv, session_home, steps_for

_RATE = re.compile(r"([\d,]+) bars/s, ([\d,]+) events/s over ([\d.]+) s .*peak RSS ([\d,]+) MB, ([\d.]+) CPU-s")
_FINAL = re.compile(r"projections final after ([\d.]+) s \(([\d,]+) bars/s end to end\), "
                    r"their peak RSS ([\d,]+) MB .*?([\d.]+) CPU-s")
_SUMMARY = re.compile(r"events (\d+)\s+bar steps (\d+)\s+bars (\d+)")


def _n(text: str) -> float:
    return float(text.replace(",", ""))


def hedge_run(scale: float, *, projections: bool) -> dict[str, float]:
    """One ``hedge run`` in a fresh home. ``bars_per_s``: until the state files are final (with
    projections), else the loop's; ``loop_bars_per_s``, ``loop_s``, ``final_s`` (``hedge run``'s own
    clock), ``wall_s`` (the whole process), ``cpu_s`` (user+sys of it and its follower),
    ``engine_rss_mb``, ``follower_rss_mb``, ``rss_mb`` (their sum), ``engine_cpu_s``, ``follower_cpu_s``,
    bars, events."""
    with tempfile.TemporaryDirectory(prefix="bench-run-") as d:
        argv = run_session_argv(Path(d) / "home", scale, projections=projections)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        out = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise RuntimeError(f"hedge run failed: {out.stderr[-2000:]}")
    m, s, f = _RATE.search(out.stdout), _SUMMARY.search(out.stdout), _FINAL.search(out.stdout)
    if m is None or s is None or (projections and f is None):
        raise RuntimeError(f"hedge run printed no rate (or its projections were not final): "
                           f"{out.stdout[-1000:]} {out.stderr[-1000:]}")
    bars = int(s[3])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    loop_rate, loop_s, engine_mb = _n(m[1]), _n(m[3]), _n(m[4])
    final_s = _n(f[1]) if f is not None else loop_s
    follower_mb = _n(f[3]) if f is not None else 0.0
    return {"bars_per_s": bars / final_s if f is not None else loop_rate, "loop_bars_per_s": loop_rate,
            "events_per_s": _n(m[2]), "loop_s": loop_s, "final_s": final_s,
            "wall_s": wall, "cpu_s": cpu, "bars": bars, "events": int(s[1]),
            "engine_rss_mb": engine_mb, "follower_rss_mb": follower_mb, "rss_mb": engine_mb + follower_mb,
            "engine_cpu_s": _n(m[5]), "follower_cpu_s": _n(f[4]) if f is not None else 0.0}


def io_floor(scale: float) -> float:
    """bars/s if a session cost only its I/O: CSV read + encode + chain + raw executemany."""
    from eventlog.codec import decode

    home = session_home(scale)
    rows = [r[1:] for b in log_rows(home) for r in b]  # (session, version, type, state), either layout
    events = [decode(r[3][32:]) for r in rows]
    steps = steps_for(scale) if scale < 1.0 or not have_market() else None
    t = time.perf_counter()
    bars = 0
    if have_market():
        from engine.venues.kline_csv import read_symbol

        for sym in ("BTCUSDT", "ETHUSDT", "SOLUSDT"):
            times, _cols = read_symbol(MARKET_DIR / f"{sym}.csv")
            bars += len(times) if steps is None else min(steps, len(times))
    else:
        bars = 3 * (steps or 0)
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as d:
        db = raw_sqlite(d)
        insert_chained(db, events, [r[:3] for r in rows])
        db.close()
    return bars / (time.perf_counter() - t)


def run(scale: float = 1.0, repeats: int = 3) -> list[Figure]:
    session_home(scale)  # build the floor's input before timing anything
    floor = 0.0
    best: dict[bool, dict[str, float]] = {}
    runs: dict[bool, list[dict[str, float]]] = {True: [], False: []}
    for _ in range(max(1, repeats)):
        floor = max(floor, io_floor(scale))
        for proj in (True, False):
            got = hedge_run(scale, projections=proj)
            runs[proj].append(got)
            if got["bars_per_s"] > best.get(proj, {}).get("bars_per_s", 0.0):
                best[proj] = got
    data = "real 5m klines" if have_market() else "generated market (real data absent)"
    figs = []
    for proj, label in ((True, "projections on, until the state files are final"), (False, "--no-projections")):
        b = best[proj]
        loop = (f"; the loop alone {b['loop_bars_per_s']:,.0f} bars/s ({b['loop_s']:.2f} s, projections final "
                f"at {b['final_s']:.2f} s)" if proj else "")
        figs.append(Figure(
            "run", f"hedge run --speed max, {label}", b["bars_per_s"], "bars/s",
            "session I/O floor (CSV+encode+executemany)", floor, target=">= 50,000 bars/s",
            notes=f"{int(b['bars']):,} bars, {int(b['events']):,} events, {data}; "
                  f"{b['bars'] / b['cpu_s']:,.0f} bars per CPU-s{loop}; load {os.getloadavg()[0]:.1f}",
            extra=b))
    # memory: the highest of the repeats (not the best: a peak is what the machine must have)
    mem = max(runs[True], key=lambda r: r["rss_mb"])
    engine_only = max(r["engine_rss_mb"] for r in runs[False])
    figs.append(Figure(
        "run", "hedge run, projections on: peak RSS, engine + follower (two processes)", mem["rss_mb"], "MB",
        "the engine alone (--no-projections)", engine_only, target="<= 300 MB on 3 symbols",
        notes=f"engine {mem['engine_rss_mb']:,.0f} MB + follower {mem['follower_rss_mb']:,.0f} MB (each its own "
              "peak; the sum bounds what the two held at once), highest of the repeats",
        extra={"engine_rss_mb": mem["engine_rss_mb"], "follower_rss_mb": mem["follower_rss_mb"],
               "engine_alone_rss_mb": engine_only}))
    return figs
