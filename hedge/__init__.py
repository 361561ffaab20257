"""gpt-hedge command line and composition root (wires eventlog, engine, projections, replay, ui)."""

__version__ = "0.1.0"
