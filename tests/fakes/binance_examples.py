"""Binance's official example payloads in ../shared/binance, for the parser tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SHARED = Path(__file__).resolve().parents[3] / "shared" / "binance"
if not SHARED.exists():
    SHARED = Path("/work/shared/binance")


def example(name: str) -> Any:
    """One official example, parsed."""
    return json.loads((SHARED / name).read_text())


def raw(name: str) -> str:
    """One official example as the exchange sends it (text)."""
    return (SHARED / name).read_text()
