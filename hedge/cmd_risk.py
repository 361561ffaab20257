"""``hedge risk reset``: leave ``defensive`` (or ``cautious``) on purpose, on the record.

Records a ``RiskReset`` (account, operator ``user@host``, reason, target state, the
drawdown policy's state and figures before) in an operator session; the running
engine of the account copies it into its session between two venue polls and the
fold re-bases the drawdown reference (``engine/rules/drawdown.py``, docs/risk.md
"Drawdown policy").
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

from hedge.cli import UsageError


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["reset"], help="reset: re-base the drawdown policy (see docs/risk.md)")
    p.add_argument("--reason", required=True, help="why (recorded in the log and shown by explain)")
    p.add_argument("--account", help="account (default $HEDGE_ACCOUNT, else main)")
    p.add_argument("--to", choices=["normal", "cautious"], default="cautious",
                   help="state after the reset (default cautious: sizes x cautious_size_mult)")


def _when(ns: int | None) -> str:
    return "n/a" if ns is None else datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def run(args: argparse.Namespace) -> int:
    from config.loader import load_config
    from eventlog.accounts import check_name
    from hedge.risk_reset import operator_name, policy_of, record_reset
    from hedge.settings import of as settings_of
    from hedge.settings import open_store

    reason = " ".join(args.reason.split())
    if not reason:
        raise UsageError("--reason: say why (it is recorded and shown on every later decision)")
    if len(reason) > 500:
        raise UsageError(f"--reason: at most 500 characters, got {len(reason)}")
    settings = settings_of(args)
    name = args.account or settings.account or load_config(settings.config_dir).config.runtime.account
    try:
        account = check_name(name)
    except ValueError as exc:
        raise UsageError(f"--account: {exc}") from None
    with open_store(args, create=False) as store:
        seen = policy_of(store, account)
        if seen is None:
            raise UsageError(f"--account: no session of account {account!r} in {store.location} "
                             "('hedge accounts' lists the accounts)")
        ev = record_reset(store, account=account, reason=reason, to_state=args.to, operator=operator_name(),
                          seen=seen, ts_ns=time.time_ns())
    before = (f"{seen.state} since {_when(seen.since_ns)}, drawdown "
              + ("n/a" if seen.dd_frac is None else f"{seen.dd_frac:.2%}")
              + ("" if seen.ref_nav_usd is None else f" from {seen.ref_nav_usd:,.2f} USD")
              + ("" if seen.nav_usd is None else f", NAV {seen.nav_usd:,.2f} USD"))
    print(f"risk reset recorded: seq {ev.seq}  account {account}  by {ev.operator}  -> {args.to}")
    print(f"  before: {before}")
    if seen.rules_version < 3:
        print(f"  note: session {seen.session_id[:8]} runs decision rules v{seen.rules_version}, "
              "which have no drawdown policy to reset")
    elif seen.running:
        print("  the running engine applies it within a second (a RiskReset copy in its session)")
    else:
        print(f"  no engine of account {account} is running: its next session applies it before it trades")
    return 0
