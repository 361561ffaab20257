"""``hedge demo``: the newcomer's first run — a simulated session, then the dashboard.

1. ``hedge run --bars N`` on the embedded default (generated market, simulated venue,
   SQLite log under ``$HEDGE_HOME``), in this process;
2. makes sure the projections wrote the state files (``hedge rebuild`` when they did not);
3. serves the dashboard on loopback and prints its URL until Ctrl-C
   (``--no-serve``: print a summary and exit, for CI).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hedge.accounts_cli import account_state_home
from hedge.cli import UsageError
from hedge.settings import home as home_of
from ui import fmt, model, state

DEFAULT_BARS = 2000
DEMO_ACCOUNT = "demo"


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bars", type=int, default=DEFAULT_BARS,
                   help=f"bar steps of the simulated session (default {DEFAULT_BARS})")
    p.add_argument("--seed", help="seed of the generated market (default: the config's)")
    p.add_argument("--port", type=int, default=5006, metavar="PORT", help="dashboard port (default 5006)")
    p.add_argument("--address", default="127.0.0.1", metavar="ADDR", help="dashboard address (default 127.0.0.1)")
    p.add_argument("--no-serve", action="store_true", help="record and project, print a summary, exit")
    p.add_argument("--account", default=DEMO_ACCOUNT, metavar="NAME",
                   help=f"the demo's own account (default {DEMO_ACCOUNT}; the fund's account is never touched)")


def _hedge(argv: list[str]) -> int:
    from hedge.cli import main

    return main(argv)


def ensure_state(home_args: list[str], shown: Path | None = None, account: str | None = None) -> state.Snapshot:
    """The state after the session; runs ``hedge rebuild`` when the files are missing."""
    snap = state.load(shown)
    if snap.nav_state and snap.kpis:
        return snap
    print("demo: state files missing after the run; rebuilding projections from the log", flush=True)
    rc = _hedge(["rebuild", *home_args, *(["--account", account] if account else [])])
    snap = state.load(shown)
    if rc != 0 or not snap.nav_state:
        raise UsageError(f"no state files in {snap.home / 'state'} (hedge rebuild exit {rc}); "
                         "the projections are not available yet")
    return snap


def run(args: argparse.Namespace) -> int:
    if args.bars <= 0:
        raise UsageError("--bars must be positive")
    home = home_of(args)
    shown = account_state_home(home, args.account)  # the demo's own account: the fund's is never touched
    home_args = ["--home", str(home)]
    if args.config:
        home_args += ["--config", args.config]
    print(f"demo: simulated session of {args.bars} bars into {home} (account {args.account}) ...", flush=True)
    run_args = ["run", *home_args, "--account", args.account, "--bars", str(args.bars), "--quiet"]
    if args.seed:
        run_args += ["--seed", str(args.seed)]
    rc = _hedge(run_args)
    if rc != 0:
        raise UsageError(f"'hedge run' failed (exit {rc}); see the message above")
    snap = ensure_state(home_args, shown, args.account)
    cards = {c.key: c.value for c in model.overview_cards(snap) + model.risk_cards(snap)}
    print(f"demo: NAV {cards['nav']}  AUM {cards['aum']}  DD/ATR {cards['dd_atr']}  "
          f"router fill/fallback {cards['router_fill']}  drawdown state {cards['dd_state']}  "
          f"vetoes {fmt.plain(sum(n for _, n in model.veto_counts(snap)), 0)}", flush=True)
    if args.no_serve:
        print(f"demo: state in {shown / 'state'}; serve it with: hedge dashboard --home {home} "
              f"--account {args.account}", flush=True)
        return 0
    from hedge.cmd_dashboard import serve_blocking

    serve_blocking(shown, args.port, args.address)
    return 0
