"""``python -m bench [--scale S] [--only NAME,...] [--repeats N] [--peers]``: run the
benchmarks, print the table, write ``bench/results/latest.json``. ``--peers`` adds the
NautilusTrader comparison (its own virtualenv under the bench cache; see bench/peers.py)."""

from __future__ import annotations

import argparse
import importlib
import sys

from bench.common import RESULTS_DIR, Figure, table, write_json

BENCHES = ["append", "bytes", "rebuild", "run", "replay", "latency", "ticks", "hotpath", "audit", "dashboard", "memory33"]
PEERS = "peers"  # opt-in: installs NautilusTrader into the bench cache on first use


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--scale", type=float, default=1.0, help="input size multiplier (smoke: 0.01)")
    p.add_argument("--repeats", type=int, default=3, help="best-of repeats per figure")
    p.add_argument("--only", default="", help="comma-separated subset of: " + ",".join(BENCHES))
    p.add_argument("--out", default=str(RESULTS_DIR / "latest.json"))
    p.add_argument("--peers", action="store_true",
                   help="also run the NautilusTrader comparison (bench/peers.py)")
    args = p.parse_args(argv)
    only = [b for b in args.only.split(",") if b]
    chosen = [b for b in [*BENCHES, PEERS] if (b in only) or (not only and b in BENCHES)
              or (b == PEERS and args.peers)]
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
