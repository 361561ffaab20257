"""Shared rules: the numbers both the engine and the projections compute, defined once.

Pure functions and small fold objects (no I/O, no clock, no config loading):
units and time constants (``units``), Wilder ATR / EMA / regimes / drawdown
(``indicators``), NAV tracking with its one ``sources_ok`` rule (``nav``), NAV
freshness (``freshness``), position accounting (``positions``), performance
ratios (``perf``) and router KPIs (``router_kpis``).

Dependency rule: ``engine.rules`` imports nothing of this project but ``eventlog.events``
(the event types); ``projections`` may import ``engine.rules`` and nothing else of
``engine`` (see ``docs/architecture.md``; ``tests/unit/test_import_rules.py`` enforces it).
"""
