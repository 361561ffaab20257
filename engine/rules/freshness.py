"""NAV freshness: one rule and one vocabulary for the risk gates, the dashboard and the alerts.

A NAV reading is **fresh** while its age is at most
``risk_limits.global.nav_freshness_seconds`` (the limit the ``nav_freshness`` and
``alt_ext_disabled`` gates compare), **stale** after, **unknown** without a reading.
``nav_stale_after_seconds`` is no longer read by any rule (it stays in the schema
so that older configs still load).
"""

from __future__ import annotations


def nav_fresh(age_s: float | None, limit_s: float) -> bool | None:
    """True while ``age_s <= limit_s``; None without a reading."""
    if age_s is None:
        return None
    return age_s <= limit_s


def freshness_label(fresh: bool | None) -> str:
    """``fresh`` / ``stale`` / ``unknown``: the word every surface uses."""
    return "unknown" if fresh is None else ("fresh" if fresh else "stale")
