"""``hedge config check [DIR]`` and ``hedge config show``."""

from __future__ import annotations

import argparse
import json

from config.loader import load_config, resolve_config_dir


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["check", "show"], metavar="ACTION",
                   help="check: validate and print the config hash; show: the normalised config as JSON")
    p.add_argument("dir", nargs="?", help="config directory to check (default: --config / $HEDGE_CONFIG_DIR / repo config/)")


def run(args: argparse.Namespace) -> int:
    d = resolve_config_dir(args.dir or None)
    loaded = load_config(d)
    if args.action == "check":
        for note in loaded.normalisations:
            print(f"normalised: {note}")
        print(f"ok: {d} (config hash {loaded.config_hash})")
        return 0
    print(json.dumps({"config_hash": loaded.config_hash, "source": loaded.source,
                      "normalisations": loaded.normalisations, "config": loaded.as_dict()}, indent=2, sort_keys=True))
    return 0
