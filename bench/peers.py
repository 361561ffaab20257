"""Peers: ``hedge run --speed max`` against NautilusTrader's ``BacktestEngine`` on the same
real klines and machine, runs interleaved, best of N (``python -m bench --peers``).

NautilusTrader lives in its own virtualenv under the bench cache (``$HEDGE_BENCH_CACHE``,
default ``~/.cache/gpt-hedge-bench/nautilus``), created on first use from PyPI with a
Python >= 3.12 interpreter, so the product's dependencies stay clean. Where no such
interpreter exists or the install fails the bench is skipped with the reason.

Figures (bars/s; the baseline is Nautilus measured in the same run):
- hedge with projections (every event persisted and chained), timed until its state files are
  final (``bench.run.hedge_run``: the projection follower's final catch-up included) ÷
  Nautilus comparable strategy (nothing persisted);
- hedge ÷ Nautilus with its events streamed to its catalog (the persisted comparison);
- hedge ``--no-projections`` ÷ Nautilus; Nautilus with no orders (its floor) for context.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import MARKET_DIR, REPO, Figure
from bench.fixtures import have_market
from bench.run import hedge_run

NAUTILUS_PIN = "nautilus_trader==1.231.0"
SCRIPT = REPO / "bench" / "peer_nautilus.py"


def cache_root() -> Path:
    return Path(os.environ.get("HEDGE_BENCH_CACHE",
                               Path.home() / ".cache" / "gpt-hedge-bench"))


def _python312() -> str | None:
    """A Python >= 3.12 interpreter (NautilusTrader's floor), or None."""
    cands = [shutil.which(n) for n in ("python3.13", "python3.12")]
    cands += [str(p) for p in sorted(Path.home().glob(".pyenv/versions/3.1[23]*/bin/python"))]
    cands.append(sys.executable)
    for c in cands:
        if not c:
            continue
        out = subprocess.run([c, "-c", "import sys; print(sys.version_info >= (3, 12))"],
                             capture_output=True, text=True, check=False)
        if out.stdout.strip() == "True":
            return c
    return None


def nautilus_python() -> tuple[str | None, str]:
    """(interpreter of the Nautilus venv, "") or (None, why it can't be had)."""
    venv = cache_root() / "nautilus"
    py = venv / "bin" / "python"
    probe = [str(py), "-c", "import nautilus_trader, sys; print(nautilus_trader.__version__)"]
    if py.exists() and subprocess.run(probe, capture_output=True, check=False).returncode == 0:
        return str(py), ""
    base = _python312()
    if base is None:
        return None, "NautilusTrader needs Python >= 3.12 and none was found"
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    steps = [[base, "-m", "venv", str(venv)],
             [str(py), "-m", "pip", "install", "-q", NAUTILUS_PIN]]
    for argv in steps:
        print(f"[peers] {' '.join(argv)}", file=sys.stderr, flush=True)
        out = subprocess.run(argv, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            return None, f"could not install {NAUTILUS_PIN}: {out.stderr.strip()[-300:]}"
    return str(py), ""


def nautilus_run(py: str, bars: int, *, orders: bool = True, persist: bool = False) -> dict:
    """One Nautilus backtest in a subprocess: {wall_s, bars, orders, fills, rss_mb}."""
    argv = [py, "-W", "ignore", str(SCRIPT), str(MARKET_DIR)]
    if bars:
        argv += ["--bars", str(bars)]
    if not orders:
        argv.append("--no-orders")
    with tempfile.TemporaryDirectory(prefix="bench-peer-") as d:
        if persist:
            argv += ["--persist", str(Path(d) / "catalog")]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run(argv, capture_output=True, text=True, check=False)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise RuntimeError(f"nautilus run failed: {out.stderr[-2000:]}")
    got = json.loads(out.stdout.strip().splitlines()[-1])
    got["bars_per_s"] = got["bars"] / got["wall_s"]
    # whole process (imports and data loading included, as for hedge's cpu_s)
    got["cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return got


def _best(runs: list[dict]) -> dict:
    return max(runs, key=lambda r: r["bars_per_s"])


def run(scale: float = 1.0, repeats: int = 3) -> list[Figure]:
    if not have_market():
        print("[peers] skipped: ../shared/market is absent", file=sys.stderr)
        return []
    py, why = nautilus_python()
    if py is None:
        print(f"[peers] skipped: {why}", file=sys.stderr)
        return []
    per_symbol = 0 if scale >= 1.0 else max(400, int(51_838 * scale))
    # Nautilus's catalog streaming is ~10x slower than its run: measure it on a slice.
    persist_bars = per_symbol or 15_000
    h_proj: list[dict] = []
    h_raw: list[dict] = []
    n_strat: list[dict] = []
    n_floor: list[dict] = []
    n_persist: list[dict] = []
    for _ in range(max(1, repeats)):
        n_strat.append(nautilus_run(py, per_symbol))
        h_proj.append(hedge_run(scale, projections=True))
        n_floor.append(nautilus_run(py, per_symbol, orders=False))
        h_raw.append(hedge_run(scale, projections=False))
        n_persist.append(nautilus_run(py, persist_bars, persist=True))
    hp, hr, ns, nf, np_ = (_best(x) for x in (h_proj, h_raw, n_strat, n_floor, n_persist))
    ver = subprocess.run([py, "-c", "import nautilus_trader as n; print(n.__version__)"],
                         capture_output=True, text=True, check=False).stdout.strip()
    load = os.getloadavg()[0]
    cpu = (f"by CPU time (whole processes, less sensitive to the load): hedge {hp['bars'] / hp['cpu_s']:,.0f} "
           f"bars per CPU-s, --no-projections {hr['bars'] / hr['cpu_s']:,.0f}, Nautilus "
           f"{ns['bars'] / ns['cpu_s']:,.0f}")
    mem = (f"hedge peak RSS: engine {hp['engine_rss_mb']:,.0f} MB + projection follower "
           f"{hp['follower_rss_mb']:,.0f} MB = {hp['rss_mb']:,.0f} MB (--no-projections {hr['engine_rss_mb']:,.0f} MB)")
    note = (f"NautilusTrader {ver}: {int(ns['bars']):,} bars, {ns['orders']} orders, "
            f"{ns['fills']} fills, peak RSS {ns['rss_mb']:.0f} MB; {mem}; {cpu}; load {load:.1f}")
    return [
        Figure("peers", "hedge run --speed max (projections on, every event persisted) "
               "vs Nautilus comparable strategy (nothing persisted)",
               hp["bars_per_s"], "bars/s", "Nautilus BacktestEngine", ns["bars_per_s"],
               target=">= 1.5x", notes=note, extra={"hedge": hp, "nautilus": ns}),
        Figure("peers", "hedge run --no-projections vs Nautilus comparable strategy",
               hr["bars_per_s"], "bars/s", "Nautilus BacktestEngine", ns["bars_per_s"],
               extra={"hedge": hr, "nautilus": ns}),
        Figure("peers", "hedge run --speed max vs Nautilus streaming every event to its "
               "catalog", hp["bars_per_s"], "bars/s", "Nautilus + StreamingConfig",
               np_["bars_per_s"], notes=f"Nautilus persisted run over {int(np_['bars']):,} bars",
               extra={"nautilus": np_}),
        Figure("peers", "Nautilus with no orders (its floor)", nf["bars_per_s"], "bars/s",
               "Nautilus comparable strategy", ns["bars_per_s"], extra={"nautilus": nf}),
    ]
