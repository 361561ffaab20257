"""Every benchmark runs on a tiny input so the suite never rots (no timing assertions).

Inputs are cached under ``$HEDGE_BENCH_CACHE`` (default ``~/.cache/gpt-hedge-bench``);
at this scale the real-data session is ~100 bar steps, the "big" log ~10k events.
"""

from __future__ import annotations

import importlib

import pytest

from bench.__main__ import BENCHES


@pytest.mark.parametrize("name", BENCHES)
def test_benchmark_runs_on_tiny_input_and_reports_figures(name: str) -> None:
    try:
        mod = importlib.import_module(f"bench.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"bench.{name}":
            pytest.skip(f"bench.{name} not built yet")
        raise
    why = getattr(mod, "available", lambda: None)()
    if why is not None:
        pytest.skip(f"bench.{name}: {why}")
    figs = mod.run(scale=0.002, repeats=1)
    assert figs, "a benchmark must report at least one figure"
    for f in figs:
        assert f.value > 0 and f.unit
        assert f.baseline is None or f.baseline > 0
