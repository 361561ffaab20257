"""How the report and the tearsheet write a number (one place, so both agree)."""

from __future__ import annotations


def usd(x: float | None, sign: bool = False) -> str:
    if x is None:
        return "—"
    return f"{x:+,.2f}" if sign else f"{x:,.2f}"


def pct(x: float | None, nd: int = 2, sign: bool = False) -> str:
    if x is None:
        return "—"
    return f"{x * 100:+.{nd}f}%" if sign else f"{x * 100:.{nd}f}%"


def num(x: float | None, nd: int = 2) -> str:
    return "—" if x is None else f"{x:.{nd}f}"


def days(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x * 24:.1f} h" if x < 1 else f"{x:.1f} days"
