"""Historical VaR and CVaR of the NAV (95% and 99%), computed with polars.

Returns are the hourly NAV returns of ``nav_history`` (the last ``VAR_HOURS``
hours). Historical VaR at level a = minus the (1 - a) quantile of the returns
(lower interpolation: an observed return); CVaR = minus the mean of the returns
at or below that quantile. Both are fractions of NAV (0.02 = 2%) and in USD at
the current NAV; null with fewer than ``MIN_RETURNS`` returns.
"""

from __future__ import annotations

from typing import Any

import polars as pl

VAR_HOURS = 720  # 30 days of hourly returns
MIN_RETURNS = 24
LEVELS = (0.95, 0.99)


def var_cvar(navs: list[float], nav_now: float | None) -> dict[str, Any]:
    out: dict[str, Any] = {"method": "historical", "horizon": "1h", "window_hours": VAR_HOURS,
                           "returns": max(0, len(navs) - 1)}
    for a in LEVELS:
        k = round(a * 100)
        out[f"var_{k}_frac"] = out[f"cvar_{k}_frac"] = out[f"var_{k}_usd"] = out[f"cvar_{k}_usd"] = None
    if len(navs) - 1 < MIN_RETURNS:
        return out
    s = pl.Series("nav", navs, dtype=pl.Float64)
    r = (s / s.shift(1) - 1.0).drop_nulls()
    for a in LEVELS:
        k = round(a * 100)
        q = r.quantile(1.0 - a, interpolation="lower")
        if q is None:
            continue
        tail = r.filter(r <= q)
        var = 0.0 - float(q)  # 0.0 - x: a flat window gives 0.0, never -0.0
        cvar = 0.0 - float(tail.mean()) if tail.len() else var  # type: ignore[arg-type]
        out[f"var_{k}_frac"] = round(var, 12)
        out[f"cvar_{k}_frac"] = round(cvar, 12)
        out[f"var_{k}_usd"] = round(var * nav_now, 6) if nav_now is not None else None
        out[f"cvar_{k}_usd"] = round(cvar * nav_now, 6) if nav_now is not None else None
    return out
