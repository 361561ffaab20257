"""Peak memory of the 33-symbol book: ``hedge run`` on ``../shared/market/universe`` with
``config/examples/universe33``, at two lengths, as a subprocess exactly as a user runs it.

The figure is the peak RSS of the full window - the engine's plus its projection
follower's, two processes (each as ``hedge run`` reports it); the baseline is
the same run over a quarter of the bars. Flat in bars means the two are close (the engine
keeps bounded windows, not histories); the target is < 600 MB. ``--scale`` shortens both
runs (the smoke test uses a few hundred bars). Skips when the universe data is absent.
"""

from __future__ import annotations

import re
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import MARKET_DIR, REPO, Figure

UNIVERSE = MARKET_DIR / "universe"
CONFIG = REPO / "config" / "examples" / "universe33"
WINDOW_BARS = 51_830  # 180 days of 5m bars


def available() -> str | None:
    return None if (UNIVERSE / "BTCUSDT.csv").exists() else f"no 33-symbol universe at {UNIVERSE}"


_ENGINE = re.compile(r"\(the loop, every event durable\), peak RSS ([\d,]+) MB")
_FOLLOWER = re.compile(r"their peak RSS ([\d,]+) MB")
_FINAL = re.compile(r"projections final after ([\d.]+) s")


def final_after_s(stdout: str) -> float:
    """Seconds from the loop's start until the projections were final, as ``hedge run`` says."""
    m = _FINAL.search(stdout)
    if m is None:
        raise RuntimeError(f"hedge run did not say when its projections were final: {stdout[-1000:]}")
    return float(m[1])


def peak_rss_mb(bars: int) -> tuple[float, float, str]:
    """(peak RSS MB, wall s, summary line) of one ``hedge run --bars N`` in a fresh home.

    ``hedge run`` and its projection follower are two processes: the figure is the sum of
    their peaks as ``hedge run`` reports them (``ru_maxrss`` of the child tree would be the
    larger of the two only)."""
    hedge = str(Path(sys.executable).parent / "hedge")
    with tempfile.TemporaryDirectory(prefix="bench-mem33-") as d:
        argv = [sys.executable, "-c",
                "import resource, subprocess, sys, time; t = time.perf_counter(); "
                "r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
                "u = resource.getrusage(resource.RUSAGE_CHILDREN); "
                "print(u.ru_maxrss, time.perf_counter() - t, r.returncode); print(r.stdout); "
                "print(r.stderr[-2000:], file=sys.stderr)",
                hedge, "run", "--config", str(CONFIG), "--data", str(UNIVERSE), "--home", str(Path(d) / "home"),
                "--bars", str(bars)]
        out = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=False)
    first = out.stdout.splitlines()[0].split() if out.stdout else []
    if len(first) != 3 or first[2] != "0":
        raise RuntimeError(f"hedge run failed: {out.stdout[-1000:]} {out.stderr[-2000:]}")
    engine, follower = _ENGINE.search(out.stdout), _FOLLOWER.search(out.stdout)
    if engine is None or follower is None:
        raise RuntimeError(f"hedge run printed no peak RSS (or its projections were not final): {out.stdout[-1000:]}")
    total = float(engine[1].replace(",", "")) + float(follower[1].replace(",", ""))
    return total, float(first[1]), out.stdout


def run(scale: float = 1.0, repeats: int = 1) -> list[Figure]:
    if available() is not None:
        return []
    full = max(200, int(WINDOW_BARS * scale))
    quarter = max(100, full // 4)
    _ = resource  # the child measures itself (RUSAGE_CHILDREN of a fresh interpreter)
    peak_q, wall_q, out_q = peak_rss_mb(quarter)
    peak_f, wall_f, out_f = peak_rss_mb(full)
    final_q, final_f = final_after_s(out_q), final_after_s(out_f)
    return [Figure("memory33", "hedge run, 33 symbols: peak RSS", peak_f, "MB",
                   f"same run over {quarter:,} bar steps", peak_q, target="< 600 MB, flat in bars",
                   notes=f"{full:,} bar steps in {wall_f:,.0f} s ({quarter:,} in {wall_q:,.0f} s); "
                         "config/examples/universe33 on ../shared/market/universe",
                   extra={"bars": full, "bars_baseline": quarter, "wall_s": wall_f}),
            # The "33-symbol, 180-day run under 2 minutes": the same full-window run, until
            # its projections are final (the process then prints its report: in the notes). The
            # baseline is the quarter run's time x 4: a ratio near 1 says the run is linear in bars.
            Figure("memory33", "hedge run, 33 symbols: seconds until projections final", final_f, "s",
                   f"same run over {quarter:,} bar steps, x {full / quarter:.2f}", final_q * full / quarter,
                   target="< 120 s at 51,830 bar steps (180 days)",
                   notes=f"{full:,} bar steps; process wall with its report {wall_f:,.0f} s",
                   extra={"bars": full, "final_s": final_f, "final_quarter_s": final_q})]
