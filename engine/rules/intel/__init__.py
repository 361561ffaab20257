"""Intel: round-trip expectancy, symbol scores, hybrid scores and conviction.

One pure implementation (``IntelBook``), in the shared rules, folded by the engine (conviction sizing,
the ``expectancy_min`` gate) and by the projections (``expectancy_v6.json``,
``symbol_scores_v6.json``, ``hybrid_scores.json``), so the number the screener
sized with is the number the state file shows.
"""

from engine.rules.intel.book import IntelBook, SymbolIntel
from engine.rules.intel.roundtrips import RoundTrip, TripStats, trip_stats
from engine.rules.intel.scores import Score, conviction, hybrid_score, signal_strength, symbol_score

__all__ = [
    "IntelBook", "RoundTrip", "Score", "SymbolIntel", "TripStats", "conviction", "hybrid_score",
    "signal_strength", "symbol_score", "trip_stats",
]
