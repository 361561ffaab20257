"""Intel state files (``expectancy_v6.json``, ``symbol_scores_v6.json``, ``hybrid_scores.json``).

The rules (round trips, scores, conviction) are ``engine.rules.intel``, shared with the
engine's conviction sizing and ``expectancy`` gate.
"""
