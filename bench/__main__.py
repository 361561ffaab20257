"""``python -m bench [--scale S] [--only NAME,...] [--repeats N]``: run the benchmarks,
print the table, write ``bench/results/latest.json``."""

from __future__ import annotations

import argparse
import importlib
import sys

from bench.common import RESULTS_DIR, Figure, table, write_json

BENCHES = ["append", "rebuild", "run", "replay", "latency", "audit", "dashboard"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--scale", type=float, default=1.0, help="input size multiplier (smoke: 0.01)")
    p.add_argument("--repeats", type=int, default=3, help="best-of repeats per figure")
    p.add_argument("--only", default="", help="comma-separated subset of: " + ",".join(BENCHES))
    p.add_argument("--out", default=str(RESULTS_DIR / "latest.json"))
    args = p.parse_args(argv)
    chosen = [b for b in BENCHES if not args.only or b in args.only.split(",")]
    figs: list[Figure] = []
    for name in chosen:
        try:
            mod = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"bench.{name}":
                print(f"[{name}] not built yet", file=sys.stderr)
                continue
            raise
        print(f"[{name}] running ...", file=sys.stderr, flush=True)
        got = mod.run(scale=args.scale, repeats=args.repeats)
        figs.extend(got)
        print(table(got), file=sys.stderr, flush=True)
    print(table(figs))
    from pathlib import Path

    write_json(figs, Path(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
