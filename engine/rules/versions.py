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
* **3** - the drawdown policy (``engine.rules.drawdown``): ``dd_state`` has hysteresis
  (entry and exit thresholds), measured from a reference that an operator reset
  (``RiskReset``) or the automatic rule (``dd_auto_recover_days``) can re-base; every
  change is a recorded ``DdStateChanged`` decision; the ``dd_state`` gate records the
  exit and automatic-rule thresholds and decisions record the policy's observations
  (``dd_policy_frac``, ``dd_ref_nav_usd``, ``dd_state_since_ts``, ``dd_override*``).
* **4** - a closed kline decides only when it is live and the book is priced: a
  warm-up or backfilled bar (``KlineClosed.history``) updates indicators only, and
  no intent is decided on a symbol until a ``MarketTick`` at or after the bar's open
  has priced its book (so no order is priced from an older bar's close).
* **5** - the ``liquidation_buffer`` gate (after ``daily_loss_limit``): new exposure is
  vetoed when the account's margin ratio is at or above ``max_margin_ratio`` or the
  symbol's position is within ``min_liquidation_distance_frac`` of its liquidation
  price; decisions observe ``margin_ratio`` and ``liquidation_distance_frac``.
* **6** - risk after the trade (``engine.post_trade``, decided by ``engine.risk.check_positions``):
  at every counted NAV reading a position whose symbol, tier or portfolio gross drifted over
  its cap x (1 + ``cap_drift_tolerance_frac``) gets a reduce-only trim back to the cap
  (``cap_drift``), and a ``daily_loss_limit_pct`` / ``max_drawdown_pct`` breach takes its
  configured action (``daily_loss_action`` / ``max_drawdown_action``: ``block``, ``reduce``,
  ``flatten_halt``), recorded as ``RiskDecided`` with outcome ``trim`` or ``flatten``. With the
  defaults (no tolerance, ``block``) nothing changes.
"""

from __future__ import annotations

RULES_VERSION = 6
LIQUIDATION_BUFFER_RULES = 5  # the first version with the liquidation_buffer gate
POST_TRADE_RULES = 6  # the first version with the post-trade rules (engine/post_trade.py)
