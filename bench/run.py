"""Run: bars/s of ``hedge run --speed max`` over the real 5m klines (all three symbols,
155,514 bars at scale 1), every event persisted, as a subprocess exactly as a user runs it
- with the projection follower (the default) and with ``--no-projections``.

Baseline (same run, interleaved): the session's unavoidable I/O - read the CSVs
(polars, as the sim venue does), encode every event the session logged (msgspec), chain
them and ``executemany`` them into a WAL, ``synchronous=NORMAL`` table - expressed as
bars/s. The ratio is the share of the session's wall time that this floor would take.
"""

from __future__ import annotations

import re
import resource
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import MARKET_DIR, REPO, Figure, insert_chained, raw_sqlite
from bench.fixtures import have_market, log_rows, run_session_argv, session_home, steps_for

_RATE = re.compile(r"([\d,]+) bars/s, ([\d,]+) events/s over ([\d.]+) s")
_SUMMARY = re.compile(r"events (\d+)\s+bar steps (\d+)\s+bars (\d+)")


def hedge_run(scale: float, *, projections: bool) -> dict[str, float]:
    """One ``hedge run`` in a fresh home: {bars_per_s, events_per_s, loop_s, wall_s, cpu_s, bars, events}."""
    with tempfile.TemporaryDirectory(prefix="bench-run-") as d:
        argv = run_session_argv(Path(d) / "home", scale, projections=projections)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        out = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise RuntimeError(f"hedge run failed: {out.stderr[-2000:]}")
    m, s = _RATE.search(out.stdout), _SUMMARY.search(out.stdout)
    if m is None or s is None:
        raise RuntimeError(f"hedge run printed no rate: {out.stdout[-1000:]}")
    bars = int(s[3])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"bars_per_s": float(m[1].replace(",", "")), "events_per_s": float(m[2].replace(",", "")),
            "loop_s": float(m[3]),
            "wall_s": wall, "cpu_s": cpu, "bars": bars, "events": int(s[1])}


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
    for _ in range(max(1, repeats)):
        floor = max(floor, io_floor(scale))
        for proj in (True, False):
            got = hedge_run(scale, projections=proj)
            if got["bars_per_s"] > best.get(proj, {}).get("bars_per_s", 0.0):
                best[proj] = got
    data = "real 5m klines" if have_market() else "generated market (real data absent)"
    figs = []
    for proj, label in ((True, "with projection follower"), (False, "--no-projections")):
        b = best[proj]
        figs.append(Figure(
            "run", f"hedge run --speed max, {label}", b["bars_per_s"], "bars/s",
            "session I/O floor (CSV+encode+executemany)", floor, target=">= 50,000 bars/s",
            notes=f"{int(b['bars']):,} bars, {int(b['events']):,} events, {data}; "
                  f"{b['bars'] / b['cpu_s']:,.0f} bars per CPU-s",
            extra=b))
    return figs
