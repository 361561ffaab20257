"""Decision-rule versions: which rules a session's decisions were made under.

``SessionStarted.rules_version`` records the version in force; a log written before
the field existed decodes as 1. Replay re-derives a session's decisions under the
version it records, so logs written before a rule was corrected still verify.

* **1** - the original gates: the cautious ``x cautious_size_mult`` cut ran before
  the trade-size cap (so it could change nothing and still be recorded as the
  clamp); the ALT-EXT gate compared the NAV age with ``nav_freshness_seconds`` but
  recorded ``nav_stale_after_seconds`` as its threshold.
* **2** - the cautious and high-volatility cuts run after the per-trade NAV cap
  (the cut always binds on what would otherwise be approved); ALT-EXT records
  ``nav_freshness_seconds`` (the threshold it compares) or
  ``nav_sources_ok_required`` when the sources were not ok.
"""

from __future__ import annotations

RULES_VERSION = 2
