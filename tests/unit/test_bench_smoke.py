"""Every benchmark runs on a tiny input so the suite never rots (no timing assertions)."""

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
    figs = mod.run(scale=0.002, repeats=1)
    assert figs, "a benchmark must report at least one figure"
    for f in figs:
        assert f.value > 0 and f.unit
        assert f.baseline is None or f.baseline > 0
