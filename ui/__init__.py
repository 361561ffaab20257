"""Investor dashboard (Panel) - reads state files only."""
