"""Replay: deterministic re-run of sessions, veto explanation, what-if."""
