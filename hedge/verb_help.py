"""What each verb's ``--help`` teaches beyond its options: examples and the environment it reads.

One table per verb, so ``hedge VERB --help`` ends with runnable examples and the
variables that change what the verb does (``tests/unit/test_cli_help.py`` checks every
verb has both and that every option is described). Mistyped names get a "did you mean"
from ``suggest``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

_STORE = ("HEDGE_HOME (data directory, default ./logs; --home overrides)",
          "HEDGE_STORE_URL (a PostgreSQL log instead of $HEDGE_HOME/eventlog.sqlite)")
_CONFIG = ("HEDGE_CONFIG_DIR (config directory, default the repo's config/; --config overrides)",)
_DEBUG = ("HEDGE_DEBUG=1 (show tracebacks)",)

EXAMPLES: dict[str, tuple[str, ...]] = {
    "run": (
        "hedge run --bars 2000                      a seeded generated market, 2,000 bar steps",
        "hedge run --data ../shared/market --speed max   the real klines, as fast as possible",
        "hedge run --until 2025-09-30               stop at this market time",
        "hedge run --speed 60                       60x real time (prints a status line every few seconds)",
        "DRY_RUN=1 hedge run --venue binance        Binance market data, orders never sent",
    ),
    "demo": (
        "hedge demo                                 2,000 simulated bars, then the dashboard on :5006",
        "hedge demo --bars 500 --no-serve           record and project, print a summary, exit",
    ),
    "sessions": (
        "hedge sessions                             every session, oldest first",
        "hedge sessions --format json               the same as JSON (full end reason, summary)",
        "hedge report SESSION                       the full report of one of them",
    ),
    "accounts": (
        "hedge accounts                             every account, one row each",
        "hedge accounts --format json               the same as JSON",
        "hedge run --account NAME                   continue (or open) an account",
    ),
    "sync": (
        "hedge sync --to /srv/dashboard/state       one-way copy of the state files, checked against the manifest",
        "hedge sync --to DIR --account fund         another account's files",
        "hedge project --follow --mirror DIR        keep the copy current while following the log",
    ),
    "risk": (
        'hedge risk reset --reason "drawdown reviewed" leave defensive, on the record',
        "hedge risk reset --to normal --reason ...  straight to normal",
        "hedge risk reset --account fund --reason ... another account",
    ),
    "report": (
        "hedge report                               the last session, short",
        "hedge report --full                        ... with per-symbol and per-month tables",
        "hedge report 3eb155da --format json        one session (id or unique prefix), as JSON",
        "hedge report --from 2025-09-01 --to 2025-09-30",
        "hedge report --html tearsheet.html         one self-contained HTML file, opens offline",
    ),
    "verify": (
        "hedge verify                               check every row; prints the head as SEQ:HASH",
        "hedge verify --head 1234:9f86d08...        also check against a head you published",
        "hedge verify --format json",
    ),
    "config": (
        "hedge config check                         validate the config directory",
        "hedge config check ./my-config             validate another directory",
        "hedge config show | head                   the normalised config as JSON",
    ),
    "rebuild": (
        "hedge rebuild                              drop the state files and fold the whole log again",
        "hedge rebuild --quiet",
    ),
    "project": (
        "hedge project                              catch the state files up with the log, then exit",
        "hedge project --follow --interval 2        keep following (another process or host)",
    ),
    "audit": (
        "hedge audit                                list the views and their columns",
        "hedge audit \"select gate, count(*) from vetoes group by gate\"",
        "hedge audit \"select * from trades limit 5\" --format json",
        "hedge audit --shell                        an interactive DuckDB prompt",
    ),
    "replay": (
        "hedge replay last --verify                 re-derive every decision and compare with the log",
        "hedge replay all --verify                  every session",
        "hedge replay last --set risk.max_open_positions=5        what-if one config value",
        "hedge replay last --sweep risk.max_trade_nav_pct=0.04,0.06,0.08",
    ),
    "explain": (
        "hedge explain last-veto                    the newest veto, in words",
        "hedge explain 3eb155da-D12                 a decision id (or a unique prefix)",
        "hedge explain 3eb155da-I12                 an intent or order id: the decision taken on it",
        "hedge explain last --check                 take it again and say if it comes out identical",
        "hedge explain last --set risk.max_open_positions=5",
    ),
    "alerts": (
        "hedge alerts --preview                     what the last session would send; sends nothing",
        "hedge alerts --once                        send what is pending, then exit",
        "hedge alerts --follow --skip-backlog       follow the log from now on",
    ),
    "dashboard": (
        "hedge dashboard                            http://127.0.0.1:5006/",
        "hedge dashboard --port 8000",
    ),
    "serve": (
        "hedge investors add alice                  create a login first",
        "hedge serve --public-port 8080             nginx basic auth in front of the dashboard",
        "hedge serve --print-site > site.conf       the nginx site for a system nginx",
    ),
    "investors": (
        "hedge investors add alice                  asks for a password (or reads it from stdin)",
        "hedge investors list",
        "hedge investors remove alice",
    ),
    "migrate": (
        "hedge migrate --to postgresql://hedge@localhost:5432/hedge",
        "HEDGE_MIGRATE_TO=postgresql://hedge@db/hedge PGPASSWORD=... hedge migrate",
        "hedge migrate --from postgresql://hedge@db/hedge --to copy/eventlog.sqlite   # and back",
    ),
}

ENVIRONMENT: dict[str, tuple[str, ...]] = {
    "run": (*_STORE, *_CONFIG,
            "DRY_RUN=1 (never send real orders), BINANCE_TESTNET=1 (testnet endpoints)",
            "BINANCE_API_KEY, BINANCE_API_SECRET (the Binance venue)",
            "EXECUTOR_ONCE=1 (as --once)",
            "PIPELINE_V6_* (the V6 flags, see docs/seeds.md)",
            "TELEGRAM_BOT_TOKEN, TELEGRAM_CHAT_ID (send alerts while running)",
            "HEDGE_SQLITE_SYNC=FULL (fsync every batch)", *_DEBUG),
    "demo": ("HEDGE_HOME (data directory, default ./logs; --home overrides)", *_CONFIG, *_DEBUG),
    "sessions": (*_STORE, *_DEBUG),
    "accounts": (*_STORE, *_DEBUG),
    "sync": (*_STORE, "HEDGE_ACCOUNT (the account, when --account is not given)", *_DEBUG),
    "risk": (*_STORE, "HEDGE_ACCOUNT (the account, when --account is not given)", "USER (recorded as the operator)",
             *_DEBUG),
    "report": (*_STORE, *_DEBUG),
    "verify": (*_STORE, *_DEBUG),
    "config": (*_CONFIG, "PIPELINE_V6_* (shown as overrides by 'config check')", *_DEBUG),
    "rebuild": (*_STORE, *_DEBUG),
    "project": (*_STORE, *_DEBUG),
    "audit": (*_STORE, *_DEBUG),
    "replay": (*_STORE, *_DEBUG),
    "explain": (*_STORE, *_DEBUG),
    "alerts": (*_STORE,
               "TELEGRAM_BOT_TOKEN (the bot; --preview needs none)",
               "TELEGRAM_CHAT_ID (where to send)",
               "TELEGRAM_API_BASE (a self-hosted Bot API server; default the official one)", *_DEBUG),
    "dashboard": ("HEDGE_HOME (the state files under $HEDGE_HOME/state; --home overrides)", *_DEBUG),
    "serve": ("HEDGE_HOME (state files and the default investors.htpasswd; --home overrides)", *_DEBUG),
    "investors": ("HEDGE_HOME (the default investors.htpasswd; --home overrides)", *_DEBUG),
    "migrate": ("HEDGE_HOME (the source log $HEDGE_HOME/eventlog.sqlite; --home overrides)",
                "HEDGE_MIGRATE_TO (the target URL when --to is not given)",
                "PGPASSWORD (the target's password)", *_DEBUG),
}


def epilog(verb: str) -> str:
    """The text after a verb's options: examples, then the environment."""
    ex = "\n".join(f"  {line}" for line in EXAMPLES[verb])
    env = "\n".join(f"  {line}" for line in ENVIRONMENT[verb])
    return f"examples:\n{ex}\n\nenvironment:\n{env}"


def suggest(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
