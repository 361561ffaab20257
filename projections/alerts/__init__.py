"""Low-frequency Telegram alerts: a pure policy over the log, and its delivery.

* :mod:`projections.alerts.policy` - the pure fold deciding what to say (no I/O).
* :mod:`projections.alerts.text` - message rendering.
* :mod:`projections.alerts.delivery` - aiogram sender with retries (I/O).
* :mod:`projections.alerts.follower` - follows the log, sends, records ``AlertSent``.
"""
