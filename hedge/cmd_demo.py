"""``hedge demo``: not built yet (see the open issues)."""

from __future__ import annotations

import argparse

from hedge.cli import UsageError


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("rest", nargs=argparse.REMAINDER)


def run(args: argparse.Namespace) -> int:
    raise UsageError("'hedge demo' is not built yet")
