"""Projections: pure folds from the log to state files, audit tables and alerts."""
