"""``hedge sessions``: list the sessions in the log."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

import msgspec

from eventlog.store import EventStore


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=["text", "json"], default="text")


def _ts(ns: int | None) -> str:
    if ns is None:
        return "-"
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def run(args: argparse.Namespace) -> int:
    with EventStore.open(create=False) as store:
        sessions = store.sessions()
    if args.format == "json":
        print(json.dumps([msgspec.to_builtins(s) for s in sessions]))
        return 0
    if not sessions:
        print("no sessions")
        return 0
    print(f"{'session':36}  {'mode':11} {'started (UTC)':19}  {'ended (UTC)':19}  {'events':>8}  {'end':10} symbols")
    for s in sessions:
        print(f"{s.session_id:36}  {s.mode:11} {_ts(s.started_ns):19}  {_ts(s.ended_ns):19}  "
              f"{s.events if s.events is not None else '-':>8}  {s.end_reason or 'open':10} {','.join(s.symbols)}")
    return 0
